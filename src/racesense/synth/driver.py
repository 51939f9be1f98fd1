"""The driver: a quasi-steady-state speed profile and the motion it produces in time.

Classic lap-time simulation on a grid of distance travelled (step h): the speed limit is
v_lim = min(v_max, sqrt(a_lat_max / |curvature|)); a forward pass caps acceleration and a
backward pass caps braking. Working with w = v^2, which may grow by at most 2 a h per step.
Grip is shared (a friction ellipse): where the corner uses a fraction g of the lateral
limit, a step may use sqrt(1 - g^2) of the acceleration or braking limit, so each pass
is a loop over the grid. Without curvature (grip apart) each pass is a running minimum,
vectorised. Both are exact on the grid.

Between grid nodes the car moves with constant acceleration (v^2 linear in distance),
which is exactly what the passes allow. `Motion` holds that piecewise-constant
acceleration model, so distance, speed and acceleration are known in closed form at any
time, and the time at which any distance is reached is the root of a quadratic: this is
what makes the ground truth of a synthetic session exact rather than interpolated.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from racesense.analysis.telemetry import STANDARD_GRAVITY_MPS2

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True)
class Driver:
    """Vehicle and driver limits. `pace_variation` is the half-width of the uniform
    distribution of a lap's speed factor: each lap scales its speed limit by 1 ± it."""

    v_max_mps: float = 70.0
    a_lat_max_mps2: float = 12.0
    a_accel_max_mps2: float = 5.0
    a_brake_max_mps2: float = 10.0
    pace_variation: float = 0.005

    def __post_init__(self) -> None:
        limits = (self.v_max_mps, self.a_lat_max_mps2, self.a_accel_max_mps2, self.a_brake_max_mps2)
        if not all(value > 0.0 for value in limits):
            raise ValueError("driver limits must be positive")
        if not 0.0 <= self.pace_variation < 0.5:
            raise ValueError("pace_variation must be in [0, 0.5)")


# The limits of the cars and drivers that `sampled_driver` draws from, in g: a club car
# to a GT car under power, road to racing tyres in corners and under braking.
ACCEL_RANGE_G = (0.3, 0.6)
BRAKE_RANGE_G = (0.8, 1.2)
LATERAL_RANGE_G = (1.0, 1.4)
TOP_SPEED_RANGE_MPS = (60.0, 80.0)


def sampled_driver(seed: int, pace_variation: float = 0.005) -> Driver:
    """A driver whose limits are drawn for `seed` (uniformly, from a stream of its own,
    so the session's pace and noise streams are unchanged): acceleration ACCEL_RANGE_G,
    braking BRAKE_RANGE_G, cornering LATERAL_RANGE_G, top speed TOP_SPEED_RANGE_MPS."""
    if seed < 0:
        raise ValueError("seed must be non-negative")
    rng = np.random.default_rng([seed, 2])
    accel_g, brake_g, lateral_g = (
        rng.uniform(*bounds) for bounds in (ACCEL_RANGE_G, BRAKE_RANGE_G, LATERAL_RANGE_G)
    )
    return Driver(
        v_max_mps=float(rng.uniform(*TOP_SPEED_RANGE_MPS)),
        a_lat_max_mps2=float(lateral_g) * STANDARD_GRAVITY_MPS2,
        a_accel_max_mps2=float(accel_g) * STANDARD_GRAVITY_MPS2,
        a_brake_max_mps2=float(brake_g) * STANDARD_GRAVITY_MPS2,
        pace_variation=pace_variation,
    )


def cornering_limit_mps(curvature_1pm: npt.ArrayLike, driver: Driver) -> FloatArray:
    """min(v_max, sqrt(a_lat_max / |curvature|)); straight sections get v_max."""
    kappa = np.abs(np.asarray(curvature_1pm, dtype=np.float64))
    with np.errstate(divide="ignore", over="ignore"):  # straight: no corner limit
        corner = np.sqrt(driver.a_lat_max_mps2 / kappa)
    return np.asarray(np.minimum(corner, driver.v_max_mps), dtype=np.float64)


