"""Synthetic track sessions with known ground truth.

A session, in order:

1. The car stands for `IDLE_S` at a "pit exit" spot on the centreline,
   min(200 m, 10 % of a lap) before the start/finish line, then drives off.
2. Crossing the line starts lap 1; `laps` timed laps follow, each with its own pace
   (the speed limit scaled by a factor drawn from 1 ± `driver.pace_variation`).
3. After the last crossing the car does an in-lap at `IN_LAP_PACE` and stops
   min(250 m, 15 % of a lap) before the line, so the in-lap is never completed; it then
   stands for `IDLE_S` until the recording ends.

Optional pit stop after lap k (1 <= k < laps): right after crossing the line at the end of
lap k the car moves sideways onto a pit lane `pit_lane_offset_m` from the centreline
(ramping over `PIT_RAMP_M`, starting `PIT_ENTRY_AFTER_LINE_M` after the line), keeps to
`PIT_SPEED_LIMIT_MPS`, stops `pit_stop_s` at the pit box in the middle of a
`PIT_HOLD_M` stretch, and ramps back onto the centreline. The whole excursion lies
between 30 m and 230 m after the line, so the pit lane never crosses the start/finish
line: lap k + 1 simply includes the stop and is still a complete timed lap. A sector line
placed where the car is more than half the line's length off the centreline is passed
beside, not crossed, and the truth says so (see `truth.Trajectory.line_crossings`).

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
    circuit: Circuit, rate_hz: float, laps: int, seed: int, pit_after: int | None
) -> None:
    if not rate_hz > 0.0:
        raise ValueError("rate_hz must be positive")
    if laps < 1:
        raise ValueError("a session needs at least one timed lap")
    if seed < 0:
        raise ValueError("seed must be non-negative")
    if pit_after is not None and not 1 <= pit_after < laps:
        raise ValueError("pit_stop_after_lap must be between 1 and laps - 1")
    pit_end = PIT_ENTRY_AFTER_LINE_M + 2.0 * PIT_RAMP_M + PIT_HOLD_M
    if circuit.length_m < pit_end + 100.0:
        raise ValueError(f"circuit is too short ({circuit.length_m:.0f} m) for a session")


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
) -> SyntheticSession:
    """Generate a session on `circuit` (see the module docstring for its course).

    `sector_s_m` are distances after the start/finish line along the centreline, each in
    (0, lap length). `pit_lane_offset_m` is positive to the left of the direction of
    travel (the default, 20 m to the right, is the outside of the counter-clockwise demo
    circuit). Set every noise argument to 0 for a noiseless recording. The pit lane is a
    plain sideways offset: on a circuit where another part of the track runs that close
    to the main straight it would overlap it (the truth is unaffected).
    """
    _check_arguments(circuit, rate_hz, laps, seed, pit_stop_after_lap)
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
        pit_lane_offset_m=pit_lane_offset_m,
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
    pit_lane_offset_m: float,
) -> tuple[Trajectory, tuple[float, float] | None]:
    """The true trajectory of the whole session and the pit stop's interval."""
    length, step = circuit.length_m, circuit.spacing_m
    lead = min(START_BEFORE_LINE_M, 0.1 * length)
    last_line = lead + laps * length
    nodes = int((last_line + length - min(STOP_BEFORE_LINE_M, 0.15 * length)) / step)
    distance = np.arange(nodes + 1) * step
    start_s = start_finish_s_m - lead

    excursions: tuple[LaneExcursion, ...] = ()
    if pit_stop_after_lap is not None:
        entry = lead + pit_stop_after_lap * length + PIT_ENTRY_AFTER_LINE_M
        excursions = (LaneExcursion(entry, PIT_RAMP_M, PIT_HOLD_M, pit_lane_offset_m),)
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
    for excursion in excursions:
        # One node beyond each end, so the car cannot speed up inside the lane's ends.
        in_lane = (distance >= excursion.start_m - step) & (distance <= excursion.end_m + step)
        v_limit = np.where(in_lane, np.minimum(v_limit, PIT_SPEED_LIMIT_MPS), v_limit)
        box = round(excursion.middle_m / step)
        v_limit[box] = 0.0
        stops[box] = pit_stop_s
    # The limits hold on the path; the grid is in station metres.
    v_limit = v_limit / path.stretch
    v_limit[0] = v_limit[-1] = 0.0
    motion = Motion.from_profile(limit_acceleration(v_limit, step, driver), step, stops)
    trajectory = Trajectory(circuit, motion, start_s, excursions)
    if box is None:
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
