// Settings: kept in this browser only (localStorage), never sent to the server except
// the hotspot credentials, which the sync hands to the logger over Bluetooth.
import { ApiProblem, sendJson } from "../lib/api.js";
import { fill, h } from "../lib/dom.js";
import { applyTheme, backendBase, checkBackend, loadSettings, saveSettings, syncMissing } from "../lib/settings.js";

export function render(root, app) {
  document.title = "Settings · Racesense";
  const settings = loadSettings();
  const status = h("p", { role: "status", "aria-live": "polite" });
  const missing = syncMissing(settings);
  const fromSync = new URLSearchParams(location.search).get("for") === "sync";

  const field = (id, label, input, hint) =>
    h("div.field", {}, h("label", { for: id }, label), input, hint ? h("p.hint", { id: `${id}-hint` }, hint) : null);

  const ssid = h("input", { id: "ssid", name: "ssid", autocomplete: "off", value: settings.hotspotSsid, "aria-describedby": "ssid-hint" });
  const password = h("input", {
    id: "password",
    name: "password",
    type: "password",
    autocomplete: "off",
    value: settings.hotspotPassword,
    "aria-describedby": "password-hint",
  });
  const backend = h("input", {
    id: "backend",
    name: "backend",
    inputmode: "url",
    placeholder: location.origin,
    value: settings.backend,
    "aria-describedby": "backend-hint",
  });
  const radio = (name, value, label, current) =>
    h(
      "label.choice",
      {},
      h("input", { type: "radio", name, value, checked: current === value }),
      label,
    );
  const codes = Object.entries(settings.pairingCodes);
  const codeList = h(
    "ul",
    {},
    codes.length
      ? codes.map(([device, code]) =>
          h(
            "li.row",
            {},
            h("span.num", {}, `${device}: ${"•".repeat(Math.min(8, String(code).length))}`),
            h(
              "button",
              {
                type: "button",
                onclick: (e) => {
                  const next = loadSettings();
                  delete next.pairingCodes[device];
                  saveSettings(next);
                  e.target.closest("li").remove();
                },
              },
              `Forget ${device}'s code`,
            ),
          ),
        )
      : h("li.muted", {}, "No logger paired yet. The sync asks for a logger's code the first time and remembers it here."),
  );

  const form = h(
    "form",
    {
      onsubmit: (event) => {
        event.preventDefault();
        const data = new FormData(form);
        const problem = checkBackend(data.get("backend"));
        if (problem) {
          status.textContent = problem;
          backend.setAttribute("aria-invalid", "true");
          backend.focus();
          return;
        }
        backend.removeAttribute("aria-invalid");
        const next = {
          ...loadSettings(),
          hotspotSsid: String(data.get("ssid") || "").trim(),
          hotspotPassword: String(data.get("password") || ""),
          backend: String(data.get("backend") || "").trim(),
          speedUnit: data.get("speed") === "mph" ? "mph" : "kmh",
          distanceUnit: data.get("distance") === "ft" ? "ft" : "m",
          theme: data.get("theme") === "sunlight" ? "sunlight" : "dark",
        };
        saveSettings(next);
        applyTheme(next);
        const still = syncMissing(next);
        status.textContent = still.length
          ? `Saved. The sync still needs ${still.join(" and ")}.`
          : "Saved.";
      },
    },
    h(
      "fieldset",
      {},
      h("legend", {}, "Phone hotspot (for the sync)"),
      field("ssid", "Hotspot name (SSID)", ssid, "Exactly as your phone shows it. The logger joins this hotspot to upload."),
      field(
        "password",
        "Hotspot password",
        password,
        "Kept only in this browser. The sync hands it to your logger over an encrypted Bluetooth link.",
      ),
    ),
    h(
      "fieldset",
      {},
      h("legend", {}, "Pit laptop"),
      field("backend", "Backend address", backend, "Leave empty to use the laptop this page came from."),
    ),
    h("fieldset", {}, h("legend", {}, "Logger pairing codes"), codeList),
    h(
      "fieldset",
      {},
      h("legend", {}, "Units"),
      h("div", { role: "radiogroup", "aria-label": "Speed" }, radio("speed", "kmh", "km/h", settings.speedUnit), radio("speed", "mph", "mph", settings.speedUnit)),
      h("div", { role: "radiogroup", "aria-label": "Distance" }, radio("distance", "m", "metres", settings.distanceUnit), radio("distance", "ft", "feet", settings.distanceUnit)),
    ),
    h(
      "fieldset",
      {},
      h("legend", {}, "Theme"),
      radio("theme", "dark", "Dark", settings.theme),
      radio("theme", "sunlight", "Sunlight (high contrast)", settings.theme),
    ),
    h("div.row", {}, h("button.primary", { type: "submit" }, "Save settings"), status),
  );

  const syncNotice =
    fromSync && missing.length
      ? h(
          "section.panel.notice",
          { role: "alert" },
          h("p", {}, `To sync, Racesense needs ${missing.join(" and ")}. Fill them in below and save.`),
        )
      : null;
  // (no null child: root.append would write it out as the text "null")
  root.append(...[h("h1", {}, "Settings"), syncNotice, h("section.panel", {}, form), addPhone(app)].filter(Boolean));
  if (fromSync && missing.length) (settings.hotspotSsid ? password : ssid).focus();
}

