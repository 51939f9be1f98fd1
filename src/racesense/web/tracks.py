"""The track list: read, add, import; forcing a track on one session."""

from __future__ import annotations

import json
import math
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from racesense.analysis.errors import TrackError
from racesense.analysis.track import Gate, LatLon, Track
from racesense.ingest.errors import MalformedFileError
from racesense.ingest.tracklist import parse_track_list
from racesense.store import jobs, sessions
from racesense.store import tracks as track_store
from racesense.store.models import TrackRow
from racesense.store.tokens import TokenInfo
from racesense.web.auth import require
from racesense.web.errors import ApiError
from racesense.web.sessions import _get

router = APIRouter()
Writer = Annotated[TokenInfo, Depends(require("write"))]
# A new track is a reason to re-analyse sessions whose detected line lies this near.
REANALYSE_RADIUS_M = 3000.0
MAX_TRACK_LIST_BYTES = 8 * 1024 * 1024


class Point(BaseModel):
    lat: float = Field(ge=-90, le=90)
    lon: float = Field(ge=-180, le=180)


class TrackIn(BaseModel):
    name: str = Field(min_length=1, max_length=200)
    start_finish: Point | None = None
    start_finish_line: list[list[float]] | None = None
    sectors: list[Any] | None = None

    def to_track(self, source: str = "list") -> Track:
        try:
            sectors = tuple(_sector(s) for s in self.sectors or [])
            if self.start_finish_line is not None:
                a, b = (_latlon(p) for p in _pair(self.start_finish_line))
                return Track(self.name, start_finish=Gate(a, b), sectors=sectors, source=source)
            if self.start_finish is not None:
                point = (self.start_finish.lat, self.start_finish.lon)
                return Track(self.name, start_finish_point=point, sectors=sectors, source=source)
        except (TrackError, TypeError, ValueError) as exc:
            raise ApiError(422, "invalid", f"The track is not valid: {exc}") from exc
        raise ApiError(422, "invalid", "A track needs start_finish or start_finish_line.")


def _latlon(value: Any) -> LatLon:
    if (
        not isinstance(value, list | tuple)
        or len(value) != 2
        or not all(isinstance(v, int | float) and math.isfinite(v) for v in value)
    ):
        raise ValueError(f"{value!r} is not [lat, lon]")
    return (float(value[0]), float(value[1]))


def _pair(value: Any) -> tuple[Any, Any]:
    if not isinstance(value, list) or len(value) != 2:
        raise ValueError("a line is [[lat, lon], [lat, lon]]")
    return value[0], value[1]


def _sector(value: Any) -> Gate | LatLon:
    if isinstance(value, dict):
        return (float(value["lat"]), float(value["lon"]))
    if isinstance(value, list) and value and isinstance(value[0], list):
        a, b = _pair(value)
        return Gate(_latlon(a), _latlon(b))
    return _latlon(value)


def track_json(row: TrackRow) -> dict[str, Any]:
    track = track_store.to_track(row)
    out: dict[str, Any] = {"id": row.id, "name": row.name}
    if track.start_finish is not None:
        out["start_finish_line"] = [list(track.start_finish.p1), list(track.start_finish.p2)]
    else:
        out["start_finish"] = {"lat": row.lat, "lon": row.lon}
    out["sectors"] = json.loads(row.sectors) if row.sectors else []
    return out


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
    rows = await run_in_threadpool(track_store.rows, request.app.state.engine)
    return {"tracks": [track_json(r) for r in rows]}


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
        new = parse_track_list(bytes(data))
    except MalformedFileError as exc:
        raise ApiError(400, "bad_track_list", str(exc)) from exc
    ids, requeued = await _add(request, new)
    return {"imported": len(ids), "reanalysing": requeued}


class ReanalyseIn(BaseModel):
    track: str | None = None
    start_finish: Point | None = None
    start_finish_line: list[list[float]] | None = None


def override_for(request: Request, body: ReanalyseIn) -> str | None:
    """The session's forced track as JSON, from a listed track's name or a line."""
    if body.track is not None:
        rows = [r for r in track_store.rows(request.app.state.engine) if r.name == body.track]
        if not rows:
            raise ApiError(404, "not_found", f"There is no track named {body.track!r}.")
        return json.dumps(track_json(rows[0]))
    if body.start_finish is None and body.start_finish_line is None:
        return None
    track = TrackIn(
        name="Given start/finish",
        start_finish=body.start_finish,
        start_finish_line=body.start_finish_line,
    ).to_track("user")
    del track  # validated
    return json.dumps(body.model_dump(exclude_none=True) | {"name": "Given start/finish"})


@router.post("/api/sessions/{session_id}/reanalyse", status_code=202)
async def reanalyse(
    request: Request, session_id: str, _token: Writer, body: ReanalyseIn | None = None
) -> dict[str, Any]:
    state = request.app.state
    row = await run_in_threadpool(_get, request, session_id)
    override = await run_in_threadpool(override_for, request, body or ReanalyseIn())
    if override is not None:
        await run_in_threadpool(sessions.set_override, state.engine, row.id, override)
    await run_in_threadpool(jobs.enqueue_now, state.engine, [row.id])
    await run_in_threadpool(sessions.set_status, state.engine, row.id, "queued")
    state.dispatcher.notify()
    return {"id": row.id, "status": "queued"}
