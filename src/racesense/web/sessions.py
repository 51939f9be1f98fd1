"""Reading sessions: the list, results documents, lap traces, the raw bytes."""

from __future__ import annotations

import datetime as dt
import gzip
import json
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import FileResponse, Response
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool

from racesense.analysis.trace_format import MEDIA_TYPE, trace_json
from racesense.isotime import iso_utc
from racesense.store import sessions
from racesense.store.models import Session
from racesense.store.tokens import TokenInfo
from racesense.web.auth import require
from racesense.web.errors import ApiError
from racesense.web.views import session_or_404, session_summary

router = APIRouter()
Reader = Annotated[TokenInfo, Depends(require("read"))]
JSON = "application/json"
# Numbers from the URL must fit the database's integers (a 64-bit one fails with a 500).
MAX_INDEX = 2**31 - 1


def _unanalysed(row: Session) -> dict[str, Any]:
    """The results document's shape for a session with no analysis (yet): empty."""
    return {
        "format": row.format,
        "device_id": row.device_id,
        "started_at": iso_utc(row.started_at),
        "track": None,
        "laps": [],
        "lap_count": 0,
        "best_lap_s": None,
        "best_lap_number": None,
        "theoretical_best_s": None,
        "best_sectors_s": [],
        "reference_lap_number": None,
        "reason": None,
        "fix_count": 0,
        "duration_s": None,
        "warnings": [],
    }


def session_document(row: Session) -> bytes:
    """The session's state (`id`, `status`, `error_code`, `error`, `session`) followed by
    its stored results document, spliced as bytes: the document is never parsed nor
    encoded again. The document's keys never clash with the state's (ResultDocument)."""
    state = json.dumps(
        {
            "id": row.id,
            "status": row.status,
            "error_code": row.error_code,
            "error": row.error,
            "session": session_summary(row),
        },
        separators=(",", ":"),
    )
    document = row.result if row.result else json.dumps(_unanalysed(row), separators=(",", ":"))
    return f"{state[:-1]},{document[1:]}".encode()


@router.get("/api/sessions")
async def list_sessions(
    request: Request,
    _token: Reader,
    device: str | None = None,
    track: str | None = None,
    date: dt.date | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0, le=MAX_INDEX)] = 0,
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
        "sessions": [session_summary(r) for r in rows],
        "total": total,
        "limit": limit,
        "offset": offset,
    }


@router.get(
    "/api/sessions/{session_id}",
    response_class=Response,
    responses={200: {"content": {JSON: {}}, "description": "The session and its results"}},
)
async def get_session(request: Request, session_id: str, _token: Reader) -> Response:
    row = await run_in_threadpool(session_or_404, request, session_id)
    return Response(session_document(row), media_type=JSON)


def _wants_json(request: Request) -> bool:
    """JSON only for a client that asks for it and not for Arrow."""
    accept = request.headers.get("accept", "")
    return JSON in accept and MEDIA_TYPE not in accept


@router.get(
    "/api/sessions/{session_id}/laps/{lap}/trace",
    response_class=Response,
    responses={
        200: {
            "content": {MEDIA_TYPE: {}, JSON: {}},
            "description": "The lap's trace: Arrow IPC, or JSON when the client asks for it",
        }
    },
)
async def get_trace(
    request: Request,
    session_id: str,
    lap: Annotated[int, Path(ge=0, le=MAX_INDEX)],
    _token: Reader,
) -> Response:
    row = await run_in_threadpool(session_or_404, request, session_id)
    data = await run_in_threadpool(sessions.get_trace, request.app.state.engine, row.id, lap)
    if data is None:
        raise ApiError(404, "not_found", f"Session {session_id} has no trace for lap {lap}.")
    headers = {"Vary": "Accept, Accept-Encoding"}
    if not _wants_json(request):
        return Response(data, media_type=MEDIA_TYPE, headers=headers)
    body = await run_in_threadpool(trace_json, data)
    if "gzip" in request.headers.get("accept-encoding", ""):
        body = await run_in_threadpool(gzip.compress, body, 5)
        headers["Content-Encoding"] = "gzip"
    return Response(body, media_type=JSON, headers=headers)


@router.get("/api/sessions/{session_id}/raw")
async def get_raw(request: Request, session_id: str, _token: Reader) -> FileResponse:
    row = await run_in_threadpool(session_or_404, request, session_id)
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
    _token: Annotated[TokenInfo, Depends(require("write"))],
) -> dict[str, Any]:
    """Delete a session and its raw file (a user's token may: the UI's delete; a
    logger's upload token may not)."""
    state = request.app.state
    if not await run_in_threadpool(sessions.delete_session, state.engine, state.blobs, session_id):
        raise ApiError(404, "not_found", f"There is no session {session_id}.")
    state.events.publish({"type": "session", "id": session_id, "status": "deleted"})
    return {"ok": True, "deleted": session_id}


class LapChange(BaseModel):
    excluded: bool


@router.patch("/api/sessions/{session_id}/laps/{lap}", status_code=202)
async def change_lap(
    request: Request,
    session_id: str,
    lap: Annotated[int, Path(ge=0, le=MAX_INDEX)],
    body: LapChange,
    _token: Annotated[TokenInfo, Depends(require("write"))],
) -> dict[str, Any]:
    """Exclude a lap by hand (or count it again): kept with the session, an input of
    every analysis, which runs again now; the best lap, best sectors and theoretical
    best follow. Only complete laps can be excluded."""
    state = request.app.state
    row = await run_in_threadpool(session_or_404, request, session_id)
    document = json.loads(row.result) if row.result else {"laps": []}
    laps = {entry["number"]: entry for entry in document.get("laps", [])}
    if lap not in laps:
        raise ApiError(404, "not_found", f"Session {session_id} has no lap {lap}.")
    if not laps[lap]["complete"]:
        raise ApiError(
            422,
            "incomplete_lap",
            f"Lap {lap} is not complete: it never counts, so it cannot be excluded.",
        )
    await run_in_threadpool(sessions.set_lap_excluded, state.engine, row.id, lap, body.excluded)
    state.events.publish({"type": "session", "id": row.id, "status": "queued"})
    state.dispatcher.notify()
    return {"id": row.id, "lap": lap, "excluded": body.excluded, "status": "queued"}