// "Add a phone": a QR code of a one-time join link (POST /api/join-tokens), shown on
// this screen for the phone's camera. The phone gets a token of its own with it; the
// long-lived token of this browser is never in a code that anyone could photograph.
function addPhone(app) {
  const shown = h("div.join-code", { "aria-live": "polite" });
  const button = h("button.primary", { type: "button", onclick: show }, "Show a join code");

  async function show() {
    button.disabled = true;
    fill(shown, h("p", { role: "status" }, "Making a join code…"));
    try {
      const origin = backendBase(loadSettings());
      const made = await sendJson("/api/join-tokens", "POST", origin ? { origin } : {});
      const qr = svgElement(made.qr_svg);
      const expires = new Date(made.expires_at);
      const minutes = Math.max(1, Math.round((made.ttl_s || 600) / 60));
      const host = new URL(made.join_url).hostname;
      fill(
        shown,
        qr ? h("div.join-qr", {}, qr) : null,
        h("p", {}, `Scan with the phone's camera. The code works once, for ${minutes} minutes.`),
        h("p.muted", {}, "Expires at ", h("time.num", { datetime: made.expires_at }, expires.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" })), "."),
        isLoopback(host)
          ? h(
              "p.join-warning",
              {},
              `This code points at ${host}, which a phone cannot reach. Open this page at the laptop's network address (or set it under Pit laptop above), then show a new code.`,
            )
          : null,
      );
      button.textContent = "Show a new join code";
    } catch (err) {
      fill(shown, h("p.join-warning", { role: "alert" }, err instanceof ApiProblem ? err.message : "The join code could not be made."));
      if (err instanceof ApiProblem && err.kind === "unauthorized") app.tokenRefused();
    } finally {
      button.disabled = false;
    }
  }

  return h(
    "section.panel.join-section",
    { "aria-labelledby": "add-phone" },
    h("h2", { id: "add-phone" }, "Add a phone"),
    h(
      "p",
      {},
      "Another phone joins with a QR code: it works once, for 10 minutes, and gives that phone a key of its own.",
    ),
    button,
    shown,
  );
}

/** The server's SVG markup as an element of this document: parsed as XML (never put in
 * innerHTML), anything but an <svg> refused, and nothing that runs kept. */
function svgElement(markup) {
  if (typeof markup !== "string") return null;
  const doc = new DOMParser().parseFromString(markup, "image/svg+xml");
  const svg = doc.documentElement;
  if (!svg || svg.namespaceURI !== "http://www.w3.org/2000/svg" || svg.localName !== "svg") return null;
  if (svg.getElementsByTagName("parsererror").length) return null;
  for (const el of [svg, ...svg.querySelectorAll("*")]) {
    if (el.localName === "script" || el.localName === "foreignObject") return null;
    for (const attr of [...el.attributes]) if (/^on/i.test(attr.name) || /href$/i.test(attr.name)) return null;
  }
  const node = document.importNode(svg, true);
  node.setAttribute("role", "img");
  node.setAttribute("aria-label", "QR code of a one-time join link");
  return node;
}

function isLoopback(host) {
  return host === "localhost" || host === "[::1]" || host === "::1" || host.startsWith("127.");
}
