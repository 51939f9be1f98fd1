// The API token: taken from the link `racesense serve` prints (…/#token=rs_…), kept in
// localStorage, and removed from the address bar at once so that it is not bookmarked,
// shared in a screenshot, or sent anywhere in a URL.
export const TOKEN_KEY = "racesense.token";

/** The token in a location hash like "#token=abc&x=y", or null. */
export function tokenFromHash(hash) {
  if (!hash || hash.length < 2) return null;
  const params = new URLSearchParams(hash.slice(1));
  const token = params.get("token");
  return token && token.trim() ? token.trim() : null;
}

/** Store a token found in the address bar's fragment and strip it from the address.
 * Returns the token now in use (null when there is none). */
export function adoptToken(win = globalThis) {
  const found = tokenFromHash(win.location.hash);
  if (found) {
    win.localStorage.setItem(TOKEN_KEY, found);
    const params = new URLSearchParams(win.location.hash.slice(1));
    params.delete("token");
    const rest = params.toString();
    const url = win.location.pathname + win.location.search + (rest ? `#${rest}` : "");
    win.history.replaceState(win.history.state, "", url);
  }
  return getToken(win);
}

export function getToken(win = globalThis) {
  return win.localStorage.getItem(TOKEN_KEY);
}

export function forgetToken(win = globalThis) {
  win.localStorage.removeItem(TOKEN_KEY);
}
