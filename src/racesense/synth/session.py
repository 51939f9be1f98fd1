"""Synthetic track sessions with known ground truth.

A session, in order:

1. The car stands for `IDLE_S` at a "pit exit" spot on the centreline,
   min(200 m, 10 % of a lap) before the start/finish line, then drives off.
2. Crossing the line starts lap 1; `laps` timed laps follow, each with its own pace
   (the speed limit scaled by a factor drawn from 1 ± `driver.pace_variation`).
3. After the last crossing the car does an in-lap at `IN_LAP_PACE` and stops
   min(250 m, 15 % of a lap) before the line, so the in-lap is never completed; it then
   stands for `IDLE_S` until the recording ends.

Optional pit stop after lap k (1 <= k < laps), through a `PitLane` placed relative to the
start/finish line that ends lap k. The default lane: right after crossing the line the car
moves sideways onto a pit lane `pit_lane_offset_m` from the centreline (ramping over
`PIT_RAMP_M`, starting `PIT_ENTRY_AFTER_LINE_M` after the line), keeps to
`PIT_SPEED_LIMIT_MPS`, stops `pit_stop_s` at the pit box in the middle of a `PIT_HOLD_M`
stretch, and ramps back onto the centreline. That excursion lies between 30 m and 230 m
after the line, so it never crosses the start/finish line: lap k + 1 simply includes the
stop and is still a complete timed lap. A lane that starts before the line and ends after
it (`PitLane.across_the_line`) has its box before the line and its exit across it: the
car crosses the line in the lane at the speed limit, which ends there, and goes full
throttle from the line on. Then lap k holds the stop, and the crossing that ends it is a
launch. With `start_in_pit` the session starts standing in such a lane's box instead of
on the centreline, so its first crossing is one too. A sector line placed where the car
is more than half the line's length off the centreline is passed beside, not crossed,
and the truth says so (see `truth.Trajectory.line_crossings`).

Sampling: fixes at t = i / rate_hz from 0 to the end; the truth is evaluated exactly at
those times and then noise is added (independent Gaussian noise on each horizontal axis,
on speed, heading, altitude and the IMU channels). A GPS gap removes the rows in
[gps_gap_at_s, gps_gap_at_s + gps_gap_s). The random pace and the noise come from
separate streams of `seed`, so changing the rate or the noise never changes the truth.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from racesense.analysis.telemetry import STANDARD_GRAVITY_MPS2, Telemetry
from racesense.synth.circuit import Circuit
from racesense.synth.driver import Driver, Motion, cornering_limit_mps, limit_acceleration
from racesense.synth.path import LaneExcursion, lane_offset, path_point
from racesense.synth.truth import TimingLine, Trajectory, timing_line

FloatArray = npt.NDArray[np.float64]

IDLE_S = 5.0
START_BEFORE_LINE_M = 200.0
STOP_BEFORE_LINE_M = 250.0
IN_LAP_PACE = 0.75
PIT_ENTRY_AFTER_LINE_M = 30.0
PIT_RAMP_M = 60.0
PIT_HOLD_M = 80.0
PIT_SPEED_LIMIT_MPS = 60.0 / 3.6
ALTITUDE_NOISE_FACTOR = 1.5  # vertical GNSS error relative to the horizontal one
SATS = 14.0
HDOP = 0.7

_EPOCH = dt.datetime(2026, 3, 1, 9, 0, tzinfo=dt.UTC)


@dataclass(frozen=True)
class PitLane:
    """A pit lane beside the track, placed relative to a start/finish line: every
    distance is in metres along the track after the line (negative: before it).

    The car leaves the centreline at `entry_m`, moves `offset_m` sideways (positive
    left) over `ramp_m`, holds that offset for `hold_m` and moves back over `ramp_m`. It
    keeps to `speed_limit_mps` from `entry_m` until `limit_end_m` (None: until one grid
    node past the lane's exit; else up to the first grid node at or past it, so the car
    is at the limit there and speeds up within the next metre) and stops in the box at
    `box_m` (None: the middle of the hold).
    """

    entry_m: float = PIT_ENTRY_AFTER_LINE_M
    ramp_m: float = PIT_RAMP_M
    hold_m: float = PIT_HOLD_M
    offset_m: float = -20.0
    speed_limit_mps: float = PIT_SPEED_LIMIT_MPS
    box_m: float | None = None
    limit_end_m: float | None = None

    def __post_init__(self) -> None:
        if not (self.ramp_m > 0.0 and self.hold_m >= 0.0 and self.speed_limit_mps > 0.0):
            raise ValueError("a pit lane needs positive ramps and speed limit")
        hold_start = self.entry_m + self.ramp_m
        if not hold_start <= self.box_at_m <= hold_start + self.hold_m:
            raise ValueError("the pit box must lie where the lane holds its offset")
        if self.limit_end_m is not None and not self.box_at_m < self.limit_end_m:
            raise ValueError("the speed limit must end after the pit box")

    @classmethod
    def across_the_line(
        cls,
        *,
        box_before_line_m: float = 80.0,
        offset_m: float = -12.0,
        ramp_m: float = 100.0,
        before_box_m: float = 70.0,
        after_line_m: float = 150.0,
        speed_limit_mps: float = PIT_SPEED_LIMIT_MPS,
    ) -> PitLane:
        """A lane whose box lies `box_before_line_m` before the line and whose exit
        crosses it, `offset_m` off the centreline (inside a 30 m line's half-length): the
        speed limit ends at the line, the lane holds its offset `after_line_m` past it
        and then merges back over `ramp_m`."""
        entry = -box_before_line_m - before_box_m - ramp_m
        return cls(
            entry_m=entry,
            ramp_m=ramp_m,
            hold_m=after_line_m - entry - ramp_m,
            offset_m=offset_m,
            speed_limit_mps=speed_limit_mps,
            box_m=-box_before_line_m,
            limit_end_m=0.0,
        )

    @property
    def exit_m(self) -> float:
        return self.entry_m + 2.0 * self.ramp_m + self.hold_m

    @property
    def box_at_m(self) -> float:
        if self.box_m is not None:
            return self.box_m
        return self.entry_m + self.ramp_m + 0.5 * self.hold_m

    def excursion(self, line_at_m: float) -> LaneExcursion:
        """The lane around the line that the car reaches after `line_at_m` metres."""
        return LaneExcursion(line_at_m + self.entry_m, self.ramp_m, self.hold_m, self.offset_m)


@dataclass(frozen=True, eq=False)
class SyntheticSession:
    """A generated session and its exact ground truth (all times in session time, the
    `telemetry.t_s` base).

    `crossing_times_s`: every time the true path crosses the start/finish line
    (`complete_laps + 1` of them); `lap_times_s`: their differences. For each sector line
    (at `sector_s_m[i]` metres after the start/finish line along the centreline),
    `sector_crossing_times_s[i]` holds all its crossings, and `sector_times_s` has one
    row per complete lap: the splits from the start/finish line through each sector line
    back to the start/finish line (NaN next to a line the car went beside in the pit
    lane). Rows add up to `lap_times_s`. `pit_stop_interval_s` is when the car stands in
    the pit box; `gps_gap_interval_s` is the span with no rows.
    """

    telemetry: Telemetry
    circuit: Circuit
    truth: Trajectory
    start_finish: TimingLine
    crossing_times_s: FloatArray
    lap_times_s: FloatArray
    complete_laps: int
    sector_lines: tuple[TimingLine, ...]
    sector_crossing_times_s: tuple[FloatArray, ...]
    sector_times_s: FloatArray
    pit_stop_interval_s: tuple[float, float] | None
    gps_gap_interval_s: tuple[float, float] | None
    rate_hz: float
    seed: int

    @property
    def start_finish_line_deg(self) -> tuple[tuple[float, float], tuple[float, float]]:
        """The start/finish line as ([lat, lon] right, [lat, lon] left of travel)."""
        return self.start_finish.endpoints_deg

    @property
    def start_finish_point_deg(self) -> tuple[float, float]:
        return self.start_finish.point_deg

    @property
    def duration_s(self) -> float:
        return self.truth.duration_s


def started_at_for_seed(seed: int) -> dt.datetime:
    """A fixed UTC start time for a seed: a day and a morning hour that vary with it."""
    return _EPOCH + dt.timedelta(days=seed % 240, hours=(seed // 240) % 8)


def _check_arguments(
    circuit: Circuit,
    rate_hz: float,
    laps: int,
    seed: int,
    pit_after: int | None,
    pit_lane: PitLane,
    start_in_pit: bool,
) -> None:
    if not rate_hz > 0.0:
        raise ValueError("rate_hz must be positive")
    if laps < 1:
        raise ValueError("a session needs at least one timed lap")
    if seed < 0:
        raise ValueError("seed must be non-negative")
    if pit_after is not None and not 1 <= pit_after < laps:
        raise ValueError("pit_stop_after_lap must be between 1 and laps - 1")
    pit_span = max(pit_lane.exit_m, 0.0) - min(pit_lane.entry_m, 0.0)
    if circuit.length_m < pit_span + 100.0:
        raise ValueError(f"circuit is too short ({circuit.length_m:.0f} m) for a session")
    if start_in_pit and not pit_lane.box_at_m < 0.0:
        raise ValueError("a session can start in the pit lane only if its box is before the line")


def _pace_factors(seed: int, laps: int, driver: Driver) -> FloatArray:
    """Speed factors for the out-lap, laps 1..laps and the in-lap."""
    rng = np.random.default_rng([seed, 0])
    spread = driver.pace_variation
    factors = rng.uniform(1.0 - spread, 1.0 + spread, size=laps + 2)
    factors[-1] *= IN_LAP_PACE
    return factors


def _sector_splits(
    crossings: FloatArray, pass_times: list[FloatArray], bypassed: list[npt.NDArray[np.bool_]]
) -> FloatArray:
    """Per complete lap: time from the line before through each sector line to the next."""
    columns = [crossings[:-1]]
    for passes, beside in zip(pass_times, bypassed, strict=True):
        columns.append(np.where(beside, np.nan, passes))
    columns.append(crossings[1:])
    return np.asarray(np.diff(np.stack(columns, axis=1), axis=1), dtype=np.float64)


@dataclass(frozen=True)
class _SensorNoise:
    """Standard deviations of the sensor noise (all Gaussian, independent per sample)."""

    gps_m: float = 1.0  # per horizontal axis; altitude gets 1.5 times this
    speed_mps: float = 0.1
    heading_deg: float = 0.5
    accel_mps2: float = 0.05
    yaw_rate_dps: float = 0.2

    def __post_init__(self) -> None:
        if min(self.gps_m, self.speed_mps, self.heading_deg, self.accel_mps2) < 0.0:
            raise ValueError("noise levels must be non-negative")
        if self.yaw_rate_dps < 0.0:
            raise ValueError("noise levels must be non-negative")


def make_session(
    circuit: Circuit,
    *,
    rate_hz: float,
    laps: int,
    seed: int,
    gps_noise_m: float = 1.0,
    speed_noise_mps: float = 0.1,
    start_finish_s_m: float = 0.0,
    pit_stop_after_lap: int | None = None,
    pit_stop_s: float = 20.0,
    gps_gap_at_s: float | None = None,
    gps_gap_s: float = 3.0,
    imu: bool = True,
    sector_s_m: tuple[float, ...] = (),
    driver: Driver | None = None,
    pit_lane_offset_m: float = -20.0,
    heading_noise_deg: float = 0.5,
    accel_noise_mps2: float = 0.05,
    yaw_rate_noise_dps: float = 0.2,
    pit_lane: PitLane | None = None,
    start_in_pit: bool = False,
) -> SyntheticSession:
    """Generate a session on `circuit` (see the module docstring for its course).

    `sector_s_m` are distances after the start/finish line along the centreline, each in
    (0, lap length). `pit_lane_offset_m` is positive to the left of the direction of
    travel (the default, 20 m to the right, is the outside of the counter-clockwise demo
    circuit). Set every noise argument to 0 for a noiseless recording. The pit lane is a
    plain sideways offset: on a circuit where another part of the track runs that close
    to the main straight it would overlap it (the truth is unaffected). `pit_lane`
    replaces the default lane (and `pit_lane_offset_m`); `start_in_pit` starts the
    session standing in that lane's box, which must then lie before the line.
    """
    lane = pit_lane if pit_lane is not None else PitLane(offset_m=pit_lane_offset_m)
    _check_arguments(circuit, rate_hz, laps, seed, pit_stop_after_lap, lane, start_in_pit)
    if any(not 0.0 < s < circuit.length_m for s in sector_s_m):
        raise ValueError("sector_s_m must lie strictly between 0 and the lap length")
    if pit_stop_s < 0.0 or gps_gap_s <= 0.0:
        raise ValueError("pit_stop_s must be non-negative and gps_gap_s positive")
    noise = _SensorNoise(
        gps_noise_m, speed_noise_mps, heading_noise_deg, accel_noise_mps2, yaw_rate_noise_dps
    )
    trajectory, pit_interval = _drive(
        circuit,
        laps=laps,
        seed=seed,
        driver=driver or Driver(),
        start_finish_s_m=start_finish_s_m,
        pit_stop_after_lap=pit_stop_after_lap,
        pit_stop_s=pit_stop_s,
        pit_lane=lane,
        start_in_pit=start_in_pit,
    )
    duration = trajectory.duration_s
    start_finish = timing_line(circuit, start_finish_s_m)
    crossings = trajectory.line_crossings(start_finish)
    sector_lines = tuple(timing_line(circuit, start_finish_s_m + s) for s in sector_s_m)
    # Where the station passes each sector line on each complete lap, and whether the
    # car went beside it (pit lane) rather than across.
    lap_starts = crossings[:-1]
    lap_start_distances = trajectory.motion.at(lap_starts)[0]
    pass_distances = [lap_start_distances + s for s in sector_s_m]
    half = 0.5 * start_finish.length_m
    bypassed = [np.abs(trajectory.offset(d)[0]) > half for d in pass_distances]
    pass_times = [trajectory.time_at_distance(d) for d in pass_distances]

    t = np.arange(int(np.floor(duration * rate_hz)) + 1) / rate_hz
    keep = np.ones(t.shape[0], dtype=bool)
    gap_interval: tuple[float, float] | None = None
    if gps_gap_at_s is not None:
        if not (gps_gap_at_s > 0.0 and gps_gap_at_s + gps_gap_s < duration):
            raise ValueError("the GPS gap must lie inside the session, after its first fix")
        gap_interval = (gps_gap_at_s, gps_gap_at_s + gps_gap_s)
        keep = (t < gps_gap_at_s) | (t >= gps_gap_at_s + gps_gap_s)
    return SyntheticSession(
        telemetry=_record(trajectory, t, keep, seed, noise, imu),
        circuit=circuit,
        truth=trajectory,
        start_finish=start_finish,
        crossing_times_s=crossings,
        lap_times_s=np.diff(crossings),
        complete_laps=int(crossings.shape[0]) - 1,
        sector_lines=sector_lines,
        sector_crossing_times_s=tuple(trajectory.line_crossings(x) for x in sector_lines),
        sector_times_s=_sector_splits(crossings, pass_times, bypassed),
        pit_stop_interval_s=pit_interval,
        gps_gap_interval_s=gap_interval,
        rate_hz=float(rate_hz),
        seed=seed,
    )


def _drive(
    circuit: Circuit,
    *,
    laps: int,
    seed: int,
    driver: Driver,
    start_finish_s_m: float,
    pit_stop_after_lap: int | None,
    pit_stop_s: float,
    pit_lane: PitLane,
    start_in_pit: bool,
) -> tuple[Trajectory, tuple[float, float] | None]:
    """The true trajectory of the whole session and the pit stop's interval."""
    length, step = circuit.length_m, circuit.spacing_m
    lead = -pit_lane.box_at_m if start_in_pit else min(START_BEFORE_LINE_M, 0.1 * length)
    last_line = lead + laps * length
    nodes = int((last_line + length - min(STOP_BEFORE_LINE_M, 0.15 * length)) / step)
    distance = np.arange(nodes + 1) * step
    start_s = start_finish_s_m - lead

    # The crossings (counted from 0, the one that starts lap 1) that a pit lane lies
    # around: the start in the pit box, the pit stop after lap k.
    pit_lines = ([0] if start_in_pit else []) + (
        [pit_stop_after_lap] if pit_stop_after_lap is not None else []
    )
    excursions = tuple(pit_lane.excursion(lead + k * length) for k in pit_lines)
    offset, offset_d1, offset_d2 = lane_offset(excursions, distance)
    path = path_point(circuit, start_s + distance, offset, offset_d1, offset_d2)
    if np.any(1.0 - offset * circuit.curvature_1pm(start_s + distance) < 0.3):
        raise ValueError("the pit lane offset is too large for the corners it passes")

    # Region 0 is the out-lap, 1..laps the timed laps, laps + 1 the in-lap.
    region = np.clip(np.floor((distance - lead) / length).astype(np.int64) + 1, 0, laps + 1)
    v_limit = (
        cornering_limit_mps(path.curvature_1pm, driver) * _pace_factors(seed, laps, driver)[region]
    )
    stops = {0: IDLE_S, nodes: IDLE_S}
    box: int | None = None
    for k, excursion in zip(pit_lines, excursions, strict=True):
        # One node beyond each end, so the car cannot speed up inside the lane's ends;
        # or up to the first node at or past the end of the limit, so that the car is at
        # the limit there and speeds up from the next node on.
        in_lane = distance >= excursion.start_m - step
        if pit_lane.limit_end_m is None:
            in_lane &= distance <= excursion.end_m + step
        else:
            in_lane &= distance < lead + k * length + pit_lane.limit_end_m + step
        v_limit = np.where(in_lane, np.minimum(v_limit, pit_lane.speed_limit_mps), v_limit)
        at = excursion.middle_m if pit_lane.box_m is None else lead + k * length + pit_lane.box_m
        box = round(at / step)
        v_limit[box] = 0.0
        if box != 0:  # the start in the box is the session's first stop
            stops[box] = pit_stop_s
    # The limits hold on the path; the grid is in station metres.
    v_limit = v_limit / path.stretch
    v_limit[0] = v_limit[-1] = 0.0
    # Lateral acceleration per v^2 on the station grid (the path is `stretch` times as
    # long where the car is off the centreline): grip for the pedals is what it leaves.
    lateral_per_w = path.curvature_1pm * path.stretch**2
    motion = Motion.from_profile(
        limit_acceleration(v_limit, step, driver, lateral_per_w), step, stops
    )
    trajectory = Trajectory(circuit, motion, start_s, excursions)
    if pit_stop_after_lap is None or box is None:
        return trajectory, None
    arrive = float(motion.time_at(np.array([box * step]))[0])
    return trajectory, (arrive, arrive + pit_stop_s)


def _record(
    trajectory: Trajectory,
    t: FloatArray,
    keep: npt.NDArray[np.bool_],
    seed: int,
    noise: _SensorNoise,
    imu: bool,
) -> Telemetry:
    """Sample the truth at `t`, add the sensors' noise, keep the rows `keep`. The noise
    is drawn for every row, so a gap never changes the rows around it."""
    rng = np.random.default_rng([seed, 1])
    n = t.shape[0]
    truth = trajectory.at(t)
    circuit = trajectory.circuit
    x = truth.x_m + rng.normal(0.0, noise.gps_m, n)
    y = truth.y_m + rng.normal(0.0, noise.gps_m, n)
    lat, lon = circuit.to_wgs84(x, y)
    alt = np.full(n, circuit.origin_alt_m) + rng.normal(0.0, ALTITUDE_NOISE_FACTOR * noise.gps_m, n)
    # GNSS speed is a magnitude: noise at standstill folds back to positive values.
    speed = np.abs(truth.speed_mps + rng.normal(0.0, noise.speed_mps, n))
    heading = np.mod(truth.heading_deg + rng.normal(0.0, noise.heading_deg, n), 360.0)

    def sensed(values: FloatArray, sigma: float) -> FloatArray | None:
        return (values + rng.normal(0.0, sigma, n))[keep] if imu else None

    rows = int(keep.sum())
    return Telemetry.build(
        "synthetic",
        t[keep],
        lat[keep],
        lon[keep],
        alt_m=alt[keep],
        speed_mps=speed[keep],
        heading_deg=heading[keep],
        sats=np.full(rows, SATS),
        hdop=np.full(rows, HDOP),
        accel_lon_mps2=sensed(truth.accel_lon_mps2, noise.accel_mps2),
        accel_lat_mps2=sensed(truth.accel_lat_mps2, noise.accel_mps2),
        # An accelerometer on level ground reads +1 g upwards (specific force).
        accel_vert_mps2=sensed(np.full(n, STANDARD_GRAVITY_MPS2), noise.accel_mps2),
        yaw_rate_dps=sensed(truth.yaw_rate_dps, noise.yaw_rate_dps),
        started_at=started_at_for_seed(seed),
        metadata={"generator": "racesense.synth", "circuit": circuit.name, "seed": str(seed)},
    )
