"""How the API shows a session, shared by every route that lists one."""

from __future__ import annotations

from typing import TypedDict

from fastapi import Request

from racesense.isotime import iso_utc
from racesense.store import sessions
from racesense.store.models import Session, SessionStatus
from racesense.web.errors import ApiError


class TrackName(TypedDict):
    name: str | None


class SessionSummary(TypedDict):
    id: str
    status: SessionStatus
    error_code: str | None
    error: str | None
    filename: str
    bytes: int
    sha256: str
    device_id: str | None
    sync_id: str | None
    started_at: str | None
    uploaded_at: str | None
    track: TrackName
    lap_count: int | None
    best_lap_s: float | None
    theoretical_best_s: float | None


def session_summary(row: Session) -> SessionSummary:
    return {
        "id": row.id,
        "status": row.status,
        "error_code": row.error_code,
        "error": row.error,
        "filename": row.filename,
        "bytes": row.bytes,
        "sha256": row.sha256,
        "device_id": row.device_id,
        "sync_id": row.sync_id,
        "started_at": iso_utc(row.started_at),
        "uploaded_at": iso_utc(row.uploaded_at),
        "track": {"name": row.track_name},
        "lap_count": row.lap_count,
        "best_lap_s": row.best_lap_s,
        "theoretical_best_s": row.theoretical_best_s,
    }


def session_or_404(request: Request, session_id: str) -> Session:
    row = sessions.get(request.app.state.engine, session_id)
    if row is None:
        raise ApiError(404, "not_found", f"There is no session {session_id}.")
    return row
