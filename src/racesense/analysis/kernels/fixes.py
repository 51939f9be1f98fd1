"""Compiled passes over a session's fixes for cleaning (clean.py): which rows are
fixes and whether they are already in order, the local metric frame, speed and course
from the receiver, impossible steps, and distance from speed. Each replaces several
NumPy passes (and their temporaries) with one.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
from numba import njit

from racesense.analysis.telemetry import FloatArray


@njit(cache=True, error_model="numpy", inline="always")
def _is_fix(t: float, lat: float, lon: float) -> bool:
    """A row with a time and a plausible position. 0,0 is what many receivers report
    before their first fix, so it is no position."""
    return (
        np.isfinite(t)
        and abs(lat) <= 90.0  # False for NaN, like every comparison
        and abs(lon) <= 180.0
        and not (abs(lat) < 1e-6 and abs(lon) < 1e-6)
    )


@njit(cache=True, error_model="numpy")
def valid_position_rows(t: FloatArray, lat: FloatArray, lon: FloatArray) -> npt.NDArray[np.bool_]:
    """Which rows are fixes (_is_fix)."""
    ok = np.empty(t.shape[0], dtype=np.bool_)
    for i in range(t.shape[0]):
        ok[i] = _is_fix(t[i], lat[i], lon[i])
    return ok


@njit(cache=True, error_model="numpy")
def rows_in_order(
    t: FloatArray, lat: FloatArray, lon: FloatArray, min_step_s: float
) -> tuple[int, bool]:
    """(how many rows are fixes, whether the fixes' times each exceed the last by more
    than min_step_s): one read of the three columns, for the common file that needs no
    selecting, sorting or de-duplicating at all."""
    fixes = 0
    increasing = True
    previous = 0.0
    for i in range(t.shape[0]):
        if not _is_fix(t[i], lat[i], lon[i]):
            continue
        if fixes and not t[i] - previous > min_step_s:
            increasing = False
        previous = t[i]
        fixes += 1
    return fixes, increasing


@njit(cache=True, error_model="numpy")
def any_far(values: FloatArray, center: float, limit: float) -> bool:
    """True if some |value - center| is not below limit."""
    for i in range(values.shape[0]):  # noqa: SIM110 (numba compiles no generators)
        if not abs(values[i] - center) < limit:
            return True
    return False


@njit(cache=True, error_model="numpy")
def local_xy(
    lat: FloatArray, lon: FloatArray, lat0: float, lon0: float, kx: float, ky: float
) -> tuple[FloatArray, FloatArray]:
    """x = (lon - lon0) * kx, y = (lat - lat0) * ky, with longitude differences taken
    modulo 360 when any reaches 180 degrees (a session across the antimeridian)."""
    n = lat.shape[0]
    wrap = any_far(lon, lon0, 180.0)
    x = np.empty(n)
    y = np.empty(n)
    for i in range(n):
        dlon = lon[i] - lon0
        if wrap:
            dlon = (dlon + 180.0) % 360.0 - 180.0
        x[i] = dlon * kx
        y[i] = (lat[i] - lat0) * ky
    return x, y


@njit(cache=True, error_model="numpy")
def speed_from_gnss(gnss_speed: FloatArray) -> tuple[FloatArray, npt.NDArray[np.intp]]:
    """(the GNSS speed with negatives raised to 0, indices where it is missing)."""
    n = gnss_speed.shape[0]
    speed = np.empty(n)
    missing = 0
    for i in range(n):
        v = gnss_speed[i]
        speed[i] = v if not v < 0.0 else 0.0
        missing += not np.isfinite(v)
    where = np.empty(missing, dtype=np.intp)
    k = 0
    for i in range(n if missing else 0):
        if not np.isfinite(gnss_speed[i]):
            where[k] = i
            k += 1
    return speed, where


@njit(cache=True, error_model="numpy")
def course_from_gnss(
    heading_deg: FloatArray, speed: FloatArray, min_speed_mps: float
) -> tuple[FloatArray, npt.NDArray[np.intp]]:
    """(the GNSS course within [0, 360), indices where it is missing or where the car
    is slower than min_speed_mps, so the course must come from positions)."""
    n = heading_deg.shape[0]
    course = np.empty(n)
    derive = 0
    outside = 0
    for i in range(n):
        c = heading_deg[i]
        course[i] = c
        outside += c < 0.0 or c >= 360.0
        derive += not np.isfinite(c) or speed[i] < min_speed_mps
    # Rare, and a float modulo is costly: only where needed, in a loop of its own.
    for i in range(n if outside else 0):
        if course[i] < 0.0 or course[i] >= 360.0:
            course[i] %= 360.0
    where = np.empty(derive, dtype=np.intp)
    k = 0
    for i in range(n if derive else 0):
        if not np.isfinite(heading_deg[i]) or speed[i] < min_speed_mps:
            where[k] = i
            k += 1
    return course, where


@njit(cache=True, error_model="numpy")
def impossible_steps(
    t: FloatArray,
    x: FloatArray,
    y: FloatArray,
    speed: FloatArray,
    speed_margin: float,
    speed_floor_mps: float,
    max_speed_mps: float,
    noise_m: float,
) -> npt.NDArray[np.bool_]:
    """bad[i]: the step from fix i to i+1 is farther than the car could go at the
    larger of the two recorded speeds (times a margin, plus a floor; capped), plus
    GNSS noise. Compared squared: no square roots."""
    n = t.shape[0]
    bad = np.zeros(max(n - 1, 0), dtype=np.bool_)
    for i in range(n - 1):
        v = max(speed[i], speed[i + 1])
        if np.isfinite(v):
            v = min(v * speed_margin + speed_floor_mps, max_speed_mps)
        else:
            v = max_speed_mps
        reach = v * (t[i + 1] - t[i]) + noise_m
        dx = x[i + 1] - x[i]
        dy = y[i + 1] - y[i]
        bad[i] = dx * dx + dy * dy > reach * reach
    return bad


@njit(cache=True, error_model="numpy")
def distance_from_speed(
    t: FloatArray,
    x: FloatArray,
    y: FloatArray,
    speed: FloatArray,
    gap_after: npt.NDArray[np.bool_],
) -> FloatArray:
    """Distance travelled at each fix: the trapezoidal integral of speed over time,
    except that a step across a gap covers at least the straight line between its
    ends."""
    n = t.shape[0]
    dist = np.empty(n)
    if n == 0:
        return dist
    dist[0] = 0.0
    for i in range(n - 1):
        step = 0.5 * (speed[i] + speed[i + 1]) * (t[i + 1] - t[i])
        if gap_after[i]:
            dx = x[i + 1] - x[i]
            dy = y[i + 1] - y[i]
            step = max(step, np.sqrt(dx * dx + dy * dy))
        dist[i + 1] = dist[i] + step
    return dist
