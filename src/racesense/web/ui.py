"""The web UI: the app shell and its hashed assets, built by `ui/build.mjs` into
`ui_dist/` inside the package (so a wheel serves it with no Node).

- `/assets/…`: named by content hash, so cached for a year; served precompressed
  (brotli or gzip, by Accept-Encoding).
- `/sw.js`, and the page itself at `/` and at every app route: revalidated on every
  load (`no-cache`), so a new version is seen at once. RACESENSE_SERVICE_WORKER=off
  serves instead a worker that removes itself and its caches: the way out for phones
  stranded on a broken shell, done from the server.
"""

from __future__ import annotations

import re
from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, Response

from racesense.web.errors import error_response

router = APIRouter(include_in_schema=False)
UI_DIR = Path(__file__).with_name("ui_dist")
ASSET_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,128}$")
IMMUTABLE = "public, max-age=31536000, immutable"
MEDIA_TYPES = {
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".webmanifest": "application/manifest+json",
    ".json": "application/json",
    ".txt": "text/plain; charset=utf-8",
    ".html": "text/html; charset=utf-8",
}
# The page loads nothing from elsewhere: scripts, styles, images and workers all come
# from this server. connect-src stays open because Settings may name another backend.
PAGE_HEADERS = {
    "Cache-Control": "no-cache",
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
        "img-src 'self' data: blob:; connect-src 'self' http: https:; worker-src 'self'; "
        "manifest-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    ),
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
}
UNREGISTER_WORKER = """// Switched off by the server (RACESENSE_SERVICE_WORKER=off): remove every
// cache and this worker, then reload the pages it controlled from the network.
self.addEventListener("install", () => self.skipWaiting());
self.addEventListener("activate", (event) => {
  event.waitUntil((async () => {
    for (const key of await caches.keys()) await caches.delete(key);
    await self.registration.unregister();
    const pages = await self.clients.matchAll({ type: "window" });
    for (const page of pages) page.navigate(page.url);
  })());
});
"""
NOT_BUILT = """<!doctype html><html lang="en"><meta charset="utf-8">
<title>Racesense</title><body style="font-family:system-ui;max-width:40em;margin:2em auto">
<h1>The Racesense UI is not built</h1>
<p>This copy of Racesense has its server but not its web pages. Start it with
<code>make run</code>, which builds them (it needs Node.js and npm), or install a
release wheel, which has them built in. The API works meanwhile.</p></body></html>"""


def _encoded(path: Path, accept_encoding: str) -> tuple[Path, str | None]:
    """The precompressed copy the client takes, if there is one."""
    accepted = {part.split(";")[0].strip() for part in accept_encoding.lower().split(",")}
    for encoding, suffix in (("br", ".br"), ("gzip", ".gz")):
        candidate = path.with_name(path.name + suffix)
        if encoding in accepted and candidate.is_file():
            return candidate, encoding
    return path, None


def _file(
    request: Request, path: Path, cache: str, extra: dict[str, str] | None = None
) -> Response:
    sent, encoding = _encoded(path, request.headers.get("accept-encoding", ""))
    headers = {"Cache-Control": cache, "Vary": "Accept-Encoding", **(extra or {})}
    if encoding:
        headers["Content-Encoding"] = encoding
    media_type = MEDIA_TYPES.get(path.suffix, "application/octet-stream")
    return FileResponse(sent, media_type=media_type, headers=headers)


@router.get("/assets/{name}")
async def asset(request: Request, name: str) -> Response:
    path = UI_DIR / "assets" / name
    if not ASSET_NAME.match(name) or name.endswith((".gz", ".br")) or not path.is_file():
        return Response("Not found", status_code=404, media_type="text/plain")
    return _file(request, path, IMMUTABLE, {"X-Content-Type-Options": "nosniff"})


@router.get("/sw.js")
async def service_worker(request: Request) -> Response:
    headers = {"Cache-Control": "no-cache", "Service-Worker-Allowed": "/"}
    path = UI_DIR / "sw.js"
    if not request.app.state.settings.service_worker or not path.is_file():
        return Response(UNREGISTER_WORKER, media_type=MEDIA_TYPES[".js"], headers=headers)
    return _file(request, path, "no-cache", {"Service-Worker-Allowed": "/"})


@router.get("/ui-config.json")
async def ui_config(request: Request) -> Response:
    """What the page asks before it registers its service worker: when the server has
    switched it off, the page registers none (and removes any it has)."""
    enabled = bool(request.app.state.settings.service_worker)
    return JSONResponse({"service_worker": enabled}, headers={"Cache-Control": "no-store"})


def page(request: Request) -> Response:
    index = UI_DIR / "index.html"
    if not index.is_file():
        return HTMLResponse(NOT_BUILT, status_code=503, headers={"Cache-Control": "no-cache"})
    return _file(request, index, "no-cache", PAGE_HEADERS)


@router.get("/")
async def home(request: Request) -> Response:
    return page(request)


@router.get("/{path:path}")
async def app_route(request: Request, path: str) -> Response:
    """Every other path that is not the API is a route of the app (the page decides
    what it shows, "not found" included); /api/ paths that match nothing stay JSON."""
    if path.startswith("api/") or path == "api":
        return error_response(404, "not_found", f"There is no API route /{path}.")
    return page(request)
