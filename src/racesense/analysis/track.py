"""Tracks and timing lines ("gates").

A track is a name, a start/finish and optional sector lines. A line is either given by
its two ends, or by one point, from which a line is drawn across the direction in
which the car actually travels there (most track lists, RaceCapture's among them,
carry only a point).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np

from racesense.analysis import kernels
from racesense.analysis.clean import Fixes
from racesense.analysis.errors import TrackError
from racesense.analysis.geo import LocalFrame, haversine_m

LatLon = tuple[float, float]
# "list": the user's track list; "detected": found in the data; "user": given for one
# analysis (a command-line option, or a line forced on one session); "file": the
# file's own start/finish (a VBO's [laptiming] line, where an AiM or RaceChrono logger
# counted its laps), after checking it against the session's path.
TrackSource = Literal["list", "detected", "user", "file"]

# Half the length of a line drawn from a single point. A start/finish point from a
# list may sit on the pit wall rather than the racing line; 25 m either side covers a
# wide main straight without reaching most parallel roads.
GATE_HALF_WIDTH_M = 25.0
# A timing line shorter than this cannot be a line across a track (the narrowest pit
# lane is wider); it is a slip of the finger or of a file, and its direction, from two
# points a GNSS fix apart, would be noise.
MIN_GATE_LENGTH_M = 2.0
# A session uses a track from the list whose start/finish it passes this close to.
TRACK_MATCH_RADIUS_M = 50.0


def _check_latlon(point: LatLon, what: str) -> None:
    lat, lon = point
    if not (math.isfinite(lat) and math.isfinite(lon) and -90 <= lat <= 90 and -180 <= lon <= 180):
        raise TrackError(f"{what} ({lat}, {lon}) is not a valid latitude/longitude.")


@dataclass(frozen=True)
class Gate:
    """A timing line between two WGS84 points (latitude, longitude in degrees)."""

    p1: LatLon
    p2: LatLon

    def __post_init__(self) -> None:
        _check_latlon(self.p1, "A line end")
        _check_latlon(self.p2, "A line end")
        if self.p1 == self.p2:
            raise TrackError("A timing line needs two different points.")
        length_m = haversine_m(*self.p1, *self.p2)
        if length_m < MIN_GATE_LENGTH_M:
            raise TrackError(
                f"A timing line must be at least {MIN_GATE_LENGTH_M:.0f} m long to cross the"
                f" track; this one is {length_m:.2f} m."
            )

    def p1_p2(self) -> tuple[LatLon, LatLon]:
        return (self.p1, self.p2)

    def midpoint(self) -> LatLon:
        return ((self.p1[0] + self.p2[0]) / 2.0, (self.p1[1] + self.p2[1]) / 2.0)


@dataclass(frozen=True)
class Track:
    """A circuit: start/finish as a line or a point, and optional sector lines.

    `source` says where it came from: "list" (the user's track list), "detected"
    (found in the data) or "user" (given for this one analysis).
    """

    name: str
    start_finish: Gate | None = None
    start_finish_point: LatLon | None = None
    sectors: tuple[Gate | LatLon, ...] = ()
    source: TrackSource = "list"

    def __post_init__(self) -> None:
        if (self.start_finish is None) == (self.start_finish_point is None):
            raise TrackError("A track needs exactly one of a start/finish line or point.")
        if self.start_finish_point is not None:
            _check_latlon(self.start_finish_point, "The start/finish point")
        for sector in self.sectors:
            if not isinstance(sector, Gate):
                _check_latlon(sector, "A sector point")

    def anchor(self) -> LatLon:
        """The point that identifies where the track is."""
        if self.start_finish is not None:
            return self.start_finish.midpoint()
        assert self.start_finish_point is not None
        return self.start_finish_point


@dataclass(frozen=True)
class GateXY:
    """A gate in the session's local frame, oriented: `normal` points the way cars cross."""

    ax_m: float
    ay_m: float
    bx_m: float
    by_m: float
    nx: float
    ny: float

    @property
    def length_m(self) -> float:
        return math.hypot(self.bx_m - self.ax_m, self.by_m - self.ay_m)

    def normal_bearing_deg(self) -> float:
        return math.degrees(math.atan2(self.nx, self.ny)) % 360.0

    def reversed(self) -> GateXY:
        return GateXY(self.ax_m, self.ay_m, self.bx_m, self.by_m, -self.nx, -self.ny)

    def to_gate(self, frame: LocalFrame) -> Gate:
        lat, lon = frame.to_latlon([self.ax_m, self.bx_m], [self.ay_m, self.by_m])
        return Gate((float(lat[0]), float(lon[0])), (float(lat[1]), float(lon[1])))


def gate_xy(gate: Gate, frame: LocalFrame) -> GateXY:
    """A line given by its ends; its normal is provisional until oriented by the data."""
    x, y = frame.to_xy([gate.p1[0], gate.p2[0]], [gate.p1[1], gate.p2[1]])
    dx, dy = float(x[1] - x[0]), float(y[1] - y[0])
    length = math.hypot(dx, dy)
    if length < 0.5:
        raise TrackError("A timing line must be at least 0.5 m long.")
    return GateXY(float(x[0]), float(y[0]), float(x[1]), float(y[1]), dy / length, -dx / length)


def gate_across_travel(
    fixes: Fixes,
    point: LatLon,
    half_width_m: float = GATE_HALF_WIDTH_M,
    search_radius_m: float = TRACK_MATCH_RADIUS_M,
) -> GateXY:
    """A line through `point`, square to the direction cars travel near it."""
    px, py = (float(v) for v in fixes.frame.to_xy(point[0], point[1]))
    dist = np.hypot(fixes.x_m - px, fixes.y_m - py)
    near = dist <= search_radius_m
    moving = fixes.speed_mps > 2.0
    if not (near & moving).any():
        raise TrackError(
            f"The session never passes within {search_radius_m:.0f} m of the start/finish "
            f"point ({point[0]:.6f}, {point[1]:.6f})."
        )
    # The closest passes count most: weight each fix's heading by its nearness.
    sel = near & moving
    weight = 1.0 / (1.0 + dist[sel])
    course = np.radians(fixes.course_deg[sel])
    ux = float(np.sum(weight * np.sin(course)))
    uy = float(np.sum(weight * np.cos(course)))
    norm = math.hypot(ux, uy)
    if norm == 0.0:
        raise TrackError("The direction of travel at the start/finish point is undefined.")
    nx, ny = ux / norm, uy / norm
    # Along the line: the travel direction turned 90 degrees.
    gx, gy = -ny, nx
    return GateXY(
        px - gx * half_width_m,
        py - gy * half_width_m,
        px + gx * half_width_m,
        py + gy * half_width_m,
        nx,
        ny,
    )


def nearest_pass_m(fixes: Fixes, point: LatLon) -> float:
    """How close the session comes to `point`."""
    px, py = fixes.frame.to_xy(point[0], point[1])
    return math.sqrt(kernels.nearest_sq_m2(fixes.x_m, fixes.y_m, float(px), float(py)))


def match_track(fixes: Fixes, tracks: tuple[Track, ...] | list[Track]) -> Track | None:
    """The listed track whose start/finish the session passes closest, within 50 m."""
    best: tuple[float, Track] | None = None
    for track in tracks:
        miss_m = nearest_pass_m(fixes, track.anchor())
        if miss_m <= TRACK_MATCH_RADIUS_M and (best is None or miss_m < best[0]):
            best = (miss_m, track)
    return None if best is None else best[1]
