// The Racesense service worker: the app shell offline, nothing else.
// Hashed assets never change, so they are served from the cache; the page itself is
// fetched fresh when the network answers (so a new version is seen at once) and from
// the cache when it does not (a track with no signal). The API is never cached here:
// the page keeps its own copy of the last data it showed, with when it was fetched.
const VERSION = "%VERSION%";
const CACHE = `racesense-shell-${VERSION}`;
const PRECACHE = "%PRECACHE%";

self.addEventListener("install", (event) => {
  event.waitUntil(caches.open(CACHE).then((cache) => cache.addAll(PRECACHE)));
});

self.addEventListener("activate", (event) => {
  event.waitUntil(
    (async () => {
      for (const key of await caches.keys()) {
        if (key.startsWith("racesense-shell-") && key !== CACHE) await caches.delete(key);
      }
      await self.clients.claim();
    })(),
  );
});

// The page asks the waiting worker to take over when the user taps "reload".
self.addEventListener("message", (event) => {
  if (event.data === "skip-waiting") self.skipWaiting();
});

self.addEventListener("fetch", (event) => {
  const request = event.request;
  const url = new URL(request.url);
  if (request.method !== "GET" || url.origin !== self.location.origin) return;
  if (url.pathname.startsWith("/api/")) return;
  if (url.pathname.startsWith("/assets/")) {
    event.respondWith(
      caches.match(request).then(
        (hit) =>
          hit ||
          fetch(request).then((response) => {
            if (response.ok) {
              const copy = response.clone();
              caches.open(CACHE).then((cache) => cache.put(request, copy));
            }
            return response;
          }),
      ),
    );
    return;
  }
  if (request.mode === "navigate") {
    // Every route of the app is the same page.
    event.respondWith(
      fetch(request).catch(() => caches.match("/", { cacheName: CACHE })),
    );
  }
});
