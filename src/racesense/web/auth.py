"""Bearer tokens on every /api/ request but /api/health.

Checked before the body is read, so a request with a bad token is refused without
its upload crossing the network (with `Expect: 100-continue`, not even sent).
`GET /api/events` alone may also take the token from a cookie or a query parameter,
because a browser's EventSource cannot send headers.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from fastapi import Request
from starlette.concurrency import run_in_threadpool

from racesense.store import tokens
from racesense.store.tokens import TokenInfo
from racesense.web.errors import ApiError

COOKIE = "racesense_token"
# Which scopes may do what.
ALLOWED = {
    "read": ("admin", "user"),
    "write": ("admin", "user"),
    "upload": ("admin", "user", "upload"),
    "admin": ("admin",),
}


def _bearer(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    return None


def require(action: str, *, allow_query: bool = False) -> Callable[[Request], Awaitable[TokenInfo]]:
    async def dependency(request: Request) -> TokenInfo:
        token = _bearer(request)
        if token is None and allow_query:
            token = request.query_params.get("token") or request.cookies.get(COOKIE)
        if not token:
            raise ApiError(401, "unauthorized", "This request needs an API token (Bearer).")
        state = request.app.state
        info = await run_in_threadpool(tokens.verify, state.engine, token, state.settings.api_token)
        if info is None:
            raise ApiError(401, "unauthorized", "The API token is unknown, expired or revoked.")
        if info.scope not in ALLOWED[action]:
            raise ApiError(403, "forbidden", f"A {info.scope} token cannot do this.")
        return info

    return dependency
