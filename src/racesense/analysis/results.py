"""The frozen results of an analysis, and the JSON document the API and CLI return.

Document field names are a contract (the web UI and other clients read them): fields
may be added, never renamed.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass
from typing import Any

from racesense.analysis.telemetry import FloatArray
from racesense.analysis.track import LatLon

Line = tuple[LatLon, LatLon]


@dataclass(frozen=True)
class LapResult:
    number: int
    start_s: float  # seconds from the first sample of the file
    end_s: float
    time_s: float
    kind: str  # "out" | "timed" | "in"
    complete: bool  # bounded by two start/finish crossings
    valid: bool
    invalid_reason: str | None
    sectors_s: tuple[float | None, ...]
    max_speed_kmh: float
    min_speed_kmh: float
    avg_speed_kmh: float
    distance_m: float


@dataclass(frozen=True)
class TrackResult:
    name: str
    source: str  # "list" | "detected" | "user"
    start_finish: Line
    sectors: tuple[Line, ...]


@dataclass(frozen=True, eq=False)
class LapTrace:
    """One lap's channels, downsampled; all arrays one length.

    `distance_m` is the position along the reference lap's path (so laps line up);
    `delta_s` is time lost (+) or gained (-) against the reference lap at that point,
    NaN for laps that are not complete.
    """

    number: int
    t_s: FloatArray  # from the lap's start
    distance_m: FloatArray
    speed_kmh: FloatArray
    lat_deg: FloatArray
    lon_deg: FloatArray
    g_lat: FloatArray  # positive left
    g_lon: FloatArray  # positive forward
    delta_s: FloatArray
    g_source: str  # "imu" | "gps"


@dataclass(frozen=True, eq=False)
class SessionAnalysis:
    format: str
    device_id: str | None
    started_at: dt.datetime | None
    track: TrackResult | None
    laps: tuple[LapResult, ...]
    best_lap_s: float | None
    best_lap_number: int | None
    theoretical_best_s: float | None
    best_sectors_s: tuple[float | None, ...]
    reference_lap_number: int | None
    traces: tuple[LapTrace, ...]
    reason: str | None  # why there are no laps, when there are none
    fix_count: int
    duration_s: float
    warnings: tuple[str, ...] = ()

    @property
    def lap_count(self) -> int:
        """Complete laps: those bounded by two start/finish crossings."""
        return sum(1 for lap in self.laps if lap.complete)

    def trace(self, number: int) -> LapTrace | None:
        for trace in self.traces:
            if trace.number == number:
                return trace
        return None


def _num(value: float | None, digits: int = 3) -> float | None:
    if value is None or not math.isfinite(value):
        return None
    return round(float(value), digits)


def _line(line: Line) -> list[list[float]]:
    return [[round(p[0], 7), round(p[1], 7)] for p in line]


def _iso(value: dt.datetime | None) -> str | None:
    if value is None:
        return None
    return value.astimezone(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def lap_document(lap: LapResult) -> dict[str, Any]:
    return {
        "number": lap.number,
        "time_s": _num(lap.time_s),
        "start_s": _num(lap.start_s),
        "end_s": _num(lap.end_s),
        "sectors_s": [_num(s) for s in lap.sectors_s],
        "kind": lap.kind,
        "complete": lap.complete,
        "valid": lap.valid,
        "invalid_reason": lap.invalid_reason,
        "max_speed_kmh": _num(lap.max_speed_kmh, 1),
        "min_speed_kmh": _num(lap.min_speed_kmh, 1),
        "avg_speed_kmh": _num(lap.avg_speed_kmh, 1),
        "distance_m": _num(lap.distance_m, 1),
    }


def to_document(
    analysis: SessionAnalysis,
    *,
    session_id: str | None = None,
    status: str = "ready",
    error: str | None = None,
) -> dict[str, Any]:
    """The results document (the API's `GET /api/sessions/{id}`)."""
    track = analysis.track
    return {
        "id": session_id,
        "status": status,
        "error": error,
        "format": analysis.format,
        "device_id": analysis.device_id,
        "started_at": _iso(analysis.started_at),
        "track": None
        if track is None
        else {
            "name": track.name,
            "source": track.source,
            "start_finish": _line(track.start_finish),
            "sectors": [_line(s) for s in track.sectors],
        },
        "laps": [lap_document(lap) for lap in analysis.laps],
        "lap_count": analysis.lap_count,
        "best_lap_s": _num(analysis.best_lap_s),
        "best_lap_number": analysis.best_lap_number,
        "theoretical_best_s": _num(analysis.theoretical_best_s),
        "best_sectors_s": [_num(s) for s in analysis.best_sectors_s],
        "reference_lap_number": analysis.reference_lap_number,
        "reason": analysis.reason,
        "fix_count": analysis.fix_count,
        "duration_s": _num(analysis.duration_s),
        "warnings": list(analysis.warnings),
    }


def _column(values: FloatArray, digits: int) -> list[float | None]:
    return [None if not math.isfinite(v) else round(v, digits) for v in values.tolist()]


def trace_document(trace: LapTrace) -> dict[str, Any]:
    """A lap's trace, column-wise (the API's `GET /api/sessions/{id}/laps/{n}/trace`)."""
    return {
        "lap": trace.number,
        "g_source": trace.g_source,
        "t_s": _column(trace.t_s, 3),
        "distance_m": _column(trace.distance_m, 1),
        "speed_kmh": _column(trace.speed_kmh, 2),
        "lat_deg": _column(trace.lat_deg, 7),
        "lon_deg": _column(trace.lon_deg, 7),
        "g_lat": _column(trace.g_lat, 3),
        "g_lon": _column(trace.g_lon, 3),
        "delta_s": _column(trace.delta_s, 3),
    }
