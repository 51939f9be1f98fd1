"""Syncs: one logger's upload session, with its own short-lived upload token."""

from __future__ import annotations

import datetime as dt
import json
import secrets

from sqlalchemy import Engine

from racesense.store.db import reading, writing
from racesense.store.models import Sync


def create(engine: Engine, ttl_s: float, device_id: str | None = None) -> Sync:
    now = dt.datetime.now(dt.UTC)
    row = Sync(
        id=secrets.token_hex(8),
        created_at=now,
        expires_at=now + dt.timedelta(seconds=ttl_s),
        device_id=device_id,
    )
    with writing(engine) as db:
        db.add(row)
    return row


def get(engine: Engine, sync_id: str) -> Sync | None:
    with reading(engine) as db:
        return db.get(Sync, sync_id)


def save_report(engine: Engine, sync_id: str, report: dict[str, object]) -> bool:
    with writing(engine) as db:
        row = db.get(Sync, sync_id)
        if row is None:
            return False
        row.report = json.dumps(report)
        return True