def limit_acceleration(
    v_limit_mps: npt.ArrayLike,
    step_m: float,
    driver: Driver,
    lateral_per_w_1pm: npt.ArrayLike | None = None,
) -> FloatArray:
    """The fastest profile under `v_limit_mps` (nodes `step_m` apart) that respects the
    acceleration and braking limits. Put 0 in `v_limit_mps` where the car must stand.

    With `lateral_per_w_1pm` (per node: lateral acceleration / v^2, the path's |curvature|
    on the grid), the tyres' grip is shared between cornering and the pedals (a friction
    ellipse): a step may use only the share of the acceleration or braking limit that
    the corner leaves, judged at its slower end. So the car brakes into a corner while it
    turns in and feeds in the throttle as the corner opens, as a driver does, and its G-G
    diagram fills an ellipse rather than a rectangle."""
    if lateral_per_w_1pm is None:
        return _limit_acceleration_apart(v_limit_mps, step_m, driver)
    w_limit = np.asarray(v_limit_mps, dtype=np.float64) ** 2
    lateral = np.abs(np.asarray(lateral_per_w_1pm, dtype=np.float64)) / driver.a_lat_max_mps2
    if lateral.shape != w_limit.shape:
        raise ValueError("one lateral factor per node is needed")
    # Plain floats: the passes are sequential (each step's share depends on the speed
    # reached), and a Python loop over floats beats one over NumPy scalars.
    w = w_limit.tolist()
    used = lateral.tolist()
    n = len(w)
    _shared_grip_pass(w, used, 2.0 * driver.a_accel_max_mps2 * step_m, range(n - 1), 1)
    _shared_grip_pass(w, used, 2.0 * driver.a_brake_max_mps2 * step_m, range(n - 1, 0, -1), -1)
    return np.asarray(np.sqrt(np.maximum(np.minimum(w, w_limit), 0.0)), dtype=np.float64)


def _shared_grip_pass(
    w: list[float], used: list[float], limit_2h: float, nodes: range, toward: int
) -> None:
    """One pass, in place: from each node in `nodes` (the slower end of its step) to the
    node `toward` it, w may grow by at most limit_2h times the pedal's share of grip."""
    for i in nodes:
        grip = w[i] * used[i]
        reach = w[i] + limit_2h * math.sqrt(1.0 - grip * grip) if grip < 1.0 else w[i]
        if w[i + toward] > reach:
            w[i + toward] = reach


def _limit_acceleration_apart(
    v_limit_mps: npt.ArrayLike, step_m: float, driver: Driver
) -> FloatArray:
    """limit_acceleration with grip for cornering and for the pedals apart."""
    w_limit = np.asarray(v_limit_mps, dtype=np.float64) ** 2
    distance = np.arange(w_limit.shape[0]) * step_m
    # Forward: w[i] = min over j <= i of (w_limit[j] + 2 a (d[i] - d[j])).
    ramp = 2.0 * driver.a_accel_max_mps2 * distance
    w = np.minimum.accumulate(w_limit - ramp) + ramp
    # Backward, the same on the reversed grid with the braking limit.
    ramp_back = 2.0 * driver.a_brake_max_mps2 * distance[::-1]
    w_back = (np.minimum.accumulate((w - ramp_back)[::-1]) + ramp_back[::-1])[::-1]
    # The ramps cancel only up to rounding: clamp to the limit itself as well.
    w = np.minimum(np.minimum(w, w_back), w_limit)
    return np.asarray(np.sqrt(np.maximum(w, 0.0)), dtype=np.float64)


def flying_lap_speeds_mps(
    curvature_1pm: npt.ArrayLike, step_m: float, driver: Driver
) -> FloatArray:
    """The periodic (flying-lap) profile for one lap of curvature samples `step_m` apart."""
    limit = cornering_limit_mps(curvature_1pm, driver)
    n = limit.shape[0]
    # Three laps in a row: the middle one no longer depends on how the first began.
    kappa = np.tile(np.asarray(curvature_1pm, dtype=np.float64), 3)
    return limit_acceleration(np.tile(limit, 3), step_m, driver, kappa)[n : 2 * n]


def flying_lap_time_s(curvature_1pm: npt.ArrayLike, step_m: float, driver: Driver) -> float:
    v = flying_lap_speeds_mps(curvature_1pm, step_m, driver)
    return float(np.sum(2.0 * step_m / (v + np.roll(v, -1))))


