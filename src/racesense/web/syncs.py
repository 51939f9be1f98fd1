"""Syncs: the browser asks for one before handing the logger its upload details."""

from __future__ import annotations

import base64
import datetime as dt
import ipaddress
import json
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit, urlunsplit

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from racesense.isotime import iso_utc
from racesense.store import sessions, syncs, tokens
from racesense.store.tokens import TokenInfo
from racesense.web.addresses import UploadTarget, upload_target
from racesense.web.auth import require
from racesense.web.errors import ApiError
from racesense.web.views import session_summary

router = APIRouter()
Writer = Annotated[TokenInfo, Depends(require("write"))]


class SyncIn(BaseModel):
    device_id: str | None = Field(default=None, max_length=64)


Millis = Annotated[int, Field(ge=0)]


class PhasesIn(BaseModel):
    """A sync's phases in milliseconds; a phase not measured is left out."""

    model_config = ConfigDict(extra="forbid")

    ble_handshake: Millis | None = None  # connect + pair over BLE
    credentials: Millis | None = None  # the sync request handed to the logger
    join: Millis | None = None  # the logger on the phone's hotspot
    first_byte: Millis | None = None
    upload: Millis | None = None
    analysis: Millis | None = None  # the last file analysed on the laptop
    on_screen: Millis | None = None  # the laps shown on the phone
    total: Millis | None = None  # the logger's: request received to last file acknowledged
    page_total: Millis | None = None  # the page's: request sent to the logger's "done"


class ReportIn(BaseModel):
    # JSON has no NaN; a report is JSON. A misspelt field is refused, not dropped: a
    # field test would lose what it came to measure.
    model_config = ConfigDict(allow_inf_nan=False, extra="forbid")

    # Who reports: by default the logger for its sync's upload token, else the page.
    source: Literal["page", "logger", "fieldtest"] | None = None
    phases_ms: PhasesIn = Field(default_factory=PhasesIn)
    files_sent: int | None = Field(default=None, ge=0)
    bytes_sent: int | None = Field(default=None, ge=0)
    duplicates: int | None = Field(default=None, ge=0)
    # The bodies as they went over the wire (gzip-compressed or not), and how.
    wire_bytes: int | None = Field(default=None, ge=0)
    encoding: Literal["identity", "gzip", "mixed"] | None = None
    error: str | None = Field(default=None, max_length=500)
    # What a field test notes with each sync (docs/fieldtest.md).
    phone: str | None = Field(default=None, max_length=120)  # model, OS, browser
    firmware: str | None = Field(default=None, max_length=40)  # the logger's
    link: str | None = Field(default=None, max_length=120)  # "hotspot 2.4 GHz, 3 m"
    preset: str | None = Field(default=None, max_length=40)  # a simulated run's
    session_minutes: float | None = Field(default=None, ge=0, le=24 * 60)


@router.post("/api/syncs", status_code=201)
async def create_sync(
    request: Request, _token: Writer, body: SyncIn | None = None
) -> dict[str, Any]:
    state = request.app.state
    ttl = state.settings.sync_ttl_s
    device_id = body.device_id if body else None
    row, ack_key = await run_in_threadpool(syncs.create, state.engine, ttl, device_id)
    token, info = await run_in_threadpool(
        tokens.create, state.engine, f"sync {row.id}", "upload", sync_id=row.id, ttl_s=ttl
    )
    del info
    state.events.publish({"type": "sync", "id": row.id, "phase": "created"})
    server = request.scope.get("server") or (None, None)

    def target_for(scheme: str, port: int) -> UploadTarget:
        return upload_target(
            scheme,
            request.url.hostname or "",
            server[0],
            port,
            getattr(state, "bind_host", None),
            state.settings.upload_host,
        )

    live = getattr(state, "live_cert", None)
    ports = getattr(state, "ports", None)
    cert_sha256 = None
    plain = UploadTarget(None, None, None)
    if live is not None and ports is not None and ports.https:
        # Beyond loopback: https with the certificate's pin for a logger that can, and
        # the upload-only plain port for one that cannot (web/listeners.py).
        target = target_for("https", ports.https)
        cert_sha256 = live.der_sha256
        if ports.upload:
            plain = target_for("http", ports.upload)
        # The mDNS name first where it is advertised and certified, the address the
        # phone came by as the fallback (a logger that cannot resolve .local uses it).
        advertiser = getattr(state, "mdns", None)
        name = advertiser.host if advertiser is not None else None
        if name and name in live.names and _is_ip(request.url.hostname or ""):
            target = _by_name(target, name)
            plain = _by_name(plain, name)
    else:
        target = target_for(
            request.url.scheme, request.url.port or (443 if request.url.scheme == "https" else 80)
        )
    return {
        "sync_id": row.id,
        # Where the logger, on the phone's hotspot, sends its files: an address of this
        # laptop it can dial (not "localhost" when the page came from the laptop itself),
        # and the same by IP for when a name does not resolve there.
        "upload_url": target.url,
        "ip_fallback": target.ip_fallback,
        "unreachable": target.problem,
        # SHA-256 of the https certificate's DER, for the logger to pin (None: plain http).
        "cert_sha256": cert_sha256,
        # For a logger without TLS (its `info` has no `tls`): the upload-only listener.
        "plain_upload_url": plain.url,
        "plain_ip_fallback": plain.ip_fallback,
        "token": token,
        "expires_at": iso_utc(row.expires_at),
        # For the logger only, inside the encrypted sync request: base64url, no padding.
        "ack_key": base64.urlsafe_b64encode(ack_key).rstrip(b"=").decode(),
    }


@router.get("/api/syncs/{sync_id}")
async def get_sync(
    request: Request, sync_id: str, _token: Annotated[TokenInfo, Depends(require("read"))]
) -> dict[str, Any]:
    engine = request.app.state.engine
    row = await run_in_threadpool(syncs.get, engine, sync_id)
    if row is None:
        raise ApiError(404, "not_found", f"There is no sync {sync_id}.")
    files = await run_in_threadpool(sessions.by_sync, engine, sync_id)
    return {
        "sync_id": row.id,
        "created_at": iso_utc(row.created_at),
        "expires_at": iso_utc(row.expires_at),
        "device_id": row.device_id,
        "files": [session_summary(f) for f in files],
        "report": json.loads(row.report) if row.report else None,
    }


@router.post("/api/syncs/{sync_id}/report")
async def report_sync(
    request: Request,
    sync_id: str,
    body: ReportIn,
    token: Annotated[TokenInfo, Depends(require("upload"))],
) -> dict[str, Any]:
    if token.scope == "upload" and token.sync_id != sync_id:
        raise ApiError(403, "wrong_sync", "This upload token belongs to another sync.")
    source = body.source or ("logger" if token.scope == "upload" else "page")
    report = body.model_dump(exclude={"source"}, exclude_none=True)
    report["received_at"] = iso_utc(dt.datetime.now(dt.UTC))
    saved = await run_in_threadpool(
        syncs.save_report, request.app.state.engine, sync_id, source, report
    )
    if not saved:
        raise ApiError(404, "not_found", f"There is no sync {sync_id}.")
    request.app.state.events.publish({"type": "sync", "id": sync_id, "phase": "reported"})
    return {"ok": True}


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    return True


def _by_name(target: UploadTarget, name: str) -> UploadTarget:
    """`target` with its host replaced by `name`, and the original as the fallback."""
    if target.url is None:
        return target
    parts = urlsplit(target.url)
    named = parts._replace(netloc=f"{name}:{parts.port}" if parts.port else name)
    return UploadTarget(urlunsplit(named), target.url, target.problem)
