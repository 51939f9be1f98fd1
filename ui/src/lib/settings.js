// The user's settings, kept in this browser's localStorage (nothing here goes to the
// server): units, theme, the phone's hotspot for the sync, where to upload, and each
// logger's pairing code.
const KEY = "racesense.settings";

export const DEFAULTS = Object.freeze({
  speedUnit: "kmh",
  distanceUnit: "m",
  theme: "dark",
  hotspotSsid: "Racesense-Pit",
  hotspotPassword: "",
  backend: "", // empty: the origin this page came from
  pairingCodes: {}, // logger id -> code
});

export function loadSettings(storage = globalThis.localStorage) {
  let stored = {};
  try {
    stored = JSON.parse(storage.getItem(KEY) || "{}") || {};
  } catch {
    stored = {}; // a damaged entry: start from the defaults rather than fail
  }
  return { ...DEFAULTS, ...stored, pairingCodes: { ...(stored.pairingCodes || {}) } };
}

export function saveSettings(settings, storage = globalThis.localStorage) {
  storage.setItem(KEY, JSON.stringify(settings));
  return settings;
}

export function updateSettings(patch, storage = globalThis.localStorage) {
  return saveSettings({ ...loadSettings(storage), ...patch }, storage);
}

/** What the sync still needs, as sentences a user can act on (empty when ready). */
export function syncMissing(settings) {
  const missing = [];
  if (!settings.hotspotSsid) missing.push("the name (SSID) of your phone's hotspot");
  if (!settings.hotspotPassword) missing.push("your phone's hotspot password");
  return missing;
}

/** The backend's base URL, without a trailing slash ("" means this page's origin). */
export function backendBase(settings) {
  const raw = (settings.backend || "").trim();
  if (!raw) return "";
  return raw.replace(/\/+$/, "");
}

/** A backend address a user typed, checked: returns an error sentence or null. */
export function checkBackend(value) {
  const raw = (value || "").trim();
  if (!raw) return null;
  let url;
  try {
    url = new URL(raw);
  } catch {
    return "That is not a web address. Type it like https://192.168.43.10:8765.";
  }
  if (url.protocol !== "http:" && url.protocol !== "https:")
    return "The address must start with http:// or https://.";
  if (url.pathname !== "/" || url.search || url.hash)
    return "Give only the address and port, like https://192.168.43.10:8765.";
  return null;
}

export function applyTheme(settings, doc = globalThis.document) {
  const theme = settings.theme === "sunlight" ? "sunlight" : "dark";
  doc.documentElement.dataset.theme = theme;
  const meta = doc.querySelector('meta[name="theme-color"]');
  if (meta) meta.setAttribute("content", theme === "sunlight" ? "#f4f6f9" : "#0b1220");
}
