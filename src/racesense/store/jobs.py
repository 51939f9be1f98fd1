"""The analysis job queue, in the database.

A job is recorded in the same transaction as its upload, so an acknowledged upload
always has its analysis coming. Workers claim jobs with a lease: a job whose worker
died (a crash, a restart) is claimable again once its lease runs out. On PostgreSQL,
several servers can share the queue: `FOR UPDATE SKIP LOCKED` keeps any two from
taking the same job. On SQLite a single writer serialises claims anyway.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import Engine, func, or_, select, update
from sqlalchemy.orm import Session as OrmSession

from racesense.store.db import reading, writing
from racesense.store.models import Job, JobState, Session

LEASE_S = 300.0
MAX_ATTEMPTS = 3


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@dataclass(frozen=True)
class Claimed:
    job_id: int
    session_id: str
    attempt: int
    worker: str  # who holds the lease: only they may end the job


def enqueue(db: OrmSession, session_id: str) -> None:
    """Queue an analysis inside the caller's transaction (no commit here)."""
    db.add(Job(session_id=session_id, state="queued", not_before=_now()))


def enqueue_now(engine: Engine, session_ids: list[str]) -> int:
    """Queue analyses, except for sessions that already have one waiting (it will see
    the same inputs); the sessions are `queued` again. Returns how many were queued."""
    with writing(engine) as db:
        waiting = set(db.scalars(select(Job.session_id).where(Job.state == "queued")))
        new = [s for s in dict.fromkeys(session_ids) if s not in waiting]
        for session_id in new:
            enqueue(db, session_id)
        if new:
            db.execute(update(Session).where(Session.id.in_(new)).values(status="queued"))
    return len(new)


def claim(engine: Engine, worker: str, lease_s: float = LEASE_S) -> Claimed | None:
    """Take the oldest runnable job, or None; its session is `processing` from the same
    transaction on."""
    now = _now()
    runnable = or_(
        (Job.state == "queued") & (Job.not_before <= now),
        (Job.state == "processing") & (Job.locked_at < now - dt.timedelta(seconds=lease_s)),
    )
    oldest = select(Job.id).where(runnable).order_by(Job.id).limit(1)
    if engine.dialect.name == "postgresql":
        # Row locks: a job another server is taking right now is skipped, not waited on.
        oldest = oldest.with_for_update(skip_locked=True)
    else:
        # SQLite: one statement, so the choice and the take are one atomic write;
        # a SELECT then UPDATE would let two workers read the same job.
        oldest = oldest.scalar_subquery()  # type: ignore[assignment]
    take = (
        update(Job)
        .values(state="processing", locked_by=worker, locked_at=now, attempts=Job.attempts + 1)
        .returning(Job.id, Job.session_id, Job.attempts)
    )
    with writing(engine) as db:
        if engine.dialect.name == "postgresql":
            job_id = db.scalar(oldest)
            if job_id is None:
                return None
            row = db.execute(take.where(Job.id == job_id)).one_or_none()
        else:
            row = db.execute(take.where(Job.id == oldest)).one_or_none()
        if row is None:
            return None
        claimed = Claimed(int(row[0]), str(row[1]), int(row[2]), worker)
        db.execute(
            update(Session).where(Session.id == claimed.session_id).values(status="processing")
        )
        return claimed


def retry_delay_s(attempt: int) -> float:
    """A crashed analysis runs again after this long: 5 s, 25 s, ... (no retry storm)."""
    return float(5**attempt)


def end(db: OrmSession, job: Claimed, state: JobState, error: str | None = None) -> bool:
    """End the claimed job inside the caller's transaction: `done`, `failed`, or `queued`
    again (a crash, with a growing delay). False if the job is no longer this worker's
    (its lease ran out and another took it, or it is gone): then nothing is written."""
    row = db.get(Job, job.job_id, with_for_update=True)
    if row is None or row.state != "processing" or row.locked_by != job.worker:
        return False
    row.state = state
    row.locked_by = None
    row.last_error = None if error is None else error[:2000]
    if state == "queued":
        row.not_before = _now() + dt.timedelta(seconds=retry_delay_s(job.attempt))
    else:
        row.finished_at = _now()
    return True


def has_queued(db: OrmSession, session_id: str) -> bool:
    """Whether another analysis of this session is queued (it was asked for meanwhile)."""
    query = select(Job.id).where(Job.session_id == session_id, Job.state == "queued").limit(1)
    return db.scalar(query) is not None


def pending_count(engine: Engine) -> int:
    waiting = select(func.count()).select_from(Job).where(Job.state.in_(("queued", "processing")))
    with reading(engine) as db:
        return int(db.scalar(waiting) or 0)


def requeue_interrupted(engine: Engine, host_prefix: str | None) -> int:
    """At start-up: jobs this machine was running when it stopped run again now
    (their worker is gone). `host_prefix` None requeues every running job (SQLite:
    only one server uses the database)."""
    query = update(Job).where(Job.state == "processing")
    if host_prefix is not None:
        query = query.where(Job.locked_by.startswith(host_prefix))
    with writing(engine) as db:
        result = db.execute(query.values(state="queued", locked_by=None, not_before=_now()))
        # Their sessions are waiting again too.
        db.execute(
            update(Session)
            .where(Session.status == "processing")
            .where(Session.id.in_(select(Job.session_id).where(Job.state == "queued")))
            .values(status="queued")
        )
        return int(result.rowcount or 0)  # type: ignore[attr-defined]
