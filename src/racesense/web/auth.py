"""Bearer tokens on every /api/ request but /api/health.

`TokenGate`, in front of every route, checks the token before a byte of the body is
read: a request with no valid token is refused without its body crossing the network
(with `Expect: 100-continue`, not even sent), and JSON bodies are capped at
MAX_JSON_BYTES (uploads and track imports stream, with caps of their own). The routes'
`require(action)` then decides what the token may do. The token is taken from the
Authorization header only, never from a URL, where it would reach logs, history and
Referer headers (the UI reads the event stream with fetch, which sends headers).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from fastapi import Request
from starlette.concurrency import run_in_threadpool
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from racesense.store import tokens
from racesense.store.tokens import TokenInfo
from racesense.web.errors import ApiError, error_response

# Which scopes may do what.
ALLOWED = {
    "read": ("admin", "user"),
    "write": ("admin", "user"),
    "upload": ("admin", "user", "upload"),
    "admin": ("admin",),
    # A one-time join code (a QR code's): exchanged for a "user" token, nothing else.
    "join": ("join",),
}
# The only route a "join" token reaches: refused at the gate on every other one, so that
# a route that forgot its `require` still does not serve it.
JOIN_PATH = "/api/join"


def _bearer(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    return None


PUBLIC = frozenset({"/api/health"})
STREAMED = frozenset({"/api/upload", "/api/tracks/import"})  # bodies with caps of their own
MAX_JSON_BYTES = 1024 * 1024


async def _verify(request: Request) -> TokenInfo:
    token = _bearer(request)
    if not token:
        raise ApiError(401, "unauthorized", "This request needs an API token (Bearer).")
    state = request.app.state
    info = await run_in_threadpool(tokens.verify, state.engine, token, state.settings.api_token)
    if info is None:
        raise ApiError(401, "unauthorized", "The API token is unknown, expired or revoked.")
    return info


class TokenGate:
    """Refuses an /api/ request without a valid token before its body is read, and
    reads a JSON request's body itself, refusing it past MAX_JSON_BYTES, before the
    route sees it. The token's rights go to `require` through the request's state, so
    the token is looked up once."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if scope["type"] != "http" or not path.startswith("/api/") or path in PUBLIC:
            await self.app(scope, receive, send)
            return
        request = Request(scope)
        try:
            info = await _verify(request)
            if info.scope == "join" and path != JOIN_PATH:
                raise ApiError(403, "forbidden", "A join token can only be exchanged.")
            if path not in STREAMED:
                receive = await _read_capped(request, receive)
        except ApiError as exc:
            headers = {"WWW-Authenticate": "Bearer"} if exc.status == 401 else None
            await error_response(exc.status, exc.code, exc.message, headers)(scope, receive, send)
            return
        scope.setdefault("state", {})["token"] = info
        await self.app(scope, receive, send)


async def _read_capped(request: Request, receive: Receive) -> Receive:
    """The whole (small) body, read here and handed on: refused at once from its
    Content-Length if that is over MAX_JSON_BYTES, else as soon as the bytes received
    pass it."""
    too_large = ApiError(413, "too_large", f"A request body may be at most {MAX_JSON_BYTES} bytes.")
    length = request.headers.get("content-length", "")
    if length.isdigit() and int(length) > MAX_JSON_BYTES:
        raise too_large
    body = bytearray()
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return receive  # the client left: let the route see it
        body += message.get("body", b"")
        if len(body) > MAX_JSON_BYTES:
            raise too_large
        if not message.get("more_body", False):
            break
    replayed = False

    async def replay() -> Message:
        nonlocal replayed
        if replayed:
            return await receive()  # (a disconnect, while the response streams)
        replayed = True
        return {"type": "http.request", "body": bytes(body), "more_body": False}

    return replay


def require(action: str) -> Callable[[Request], Awaitable[TokenInfo]]:
    """A route's dependency: what the token must allow for it."""

    async def dependency(request: Request) -> TokenInfo:
        info: TokenInfo | None = getattr(request.state, "token", None)
        if info is None:  # an app without the gate (TokenGate is installed by create_app)
            info = await _verify(request)
        if info.scope not in ALLOWED[action]:
            raise ApiError(403, "forbidden", f"A {info.scope} token cannot do this.")
        return info

    return dependency
