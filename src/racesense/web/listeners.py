"""What each listener of `racesense serve` may serve.

On loopback (the default, `--host 127.0.0.1`) one plain http listener serves everything:
the laptop's own browser at http://localhost is a secure context.

Beyond loopback (`--host 0.0.0.0`, `--tls auto`) there are three:

- `https_port`: the UI and the API, with a certificate from the per-install CA
  (live_cert.py);
- `port`, plain http: everything to the laptop itself (loopback peers, so
  http://localhost:8765 keeps working there); to anyone else only the phone set-up page
  (setup_page.py) and a redirect to https, so no token or session ever crosses the
  network in clear;
- `upload_port`, plain http, for a logger that cannot do TLS beside BLE and Wi-Fi in its
  heap: `POST /api/upload` with a sync's upload token and nothing else. The
  acknowledgement's HMAC proof (keyed by the sync's ack_key, which went to the logger
  sealed over BLE) decides what counts as synced, so a host on the hotspot can neither
  fake an acknowledgement nor reach anything else here.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from starlette.types import ASGIApp, Receive, Scope, Send

from racesense.web.errors import error_response

UPLOAD_ONLY = "racesense.upload_only"  # scope key set by UploadOnly for the upload route
UPLOAD_PATH = "/api/upload"


@dataclass(frozen=True)
class Ports:
    http: int
    https: int | None = None  # None: no TLS (loopback, or --tls off)
    upload: int | None = None


def is_loopback(host: str | None) -> bool:
    if not host:
        return False
    try:
        return ipaddress.ip_address(host.split("%")[0]).is_loopback
    except ValueError:
        return host == "localhost"


def tls_wanted(mode: str, host: str) -> bool:
    """https beyond loopback unless switched off; on loopback only when forced."""
    if mode == "on":
        return True
    if mode == "off":
        return False
    return not is_loopback(host)


class PlainGate:
    """The plain http port beyond loopback: the app for the laptop itself, the set-up
    page for everyone else, and a redirect to https for anything else they ask."""

    def __init__(self, app: ASGIApp, setup: ASGIApp, https_port: int) -> None:
        self.app = app
        self.setup = setup
        self.https_port = https_port

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            return  # the https listener runs the app's lifespan
        client = scope.get("client")
        if client and is_loopback(client[0]):
            await self.app(scope, receive, send)
            return
        path = scope.get("path", "")
        if scope["type"] == "http" and (path in ("/", "/api/health") or path.startswith("/setup")):
            await self.setup(scope, receive, send)
            return
        if scope["type"] != "http":
            return
        await self._redirect(scope, receive, send)

    async def _redirect(self, scope: Scope, receive: Receive, send: Send) -> None:
        headers = dict(scope.get("headers") or [])
        host = headers.get(b"host", b"racesense.local").decode("latin-1")
        name = host.rsplit(":", 1)[0] if not host.endswith("]") else host
        query = scope.get("query_string", b"").decode("latin-1")
        location = f"https://{name}:{self.https_port}{scope.get('path', '/')}"
        if query:
            location += "?" + query
        await send(
            {
                "type": "http.response.start",
                "status": 308,
                "headers": [(b"location", location.encode("latin-1")), (b"content-length", b"0")],
            }
        )
        await send({"type": "http.response.body", "body": b""})


class UploadOnly:
    """The upload-only plain listener: POST /api/upload, marked so the route takes a
    sync's upload token only; everything else is 404."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            return
        if scope["type"] != "http":
            return
        if scope.get("method") == "POST" and scope.get("path") == UPLOAD_PATH:
            scope[UPLOAD_ONLY] = True
            await self.app(scope, receive, send)
            return
        response = error_response(
            404,
            "not_found",
            "This address takes only a logger's uploads (POST /api/upload with a sync's token).",
        )
        await response(scope, receive, send)
