// Routes of the app, by path (the fragment is reserved for the token link). The
// server answers every non-API path with the app, so a reload or a shared link works.

export const ROUTES = [
  { name: "pitlane", pattern: /^\/$/ },
  { name: "session", pattern: /^\/sessions\/([A-Za-z0-9_-]{1,64})\/?$/ },
  { name: "tracks", pattern: /^\/tracks\/?$/ },
  { name: "settings", pattern: /^\/settings\/?$/ },
];

/** {name, params} for a path; name "notfound" when nothing matches. */
export function match(path) {
  for (const route of ROUTES) {
    const found = route.pattern.exec(path);
    if (found) return { name: route.name, params: found.slice(1).map(decodeURIComponent) };
  }
  return { name: "notfound", params: [] };
}
