"""Largest-Triangle-Three-Buckets downsampling of each lap's trace (traces.py),
compiled. Releases the GIL, so two threads can share a session's laps.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
from numba import njit

from racesense.analysis.telemetry import FloatArray


@njit(cache=True, error_model="numpy", nogil=True)
def lttb(x: FloatArray, y: FloatArray, threshold: int) -> npt.NDArray[np.int64]:
    """Largest-Triangle-Three-Buckets (Steinarsson 2013): indices of at most
    `threshold` points of (x, y) that keep its shape; first and last always kept."""
    n = x.shape[0]
    if threshold >= n or n <= 2:
        return np.arange(n)
    threshold = max(threshold, 3)
    out = np.empty(threshold, dtype=np.int64)
    out[0] = 0
    every = (n - 2) / (threshold - 2)
    a = 0
    for b in range(threshold - 2):
        lo = int(b * every) + 1
        hi = int((b + 1) * every) + 1
        if hi - lo == 1:
            # A bucket of one point has no choice to make. When a lap has few more
            # points than the threshold, most buckets are like this.
            out[b + 1] = lo
            a = lo
            continue
        # The next bucket's mean (the last point, for the last bucket).
        nlo = hi
        nhi = min(int((b + 2) * every) + 1, n)
        if nlo >= nhi:
            cx, cy = x[n - 1], y[n - 1]
        else:
            cx = 0.0
            cy = 0.0
            for j in range(nlo, nhi):
                cx += x[j]
                cy += y[j]
            cx /= nhi - nlo
            cy /= nhi - nlo
        ax, ay = x[a], y[a]
        best = -1.0
        chosen = lo
        for j in range(lo, hi):
            area = abs((ax - cx) * (y[j] - ay) - (ax - x[j]) * (cy - ay))
            if area > best:
                best = area
                chosen = j
        out[b + 1] = chosen
        a = chosen
    out[threshold - 1] = n - 1
    return out


@njit(cache=True, error_model="numpy", nogil=True)
def lttb_ranges(
    x: FloatArray,
    y: FloatArray,
    starts: npt.NDArray[np.intp],
    ends: npt.NDArray[np.intp],
    threshold: int,
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """`lttb` over each range [starts[k], ends[k]) at once: the chosen absolute indices
    of every range, concatenated, and the offsets where each range's indices begin."""
    count = starts.shape[0]
    offsets = np.zeros(count + 1, dtype=np.int64)
    for k in range(count):
        offsets[k + 1] = offsets[k] + min(ends[k] - starts[k], max(threshold, 3))
    out = np.empty(offsets[count], dtype=np.int64)
    for k in range(count):
        lo, hi = starts[k], ends[k]
        chosen = lttb(x[lo:hi], y[lo:hi], threshold)
        for j in range(chosen.shape[0]):
            out[offsets[k] + j] = chosen[j] + lo
    return out, offsets
