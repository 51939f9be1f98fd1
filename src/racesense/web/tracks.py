"""The track list: read, add, import; forcing a track on one session."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Request
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from racesense.analysis.errors import TrackError
from racesense.analysis.track import Track, TrackSource
from racesense.analysis.track_json import track_from_json
from racesense.ingest.errors import MalformedFileError
from racesense.ingest.tracklist import parse_track_list
from racesense.store import jobs, sessions
from racesense.store import tracks as track_store
from racesense.store.models import TrackRow
from racesense.store.tokens import TokenInfo
from racesense.web.auth import require
from racesense.web.errors import ApiError
from racesense.web.views import session_or_404

router = APIRouter()
Writer = Annotated[TokenInfo, Depends(require("write"))]
# A new track is a reason to re-analyse sessions whose detected line lies this near.
REANALYSE_RADIUS_M = 3000.0
MAX_TRACK_LIST_BYTES = 8 * 1024 * 1024


class Point(BaseModel):
    lat: float = Field(ge=-90, le=90)
    lon: float = Field(ge=-180, le=180)


class TrackIn(BaseModel):
    """A track as the API takes it (analysis.track_json reads it)."""

    name: str = Field(min_length=1, max_length=200)
    start_finish: Point | None = None
    start_finish_line: list[list[float]] | None = None
    sectors: list[Any] | None = None

    def to_track(self, source: TrackSource = "list") -> Track:
        try:
            return track_from_json(self.model_dump(exclude_none=True), source)
        except TrackError as exc:
            raise ApiError(422, "invalid", f"The track is not valid: {exc}") from exc


def listed_track(row: TrackRow, sessions_by_name: dict[str, int]) -> dict[str, Any]:
    """A listed track, and how many sessions were analysed at it (by its name)."""
    return {"id": row.id, **track_store.to_json(row), "sessions": sessions_by_name.get(row.name, 0)}


async def _add(request: Request, new: list[Track]) -> tuple[list[int], list[str]]:
    engine = request.app.state.engine
    ids = await run_in_threadpool(track_store.add, engine, new)
    requeue = await run_in_threadpool(sessions.near, engine, new, REANALYSE_RADIUS_M)
    if requeue:
        await run_in_threadpool(jobs.enqueue_now, engine, requeue)
        request.app.state.dispatcher.notify()
    return ids, requeue


@router.get("/api/tracks")
async def list_tracks(
    request: Request, _token: Annotated[TokenInfo, Depends(require("read"))]
) -> dict[str, Any]:
    engine = request.app.state.engine
    rows = await run_in_threadpool(track_store.rows, engine)
    counts = await run_in_threadpool(sessions.count_by_track, engine)
    return {"tracks": [listed_track(r, counts) for r in rows]}


@router.post("/api/tracks", status_code=201)
async def add_track(request: Request, body: TrackIn, _token: Writer) -> dict[str, Any]:
    ids, requeued = await _add(request, [body.to_track()])
    return {"id": ids[0], "reanalysing": requeued}


@router.post("/api/tracks/import", status_code=201)
async def import_tracks(request: Request, _token: Writer) -> dict[str, Any]:
    data = bytearray()
    async for chunk in request.stream():
        data += chunk
        if len(data) > MAX_TRACK_LIST_BYTES:
            raise ApiError(413, "too_large", "A track list may be at most 8 MB.")
    try:
        new = await run_in_threadpool(parse_track_list, bytes(data))
    except (MalformedFileError, TrackError) as exc:
        raise ApiError(400, "bad_track_list", f"The track list was not imported: {exc}") from exc
    ids, requeued = await _add(request, new)
    return {"imported": len(ids), "reanalysing": requeued}


@router.delete("/api/tracks/{track_id}")
async def delete_track(
    request: Request, track_id: Annotated[int, Path(ge=1, le=2**31 - 1)], _token: Writer
) -> dict[str, Any]:
    """Remove a track from the list; sessions that may have used it are analysed again
    (a session that was forced onto it keeps its own copy)."""
    engine = request.app.state.engine
    gone = await run_in_threadpool(track_store.remove, engine, track_id)
    if gone is None:
        raise ApiError(404, "not_found", f"There is no track {track_id}.")
    requeue = await run_in_threadpool(sessions.near, engine, [gone], REANALYSE_RADIUS_M)
    if requeue:
        await run_in_threadpool(jobs.enqueue_now, engine, requeue)
        request.app.state.dispatcher.notify()
    return {"ok": True, "deleted": track_id, "reanalysing": requeue}


class ReanalyseIn(BaseModel):
    track: str | None = None
    start_finish: Point | None = None
    start_finish_line: list[list[float]] | None = None


def override_for(request: Request, body: ReanalyseIn) -> str | None:
    """The session's forced track (its stored form), from a listed track's name or a
    start/finish given for this session; None when the body names neither."""
    if body.track is not None:
        rows = [r for r in track_store.rows(request.app.state.engine) if r.name == body.track]
        if not rows:
            raise ApiError(404, "not_found", f"There is no track named {body.track!r}.")
        return track_store.override_json(track_store.to_track(rows[0]))
    if body.start_finish is None and body.start_finish_line is None:
        return None
    given = TrackIn(
        name="Given start/finish",
        start_finish=body.start_finish,
        start_finish_line=body.start_finish_line,
    )
    return track_store.override_json(given.to_track("user"))


@router.post("/api/sessions/{session_id}/reanalyse", status_code=202)
async def reanalyse(
    request: Request, session_id: str, _token: Writer, body: ReanalyseIn | None = None
) -> dict[str, Any]:
    state = request.app.state
    row = await run_in_threadpool(session_or_404, request, session_id)
    override = await run_in_threadpool(override_for, request, body or ReanalyseIn())
    if override is not None:
        await run_in_threadpool(sessions.set_override, state.engine, row.id, override)
    await run_in_threadpool(jobs.enqueue_now, state.engine, [row.id])
    state.dispatcher.notify()
    return {"id": row.id, "status": "queued"}
