# cython: language_level=3, boundscheck=False, wraparound=False, initializedcheck=False
# cython: cdivision=True
"""Compiled loops for timing lines (crossings.py, track.py): the steps that cross a
line, each pass's crossing time estimated from the fixes around it (estimate_passes),
and the nearest pass to a point.
"""

import numpy as np

from libc.math cimport INFINITY, M_PI, NAN, ceil, cos, fabs, hypot, isnan, sqrt
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
    A fix's distance from the line is x*nx + y*ny - offset_m.

    The first model: a fixed window, the rate's cosine clipped at 0, the crossing
    interpolated linearly inside its step. crossings.py now uses estimate_passes; this
    stays while tests/analysis/kernels/test_kernels.py checks it."""
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


cdef void _window(
    const double[:] speed,
    const unsigned char[:] gap_after,
    Py_ssize_t first,
    Py_ssize_t last,
    Py_ssize_t half,
    double stop_mps,
    Py_ssize_t* lo_out,
    Py_ssize_t* hi_out,
) noexcept nogil:
    # Fixes [lo, hi) around the steps first..last (fixes first..last + 1) and `half` more
    # either side, stopping at a gap, and at a fix slower than stop_mps (a stop: the
    # GNSS speed of a car at rest is noise folded to positive values, which integrates
    # into a drift), except among the steps' own fixes.
    cdef Py_ssize_t n = speed.shape[0], k, lo, hi
    lo = max(0, first - half)
    for k in range(first - 1, lo - 1, -1):
        if gap_after[k] or speed[k] < stop_mps:
            lo = k + 1
            break
    hi = min(n, last + 2 + half)
    for k in range(last + 1, hi - 1):
        if gap_after[k]:
            hi = k + 1
            break
    for k in range(last + 2, hi):
        if speed[k] < stop_mps:
            hi = k
            break
    lo_out[0] = lo
    hi_out[0] = hi


# A rate farther than this share of the speed, plus this floor, from the median of its
# neighbours is a glitch of the course (or speed) channel.
cdef double _GLITCH_SHARE = 0.1
cdef double _GLITCH_FLOOR_MPS = 0.5


cdef double _middle(const double* v, Py_ssize_t count) noexcept nogil:
    # The median of count (odd, at most 5) values, by insertion sort of a copy.
    cdef double a[5]
    cdef double swap
    cdef Py_ssize_t i, j
    for i in range(count):
        a[i] = v[i]
        j = i
        while j > 0 and a[j - 1] > a[j]:
            swap = a[j - 1]
            a[j - 1] = a[j]
            a[j] = swap
            j -= 1
    return a[count // 2]


cdef double _fit_offset(
    const double[:] t,
    const double[:] x,
    const double[:] y,
    const double[:] speed,
    const double[:] course_deg,
    double nx,
    double ny,
    double offset_m,
    double normal,
    Py_ssize_t lo,
    Py_ssize_t m,
    double* raw,
    double* rate,
    double* moved,
    double* residual,
    double* deviation,
    double* sort_space,
    double* spread_out,
    double* white_out,
) noexcept nogil:
    # The model over fixes lo..lo+m-1:
    # - rate: speed along the normal, signed. A value farther than _GLITCH_SHARE of the
    #   speed (+ _GLITCH_FLOOR_MPS) from the median of the 5 around it is replaced by
    #   that median: some loggers' headings swing by 36 and then 144 degrees for two
    #   samples, and a glitch would move all of the integral after it, while a car's
    #   own motion never strays that far from its neighbours';
    # - moved: its trapezoidal integral from the first fix;
    # - the offset c that puts the fixes' distances on it: the mean of distance - moved
    #   after dropping residuals beyond 3 robust standard deviations (+0.5 m).
    # Sets the robust standard deviation of the residuals (1.4826 MAD) and that of their
    # part that is independent from one fix to the next (from the differences of
    # consecutive residuals): only that part averages out over more fixes. NaN (and
    # both deviations NaN) if a value is NaN or fewer than 4 fixes remain.
    cdef Py_ssize_t k, count = 0
    cdef double median, spread, step, middle, total = 0.0
    spread_out[0] = NAN
    white_out[0] = NAN
    for k in range(m):
        raw[k] = speed[lo + k] * cos(_radians(course_deg[lo + k]) - normal)
        if isnan(raw[k]):
            return NAN
    for k in range(m):
        rate[k] = raw[k]
        if k >= 2 and k + 2 < m:
            middle = _middle(&raw[k - 2], 5)
        elif k >= 1 and k + 1 < m:
            middle = _middle(&raw[k - 1], 3)
        else:
            continue
        if fabs(raw[k] - middle) > _GLITCH_SHARE * speed[lo + k] + _GLITCH_FLOOR_MPS:
            rate[k] = middle
    moved[0] = 0.0
    for k in range(1, m):
        moved[k] = moved[k - 1] + 0.5 * (rate[k - 1] + rate[k]) * (t[lo + k] - t[lo + k - 1])
    for k in range(m):
        residual[k] = x[lo + k] * nx + y[lo + k] * ny - offset_m - moved[k]
    median = _median(residual, m, sort_space)
    for k in range(m):
        deviation[k] = fabs(residual[k] - median)
    spread = _median(deviation, m, sort_space) * 1.4826
    spread_out[0] = spread
    for k in range(m - 1):
        deviation[k] = residual[k + 1] - residual[k]
    step = _median(deviation, m - 1, sort_space)
    for k in range(m - 1):
        deviation[k] = fabs(deviation[k] - step)
    white_out[0] = _median(deviation, m - 1, sort_space) * (1.4826 / sqrt(2.0))
    for k in range(m):
        if fabs(residual[k] - median) <= 3.0 * spread + 0.5:
            total += residual[k]
            count += 1
    if count < 4:
        return NAN
    return total / count


cdef double _root_in_step(double g0, double r0, double r1, double h) noexcept nogil:
    # Where g0 + r0 s + (r1 - r0) s^2 / (2 h) (the trapezoidal model inside one step of
    # length h, rate linear across it) reaches 0, for s in [0, h], given g0 < 0 and the
    # value at h >= 0. The quadratic's root by the cancellation-free formula; a rate
    # that barely changes is a straight line.
    cdef double a = (r1 - r0) / (2.0 * h), disc, s
    cdef double g1 = g0 + 0.5 * (r0 + r1) * h
    disc = r0 * r0 - 4.0 * a * g0
    if fabs(a) * h <= 1e-12 * fabs(r0) or disc < 0.0:
        return h * (-g0) / (g1 - g0)
    # The root the line through (0, g0) with slope r0 approaches: -2 g0 / (r0 + sqrt).
    if r0 + sqrt(disc) > 0.0:
        s = -2.0 * g0 / (r0 + sqrt(disc))
        if s >= 0.0 and s <= h:
            return s
    return h * (-g0) / (g1 - g0)


def estimate_passes(
    const double[:] t,
    const double[:] x,
    const double[:] y,
    double nx,
    double ny,
    double offset_m,
    const double[:] speed,
    const double[:] course_deg,
    const unsigned char[:] gap_after,
    const Py_ssize_t[:] first,
    const Py_ssize_t[:] last,
    const double[:] centre_s,
    Py_ssize_t half,
    Py_ssize_t max_half,
    double normal_deg,
    double precision_s,
    double stop_mps,
):
    """Crossing time of each pass over a line: the pass's crossing steps are first[j] to
    last[j] (more than one where noise jitters the path across the line), centre_s[j] is
    the middle of their interpolated times. NaN where the model cannot say. A fix's
    distance from the line is x*nx + y*ny - offset_m. The model and the window are
    described in crossings.py."""
    cdef Py_ssize_t n = t.shape[0], passes = first.shape[0]
    cdef Py_ssize_t j, k, lo, hi, wide_lo, wide_hi, m, need_half, widest = 0, best
    cdef double normal = _radians(normal_deg)
    cdef double c, spread, white, along, need, g0, g1, when, best_gap, s
    result = np.full(passes, np.nan)
    cdef double[:] out = result
    for j in range(passes):
        widest = max(widest, last[j] - first[j])
    # Scratch rows for the widest window: 2 * max_half fixes and the pass's own.
    cdef Py_ssize_t width = max(0, min(n, 2 * max(half, max_half) + widest + 2))
    scratch_arr = np.empty((6, max(width, 1)))
    cdef double[:, ::1] scratch = scratch_arr
    cdef double* raw = &scratch[5, 0]
    cdef double* rate = &scratch[0, 0]
    cdef double* moved = &scratch[1, 0]
    cdef double* residual = &scratch[2, 0]
    cdef double* deviation = &scratch[3, 0]
    cdef double* sort_space = &scratch[4, 0]
    for j in range(passes):
        _window(speed, gap_after, first[j], last[j], half, stop_mps, &lo, &hi)
        m = hi - lo
        if m < 4:
            continue
        c = _fit_offset(t, x, y, speed, course_deg, nx, ny, offset_m, normal, lo, m,
                        raw, rate, moved, residual, deviation, sort_space, &spread, &white)
        if isnan(c):
            continue
        # The offset is the mean of m residuals: their independent part is known to
        # white / sqrt(m), which is white / (sqrt(m) * along) in time. Widen the window
        # until that is precision_s, up to max_half fixes either side. (A receiver's
        # slow errors, steps and drifts, do not average out: a longer window would
        # only take in more of them.)
        along = 0.0
        for k in range(first[j], last[j] + 2):
            along += speed[k] * cos(_radians(course_deg[k]) - normal)
        along /= last[j] - first[j] + 2
        if along > 0.0 and precision_s > 0.0:
            need = white / (precision_s * along)
            need_half = <Py_ssize_t>ceil(0.5 * need * need)
            if need_half > half:
                _window(speed, gap_after, first[j], last[j], min(need_half, max_half),
                        stop_mps, &wide_lo, &wide_hi)
                if wide_hi - wide_lo > m:
                    lo = wide_lo
                    m = wide_hi - wide_lo
                    c = _fit_offset(t, x, y, speed, course_deg, nx, ny, offset_m, normal,
                                    lo, m, raw, rate, moved, residual, deviation,
                                    sort_space, &spread, &white)
        if isnan(c):
            continue
        # The crossing: where moved + c rises through 0, in the step nearest the
        # pass's centre (a window can hold the line's other crossings: a hairpin that
        # comes back to it).
        best = -1
        best_gap = INFINITY
        for k in range(m - 1):
            g0 = moved[k] + c
            g1 = moved[k + 1] + c
            if g0 < 0.0 and g1 >= 0.0:
                when = t[lo + k] + (t[lo + k + 1] - t[lo + k]) * (-g0) / (g1 - g0)
                if fabs(when - centre_s[j]) < best_gap:
                    best_gap = fabs(when - centre_s[j])
                    best = k
        if best < 0:
            continue
        s = _root_in_step(moved[best] + c, rate[best], rate[best + 1],
                          t[lo + best + 1] - t[lo + best])
        out[j] = t[lo + best] + s
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
