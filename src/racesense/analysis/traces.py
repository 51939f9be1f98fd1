"""Per-lap traces for the UI, downsampled to keep their shape.

A phone draws 2,000 points per lap without effort; a 25 Hz lap of three minutes has
4,500. Downsampling by "largest triangle" keeps the peaks and troughs of the speed
trace (the braking points and apexes a driver looks for) that plain decimation drops.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from racesense.analysis.telemetry import FloatArray

MAX_TRACE_POINTS = 2000


def largest_triangle(x: FloatArray, y: FloatArray, threshold: int) -> npt.NDArray[np.intp]:
    """Indices of at most `threshold` points of (x, y) that keep its shape.

    Largest-Triangle-Three-Buckets with one change: the left corner of each triangle
    is the previous bucket's mean rather than the point chosen there, which lets every
    bucket be decided at once in NumPy instead of one after another in Python. First
    and last points are always kept.
    """
    n = x.shape[0]
    if threshold >= n or n <= 2:
        return np.arange(n, dtype=np.intp)
    threshold = max(threshold, 3)
    buckets = threshold - 2
    edges = np.linspace(1, n - 1, buckets + 1).astype(np.intp)
    counts = np.diff(edges)
    nonempty = counts > 0
    edges_lo = edges[:-1][nonempty]
    counts = counts[nonempty]
    buckets = edges_lo.shape[0]
    mean_x = np.add.reduceat(x[1 : n - 1], edges_lo - 1) / counts
    mean_y = np.add.reduceat(y[1 : n - 1], edges_lo - 1) / counts
    prev_x = np.concatenate(([x[0]], mean_x[:-1]))
    prev_y = np.concatenate(([y[0]], mean_y[:-1]))
    next_x = np.concatenate((mean_x[1:], [x[-1]]))
    next_y = np.concatenate((mean_y[1:], [y[-1]]))
    bucket_of = np.repeat(np.arange(buckets), counts)
    px, py = x[1 : n - 1], y[1 : n - 1]
    ax, ay = prev_x[bucket_of], prev_y[bucket_of]
    cx, cy = next_x[bucket_of], next_y[bucket_of]
    area = np.abs((ax - cx) * (py - ay) - (ax - px) * (cy - ay))
    # First point of largest area in each bucket: buckets are contiguous runs, so the
    # first hit of each bucket's maximum is where the bucket id changes among hits.
    largest = np.maximum.reduceat(area, edges_lo - 1)
    hits = np.flatnonzero(area == largest[bucket_of])
    first = np.concatenate(([True], bucket_of[hits][1:] != bucket_of[hits][:-1]))
    chosen = hits[first] + 1
    return np.concatenate(([0], chosen, [n - 1])).astype(np.intp)
