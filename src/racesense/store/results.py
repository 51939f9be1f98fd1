"""An analysis's outcome, and the one transaction that stores it.

An analysis job ends in exactly one of three outcomes: the file was analysed, it was
rejected (not a log we can read: it would fail the same way every time), or the
analysis crashed (a bug, memory: worth a retry). `persist` writes the outcome, the
session's status and the job's end together, or nothing at all. Both the server's
dispatcher and `racesense reanalyse` end their jobs through it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass

from sqlalchemy import Engine, delete
from sqlalchemy.orm import Session as OrmSession

from racesense.store import jobs
from racesense.store.db import writing
from racesense.store.models import Session, SessionStatus, Trace

INTERNAL_ERROR = "internal_error"


@dataclass(frozen=True)
class SessionSummary:
    """The columns the session list filters and sorts by, taken from the analysis."""

    format: str
    device_id: str | None  # the file's own; an uploader's X-Device-Id wins over it
    started_at: dt.datetime | None
    track_name: str | None
    lap_count: int
    best_lap_s: float | None
    theoretical_best_s: float | None
    sf_lat: float | None  # the start/finish line's middle
    sf_lon: float | None


@dataclass(frozen=True)
class Analysed:
    summary: SessionSummary
    document: bytes  # analysis.results.ResultDocument, as JSON
    traces: Mapping[int, bytes]  # lap number -> Arrow IPC (analysis.trace_format)


@dataclass(frozen=True)
class Rejected:
    code: str  # IngestError / AnalysisError code, e.g. "unknown_format"
    message: str


@dataclass(frozen=True)
class Crashed:
    message: str


Outcome = Analysed | Rejected | Crashed


@dataclass(frozen=True)
class Persisted:
    session_id: str
    status: SessionStatus
    sync_id: str | None


def persist(engine: Engine, job: jobs.Claimed, outcome: Outcome) -> Persisted | None:
    """Store the outcome of a claimed job, the session's status and the job's end, in
    one transaction. None when there is nothing to store: the session was deleted
    meanwhile (the job just ends), or the job is no longer this worker's."""
    with writing(engine) as db:
        row = db.get(Session, job.session_id)
        if row is None:
            jobs.end(db, job, "done")
            return None
        match outcome:
            case Analysed():
                if not jobs.end(db, job, "done"):
                    return None
                _store_analysis(db, row, outcome)
                # Asked for again while it ran: the next run is coming.
                row.status = "queued" if jobs.has_queued(db, row.id) else "ready"
            case Rejected(code=code, message=message):
                if not jobs.end(db, job, "failed", f"{code}: {message}"):
                    return None
                _clear_analysis(db, row)
                row.status, row.error_code, row.error = "failed", code, message
            case Crashed(message=message):
                again = job.attempt < jobs.MAX_ATTEMPTS
                if not jobs.end(db, job, "queued" if again else "failed", message):
                    return None
                if again:
                    row.status = "queued"
                else:
                    row.status, row.error_code = "failed", INTERNAL_ERROR
                    row.error = "The analysis failed on the server; the error is logged."
        return Persisted(row.id, row.status, row.sync_id)


def _store_analysis(db: OrmSession, row: Session, outcome: Analysed) -> None:
    db.execute(delete(Trace).where(Trace.session_id == row.id))
    db.add_all(Trace(session_id=row.id, lap=lap, data=data) for lap, data in outcome.traces.items())
    s = outcome.summary
    row.result = outcome.document.decode("utf-8")
    row.error_code = row.error = None
    row.format, row.started_at, row.track_name = s.format, s.started_at, s.track_name
    row.lap_count, row.best_lap_s = s.lap_count, s.best_lap_s
    row.theoretical_best_s = s.theoretical_best_s
    row.sf_lat, row.sf_lon = s.sf_lat, s.sf_lon
    row.device_id = row.device_id or s.device_id  # the uploader's X-Device-Id wins
    row.analysed_at = dt.datetime.now(dt.UTC)


def _clear_analysis(db: OrmSession, row: Session) -> None:
    db.execute(delete(Trace).where(Trace.session_id == row.id))
    row.result = None
    row.format = row.started_at = row.track_name = None
    row.lap_count = row.best_lap_s = row.theoretical_best_s = None
    row.sf_lat = row.sf_lon = None
    row.analysed_at = dt.datetime.now(dt.UTC)
