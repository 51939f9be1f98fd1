"""Syncs: one logger's upload session, with its own short-lived upload token and its own
acknowledgement key.

The acknowledgement key is how the logger tells our laptop from any host on the hotspot
that echoes a file's SHA-256: the browser hands the key to the logger inside the
encrypted BLE request, and every upload answered for that sync carries
`proof = HMAC-SHA256(ack_key, "<sha256 hex>:<size in bytes>")` in lower-case hex. The
logger marks a file synced (and may later delete it to make room) only on a valid proof.
The key is never logged and never served again after POST /api/syncs.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import secrets
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine, select

from racesense.store.db import reading, writing
from racesense.store.models import Sync

ACK_KEY_BYTES = 32


def create(engine: Engine, ttl_s: float, device_id: str | None = None) -> tuple[Sync, bytes]:
    """A new sync and its acknowledgement key (kept with it)."""
    now = dt.datetime.now(dt.UTC)
    key = secrets.token_bytes(ACK_KEY_BYTES)
    row = Sync(
        id=secrets.token_hex(8),
        created_at=now,
        expires_at=now + dt.timedelta(seconds=ttl_s),
        device_id=device_id,
        ack_key=key,
    )
    with writing(engine) as db:
        db.add(row)
    return row, key


def get(engine: Engine, sync_id: str) -> Sync | None:
    with reading(engine) as db:
        return db.get(Sync, sync_id)


def ack_key(engine: Engine, sync_id: str) -> bytes | None:
    """The sync's acknowledgement key; None for an unknown sync or one made before 0006."""
    with reading(engine) as db:
        row = db.get(Sync, sync_id)
        return None if row is None else row.ack_key


def ack_proof(key: bytes, sha256_hex: str, size_bytes: int) -> str:
    """What the logger checks before it marks a file synced: the key holder saw these bytes."""
    message = (sha256_hex + ":" + str(size_bytes)).encode()
    return hmac.new(key, message, hashlib.sha256).hexdigest()


# Who reported a sync's timings: the page (its own clock, the logger's phases merged in),
# the logger itself, or a field-test harness. Each keeps its own report.
REPORT_SOURCES = ("page", "logger", "fieldtest")


@dataclass(frozen=True)
class SyncReports:
    """One sync's stored reports, by source."""

    sync_id: str
    created_at: dt.datetime
    device_id: str | None
    by_source: dict[str, dict[str, Any]]


def reports_by_source(stored: str | None) -> dict[str, dict[str, Any]]:
    """The `report` column by source. Stored as the first present source's report (page,
    logger, fieldtest: what GET /api/syncs/{id} always showed) plus `sources`, every
    source's report; a row from before sources (one report, no `sources`) is the page's."""
    if not stored:
        return {}
    document = json.loads(stored)
    if not isinstance(document, dict):
        return {}
    sources = document.get("sources")
    if not isinstance(sources, dict):
        return {"page": document}
    return {k: v for k, v in sources.items() if k in REPORT_SOURCES and isinstance(v, dict)}


def _stored(by_source: dict[str, dict[str, Any]]) -> str:
    primary = next(by_source[s] for s in REPORT_SOURCES if s in by_source)
    return json.dumps(primary | {"sources": by_source})


def save_report(engine: Engine, sync_id: str, source: str, report: dict[str, Any]) -> bool:
    """Keep `source`'s report of the sync, beside the other sources' (the only writer of
    the column: read, merge and write in one transaction, the row locked on PostgreSQL).
    False for an unknown sync."""
    if source not in REPORT_SOURCES:
        raise ValueError(f"unknown report source {source!r}")
    with writing(engine) as db:
        row = db.get(Sync, sync_id, with_for_update=True)
        if row is None:
            return False
        by_source = reports_by_source(row.report)
        by_source[source] = dict(report)
        row.report = _stored(by_source)
        return True


def reports_since(engine: Engine, since: dt.datetime | None = None) -> list[SyncReports]:
    """Every sync with a report, created at or after `since` (all when None), oldest first."""
    query = select(Sync.id, Sync.created_at, Sync.device_id, Sync.report).where(
        Sync.report.is_not(None)
    )
    if since is not None:
        query = query.where(Sync.created_at >= since)
    with reading(engine) as db:
        rows = db.execute(query.order_by(Sync.created_at, Sync.id)).all()
    out = []
    for sync_id, created_at, device_id, stored in rows:
        by_source = reports_by_source(stored)
        if by_source:
            out.append(SyncReports(sync_id, created_at, device_id, by_source))
    return out
