# cython: language_level=3, boundscheck=False, wraparound=False, initializedcheck=False
# cython: cdivision=True
"""Compiled passes over a session's fixes for cleaning (clean.py): which rows are
fixes and whether they are already in order, the local metric frame, speed and course
from the receiver, impossible steps, and distance from speed. Each replaces several
NumPy passes (and their temporaries) with one.
"""

# Typed memoryviews of any stride: some callers pass views of a column, not copies.
# `const` so that read-only arrays (pyarrow's, broadcast ones) are accepted. A NumPy bool
# array is read and written as unsigned char (one byte, 0 or 1).

import numpy as np

from libc.math cimport fabs, fmod, copysign, isfinite, sqrt


cdef inline bint _is_fix(double t, double lat, double lon) noexcept nogil:
    # A row with a time and a plausible position. 0,0 is what many receivers report
    # before their first fix, so it is no position.
    return (
        isfinite(t)
        and fabs(lat) <= 90.0  # False for NaN, like every comparison
        and fabs(lon) <= 180.0
        and not (fabs(lat) < 1e-6 and fabs(lon) < 1e-6)
    )


cdef inline double _py_mod(double a, double b) noexcept nogil:
    # Python's float modulo (the result takes the sign of b, a zero result is +0.0 for
    # positive b), which C's fmod is not: -10 % 360 is 350, not -10.
    cdef double r = fmod(a, b)
    if r != 0.0:
        if (r < 0.0) != (b < 0.0):
            r += b
    else:
        r = copysign(0.0, b)
    return r


def valid_position_rows(const double[:] t, const double[:] lat, const double[:] lon):
    """Which rows are fixes (a time and a plausible position; 0,0 is none)."""
    cdef Py_ssize_t i, n = t.shape[0]
    result = np.empty(n, dtype=np.bool_)
    cdef unsigned char[:] ok = result
    for i in range(n):
        ok[i] = _is_fix(t[i], lat[i], lon[i])
    return result


def rows_in_order(const double[:] t, const double[:] lat, const double[:] lon, double min_step_s):
    """(how many rows are fixes, whether the fixes' times each exceed the last by more
    than min_step_s): one read of the three columns, for the common file that needs no
    selecting, sorting or de-duplicating at all."""
    cdef Py_ssize_t i, fixes = 0
    cdef bint increasing = True
    cdef double previous = 0.0
    for i in range(t.shape[0]):
        if not _is_fix(t[i], lat[i], lon[i]):
            continue
        if fixes and not t[i] - previous > min_step_s:
            increasing = False
        previous = t[i]
        fixes += 1
    return fixes, increasing


cdef bint _any_far(const double[:] values, double center, double limit) noexcept nogil:
    cdef Py_ssize_t i
    for i in range(values.shape[0]):
        if not fabs(values[i] - center) < limit:  # NaN counts as far
            return True
    return False


def any_far(const double[:] values, double center, double limit):
    """True if some |value - center| is not below limit."""
    return _any_far(values, center, limit)


def local_xy(
    const double[:] lat, const double[:] lon, double lat0, double lon0, double kx, double ky
):
    """x = (lon - lon0) * kx, y = (lat - lat0) * ky, with longitude differences taken
    modulo 360 when any reaches 180 degrees (a session across the antimeridian)."""
    cdef Py_ssize_t i, n = lat.shape[0]
    cdef bint wrap = _any_far(lon, lon0, 180.0)
    cdef double dlon
    x_arr = np.empty(n)
    y_arr = np.empty(n)
    cdef double[:] x = x_arr
    cdef double[:] y = y_arr
    for i in range(n):
        dlon = lon[i] - lon0
        if wrap:
            dlon = _py_mod(dlon + 180.0, 360.0) - 180.0
        x[i] = dlon * kx
        y[i] = (lat[i] - lat0) * ky
    return x_arr, y_arr


