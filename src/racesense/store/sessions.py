"""Sessions: recording uploads (with their analysis job, in one transaction), reading
them, and storing analysis results."""

from __future__ import annotations

import datetime as dt
import json
import secrets
from dataclasses import dataclass

from sqlalchemy import Engine, delete, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session as OrmSession

from racesense.analysis.geo import haversine_m
from racesense.analysis.track import Track
from racesense.store.jobs import enqueue
from racesense.store.models import Session, Trace


@dataclass(frozen=True)
class Recorded:
    session_id: str
    status: str
    duplicate: bool


def new_id() -> str:
    return secrets.token_hex(8)


def record_upload(
    engine: Engine,
    *,
    sha256: str,
    size: int,
    filename: str,
    device_id: str | None,
    sync_id: str | None,
) -> Recorded:
    """The session for these bytes: a new one with its analysis job queued in the same
    transaction, or the one that already holds the same bytes."""
    for _ in range(3):
        with OrmSession(engine) as db:
            existing = db.scalar(select(Session).where(Session.sha256 == sha256))
            if existing is not None:
                return Recorded(existing.id, existing.status, duplicate=True)
            row = Session(
                id=new_id(),
                sha256=sha256,
                filename=filename,
                bytes=size,
                device_id=device_id,
                sync_id=sync_id,
                status="queued",
            )
            db.add(row)
            try:
                db.flush()
                enqueue(db, row.id)
                db.commit()
            except IntegrityError:
                # The same bytes arrived twice at once: the other upload won.
                db.rollback()
                continue
            return Recorded(row.id, row.status, duplicate=False)
    raise RuntimeError("could not record the upload")


def get(engine: Engine, session_id: str) -> Session | None:
    with OrmSession(engine, expire_on_commit=False) as db:
        return db.get(Session, session_id)


def list_sessions(
    engine: Engine,
    *,
    device_id: str | None = None,
    track: str | None = None,
    date: dt.date | None = None,
    limit: int = 50,
    offset: int = 0,
) -> tuple[list[Session], int]:
    """Newest first (by start time, else upload time); and the total count."""
    query = select(Session)
    if device_id:
        query = query.where(Session.device_id == device_id)
    if track:
        query = query.where(func.lower(Session.track_name) == track.lower())
    if date is not None:
        day = dt.datetime(date.year, date.month, date.day, tzinfo=dt.UTC)
        when = func.coalesce(Session.started_at, Session.uploaded_at)
        query = query.where(when >= day, when < day + dt.timedelta(days=1))
    with OrmSession(engine, expire_on_commit=False) as db:
        total = db.scalar(select(func.count()).select_from(query.subquery())) or 0
        order = func.coalesce(Session.started_at, Session.uploaded_at).desc()
        rows = db.scalars(query.order_by(order, Session.id).limit(limit).offset(offset)).all()
    return list(rows), int(total)


def by_sync(engine: Engine, sync_id: str) -> list[Session]:
    with OrmSession(engine, expire_on_commit=False) as db:
        rows = db.scalars(
            select(Session).where(Session.sync_id == sync_id).order_by(Session.uploaded_at)
        ).all()
    return list(rows)


def all_ids(engine: Engine) -> list[str]:
    with OrmSession(engine) as db:
        return list(db.scalars(select(Session.id).order_by(Session.uploaded_at)).all())


def delete_session(engine: Engine, session_id: str) -> str | None:
    """Delete a session and what was derived from it; returns its raw file's SHA-256
    if no other session shares it (so the caller may remove the raw file)."""
    with OrmSession(engine) as db, db.begin():
        row = db.get(Session, session_id)
        if row is None:
            return None
        sha = row.sha256
        db.execute(delete(Trace).where(Trace.session_id == session_id))
        db.delete(row)
    return sha


def set_status(engine: Engine, session_id: str, status: str, error: str | None = None) -> None:
    with OrmSession(engine) as db, db.begin():
        row = db.get(Session, session_id)
        if row is not None:
            row.status = status
            row.error = error


def store_result(
    engine: Engine,
    session_id: str,
    *,
    status: str,
    error: str | None,
    document_json: str | None,
    traces: dict[int, bytes],
    summary: dict[str, object],
) -> None:
    """Replace a session's derived data with a new analysis, atomically."""
    with OrmSession(engine) as db, db.begin():
        row = db.get(Session, session_id)
        if row is None:
            return  # deleted meanwhile
        db.execute(delete(Trace).where(Trace.session_id == session_id))
        for lap, data in traces.items():
            db.add(Trace(session_id=session_id, lap=lap, data=data))
        row.status = status
        row.error = error
        row.result = document_json
        row.analysed_at = dt.datetime.now(dt.UTC)
        for key, value in summary.items():
            if key == "device_id" and row.device_id:
                continue  # the uploader's X-Device-Id wins over the file's own
            setattr(row, key, value)


def get_trace(engine: Engine, session_id: str, lap: int) -> bytes | None:
    with OrmSession(engine) as db:
        row = db.get(Trace, (session_id, lap))
        return None if row is None else row.data


def set_override(engine: Engine, session_id: str, track_json: str | None) -> None:
    with OrmSession(engine) as db, db.begin():
        row = db.get(Session, session_id)
        if row is not None:
            row.track_override = track_json


def near(engine: Engine, new: list[Track], radius_m: float) -> list[str]:
    """Sessions not pinned to a track whose start/finish lies within `radius_m` of one
    of `new` (candidates for re-analysis when tracks are added)."""
    found = []
    with OrmSession(engine) as db:
        rows = db.execute(
            select(Session.id, Session.result).where(Session.track_override.is_(None))
        ).all()
    for session_id, result in rows:
        if not result:
            continue
        line = (json.loads(result).get("track") or {}).get("start_finish")
        if not line:
            continue
        lat, lon = line[0]
        if any(haversine_m(lat, lon, *t.anchor()) <= radius_m for t in new):
            found.append(session_id)
    return found
