"""Joining from a phone: a QR code with a one-time code, never the long-lived token.

A QR code is a photo anyone in the paddock can take, so it carries a "join" token: it
works once, for RACESENSE_JOIN_TTL_S (10 minutes), and only to be exchanged here for a
token of the phone's own. The code travels in the URL's fragment (`/#join=...`), which a
browser never sends to a server, so it reaches no log; the UI strips it from the
address bar at once and exchanges it with POST /api/join, in the Authorization header.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any
from urllib.parse import urlsplit

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from racesense.isotime import iso_utc
from racesense.store import tokens
from racesense.store.tokens import TokenInfo
from racesense.web import qr
from racesense.web.addresses import phone_host
from racesense.web.auth import require
from racesense.web.errors import ApiError

router = APIRouter()

USED_OR_EXPIRED = "This join code was already used or has expired: scan a new one on the laptop."


class JoinTokenIn(BaseModel):
    # Where the phone reaches this laptop, when it is not where this request came from
    # (e.g. the laptop's own browser on localhost): scheme://host[:port], nothing more.
    origin: str | None = Field(default=None, max_length=300)


def checked_origin(value: str) -> str:
    """`value` as scheme://host[:port], or ApiError 422: http or https, a host, no user,
    path, query or fragment."""
    invalid = ApiError(
        422, "invalid", "origin: must be like http://192.168.1.20:8765 (no path or query)."
    )
    try:
        parts = urlsplit(value.strip())
        port = parts.port  # raises on a port that is not a number in range
    except ValueError as exc:
        raise invalid from exc
    if (
        parts.scheme.lower() not in ("http", "https")
        or not parts.hostname
        or parts.username is not None
        or parts.password is not None
        or parts.path not in ("", "/")
        or parts.query
        or parts.fragment
        or "#" in value
        or "?" in value
    ):
        raise invalid
    host = parts.netloc.rsplit(":", 1)[0] if port is not None else parts.netloc
    return f"{parts.scheme.lower()}://{host.lower()}" + (f":{port}" if port is not None else "")


def join_url(origin: str, token: str) -> str:
    """The link a QR code holds: the code in the fragment only."""
    return f"{origin.rstrip('/')}/#join={token}"


@router.post("/api/join-tokens", status_code=201)
async def create_join_token(
    request: Request,
    _token: Annotated[TokenInfo, Depends(require("write"))],
    body: JoinTokenIn | None = None,
) -> dict[str, Any]:
    """A one-time join code for a phone: its link (the code in the fragment), when it
    expires, and the link as a QR code (an inline SVG)."""
    state = request.app.state
    if body is not None and body.origin is not None:
        origin = checked_origin(body.origin)
    elif getattr(state, "ports", None) is not None and state.ports.https:
        # Beyond loopback the phone's first stop is the plain port: the set-up page the
        # first time (it carries the code on to https), the UI once the phone trusts us.
        host = await run_in_threadpool(
            phone_host, request.url.hostname or "", state.settings.upload_host
        )
        shown = f"[{host}]" if ":" in host else host
        origin = f"http://{shown}:{state.ports.http}"
    else:
        origin = f"{request.url.scheme}://{request.url.netloc}"
    ttl = state.settings.join_ttl_s

    def make() -> tuple[str, TokenInfo, str]:
        value, info = tokens.create(state.engine, "join code", "join", ttl_s=ttl)
        url = join_url(origin, value)
        return url, info, qr.svg(url)

    url, info, svg = await run_in_threadpool(make)
    return {"join_url": url, "expires_at": iso_utc(info.expires_at), "ttl_s": ttl, "qr_svg": svg}


@router.post("/api/join")
async def join(
    request: Request, _token: Annotated[TokenInfo, Depends(require("join"))]
) -> dict[str, Any]:
    """Exchanges the join code in the Authorization header, once, for a new "user"
    token of this phone's own (`phone <date and time>`). A code used already, expired or
    unknown: 401."""
    scheme, _, value = request.headers.get("authorization", "").partition(" ")
    name = f"phone {dt.datetime.now().astimezone():%Y-%m-%d %H:%M}"
    result = None
    if scheme.lower() == "bearer" and value.strip():
        result = await run_in_threadpool(tokens.exchange, request.app.state.engine, value, name)
    if result is None:  # another exchange of the same code won, a moment ago
        raise ApiError(401, "unauthorized", USED_OR_EXPIRED)
    token, info = result
    return {"token": token, "name": info.name}
