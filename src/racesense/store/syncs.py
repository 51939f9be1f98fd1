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

from sqlalchemy import Engine

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


def save_report(engine: Engine, sync_id: str, report: dict[str, object]) -> bool:
    with writing(engine) as db:
        row = db.get(Sync, sync_id)
        if row is None:
            return False
        row.report = json.dumps(report)
        return True
