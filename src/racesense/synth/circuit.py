"""A circuit for synthetic sessions: a smooth closed centreline placed on the globe.

The centreline is stored as points at a uniform step of about 1 m; the continuous
centreline is the periodic C2 cubic spline through them, parameterised by the *station*
`s_m` (the spline parameter, equal to arc length to within a few parts per million).
Every position, tangent and curvature the session generator uses comes from that spline,
so the ground truth of a session is defined by it exactly. The metric frame (x east,
y north) is the tangent plane at the origin (`projection.LocalTangentPlane`).
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from racesense.synth.geometry import (
    CurveDerivatives,
    PeriodicSpline,
    resample_closed_curve,
    signed_curvature,
)
from racesense.synth.projection import LocalTangentPlane

FloatArray = npt.NDArray[np.float64]

DEFAULT_SPACING_M = 1.0
# A 5 m survey such as the TUMFTM centrelines carries metre-level wiggles that make
# curvature noisy; a 6 m Gaussian keeps corners (radii >= 10 m) and removes those.
DEFAULT_SMOOTHING_M = 6.0
# Consecutive stored points may differ in spacing by this fraction of the mean at most.
_SPACING_TOLERANCE = 0.05


@dataclass(frozen=True, eq=False)
class Circuit:
    """A closed centreline (x_m east, y_m north, ~1 m apart, first point not repeated).

    Build one with `Circuit.from_centreline` (which smooths and resamples any closed
    polygon), `load_centreline_csv` or `demo_circuit`; the constructor only accepts
    points that are already uniformly spaced. The direction of the points is the
    direction of travel. Arrays are stored read-only.
    """

    name: str
    x_m: FloatArray
    y_m: FloatArray
    origin_lat_deg: float
    origin_lon_deg: float
    origin_alt_m: float = 0.0

    def __post_init__(self) -> None:
        x = np.array(self.x_m, dtype=np.float64)
        y = np.array(self.y_m, dtype=np.float64)
        if x.ndim != 1 or x.shape != y.shape or x.shape[0] < 8:
            raise ValueError("x_m and y_m must be 1-D arrays of the same length >= 8")
        if not (np.isfinite(x).all() and np.isfinite(y).all()):
            raise ValueError("centreline coordinates must be finite")
        chord = np.hypot(np.diff(x, append=x[0]), np.diff(y, append=y[0]))
        mean = float(chord.mean())
        if not mean > 0.0 or float(np.abs(chord - mean).max()) > _SPACING_TOLERANCE * mean:
            raise ValueError(
                "centreline points must be uniformly spaced; use Circuit.from_centreline"
            )
        x.setflags(write=False)
        y.setflags(write=False)
        object.__setattr__(self, "x_m", x)
        object.__setattr__(self, "y_m", y)
        LocalTangentPlane(self.origin_lat_deg, self.origin_lon_deg)  # validates the origin

    @classmethod
    def from_centreline(
        cls,
        name: str,
        x_m: npt.ArrayLike,
        y_m: npt.ArrayLike,
        origin_lat_deg: float,
        origin_lon_deg: float,
        *,
        origin_alt_m: float = 0.0,
        spacing_m: float = DEFAULT_SPACING_M,
        smoothing_m: float = DEFAULT_SMOOTHING_M,
    ) -> Circuit:
        """A circuit from any closed polygon: low-passed, then resampled every ~`spacing_m`."""
        x, y = resample_closed_curve(x_m, y_m, spacing_m=spacing_m, smoothing_m=smoothing_m)
        return cls(name, x, y, origin_lat_deg, origin_lon_deg, origin_alt_m)

    @functools.cached_property
    def _spline(self) -> PeriodicSpline:
        chord = np.hypot(
            np.diff(self.x_m, append=self.x_m[0]), np.diff(self.y_m, append=self.y_m[0])
        )
        return PeriodicSpline(self.x_m, self.y_m, float(chord.sum()) / chord.shape[0])

    @functools.cached_property
    def projection(self) -> LocalTangentPlane:
        return LocalTangentPlane(self.origin_lat_deg, self.origin_lon_deg)

    @property
    def length_m(self) -> float:
        """Length of one lap in station metres (the perimeter of the stored polygon)."""
        return self._spline.period

    @property
    def spacing_m(self) -> float:
        return self._spline.step

    def geometry(self, s_m: npt.ArrayLike) -> CurveDerivatives:
        """Centreline position and derivatives d/ds at stations `s_m` (taken modulo a lap)."""
        return self._spline.evaluate(s_m)

    def position(self, s_m: npt.ArrayLike) -> tuple[FloatArray, FloatArray]:
        g = self.geometry(s_m)
        return g.x, g.y

    def curvature_1pm(self, s_m: npt.ArrayLike) -> FloatArray:
        """Signed centreline curvature (1/m), positive in left-hand corners."""
        return signed_curvature(self.geometry(s_m))

    def to_wgs84(self, x_m: npt.ArrayLike, y_m: npt.ArrayLike) -> tuple[FloatArray, FloatArray]:
        return self.projection.to_wgs84(x_m, y_m)

    def from_wgs84(
        self, lat_deg: npt.ArrayLike, lon_deg: npt.ArrayLike
    ) -> tuple[FloatArray, FloatArray]:
        return self.projection.from_wgs84(lat_deg, lon_deg)


def load_centreline_csv(
    text: str,
    name: str,
    origin_lat_deg: float,
    origin_lon_deg: float,
    *,
    origin_alt_m: float = 0.0,
    smoothing_m: float = DEFAULT_SMOOTHING_M,
) -> Circuit:
    """A circuit from TUMFTM racetrack-database text (`x_m,y_m,w_tr_right_m,w_tr_left_m`).

    Lines starting with '#' and blank lines are skipped; only the first two columns are
    used (the track widths are ignored). The loop is closed implicitly, and the first
    row becomes station 0.
    """
    xs: list[float] = []
    ys: list[float] = []
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        cells = line.split(",")
        try:
            xs.append(float(cells[0]))
            ys.append(float(cells[1]))
        except (IndexError, ValueError):
            raise ValueError(f"line {number}: expected 'x_m,y_m,...', got {raw!r}") from None
    if len(xs) < 3:
        raise ValueError("a centreline needs at least 3 points")
    return Circuit.from_centreline(
        name,
        xs,
        ys,
        origin_lat_deg,
        origin_lon_deg,
        origin_alt_m=origin_alt_m,
        smoothing_m=smoothing_m,
    )


# A layout is a list of pieces driven in order from station 0: (turn_deg, radius_m) for a
# corner (positive left), (0, length_m) for a straight. Two straights, the "closing"
# ones, are lengthened or shortened so that the loop closes exactly.
Layout = tuple[tuple[float, float], ...]

# The demo layout, driven counter-clockwise from the start/finish line. Designed for this
# project, not traced from any real circuit.
_DEMO_LAYOUT: Layout = (
    (0.0, 500.0),  # main straight after the line; pit lane on its right (outside)
    (180.0, 15.0),  # T1 hairpin
    (0.0, 70.0),
    (-90.0, 45.0),  # T2
    (0.0, 120.0),
    (90.0, 40.0),  # T3, T4, T5, T6: the infield loop
    (0.0, 160.0),
    (-90.0, 35.0),
    (0.0, 80.0),
    (-90.0, 45.0),
    (0.0, 110.0),
    (90.0, 50.0),
    (0.0, 120.0),
    (65.0, 160.0),  # T7 fast sweeper
    (0.0, 130.0),
    (-35.0, 30.0),  # T8/T9 chicane
    (0.0, 15.0),
    (35.0, 30.0),
    (0.0, 380.0),  # back straight (closing)
    (80.0, 65.0),  # T10
    (0.0, 110.0),
    (60.0, 110.0),  # T11
    (0.0, 90.0),
    (-55.0, 140.0),  # T12/T13 fast esses
    (0.0, 80.0),
    (30.0, 220.0),
    (0.0, 200.0),  # (closing)
    (90.0, 55.0),  # T14 onto the main straight
    (0.0, 150.0),
)
_DEMO_CLOSING = (18, 26)
_TRANSITION_M = 20.0  # corner entries and exits ramp curvature linearly over this
_LAYOUT_STEP_M = 0.1


def _layout_curvature(layout: Layout, lengths: list[float]) -> FloatArray:
    """Curvature of a layout every _LAYOUT_STEP_M, transitions included."""
    pieces: list[FloatArray] = []
    for (turn_deg, _), length in zip(layout, lengths, strict=True):
        steps = max(round(length / _LAYOUT_STEP_M), 1)
        # Each corner turns by exactly its angle over its whole number of steps, so the
        # loop turns by exactly 360 degrees and closes without a kink.
        pieces.append(np.full(steps, math.radians(turn_deg) / (steps * _LAYOUT_STEP_M)))
    steps_kappa = np.concatenate(pieces)
    # A moving average of width w turns each step in curvature into a linear ramp (a
    # clothoid) of length w and keeps the total turn.
    width = round(_TRANSITION_M / _LAYOUT_STEP_M)
    padded = np.concatenate([steps_kappa[-width:], steps_kappa, steps_kappa[:width]])
    smooth = np.convolve(padded, np.full(width, 1.0 / width), mode="same")
    return np.asarray(smooth[width:-width], dtype=np.float64)


def _layout_trace(layout: Layout, lengths: list[float]) -> tuple[FloatArray, FloatArray]:
    kappa = _layout_curvature(layout, lengths)
    heading = np.concatenate([[0.0], np.cumsum(kappa * _LAYOUT_STEP_M)])
    mid = 0.5 * (heading[:-1] + heading[1:])
    x = np.concatenate([[0.0], np.cumsum(np.cos(mid) * _LAYOUT_STEP_M)])
    y = np.concatenate([[0.0], np.cumsum(np.sin(mid) * _LAYOUT_STEP_M)])
    return x, y


def _layout_lengths(layout: Layout, closing: tuple[int, int]) -> list[float]:
    """Each piece's length, the closing straights' adjusted so that the loop closes."""
    lengths = [abs(math.radians(turn)) * size if turn != 0.0 else size for turn, size in layout]
    # Straights add length * (cos, sin) of their heading, which the lengths do not
    # change: one linear solve closes the loop, a second the rounding to whole steps.
    directions = []
    for index in closing:
        turned = math.radians(sum(t for t, _ in layout[:index]))
        directions.append([math.cos(turned), math.sin(turned)])
    for _ in range(2):
        x, y = _layout_trace(layout, lengths)
        gap = np.array([x[-1] - x[0], y[-1] - y[0]])
        delta = np.linalg.solve(np.array(directions).T, -gap)
        for index, change in zip(closing, delta, strict=True):
            lengths[index] += float(change)
    if min(lengths) <= 0.0:
        raise ValueError("the layout cannot be closed with positive lengths")
    return lengths


def _layout_polygon(layout: Layout, closing: tuple[int, int]) -> tuple[FloatArray, FloatArray]:
    x, y = _layout_trace(layout, _layout_lengths(layout, closing))
    # What is left (under a step) is spread evenly over the lap: a shear of millimetres.
    share = np.linspace(0.0, 1.0, x.shape[0])
    x = x - (x[-1] - x[0]) * share
    y = y - (y[-1] - y[0]) * share
    return x[:-1], y[:-1]


def layout_stations_m(layout: Layout, closing: tuple[int, int]) -> FloatArray:
    """Where each piece of a layout starts, in station metres from station 0 (to within
    the centimetres by which smoothing and resampling shift the stations)."""
    lengths = _layout_lengths(layout, closing)
    return np.concatenate([[0.0], np.cumsum(lengths[:-1])])


@functools.cache
def demo_circuit() -> Circuit:
    """Racesense Park: the project's own fictional ~3 km club circuit.

    About 3.2 km, counter-clockwise: a 650 m main straight (start/finish at station 0,
    150 m after the last corner, nothing within 25 m on its right, where the pit lane
    goes), a 15 m-radius hairpin, an infield loop of four right angles, a fast sweeper, a
    chicane, a back straight and fast esses. Curvature ramps in and out of every corner
    over 20 m (clothoids). Placed in farmland at 33.95 S, 60.55 W, so it exercises negative
    latitudes and longitudes everywhere it is used.
    """
    x, y = _layout_polygon(_DEMO_LAYOUT, _DEMO_CLOSING)
    return Circuit.from_centreline(
        "Racesense Park", x, y, -33.95, -60.55, origin_alt_m=85.0, smoothing_m=1.0
    )


# The raceway layout, counter-clockwise from station 0, drawn to put timing lines where
# lap timing is hardest (see `synth.scenarios`): a long main straight after a slow last
# corner (the car accelerates at its limit for hundreds of metres, then brakes at its
# limit into a hairpin), with room for a pit lane along its right (outside), and a 350 m
# radius curve entered from a slow corner (the car accelerates through it or reaches
# its grip limit in it).
_RACEWAY_LAYOUT: Layout = (
    (0.0, 500.0),  # main straight, second part: station 0 to the braking zone
    (180.0, 25.0),  # T1 hairpin
    (0.0, 200.0),
    (-70.0, 60.0),  # T2
    (0.0, 120.0),
    (100.0, 350.0),  # T3, the fast curve
    (0.0, 250.0),
    (-60.0, 45.0),  # T4
    (0.0, 150.0),
    (120.0, 40.0),  # T5
    (0.0, 200.0),  # (closing)
    (90.0, 30.0),  # T6, the slow last corner
    (0.0, 250.0),  # main straight, first part (closing)
)
_RACEWAY_CLOSING = (10, 12)
# Where the pieces named in the layout start, by their index in it.
RACEWAY_PIECES = {"T1": 1, "fast curve": 5, "last corner": 11, "main straight": 12}


@functools.cache
def raceway_circuit() -> Circuit:
    """Racesense Raceway: a fictional ~3.2 km circuit for the hard cases of lap timing.

    Counter-clockwise: a 1.2 km main straight that starts at a slow corner (radius
    30 m) and ends in a braking zone into a 25 m hairpin, with nothing within 25 m on
    its right for a pit lane; a 100-degree curve of radius 350 m entered from a 60 m
    corner. Station 0 lies 720 m along the main straight. Curvature ramps over 20 m at
    every corner. Placed at 44.5 N, 11.0 E. `raceway_station_m` locates its pieces.
    """
    x, y = _layout_polygon(_RACEWAY_LAYOUT, _RACEWAY_CLOSING)
    return Circuit.from_centreline(
        "Racesense Raceway", x, y, 44.5, 11.0, origin_alt_m=40.0, smoothing_m=1.0
    )


def raceway_station_m(piece: str) -> float:
    """Where a piece of Racesense Raceway (a key of RACEWAY_PIECES) starts: its station,
    to within the centimetres by which smoothing and resampling move stations."""
    stations = layout_stations_m(_RACEWAY_LAYOUT, _RACEWAY_CLOSING)
    return float(stations[RACEWAY_PIECES[piece]])
