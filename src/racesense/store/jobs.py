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

from racesense.store.models import Job

LEASE_S = 300.0
MAX_ATTEMPTS = 3


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@dataclass(frozen=True)
class Claimed:
    job_id: int
    session_id: str
    attempt: int


def enqueue(db: OrmSession, session_id: str) -> None:
    """Queue an analysis inside the caller's transaction (no commit here)."""
    db.add(Job(session_id=session_id, state="queued", not_before=_now()))


def enqueue_now(engine: Engine, session_ids: list[str]) -> int:
    """Queue analyses, except for sessions that already have one waiting (it will see
    the same inputs). Returns how many were queued."""
    with OrmSession(engine) as db, db.begin():
        waiting = set(db.scalars(select(Job.session_id).where(Job.state == "queued")))
        new = [s for s in dict.fromkeys(session_ids) if s not in waiting]
        for session_id in new:
            enqueue(db, session_id)
    return len(new)


def claim(engine: Engine, worker: str, lease_s: float = LEASE_S) -> Claimed | None:
    """Take the oldest runnable job, or None."""
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
    with OrmSession(engine) as db, db.begin():
        if engine.dialect.name == "postgresql":
            job_id = db.scalar(oldest)
            if job_id is None:
                return None
            row = db.execute(take.where(Job.id == job_id)).one_or_none()
        else:
            row = db.execute(take.where(Job.id == oldest)).one_or_none()
        if row is None:
            return None
        return Claimed(int(row[0]), str(row[1]), int(row[2]))


def finish(engine: Engine, job_id: int) -> None:
    with OrmSession(engine) as db, db.begin():
        db.execute(
            update(Job)
            .where(Job.id == job_id)
            .values(state="done", finished_at=_now(), locked_by=None, last_error=None)
        )


def fail(engine: Engine, job: Claimed, error: str, *, retry: bool) -> bool:
    """Record a failure. A crash is retried with a growing delay, at most
    MAX_ATTEMPTS times; a file the analysis rejects is not retried at all (it would
    fail the same way: no retry storms). Returns True if the job will run again."""
    again = retry and job.attempt < MAX_ATTEMPTS
    values: dict[str, object] = {"last_error": error[:2000], "locked_by": None}
    if again:
        values |= {"state": "queued", "not_before": _now() + dt.timedelta(seconds=5**job.attempt)}
    else:
        values |= {"state": "failed", "finished_at": _now()}
    with OrmSession(engine) as db, db.begin():
        db.execute(update(Job).where(Job.id == job.job_id).values(**values))
    return again


def pending_count(engine: Engine) -> int:
    waiting = select(func.count()).select_from(Job).where(Job.state.in_(("queued", "processing")))
    with OrmSession(engine) as db:
        return int(db.scalar(waiting) or 0)


def requeue_interrupted(engine: Engine, host_prefix: str | None) -> int:
    """At start-up: jobs this machine was running when it stopped run again now
    (their worker is gone). `host_prefix` None requeues every running job (SQLite:
    only one server uses the database)."""
    query = update(Job).where(Job.state == "processing")
    if host_prefix is not None:
        query = query.where(Job.locked_by.startswith(host_prefix))
    with OrmSession(engine) as db, db.begin():
        result = db.execute(query.values(state="queued", locked_by=None, not_before=_now()))
        return int(result.rowcount or 0)  # type: ignore[attr-defined]
