"""Reading sessions: the list, results documents, lap traces, the raw bytes."""

from __future__ import annotations

import datetime as dt
import gzip
import json
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import FileResponse, Response
from starlette.concurrency import run_in_threadpool

from racesense.store import sessions
from racesense.store.models import Session
from racesense.store.tokens import TokenInfo
from racesense.web.auth import require
from racesense.web.errors import ApiError

router = APIRouter()
Reader = Annotated[TokenInfo, Depends(require("read"))]


def _iso(value: dt.datetime | None) -> str | None:
    if value is None:
        return None
    if value.tzinfo is None:  # SQLite hands back naive UTC
        value = value.replace(tzinfo=dt.UTC)
    return value.astimezone(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def summary(row: Session) -> dict[str, Any]:
    return {
        "id": row.id,
        "status": row.status,
        "error": row.error,
        "filename": row.filename,
        "bytes": row.bytes,
        "sha256": row.sha256,
        "device_id": row.device_id,
        "sync_id": row.sync_id,
        "started_at": _iso(row.started_at),
        "uploaded_at": _iso(row.uploaded_at),
        "track": {"name": row.track_name},
        "lap_count": row.lap_count,
        "best_lap_s": row.best_lap_s,
    }


def _get(request: Request, session_id: str) -> Session:
    row = sessions.get(request.app.state.engine, session_id)
    if row is None:
        raise ApiError(404, "not_found", f"There is no session {session_id}.")
    return row


@router.get("/api/sessions")
async def list_sessions(
    request: Request,
    _token: Reader,
    device: str | None = None,
    track: str | None = None,
    date: dt.date | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> dict[str, Any]:
    rows, total = await run_in_threadpool(
        sessions.list_sessions,
        request.app.state.engine,
        device_id=device,
        track=track,
        date=date,
        limit=limit,
        offset=offset,
    )
    return {
        "sessions": [summary(r) for r in rows],
        "total": total,
        "limit": limit,
        "offset": offset,
    }


@router.get("/api/sessions/{session_id}")
async def get_session(request: Request, session_id: str, _token: Reader) -> dict[str, Any]:
    row = await run_in_threadpool(_get, request, session_id)
    if row.result:
        document: dict[str, Any] = json.loads(row.result)
        document.update(id=row.id, status=row.status, error=row.error)
    else:  # not analysed (yet), or the file was not understood
        document = {
            "id": row.id,
            "status": row.status,
            "error": row.error,
            "format": row.format,
            "device_id": row.device_id,
            "started_at": _iso(row.started_at),
            "track": None,
            "laps": [],
            "best_lap_s": None,
            "theoretical_best_s": None,
        }
    document["session"] = summary(row)
    return document


@router.get("/api/sessions/{session_id}/laps/{lap}/trace")
async def get_trace(request: Request, session_id: str, lap: int, _token: Reader) -> Response:
    row = await run_in_threadpool(_get, request, session_id)
    data = await run_in_threadpool(sessions.get_trace, request.app.state.engine, row.id, lap)
    if data is None:
        raise ApiError(404, "not_found", f"Session {session_id} has no trace for lap {lap}.")
    if "gzip" in request.headers.get("accept-encoding", ""):
        return Response(data, media_type="application/json", headers={"Content-Encoding": "gzip"})
    return Response(gzip.decompress(data), media_type="application/json")


@router.get("/api/sessions/{session_id}/raw")
async def get_raw(request: Request, session_id: str, _token: Reader) -> FileResponse:
    row = await run_in_threadpool(_get, request, session_id)
    path = request.app.state.blobs.path_for(row.sha256)
    return FileResponse(
        path,
        media_type="application/octet-stream",
        filename=row.filename,
        headers={"X-Content-SHA256": row.sha256},
    )


@router.delete("/api/sessions/{session_id}")
async def delete_session(
    request: Request,
    session_id: str,
    _token: Annotated[TokenInfo, Depends(require("admin"))],
) -> dict[str, Any]:
    state = request.app.state
    sha = await run_in_threadpool(sessions.delete_session, state.engine, session_id)
    if sha is None:
        raise ApiError(404, "not_found", f"There is no session {session_id}.")
    await run_in_threadpool(state.blobs.delete, sha)
    state.events.publish({"type": "session", "id": session_id, "status": "deleted"})
    return {"ok": True, "deleted": session_id}
