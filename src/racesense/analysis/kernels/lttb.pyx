# cython: language_level=3, boundscheck=False, wraparound=False, initializedcheck=False
# cython: cdivision=True
"""Largest-Triangle-Three-Buckets downsampling of each lap's trace (traces.py),
compiled. The loops run without the GIL, so two threads can share a session's laps.
"""

import numpy as np

from libc.math cimport fabs
from libc.stdint cimport int64_t


cdef inline Py_ssize_t _kept(Py_ssize_t n, Py_ssize_t threshold) noexcept nogil:
    # How many points _lttb_into keeps of n.
    if threshold >= n or n <= 2:
        return n
    return max(threshold, 3)


cdef void _lttb_into(
    const double[:] x, const double[:] y, Py_ssize_t threshold, int64_t* out, int64_t add
) noexcept nogil:
    # Writes the _kept(n, threshold) chosen indices of (x, y), plus `add`, to out.
    cdef Py_ssize_t n = x.shape[0]
    cdef Py_ssize_t a, b, j, lo, hi, nlo, nhi, chosen
    cdef double every, cx, cy, ax, ay, best, area
    if threshold >= n or n <= 2:
        for j in range(n):
            out[j] = j + add
        return
    threshold = max(threshold, 3)
    out[0] = add
    every = <double>(n - 2) / (threshold - 2)
    a = 0
    for b in range(threshold - 2):
        lo = <Py_ssize_t>(b * every) + 1
        hi = <Py_ssize_t>((b + 1) * every) + 1
        if hi - lo == 1:
            # A bucket of one point has no choice to make. When a lap has few more
            # points than the threshold, most buckets are like this.
            out[b + 1] = lo + add
            a = lo
            continue
        # The next bucket's mean (the last point, for the last bucket).
        nlo = hi
        nhi = min(<Py_ssize_t>((b + 2) * every) + 1, n)
        if nlo >= nhi:
            cx = x[n - 1]
            cy = y[n - 1]
        else:
            cx = 0.0
            cy = 0.0
            for j in range(nlo, nhi):
                cx += x[j]
                cy += y[j]
            cx /= nhi - nlo
            cy /= nhi - nlo
        ax = x[a]
        ay = y[a]
        best = -1.0
        chosen = lo
        for j in range(lo, hi):
            area = fabs((ax - cx) * (y[j] - ay) - (ax - x[j]) * (cy - ay))
            if area > best:
                best = area
                chosen = j
        out[b + 1] = chosen + add
        a = chosen
    out[threshold - 1] = n - 1 + add


def lttb(const double[:] x, const double[:] y, Py_ssize_t threshold):
    """Largest-Triangle-Three-Buckets (Steinarsson 2013): indices of at most
    `threshold` points of (x, y) that keep its shape; first and last always kept."""
    result = np.empty(_kept(x.shape[0], threshold), dtype=np.int64)
    cdef int64_t[::1] out = result
    if out.shape[0]:
        with nogil:
            _lttb_into(x, y, threshold, &out[0], 0)
    return result


def lttb_ranges(
    const double[:] x,
    const double[:] y,
    const Py_ssize_t[:] starts,
    const Py_ssize_t[:] ends,
    Py_ssize_t threshold,
):
    """`lttb` over each range [starts[k], ends[k]) at once: the chosen absolute indices
    of every range, concatenated, and the offsets where each range's indices begin."""
    cdef Py_ssize_t k, lo, hi, count = starts.shape[0]
    offsets_arr = np.zeros(count + 1, dtype=np.int64)
    cdef int64_t[::1] offsets = offsets_arr
    for k in range(count):
        offsets[k + 1] = offsets[k] + min(ends[k] - starts[k], max(threshold, 3))
    result = np.empty(offsets[count], dtype=np.int64)
    cdef int64_t[::1] out = result
    with nogil:
        for k in range(count):
            lo = starts[k]
            hi = ends[k]
            if hi > lo:  # an empty range keeps nothing
                _lttb_into(x[lo:hi], y[lo:hi], threshold, &out[offsets[k]], lo)
    return result, offsets_arr
