"""From raw telemetry rows to clean GNSS fixes in a local metric frame.

Loggers hand us rows at mixed rates, with missing fixes, duplicated or backwards
timestamps, the odd fix that jumps a hundred metres and back, and the odd speed that no
car reaches. Everything after this module can assume: fixes are strictly increasing in
time and lie within a few days of each other, every one has a position, a speed (within
MAX_SPEED_MPS), a course and accelerations, and `gap_after[i]` says that the logger saw
nothing between fix i and fix i+1 for longer than it should have. So every distance
and duration, and every array sized from one, is bounded by the physics of a car.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from racesense.analysis import kernels
from racesense.analysis.errors import NoFixesError
from racesense.analysis.geo import LocalFrame
from racesense.analysis.telemetry import MAX_ACCEL_MPS2, MAX_SPEED_MPS, FloatArray, Telemetry

BoolArray = npt.NDArray[np.bool_]

# A step that a car cannot make: farther than it could travel at the larger of the two
# recorded speeds plus a margin, and farther than GNSS noise can throw a fix.
_JUMP_SPEED_MARGIN = 1.5
_JUMP_SPEED_FLOOR_MPS = 10.0
_JUMP_NOISE_M = 15.0
_MAX_CAR_SPEED_MPS = 120.0  # 432 km/h
# Two fixes less than this apart in time are one fix logged twice.
_MIN_STEP_S = 1e-6
# A fix more than this from the middle of the session (its median fix time) belongs to
# no session: a logger's file is one session, and the longest races last a day. A
# damaged time (1e300 s) would otherwise stretch the session, and every distance
# integrated over it, without bound.
_MAX_FROM_MIDDLE_S = 2 * 86400.0
# A GNSS speed is checked against the positions of the fixes this long either side of
# it: long enough that GNSS noise (_JUMP_NOISE_M) is a small part of the way covered,
# short enough that a car's speed changes little meanwhile (15 m/s at 1.5 g), which the
# margins of the jump test (_JUMP_SPEED_MARGIN, _JUMP_SPEED_FLOOR_MPS) cover.
_SPEED_CHECK_HALF_S = 1.0
# No fix for this long (or for several nominal periods, if longer) is a gap.
_GAP_MIN_S = 1.0
_GAP_PERIODS = 5.0
# Course and speed derived from positions are smoothed over this span: long enough to
# average out 1-2 m of noise at 25 Hz, short enough to follow a hairpin.
_DERIVE_SPAN_S = 0.6
# Below this speed the GNSS course is noise.
_COURSE_MIN_SPEED_MPS = 2.0


@dataclass(frozen=True, eq=False)
class Fixes:
    """Clean GNSS fixes, strictly increasing in time, all arrays one length."""

    frame: LocalFrame
    t_s: FloatArray
    lat_deg: FloatArray
    lon_deg: FloatArray
    x_m: FloatArray
    y_m: FloatArray
    speed_mps: FloatArray
    course_deg: FloatArray
    dist_m: FloatArray
    accel_lon_mps2: FloatArray
    accel_lat_mps2: FloatArray
    gap_after: BoolArray
    speed_from_gnss: bool
    accel_from_imu: bool
    period_s: float
    # Why fixes were dropped, and why GNSS speeds were replaced by speeds from positions:
    # reason -> count (the analysis's warnings).
    dropped: dict[str, int] = field(default_factory=dict)
    speeds_replaced: dict[str, int] = field(default_factory=dict)

    def __len__(self) -> int:
        return int(self.t_s.shape[0])

    def slice(self, start: int, stop: int) -> Fixes:
        """Fixes[start:stop], as its own Fixes (views, no copies)."""
        return Fixes(
            frame=self.frame,
            t_s=self.t_s[start:stop],
            lat_deg=self.lat_deg[start:stop],
            lon_deg=self.lon_deg[start:stop],
            x_m=self.x_m[start:stop],
            y_m=self.y_m[start:stop],
            speed_mps=self.speed_mps[start:stop],
            course_deg=self.course_deg[start:stop],
            dist_m=self.dist_m[start:stop],
            accel_lon_mps2=self.accel_lon_mps2[start:stop],
            accel_lat_mps2=self.accel_lat_mps2[start:stop],
            gap_after=self.gap_after[start:stop],
            speed_from_gnss=self.speed_from_gnss,
            accel_from_imu=self.accel_from_imu,
            period_s=self.period_s,
        )


def moving_average(values: FloatArray, window: int) -> FloatArray:
    """Centred moving average over `window` samples (odd). Near the ends the window
    shrinks symmetrically, so the ends are smoothed less but never shifted."""
    n = values.shape[0]
    half = max(0, window // 2)
    if half == 0 or n == 0:
        return values.copy()
    csum = np.concatenate(([0.0], np.cumsum(values)))
    idx = np.arange(n)
    reach = np.minimum(np.minimum(idx, n - 1 - idx), half)
    lo = idx - reach
    hi = idx + reach + 1
    result: FloatArray = (csum[hi] - csum[lo]) / (hi - lo)
    return result


def _valid_position_rows(tel: Telemetry) -> BoolArray:
    ok: BoolArray = kernels.valid_position_rows(tel.t_s, tel.lat_deg, tel.lon_deg)
    return ok


def _impossible_steps(t: FloatArray, x: FloatArray, y: FloatArray, speed: FloatArray) -> BoolArray:
    """bad[i]: the step from fix i to i+1 is impossible at the recorded speed."""
    bad: BoolArray = kernels.impossible_steps(
        t,
        x,
        y,
        speed,
        _JUMP_SPEED_MARGIN,
        _JUMP_SPEED_FLOOR_MPS,
        _MAX_CAR_SPEED_MPS,
        _JUMP_NOISE_M,
    )
    return bad


def _reject_spikes(
    t: FloatArray, x: FloatArray, y: FloatArray, speed: FloatArray
) -> tuple[BoolArray, BoolArray]:
    """Drop lone fixes that jump away and back. Returns (keep mask, unresolved bad steps).

    A spike makes two impossible steps, into it and out of it; if skipping the fix
    makes a possible step, the fix was wrong. A step that stays impossible (a jump
    after the receiver re-acquired) is returned so it can be treated as a gap.
    """
    keep = np.ones(t.shape[0], dtype=bool)
    if t.shape[0] >= 3:
        # Most files have no spike at all: check them without gathering a copy.
        bad = _impossible_steps(t, x, y, speed)
        if not bad.any():
            return keep, bad
    for _ in range(4):
        idx = np.flatnonzero(keep)
        if idx.shape[0] < 3:
            break
        bad = _impossible_steps(t[idx], x[idx], y[idx], speed[idx])
        if not bad.any():
            return keep, np.zeros(idx.shape[0] - 1, dtype=bool)
        spike = np.zeros(idx.shape[0], dtype=bool)
        spike[1:-1] = bad[:-1] & bad[1:]
        # An impossible first or last step: the end fix is the odd one out.
        spike[0] = bad[0] and not (bad.shape[0] > 1 and bad[1])
        spike[-1] = bad[-1] and not (bad.shape[0] > 1 and bad[-2])
        if not spike.any():
            break
        keep[idx[spike]] = False
    idx = np.flatnonzero(keep)
    return keep, _impossible_steps(t[idx], x[idx], y[idx], speed[idx])


def _speeds_off_positions(
    t: FloatArray,
    x: FloatArray,
    y: FloatArray,
    speed: FloatArray,
    gap_after: BoolArray,
    period_s: float,
) -> BoolArray:
    """bad[i]: the speed at fix i (NaN: not checked) disagrees with the positions of the
    fixes within _SPEED_CHECK_HALF_S of it, not across a gap. Over that window the car
    covers the straight line between its end fixes, `chord` in `dt`. The speed is too
    low if that line is an impossible step at it (the jump test, over the window), and
    too high if, even slowed by the same margins, the car would have gone farther than
    the line plus GNSS noise (the line is never much shorter than the path: a car
    turns at most about half a circle in two seconds).

    Below one fix a second the window holds no other fix and nothing is checked.
    """
    n = t.shape[0]
    bad = np.zeros(n, dtype=bool)
    half = round(_SPEED_CHECK_HALF_S / period_s) if period_s > 0 else 0
    if half < 1 or n < 2:
        return bad

    def off(v: FloatArray, dt: FloatArray, chord_sq: FloatArray) -> BoolArray:
        # Compared squared, in place: this runs on every fix of every file.
        reach = v * _JUMP_SPEED_MARGIN
        reach += _JUMP_SPEED_FLOOR_MPS
        reach *= dt
        reach += _JUMP_NOISE_M
        reach *= reach
        result: BoolArray = chord_sq > reach
        least = np.subtract(v, _JUMP_SPEED_FLOOR_MPS, out=reach)
        least *= dt
        least *= 1.0 / _JUMP_SPEED_MARGIN
        least -= _JUMP_NOISE_M
        np.maximum(least, 0.0, out=least)  # NaN stays NaN: never off
        least *= least
        result |= least > chord_sq
        return result

    # Fixes whose window is [i - half, i + half]: shifted slices, no gathering.
    if n > 2 * half:
        w = 2 * half
        dx, dy = x[w:] - x[:-w], y[w:] - y[:-w]
        dx *= dx
        dy *= dy
        dx += dy
        bad[half:-half] = off(speed[half:-half], t[w:] - t[:-w], dx)
    # Near the ends and near gaps the window is cut short: those fixes by index.
    gaps = np.flatnonzero(gap_after[:-1])
    if gaps.shape[0] == 0:
        idx = np.unique(np.concatenate((np.arange(min(half, n)), np.arange(max(n - half, 0), n))))
    else:
        # The first and last `half` fixes, and (a gap after fix g cuts their windows)
        # fixes g - half + 1 .. g + half: runs marked +1 where they start, -1 past
        # their end.
        starts = np.concatenate(([0, max(n - half, 0)], np.maximum(gaps - half + 1, 0)))
        ends = np.concatenate(([min(half, n), n], np.minimum(gaps + half + 1, n)))
        runs = np.zeros(n + 1, dtype=np.int64)
        np.add.at(runs, starts, 1)
        np.add.at(runs, ends, -1)
        idx = np.flatnonzero(np.cumsum(runs[:n]))
    lo, hi = np.maximum(idx - half, 0), np.minimum(idx + half, n - 1)
    if gaps.shape[0]:
        after = np.searchsorted(gaps, idx)  # how many gaps come before each fix
        lo = np.maximum(lo, np.where(after > 0, gaps[np.maximum(after - 1, 0)] + 1, 0))
        last = gaps.shape[0] - 1
        hi = np.minimum(hi, np.where(after <= last, gaps[np.minimum(after, last)], n - 1))
    dx, dy = x[hi] - x[lo], y[hi] - y[lo]
    bad[idx] = off(speed[idx], t[hi] - t[lo], dx * dx + dy * dy)
    return bad


def _interp_plausible(
    t_out: FloatArray, t_in: FloatArray, values: FloatArray, limit: float
) -> FloatArray | None:
    ok = (np.abs(values) <= limit) & np.isfinite(t_in)  # False for NaN
    if ok.sum() < 2:
        return None
    result: FloatArray = np.interp(t_out, t_in[ok], values[ok])
    return result


def _derive_speed_course(
    t: FloatArray, x: FloatArray, y: FloatArray, window: int, at: npt.NDArray[np.intp]
) -> tuple[FloatArray, FloatArray]:
    """Speed and course at fixes `at`, from positions, by a centred difference over
    `window` fixes."""
    n = t.shape[0]
    half = max(1, window // 2)
    lo = np.maximum(at - half, 0)
    hi = np.minimum(at + half, n - 1)
    dt = t[hi] - t[lo]
    dx, dy = x[hi] - x[lo], y[hi] - y[lo]
    with np.errstate(invalid="ignore", divide="ignore"):
        speed = np.where(dt > 0, np.hypot(dx, dy) / dt, 0.0)
    # Across a jump that the receiver made (a gap), positions give no car's speed.
    np.minimum(speed, MAX_SPEED_MPS, out=speed)
    course = np.degrees(np.arctan2(dx, dy)) % 360.0
    return speed, course


def _imu_at_fixes(
    tel: Telemetry, pick: npt.NDArray[np.intp] | slice, values: FloatArray, t: FloatArray
) -> FloatArray | None:
    """An IMU channel at the fixes: straight from the fix rows when they all carry it
    (one logger row per sample), else interpolated from the rows that do. A value
    beyond MAX_ACCEL_MPS2 is a damaged number, not a sample."""
    at_rows = values[pick]
    if (np.abs(at_rows) <= MAX_ACCEL_MPS2).all():  # False for NaN
        return at_rows
    return _interp_plausible(t, tel.t_s, values, MAX_ACCEL_MPS2)


def _within_session(t: FloatArray) -> BoolArray | None:
    """Which of the fixes at times `t` (sorted) lie within _MAX_FROM_MIDDLE_S of the
    middle one; None if all do (most files: two comparisons)."""
    middle = float(t[t.shape[0] // 2])
    if t[0] >= middle - _MAX_FROM_MIDDLE_S and t[-1] <= middle + _MAX_FROM_MIDDLE_S:
        return None
    within: BoolArray = np.abs(t - middle) <= _MAX_FROM_MIDDLE_S
    return within


def _order_fixes(tel: Telemetry) -> tuple[npt.NDArray[np.intp], dict[str, int]]:
    """The rows that are fixes, in time order, without repeated times; and how many
    rows were dropped, by reason."""
    rows = np.flatnonzero(_valid_position_rows(tel))
    if rows.shape[0] < 2:
        raise NoFixesError("The file has no GNSS fixes with a position.")
    dropped = {"no_position": len(tel) - int(rows.shape[0])}
    t_rows = tel.t_s[rows]
    steps = np.diff(t_rows)
    # Loggers write in time order; sort only the files that are not.
    in_order = bool(steps.min() >= 0) if steps.shape[0] else True
    order = rows if in_order else rows[np.argsort(t_rows, kind="stable")]
    if not in_order:
        steps = np.diff(tel.t_s[order])
    unique = np.ones(order.shape[0], dtype=bool)
    unique[1:] = steps > _MIN_STEP_S
    duplicates = order.shape[0] - int(np.count_nonzero(unique))
    dropped["duplicate_time"] = duplicates
    if duplicates:
        order = order[unique]
    if order.shape[0] < 2:
        raise NoFixesError("The file has fewer than two GNSS fixes at distinct times.")
    return order, dropped


def clean_fixes(tel: Telemetry) -> Fixes:
    """Select, order, de-duplicate and de-spike the fixes of `tel`. Raises NoFixesError."""
    valid, increasing = kernels.rows_in_order(tel.t_s, tel.lat_deg, tel.lon_deg, _MIN_STEP_S)
    order: npt.NDArray[np.intp] | None = None
    if valid == len(tel) and increasing and valid >= 2:
        # Most files: every row a fix, in time order, no time twice. Then the fixes
        # are views of the telemetry's own columns, not copies.
        dropped = {"no_position": 0, "duplicate_time": 0}
    else:
        order, dropped = _order_fixes(tel)
    pick: npt.NDArray[np.intp] | slice = slice(None) if order is None else order
    t = tel.t_s[pick]
    within = _within_session(t)
    dropped["time_far_from_session"] = 0 if within is None else int((~within).sum())
    if within is not None:
        order = (np.arange(len(tel)) if order is None else order)[within]
        if order.shape[0] < 2:
            raise NoFixesError("The file has fewer than two GNSS fixes at plausible times.")
        pick = order
        t = tel.t_s[pick]
    lat, lon = tel.lat_deg[pick], tel.lon_deg[pick]
    # The frame's origin: the centre of the session (longitudes taken relative to the
    # first fix, so a circuit on the antimeridian does not average to the far side).
    if kernels.any_far(lon, float(lon[0]), 180.0):
        lon_rel = (lon - lon[0] + 180.0) % 360.0 - 180.0
        mean_rel = float(np.mean(lon_rel))
    else:
        mean_rel = float(np.mean(lon)) - float(lon[0])
    lon0 = (float(lon[0]) + mean_rel + 180.0) % 360.0 - 180.0
    frame = LocalFrame(float(np.mean(lat)), lon0)
    x, y = frame.to_xy(lat, lon)
    gnss_speed = tel.speed_mps[pick]

    keep, unresolved = _reject_spikes(t, x, y, gnss_speed)
    dropped["impossible_jump"] = int((~keep).sum())
    if not keep.all():
        order = (np.arange(len(tel)) if order is None else order)[keep]
        pick = order
        t, lat, lon, x, y, gnss_speed = (a[keep] for a in (t, lat, lon, x, y, gnss_speed))
    dt = np.diff(t)
    # The nominal period; a sample of the steps estimates it as well as all of them.
    period_s = float(np.median(dt[:: max(1, dt.shape[0] // 5000)])) if dt.shape[0] else 1.0
    gap_after = np.zeros(t.shape[0], dtype=bool)
    gap_after[:-1] = (dt > max(_GAP_MIN_S, _GAP_PERIODS * period_s)) | unresolved

    window = max(3, round(_DERIVE_SPAN_S / max(period_s, 1e-3)) | 1)
    # A speed no car reaches, or one the positions around it contradict, is replaced by
    # the speed from positions, like a missing one.
    impossible = np.abs(gnss_speed) > MAX_SPEED_MPS  # False for NaN
    replaced = {"faster_than_any_car": int(np.count_nonzero(impossible))}
    if replaced["faster_than_any_car"]:
        gnss_speed = np.where(impossible, np.nan, gnss_speed)
    # Negatives raised to 0; speeds derived from positions are never negative.
    speed, missing = kernels.speed_from_gnss(gnss_speed)
    off = _speeds_off_positions(t, x, y, speed, gap_after, period_s)
    replaced["inconsistent_with_positions"] = int(np.count_nonzero(off))
    if replaced["inconsistent_with_positions"]:
        speed[off] = np.nan
        missing = np.flatnonzero(~np.isfinite(speed))
    speed_from_gnss = missing.shape[0] < 0.5 * t.shape[0]
    if not speed_from_gnss:
        everywhere = np.arange(t.shape[0])
        speed = moving_average(_derive_speed_course(t, x, y, window, everywhere)[0], window)
        np.maximum(speed, 0.0, out=speed)
    elif missing.shape[0]:
        speed[missing] = _derive_speed_course(t, x, y, window, missing)[0]

    # Course from positions where the receiver gave none, or where it is slow enough
    # for its course to be noise.
    course, derive = kernels.course_from_gnss(tel.heading_deg[pick], speed, _COURSE_MIN_SPEED_MPS)
    if derive.shape[0]:
        course[derive] = _derive_speed_course(t, x, y, window, derive)[1]

    # Distance from speed, not from summing noisy steps (which 1 m of noise at 25 Hz
    # inflates by several percent); across a gap, the straight line is all we know.
    dist: FloatArray = kernels.distance_from_speed(t, x, y, speed, gap_after)
    if gap_after.any():
        _no_farther_than_a_car(t, gap_after, dist)

    imu_lon = _imu_at_fixes(tel, pick, tel.accel_lon_mps2, t)
    imu_lat = _imu_at_fixes(tel, pick, tel.accel_lat_mps2, t)
    accel_from_imu = imu_lon is not None and imu_lat is not None
    if imu_lon is not None and imu_lat is not None:
        accel_lon, accel_lat = imu_lon, imu_lat
    else:
        accel_lon, accel_lat = _derive_accelerations(t, speed, course, window)

    return Fixes(
        frame=frame,
        t_s=t,
        lat_deg=lat,
        lon_deg=lon,
        x_m=x,
        y_m=y,
        speed_mps=speed,
        course_deg=course,
        dist_m=dist,
        accel_lon_mps2=accel_lon,
        accel_lat_mps2=accel_lat,
        gap_after=gap_after,
        speed_from_gnss=speed_from_gnss,
        accel_from_imu=accel_from_imu,
        period_s=period_s,
        dropped=dropped,
        speeds_replaced=replaced,
    )


def session_start_s(tel: Telemetry, fixes: Fixes) -> float:
    """When the session's first sample was taken, fix or not (laps count their seconds
    from it): the earliest row no earlier than the first fix or than _MAX_FROM_MIDDLE_S
    before the fixes' middle, so that a row with a damaged time starts nothing."""
    earliest = float(np.nanmin(tel.t_s))
    lowest = min(float(fixes.t_s[0]), float(fixes.t_s[len(fixes) // 2]) - _MAX_FROM_MIDDLE_S)
    if earliest >= lowest:
        return earliest
    return float(tel.t_s[tel.t_s >= lowest].min())


def _no_farther_than_a_car(t: FloatArray, gap_after: BoolArray, dist: FloatArray) -> None:
    """Shorten, in place, each step across a gap in `dist` to what a car can cover in
    its time (MAX_SPEED_MPS, plus GNSS noise). A jump the receiver made is no distance
    driven: 5,000 km in a fifth of a second would make one lap the "typical" lap and the
    reference path a road trip. Steps not across a gap come from speeds, already within
    the limit."""
    g = np.flatnonzero(gap_after[:-1])
    limit = MAX_SPEED_MPS * (t[g + 1] - t[g]) + _JUMP_NOISE_M
    excess = np.maximum(dist[g + 1] - dist[g] - limit, 0.0)
    if excess.any():
        shortened = np.zeros(dist.shape[0])
        shortened[g + 1] = excess
        dist -= np.cumsum(shortened)


def _derive_accelerations(
    t: FloatArray, speed: FloatArray, course_deg: FloatArray, window: int
) -> tuple[FloatArray, FloatArray]:
    """Longitudinal and lateral (positive left) acceleration from speed and course."""
    smooth_v = moving_average(speed, window)
    accel_lon = moving_average(np.gradient(smooth_v, t), window)
    # Unwrap the course so a pass through north is not a 360 degree turn.
    course_rad = np.unwrap(np.radians(course_deg))
    yaw_rate_ccw = -np.gradient(moving_average(course_rad, window), t)
    accel_lat = moving_average(smooth_v * yaw_rate_ccw, window)
    return accel_lon, accel_lat