def speed_from_gnss(const double[:] gnss_speed):
    """(the GNSS speed with negatives raised to 0, indices where it is missing)."""
    cdef Py_ssize_t i, k = 0, missing = 0, n = gnss_speed.shape[0]
    cdef double v
    speed_arr = np.empty(n)
    cdef double[:] speed = speed_arr
    for i in range(n):
        v = gnss_speed[i]
        speed[i] = v if not v < 0.0 else 0.0  # NaN stays NaN
        missing += not isfinite(v)
    where_arr = np.empty(missing, dtype=np.intp)
    cdef Py_ssize_t[:] where = where_arr
    for i in range(n if missing else 0):
        if not isfinite(gnss_speed[i]):
            where[k] = i
            k += 1
    return speed_arr, where_arr


def course_from_gnss(const double[:] heading_deg, const double[:] speed, double min_speed_mps):
    """(the GNSS course within [0, 360), indices where it is missing or where the car
    is slower than min_speed_mps, so the course must come from positions)."""
    cdef Py_ssize_t i, k = 0, derive = 0, outside = 0, n = heading_deg.shape[0]
    cdef double c
    course_arr = np.empty(n)
    cdef double[:] course = course_arr
    for i in range(n):
        c = heading_deg[i]
        course[i] = c
        outside += c < 0.0 or c >= 360.0
        derive += not isfinite(c) or speed[i] < min_speed_mps
    # Rare, and a float modulo is costly: only where needed, in a loop of its own.
    for i in range(n if outside else 0):
        if course[i] < 0.0 or course[i] >= 360.0:
            course[i] = _py_mod(course[i], 360.0)
    where_arr = np.empty(derive, dtype=np.intp)
    cdef Py_ssize_t[:] where = where_arr
    for i in range(n if derive else 0):
        if not isfinite(heading_deg[i]) or speed[i] < min_speed_mps:
            where[k] = i
            k += 1
    return course_arr, where_arr


def impossible_steps(
    const double[:] t,
    const double[:] x,
    const double[:] y,
    const double[:] speed,
    double speed_margin,
    double speed_floor_mps,
    double max_speed_mps,
    double noise_m,
):
    """bad[i]: the step from fix i to i+1 is farther than the car could go at the
    larger of the two recorded speeds (times a margin, plus a floor; capped), plus
    GNSS noise. Compared squared: no square roots."""
    cdef Py_ssize_t i, n = t.shape[0]
    cdef double v, reach, dx, dy
    result = np.zeros(max(n - 1, 0), dtype=np.bool_)
    cdef unsigned char[:] bad = result
    for i in range(n - 1):
        # min and max here are Python's: max(a, b) is b only if b > a (NaN: a).
        v = max(speed[i], speed[i + 1])
        if isfinite(v):
            v = min(v * speed_margin + speed_floor_mps, max_speed_mps)
        else:
            v = max_speed_mps
        reach = v * (t[i + 1] - t[i]) + noise_m
        dx = x[i + 1] - x[i]
        dy = y[i + 1] - y[i]
        bad[i] = dx * dx + dy * dy > reach * reach
    return result


def distance_from_speed(
    const double[:] t,
    const double[:] x,
    const double[:] y,
    const double[:] speed,
    const unsigned char[:] gap_after,
):
    """Distance travelled at each fix: the trapezoidal integral of speed over time,
    except that a step across a gap covers at least the straight line between its
    ends."""
    cdef Py_ssize_t i, n = t.shape[0]
    cdef double step, dx, dy, total = 0.0
    result = np.empty(n)
    if n == 0:
        return result
    cdef double[:] dist = result
    dist[0] = total
    for i in range(n - 1):
        step = 0.5 * (speed[i] + speed[i + 1]) * (t[i + 1] - t[i])
        if gap_after[i]:
            dx = x[i + 1] - x[i]
            dy = y[i + 1] - y[i]
            step = max(step, sqrt(dx * dx + dy * dy))
        # dist[i] + step, kept in a register: reading dist[i] back from memory would
        # chain every step through a store and a load (3-4x slower).
        total += step
        dist[i + 1] = total
    return result
