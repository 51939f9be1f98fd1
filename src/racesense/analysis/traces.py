"""Per-lap traces for the UI, downsampled to keep their shape.

A phone draws 2,000 points per lap without effort; a 25 Hz lap of three minutes has
4,500. Downsampling by "largest triangle" keeps the peaks and troughs of the speed
trace (the braking points and apexes a driver looks for) that plain decimation drops.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from racesense.analysis import kernels
from racesense.analysis.telemetry import FloatArray

MAX_TRACE_POINTS = 2000


def largest_triangle(x: FloatArray, y: FloatArray, threshold: int) -> npt.NDArray[np.intp]:
    """Indices of at most `threshold` points of (x, y) that keep its shape
    (Largest-Triangle-Three-Buckets; first and last points always kept)."""
    if threshold >= x.shape[0]:
        return np.arange(x.shape[0], dtype=np.intp)
    chosen: npt.NDArray[np.intp] = kernels.lttb(
        np.ascontiguousarray(x, dtype=np.float64),
        np.ascontiguousarray(y, dtype=np.float64),
        threshold,
    ).astype(np.intp)
    return chosen
