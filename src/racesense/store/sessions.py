"""Sessions: recording uploads (with their analysis job, in one transaction) and
reading them. Analysis results are stored by `store.results.persist`."""

from __future__ import annotations

import datetime as dt
import json
import math
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import Engine, delete, func, select, text
from sqlalchemy.orm import Session as OrmSession

from racesense.analysis.geo import EARTH_RADIUS_M, haversine_m
from racesense.analysis.track import Track
from racesense.store.blobs import BlobStore
from racesense.store.db import reading, writing
from racesense.store.jobs import enqueue, has_queued
from racesense.store.models import Session, SessionStatus, SyncFile, Trace


@dataclass(frozen=True)
class Recorded:
    session_id: str
    status: SessionStatus
    duplicate: bool


def new_id() -> str:
    return secrets.token_hex(8)


def _lock_blob(db: OrmSession, sha256: str) -> None:
    """Serialise everything that places, refers to or removes the raw file of these
    bytes. SQLite: a write transaction already holds the database's one write lock.
    PostgreSQL: a lock on the hash, held until the transaction ends."""
    if db.get_bind().dialect.name == "postgresql":
        db.execute(text("SELECT pg_advisory_xact_lock(hashtext(:sha))"), {"sha": sha256})


def record_upload(
    engine: Engine,
    *,
    sha256: str,
    size: int,
    filename: str,
    device_id: str | None,
    sync_id: str | None,
    place: Callable[[], object] | None = None,
) -> Recorded:
    """The session for these bytes: a new one with its analysis job queued in the same
    transaction, or the one that already holds the same bytes. `place` gives the raw
    file its final name (BlobStore.place), under the same lock as the session that
    refers to it: a session being deleted meanwhile cannot take the file with it."""
    with writing(engine) as db:
        # Two uploads of the same bytes at once queue here (the lock on the hash), so the
        # second finds the first's session: the unique hash is never raced for.
        _lock_blob(db, sha256)
        if place is not None:
            place()
        existing = db.scalar(select(Session).where(Session.sha256 == sha256))
        if existing is not None:
            linked = db.get(SyncFile, (sync_id, existing.id)) if sync_id else None
            if sync_id is not None and existing.sync_id != sync_id and linked is None:
                db.add(SyncFile(sync_id=sync_id, session_id=existing.id))
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
        db.flush()
        enqueue(db, row.id)
    return Recorded(row.id, "queued", duplicate=False)


def get(engine: Engine, session_id: str) -> Session | None:
    with reading(engine) as db:
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
    with reading(engine) as db:
        total = db.scalar(select(func.count()).select_from(query.subquery())) or 0
        order = func.coalesce(Session.started_at, Session.uploaded_at).desc()
        rows = db.scalars(query.order_by(order, Session.id).limit(limit).offset(offset)).all()
    return list(rows), int(total)


def count_by_track(engine: Engine) -> dict[str, int]:
    """How many sessions each track name was given by their analysis."""
    with reading(engine) as db:
        rows = db.execute(
            select(Session.track_name, func.count())
            .where(Session.track_name.is_not(None))
            .group_by(Session.track_name)
        ).all()
    return {str(name): int(count) for name, count in rows}


def by_sync(engine: Engine, sync_id: str) -> list[Session]:
    with reading(engine) as db:
        linked = select(SyncFile.session_id).where(SyncFile.sync_id == sync_id)
        rows = db.scalars(
            select(Session)
            .where((Session.sync_id == sync_id) | Session.id.in_(linked))
            .order_by(Session.uploaded_at)
        ).all()
    return list(rows)


def all_ids(engine: Engine) -> list[str]:
    with reading(engine) as db:
        return list(db.scalars(select(Session.id).order_by(Session.uploaded_at)).all())


def delete_session(engine: Engine, blobs: BlobStore, session_id: str) -> bool:
    """Delete a session, what was derived from it, and its raw file unless another
    upload of the same bytes has claimed it meanwhile. False if there is no such session."""
    with writing(engine) as db:
        row = db.get(Session, session_id)
        if row is None:
            return False
        sha = row.sha256
        db.execute(delete(Trace).where(Trace.session_id == session_id))
        db.delete(row)
    remove_unreferenced(engine, blobs, sha)
    return True


def remove_unreferenced(engine: Engine, blobs: BlobStore, sha256: str) -> bool:
    """Remove the raw file of these bytes if no session refers to it, deciding under
    the lock that uploads take to refer to it. True if it was removed."""
    with writing(engine) as db:
        _lock_blob(db, sha256)
        if db.scalar(select(Session.id).where(Session.sha256 == sha256)) is not None:
            return False
        blobs.delete(sha256)
    return True


def sweep_unreferenced(engine: Engine, blobs: BlobStore, min_age_s: float) -> int:
    """Remove raw files that no session refers to and that are older than `min_age_s`:
    what an upload leaves when it dies between placing its file and committing its
    session (a crash, a full disk). Returns how many were removed."""
    cutoff = time.time() - min_age_s
    old = [sha for sha, mtime in blobs.stored() if mtime < cutoff]
    with reading(engine) as db:
        known = set(db.scalars(select(Session.sha256)))
    return sum(remove_unreferenced(engine, blobs, sha) for sha in old if sha not in known)


def get_trace(engine: Engine, session_id: str, lap: int) -> bytes | None:
    with reading(engine) as db:
        row = db.get(Trace, (session_id, lap))
        return None if row is None else row.data


def excluded_laps(row: Session) -> tuple[int, ...]:
    """The lap numbers the user excluded from this session, in order."""
    return tuple(json.loads(row.excluded_laps)) if row.excluded_laps else ()


def set_lap_excluded(engine: Engine, session_id: str, lap: int, excluded: bool) -> bool:
    """Exclude a lap (or count it again) and queue the session's analysis, in one
    transaction; False when the session does not exist."""
    with writing(engine) as db:
        row = db.get(Session, session_id)
        if row is None:
            return False
        laps = set(excluded_laps(row))
        laps = laps | {lap} if excluded else laps - {lap}
        row.excluded_laps = json.dumps(sorted(laps)) if laps else None
        if not has_queued(db, row.id):  # a run already waiting will read the new list
            enqueue(db, row.id)
        row.status = "queued"
    return True


def set_override(engine: Engine, session_id: str, track_json: str | None) -> None:
    with writing(engine) as db:
        row = db.get(Session, session_id)
        if row is not None:
            row.track_override = track_json


def near(engine: Engine, new: list[Track], radius_m: float) -> list[str]:
    """Sessions not pinned to a track whose start/finish lies within `radius_m` of one
    of `new` (candidates for re-analysis when tracks are added): a box query on the
    start/finish columns, then the exact distance for the few inside a box."""
    found: dict[str, None] = {}
    with reading(engine) as db:
        for track in new:
            lat, lon = track.anchor()
            dlat = math.degrees(radius_m / EARTH_RADIUS_M)
            dlon = dlat / max(math.cos(math.radians(lat)), 1e-6)
            box = select(Session.id, Session.sf_lat, Session.sf_lon).where(
                Session.track_override.is_(None),
                Session.sf_lat.between(lat - dlat, lat + dlat),
                # (a box that crosses the antimeridian would miss; no circuit does)
                Session.sf_lon.between(lon - dlon, lon + dlon),
            )
            for session_id, sf_lat, sf_lon in db.execute(box):
                # (between() leaves NULLs out: the `or` only satisfies the type checker)
                if haversine_m(lat, lon, sf_lat or 0.0, sf_lon or 0.0) <= radius_m:
                    found[session_id] = None
    return list(found)
