"""The frozen results of an analysis, and the JSON document the API and CLI return.

Document field names are a contract (the web UI and other clients read them): fields
may be added, never renamed.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass
from typing import Literal, TypedDict

from racesense.analysis.telemetry import FloatArray
from racesense.analysis.track import LatLon, TrackSource
from racesense.isotime import iso_utc

Line = tuple[LatLon, LatLon]
# "out": from the session's start (or the pit exit) to the first crossing; "timed":
# between two crossings; "in": the last crossing to the end, or into the pits.
LapKind = Literal["out", "timed", "in"]
# Where the lateral and longitudinal g of a trace come from.
GSource = Literal["imu", "gps"]


@dataclass(frozen=True)
class LapResult:
    number: int
    start_s: float  # seconds from the first sample of the file
    end_s: float
    time_s: float
    kind: LapKind
    complete: bool  # bounded by two start/finish crossings
    valid: bool
    invalid_reason: str | None
    sectors_s: tuple[float | None, ...]
    max_speed_kmh: float
    min_speed_kmh: float
    avg_speed_kmh: float
    distance_m: float
    excluded: bool = False  # by the user: not valid, whatever its time


@dataclass(frozen=True)
class TrackResult:
    name: str
    source: TrackSource
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
    g_source: GSource


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


class LapDocument(TypedDict):
    number: int
    time_s: float | None
    start_s: float | None
    end_s: float | None
    sectors_s: list[float | None]
    kind: LapKind
    complete: bool
    valid: bool
    invalid_reason: str | None
    max_speed_kmh: float | None
    min_speed_kmh: float | None
    avg_speed_kmh: float | None
    distance_m: float | None
    excluded: bool


class TrackDocument(TypedDict):
    name: str
    source: TrackSource
    start_finish: list[list[float]]  # [[lat, lon], [lat, lon]]
    sectors: list[list[list[float]]]


class ResultDocument(TypedDict):
    """What an analysis found in a file, and nothing about where it is kept: no id, no
    status (the API adds those from its database row when it serves the document)."""

    format: str
    device_id: str | None
    started_at: str | None  # ISO 8601, UTC
    track: TrackDocument | None
    laps: list[LapDocument]
    lap_count: int
    best_lap_s: float | None
    best_lap_number: int | None
    theoretical_best_s: float | None
    best_sectors_s: list[float | None]
    reference_lap_number: int | None
    reason: str | None
    fix_count: int
    duration_s: float | None
    warnings: list[str]


def _num(value: float | None, digits: int = 3) -> float | None:
    if value is None or not math.isfinite(value):
        return None
    return round(float(value), digits)


def _line(line: Line) -> list[list[float]]:
    return [[round(p[0], 7), round(p[1], 7)] for p in line]


def lap_document(lap: LapResult) -> LapDocument:
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
        "excluded": lap.excluded,
    }


def to_document(analysis: SessionAnalysis) -> ResultDocument:
    """The results document (served, with its session's state, by
    `GET /api/sessions/{id}`; printed by `racesense analyse --json`)."""
    track = analysis.track
    return {
        "format": analysis.format,
        "device_id": analysis.device_id,
        "started_at": iso_utc(analysis.started_at),
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