@dataclass(frozen=True, eq=False)
class Motion:
    """Distance travelled against time, with constant acceleration on each segment.

    `t_s`, `d_m`, `v_mps` are the knots; `a_mps2[i]` holds on [t_s[i], t_s[i + 1]].
    A segment with no distance is a stop (v = 0, a = 0). Before the first knot the car
    stands at d_m[0], after the last at d_m[-1].
    """

    t_s: FloatArray
    d_m: FloatArray
    v_mps: FloatArray
    a_mps2: FloatArray

    @classmethod
    def from_profile(
        cls, v_mps: npt.ArrayLike, step_m: float, stops_s: Mapping[int, float] | None = None
    ) -> Motion:
        """The motion through speeds `v_mps` at nodes `step_m` apart, standing still
        `stops_s[i]` seconds at node i (which must have speed 0)."""
        v = np.asarray(v_mps, dtype=np.float64)
        if v.ndim != 1 or v.shape[0] < 2 or np.any(v < 0.0):
            raise ValueError("need at least two non-negative node speeds")
        moving = v[:-1] + v[1:]
        if np.any(moving <= 0.0):
            raise ValueError("two consecutive nodes at rest: the car would never leave")
        d = np.arange(v.shape[0]) * step_m
        dt = 2.0 * step_m / moving
        a = (v[1:] ** 2 - v[:-1] ** 2) / (2.0 * step_m)
        seg_d, seg_v, seg_a, seg_dt = d[:-1], v[:-1], a, dt
        stops = dict(stops_s or {})
        if stops:
            nodes = np.array(sorted(stops), dtype=np.int64)
            if np.any(nodes < 0) or np.any(nodes >= v.shape[0]) or np.any(v[nodes] != 0.0):
                raise ValueError("stops must be at nodes where the speed is 0")
            durations = np.array([stops[int(i)] for i in nodes], dtype=np.float64)
            if np.any(durations < 0.0):
                raise ValueError("stop durations must be non-negative")
            # A stop at node i is a segment inserted before segment i (the last node
            # has no segment of its own, so np.insert appends there).
            seg_d = np.insert(seg_d, nodes, d[nodes])
            seg_v = np.insert(seg_v, nodes, 0.0)
            seg_a = np.insert(seg_a, nodes, 0.0)
            seg_dt = np.insert(seg_dt, nodes, durations)
        t = np.concatenate([[0.0], np.cumsum(seg_dt)])
        return cls(
            t_s=t,
            d_m=np.append(seg_d, d[-1]),
            v_mps=np.append(seg_v, v[-1]),
            a_mps2=seg_a,
        )

    @property
    def duration_s(self) -> float:
        return float(self.t_s[-1])

    def at(self, t_s: npt.ArrayLike) -> tuple[FloatArray, FloatArray, FloatArray]:
        """Distance, speed and acceleration at times `t_s` (exact, no interpolation)."""
        t = np.asarray(t_s, dtype=np.float64)
        last = self.a_mps2.shape[0] - 1
        i = np.clip(np.searchsorted(self.t_s, t, side="right") - 1, 0, last)
        tau = np.clip(t - self.t_s[i], 0.0, self.t_s[i + 1] - self.t_s[i])
        a = self.a_mps2[i]
        v0 = self.v_mps[i]
        distance = self.d_m[i] + v0 * tau + 0.5 * a * tau**2
        speed = np.maximum(v0 + a * tau, 0.0)
        outside = (t < self.t_s[0]) | (t > self.t_s[-1])
        return distance, speed, np.where(outside, 0.0, a)

    def time_at(self, d_m: npt.ArrayLike) -> FloatArray:
        """The time at which distance `d_m` is first reached (the exact root)."""
        d = np.asarray(d_m, dtype=np.float64)
        if np.any(d < self.d_m[0]) or np.any(d > self.d_m[-1]):
            raise ValueError("distance outside the motion")
        seg_end = self.d_m[1:]
        moving = seg_end > self.d_m[:-1]
        index = np.flatnonzero(moving)
        # The first moving segment whose end reaches d.
        i = index[np.minimum(np.searchsorted(seg_end[index], d, side="left"), index.shape[0] - 1)]
        gap = d - self.d_m[i]
        v0 = self.v_mps[i]
        root = np.sqrt(np.maximum(v0**2 + 2.0 * self.a_mps2[i] * gap, 0.0))
        # gap / ((v0 + root) / 2) is the quadratic's root without cancellation; it also
        # covers a start from rest.
        with np.errstate(invalid="ignore", divide="ignore"):
            tau = np.where(gap > 0.0, 2.0 * gap / (v0 + root), 0.0)
        return np.asarray(self.t_s[i] + tau, dtype=np.float64)
