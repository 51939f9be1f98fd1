# cython: language_level=3, boundscheck=False, wraparound=False, initializedcheck=False
# cython: cdivision=True
"""Compiled loops for timing lines (crossings.py, track.py): the steps that cross a
line, each crossing's time estimated from the fixes around it, and the nearest pass to
a point.
"""

import numpy as np

from libc.math cimport INFINITY, M_PI, NAN, cos, fabs, hypot, isnan
from libc.string cimport memcpy


def line_steps(
    const double[:] x,
    const double[:] y,
    double ax,
    double ay,
    double bx,
    double by,
    double nx,
    double ny,
    double tolerance_m,
    bint forward,
):
    """Steps i -> i+1 whose path crosses the segment a-b (extended by tolerance_m at
    both ends) going along the normal (nx, ny), or against it if not `forward`: their
    indices, and the fraction of each step at which it crosses. No whole-session
    temporaries: one pass finds the steps that change side, a second keeps those that
    pass between the line's ends."""
    cdef double offset = ax * nx + ay * ny
    cdef double sign = 1.0 if forward else -1.0
    cdef Py_ssize_t i, n = x.shape[0], changes = 0, count = 0
    cdef double prev, cur, length, gx, gy, frac, a0, a1, at
    # A fix's side of the line is computed once and carried to the next step (the same
    # expression on the same fix, so the same value): half the arithmetic.
    cur = sign * (x[0] * nx + y[0] * ny - offset) if n else 0.0
    for i in range(n - 1):
        prev = cur
        cur = sign * (x[i + 1] * nx + y[i + 1] * ny - offset)
        changes += (prev < 0.0) & (cur >= 0.0)
    found_arr = np.empty(changes, dtype=np.intp)
    fracs_arr = np.empty(changes)
    if changes == 0:
        return found_arr, fracs_arr
    cdef Py_ssize_t[:] found = found_arr
    cdef double[:] fracs = fracs_arr
    length = hypot(bx - ax, by - ay)
    gx = (bx - ax) / length
    gy = (by - ay) / length
    cur = sign * (x[0] * nx + y[0] * ny - offset)
    for i in range(n - 1):
        prev = cur
        cur = sign * (x[i + 1] * nx + y[i + 1] * ny - offset)
        if prev < 0.0 and cur >= 0.0:
            frac = prev / (prev - cur)
            a0 = (x[i] - ax) * gx + (y[i] - ay) * gy
            a1 = (x[i + 1] - ax) * gx + (y[i + 1] - ay) * gy
            at = a0 + frac * (a1 - a0)
            if at >= -tolerance_m and at <= length + tolerance_m:
                found[count] = i
                fracs[count] = frac
                count += 1
    return found_arr[:count], fracs_arr[:count]


cdef inline double _radians(double deg) noexcept nogil:
    # As NumPy's radians: one multiplication by the rounded constant pi/180.
    return deg * (M_PI / 180.0)


