"""`GET /api/sessions/{id}/export`: a session, or some of its laps, as a file another
tool reads (RaceChrono CSV v3, GPX, VBO).

The samples come from the session's raw file, read again by the importers at full
resolution; the laps from its stored results document. Reading and writing run in a
worker thread, at most EXPORT_SLOTS at a time, so an export never holds up the event
loop and a few large ones do not hold the server's memory many times over.
"""

from __future__ import annotations

import gzip
import json
import re
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Annotated, Any, Literal
from urllib.parse import quote

import anyio
import anyio.to_thread
from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from racesense.export import (
    FORMATS,
    LapBounds,
    LatLon,
    NoLapsError,
    SelectionError,
    check_laps,
    prepare,
)
from racesense.ingest import IngestError, read_telemetry
from racesense.store.models import Session
from racesense.store.tokens import TokenInfo
from racesense.web.auth import require
from racesense.web.errors import ApiError
from racesense.web.views import session_or_404

router = APIRouter()
Reader = Annotated[TokenInfo, Depends(require("read"))]
FormatName = Literal["racechrono", "gpx", "vbo"]
EXPORT_SLOTS = 2
GZIP_LEVEL = 5
MAX_LAP_LIST_CHARS = 2000
# Lap numbers as the URL writes them: "3" or "3,5,7" (spaces allowed around commas).
_LAP_LIST = re.compile(r"\s*[0-9]{1,9}\s*(?:,\s*[0-9]{1,9}\s*)*")


def lap_numbers(text: str) -> tuple[int, ...]:
    """The lap numbers of a `laps=` value, or a 422."""
    if not _LAP_LIST.fullmatch(text):
        raise ApiError(
            422,
            "invalid",
            "laps: give lap numbers separated by commas, such as laps=3 or laps=3,5.",
        )
    return tuple(sorted({int(part) for part in text.split(",")}))


@dataclass(frozen=True)
class Results:
    """What an export takes from the session's results document."""

    laps: tuple[LapBounds, ...] = ()
    start_finish: tuple[LatLon, LatLon] | None = None


def session_results(row: Session) -> Results:
    """The laps and start/finish line of the session's results document (none before
    it is analysed)."""
    if not row.result:
        return Results()
    document: dict[str, Any] = json.loads(row.result)
    laps = tuple(
        LapBounds(int(lap["number"]), float(lap["start_s"]), float(lap["end_s"]))
        for lap in document.get("laps", [])
        if lap.get("start_s") is not None and lap.get("end_s") is not None
    )
    line = (document.get("track") or {}).get("start_finish")
    start_finish = None if not line else ((line[0][0], line[0][1]), (line[1][0], line[1][1]))
    return Results(laps, start_finish)


def _stem(filename: str) -> str:
    """The uploaded file's name without its extension: the export's title."""
    return PurePosixPath(filename).stem.strip() or "session"


def download_name(original: str, chosen: tuple[int, ...] | None, extension: str) -> str:
    """`park.csv` -> `park-session.gpx`, `park-lap-3.gpx`, `park-laps-3-5.gpx`."""
    stem = _stem(original)
    if chosen is None:
        what = "session"
    elif len(chosen) == 1:
        what = f"lap-{chosen[0]}"
    else:
        what = "laps-" + "-".join(str(n) for n in chosen)
    return f"{stem}-{what}.{extension}"


def content_disposition(filename: str) -> str:
    """An attachment header as RFC 6266 has it: a plain ASCII `filename` every client
    reads, and the real name as `filename*` (RFC 8187, UTF-8) when it is not ASCII."""
    fallback = "".join(c if " " <= c <= "~" and c not in '"\\' else "_" for c in filename)
    value = f'attachment; filename="{fallback}"'
    if fallback != filename:
        value += f"; filename*=UTF-8''{quote(filename, safe='')}"
    return value


def _build(
    path: Path,
    title: str,
    track_name: str | None,
    results: Results,
    chosen: tuple[int, ...] | None,
    format_name: str,
    gzip_level: int | None,
) -> bytes:
    """Read the raw file again and write it out, gzip-compressed if `gzip_level` (in a
    worker thread)."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:  # deleted since it was looked up
        raise ApiError(404, "not_found", "The session was deleted.") from None
    try:
        telemetry = read_telemetry(data)
    except IngestError as exc:
        raise ApiError(
            409, "not_exportable", f"The session's file cannot be read, so not exported: {exc}"
        ) from None
    export = prepare(
        telemetry,
        title=title,
        laps=results.laps,
        chosen=chosen,
        track_name=track_name,
        start_finish=results.start_finish,
    )
    body = FORMATS[format_name].write(export)
    return body if gzip_level is None else gzip.compress(body, gzip_level)


def _limiter(request: Request) -> anyio.CapacityLimiter:
    state = request.app.state
    limiter: anyio.CapacityLimiter | None = getattr(state, "export_limiter", None)
    if limiter is None:
        limiter = state.export_limiter = anyio.CapacityLimiter(EXPORT_SLOTS)
    return limiter


_MEDIA_TYPES: dict[str | int, dict[str, Any]] = {
    200: {
        "content": {f.media_type.split(";")[0]: {} for f in FORMATS.values()},
        "description": "The file, as an attachment (Content-Disposition)",
    }
}


@router.get(
    "/api/sessions/{session_id}/export",
    response_class=Response,
    responses=_MEDIA_TYPES,
)
async def export_session(
    request: Request,
    session_id: str,
    _token: Reader,
    format_name: Annotated[
        FormatName,
        Query(
            alias="format",
            description="racechrono (RaceChrono CSV v3), gpx (GPX 1.1) or vbo (Racelogic VBOX)",
        ),
    ],
    laps: Annotated[
        str | None,
        Query(
            max_length=MAX_LAP_LIST_CHARS,
            description="Lap numbers, comma-separated (laps=3,5); absent: the whole session",
        ),
    ] = None,
) -> Response:
    chosen = None if laps is None else lap_numbers(laps)
    row = await run_in_threadpool(session_or_404, request, session_id)
    results = await run_in_threadpool(session_results, row)
    if chosen is not None:
        try:
            check_laps(results.laps, chosen)
        except NoLapsError as exc:
            raise ApiError(409, exc.code, str(exc)) from None
        except SelectionError as exc:
            raise ApiError(404, exc.code, str(exc)) from None
    writer = FORMATS[format_name]
    # Text files shrink five to ten times: worth it for an hour at 25 Hz (28 MB of GPX).
    gzipped = "gzip" in request.headers.get("accept-encoding", "")
    body = await anyio.to_thread.run_sync(
        _build,
        request.app.state.blobs.path_for(row.sha256),
        _stem(row.filename),
        row.track_name,
        results,
        chosen,
        format_name,
        GZIP_LEVEL if gzipped else None,
        limiter=_limiter(request),
    )
    headers = {
        "Content-Disposition": content_disposition(
            download_name(row.filename, chosen, writer.extension)
        ),
        "Vary": "Accept-Encoding",
    }
    if gzipped:
        headers["Content-Encoding"] = "gzip"
    return Response(body, media_type=writer.media_type, headers=headers)
