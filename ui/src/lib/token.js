// The API token: taken from the link `racesense serve` prints (…/#token=rs_…), kept in
// localStorage, and removed from the address bar at once so that it is not bookmarked,
// shared in a screenshot, or sent anywhere in a URL.
//
// A phone joins with a QR code instead (…/#join=rs_…): a one-time code, good for ten
// minutes, that is stripped from the address bar just as fast and exchanged (POST
// /api/join, the code as the Bearer token) for a token of the phone's own.
import { backendBase, loadSettings } from "./settings.js";

export const TOKEN_KEY = "racesense.token";

export const JOIN_FAILED = "This join code was already used or has expired: scan a new one on the laptop.";
export const JOIN_UNREACHABLE =
  "The pit laptop cannot be reached. Check that this phone is on the laptop's network, then scan the code again.";

function fromHash(hash, name) {
  if (!hash || hash.length < 2) return null;
  const params = new URLSearchParams(hash.slice(1));
  const value = params.get(name);
  return value && value.trim() ? value.trim() : null;
}

/** The token in a location hash like "#token=abc&x=y", or null. */
export function tokenFromHash(hash) {
  return fromHash(hash, "token");
}

/** The one-time join code in a location hash like "#join=rs_abc", or null. */
export function joinFromHash(hash) {
  return fromHash(hash, "join");
}

/** The address without the fragment parameter `name` (other parameters kept). */
export function addressWithout(location, name) {
  const params = new URLSearchParams(location.hash.slice(1));
  params.delete(name);
  const rest = params.toString();
  return location.pathname + location.search + (rest ? `#${rest}` : "");
}

/** Store a token found in the address bar's fragment and strip it from the address; a
 * join code there is stripped too, and exchanged (see joinWithCode).
 * Returns the token now in use (null when there is none). */
export function adoptToken(win = globalThis) {
  const found = tokenFromHash(win.location.hash);
  if (found) {
    win.localStorage.setItem(TOKEN_KEY, found);
    win.history.replaceState(win.history.state, "", addressWithout(win.location, "token"));
  }
  const code = takeJoinCode(win);
  if (code) joinWithCode(code, win).catch(() => {});
  return getToken(win);
}

/** The join code in the address bar, removed from it at once; null when none. */
export function takeJoinCode(win = globalThis) {
  const code = joinFromHash(win.location.hash);
  if (code) win.history.replaceState(win.history.state, "", addressWithout(win.location, "join"));
  return code;
}

/** A join code's exchange failing: `message` is a sentence for the user. */
export class JoinProblem extends Error {}

/** POST /api/join with the code as the Bearer token: {token, name} of the phone's new
 * token, or a JoinProblem. */
export async function exchangeJoinCode(code, { fetch = globalThis.fetch, base = "" } = {}) {
  let response;
  try {
    response = await fetch(`${base}/api/join`, {
      method: "POST",
      headers: { Authorization: `Bearer ${code}` },
      cache: "no-store",
    });
  } catch {
    throw new JoinProblem(JOIN_UNREACHABLE);
  }
  if (response.status === 401) throw new JoinProblem(JOIN_FAILED);
  if (!response.ok)
    throw new JoinProblem(`The pit laptop could not add this phone (${response.status}). Scan a new code on the laptop.`);
  const body = await response.json();
  if (!body || typeof body.token !== "string" || !body.token) throw new JoinProblem(JOIN_FAILED);
  return body;
}

/** Exchange a join code and keep the token it gives, then start the app again with it
 * (a reload: the code is gone from the address by now). A failure is said in the
 * page's notice banner, in a plain sentence. */
export async function joinWithCode(code, win = globalThis) {
  say(win, "Joining the pit laptop…");
  try {
    const base = backendBase(loadSettings(win.localStorage));
    const joined = await exchangeJoinCode(code, { fetch: (...args) => win.fetch(...args), base });
    win.localStorage.setItem(TOKEN_KEY, joined.token);
    win.location.reload();
    return joined;
  } catch (err) {
    say(win, err instanceof JoinProblem ? err.message : JOIN_FAILED, true);
    throw err;
  }
}

// The banner under the top bar (index.html), where main.js's notices go too.
function say(win, message, error = false) {
  const doc = win.document;
  const banner = doc && doc.getElementById("banner");
  if (!banner) return;
  const panel = doc.createElement("div");
  panel.className = error ? "panel notice error join-notice" : "panel notice join-notice";
  if (error) panel.setAttribute("role", "alert");
  const text = doc.createElement("span");
  text.textContent = message;
  panel.append(text);
  banner.replaceChildren(panel);
}

export function getToken(win = globalThis) {
  return win.localStorage.getItem(TOKEN_KEY);
}

export function forgetToken(win = globalThis) {
  win.localStorage.removeItem(TOKEN_KEY);
}