cdef double _select(double* a, Py_ssize_t m, Py_ssize_t k) noexcept nogil:
    # The k-th smallest of a[0:m] (k from 0), by quickselect: partition around the middle
    # element, keep the side that holds k. Reorders a so that a[:k] <= a[k] <= a[k+1:].
    # No NaN in a.
    cdef Py_ssize_t lo = 0, hi = m - 1, i, j
    cdef double pivot, swap
    while lo < hi:
        pivot = a[(lo + hi) // 2]
        i = lo
        j = hi
        while i <= j:
            while a[i] < pivot:
                i += 1
            while a[j] > pivot:
                j -= 1
            if i <= j:
                swap = a[i]
                a[i] = a[j]
                a[j] = swap
                i += 1
                j -= 1
        # Now a[lo:j+1] <= pivot <= a[i:hi+1], and what lies between equals the pivot.
        if k <= j:
            hi = j
        elif k >= i:
            lo = i
        else:
            break
    return a[k]


cdef double _median(const double* values, Py_ssize_t m, double* scratch) noexcept nogil:
    # NumPy's median: the middle value, or the mean of the two middle ones; NaN if any
    # value is NaN. Works on a copy in `scratch`.
    cdef Py_ssize_t k
    cdef double lower, upper
    for k in range(m):
        if isnan(values[k]):
            return NAN
    memcpy(scratch, values, m * sizeof(double))
    lower = _select(scratch, m, (m - 1) // 2)
    if m % 2:
        return lower
    upper = scratch[m // 2]  # the smallest of those after the lower middle
    for k in range(m // 2 + 1, m):
        if scratch[k] < upper:
            upper = scratch[k]
    return (lower + upper) / 2


def estimate_crossings(
    const double[:] t,
    const double[:] x,
    const double[:] y,
    double nx,
    double ny,
    double offset_m,
    const double[:] speed,
    const double[:] course_deg,
    const unsigned char[:] gap_after,
    const Py_ssize_t[:] idx,
    Py_ssize_t half,
    double normal_deg,
):
    """Crossing time for each crossing step idx[j] -> idx[j]+1, from the fixes within
    `half` fixes either side (not across a gap); NaN where the model cannot say.
    A fix's distance from the line is x*nx + y*ny - offset_m. The model is described
    in crossings.py."""
    cdef Py_ssize_t n = t.shape[0], crossings = idx.shape[0]
    cdef Py_ssize_t i, j, k, lo, hi, m, count
    cdef double normal = _radians(normal_deg)
    cdef double rate, rate_prev, across, median, spread, total, target, f
    result = np.full(crossings, np.nan)
    cdef double[:] out = result
    # Scratch rows for one crossing's window, which has at most 2 * half + 2 fixes
    # (and never more than the session has).
    cdef Py_ssize_t width = max(0, min(n, 2 * half + 2))
    scratch_arr = np.empty((4, width))
    cdef double[:, ::1] scratch = scratch_arr
    cdef double* moved = &scratch[0, 0] if width else NULL
    cdef double* residual = &scratch[1, 0] if width else NULL
    cdef double* deviation = &scratch[2, 0] if width else NULL
    cdef double* sort_space = &scratch[3, 0] if width else NULL
    for j in range(crossings):
        i = idx[j]
        lo = max(0, i - half)
        for k in range(i - 1, lo - 1, -1):  # stop at a gap before the crossing
            if gap_after[k]:
                lo = k + 1
                break
        hi = min(n, i + 2 + half)
        for k in range(i + 1, hi - 1):  # and at one after it
            if gap_after[k]:
                hi = k + 1
                break
        m = hi - lo
        if m < 4:
            continue
        moved[0] = 0.0
        rate_prev = speed[lo] * max(cos(_radians(course_deg[lo]) - normal), 0.0)
        for k in range(1, m):
            rate = speed[lo + k] * max(cos(_radians(course_deg[lo + k]) - normal), 0.0)
            moved[k] = moved[k - 1] + 0.5 * (rate_prev + rate) * (t[lo + k] - t[lo + k - 1])
            rate_prev = rate
        for k in range(m):
            across = x[lo + k] * nx + y[lo + k] * ny - offset_m
            residual[k] = across - moved[k]
        median = _median(residual, m, sort_space)
        for k in range(m):
            deviation[k] = fabs(residual[k] - median)
        spread = _median(deviation, m, sort_space) * 1.4826
        total = 0.0
        count = 0
        for k in range(m):
            if fabs(residual[k] - median) <= 3.0 * spread + 0.5:
                total += residual[k]
                count += 1
        if count < 4:
            continue
        target = -total / count
        for k in range(1, m):
            if moved[k] >= target:
                if moved[k] > moved[k - 1] and moved[k - 1] <= target:
                    f = (target - moved[k - 1]) / (moved[k] - moved[k - 1])
                    out[j] = t[lo + k - 1] + f * (t[lo + k] - t[lo + k - 1])
                break
    return result


def nearest_sq_m2(const double[:] x, const double[:] y, double px, double py):
    """The smallest squared distance from (px, py) to any point (x, y)."""
    cdef double best = INFINITY, dx, dy, d
    cdef Py_ssize_t i
    for i in range(x.shape[0]):
        dx = x[i] - px
        dy = y[i] - py
        d = dx * dx + dy * dy
        best = d if d < best else best
    return best
