"""Compiled loops for timing lines (crossings.py, track.py): the steps that cross a
line, each crossing's time estimated from the fixes around it, and the nearest pass to
a point.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
from numba import njit

from racesense.analysis.telemetry import FloatArray


@njit(cache=True, error_model="numpy")
def line_steps(
    x: FloatArray,
    y: FloatArray,
    ax: float,
    ay: float,
    bx: float,
    by: float,
    nx: float,
    ny: float,
    tolerance_m: float,
    forward: bool,
) -> tuple[npt.NDArray[np.intp], FloatArray]:
    """Steps i -> i+1 whose path crosses the segment a-b (extended by tolerance_m at
    both ends) going along the normal (nx, ny), or against it if not `forward`: their
    indices, and the fraction of each step at which it crosses. No whole-session
    temporaries: one pass finds the steps that change side, a second keeps those that
    pass between the line's ends."""
    offset = ax * nx + ay * ny
    sign = 1.0 if forward else -1.0
    n = x.shape[0]
    changes = 0
    for i in range(n - 1):
        prev = sign * (x[i] * nx + y[i] * ny - offset)
        cur = sign * (x[i + 1] * nx + y[i + 1] * ny - offset)
        changes += (prev < 0.0) & (cur >= 0.0)
    found = np.empty(changes, dtype=np.intp)
    fracs = np.empty(changes)
    if changes == 0:
        return found, fracs
    length = np.hypot(bx - ax, by - ay)
    gx, gy = (bx - ax) / length, (by - ay) / length
    count = 0
    for i in range(n - 1):
        prev = sign * (x[i] * nx + y[i] * ny - offset)
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
    return found[:count], fracs[:count]


@njit(cache=True, error_model="numpy")
def estimate_crossings(
    t: FloatArray,
    x: FloatArray,
    y: FloatArray,
    nx: float,
    ny: float,
    offset_m: float,
    speed: FloatArray,
    course_deg: FloatArray,
    gap_after: npt.NDArray[np.bool_],
    idx: npt.NDArray[np.intp],
    half: int,
    normal_deg: float,
) -> FloatArray:
    """Crossing time for each crossing step idx[j] -> idx[j]+1, from the fixes within
    `half` fixes either side (not across a gap); NaN where the model cannot say.
    A fix's distance from the line is x*nx + y*ny - offset_m. The model is described
    in crossings.py."""
    n = t.shape[0]
    out = np.full(idx.shape[0], np.nan)
    normal = np.radians(normal_deg)
    for j in range(idx.shape[0]):
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
        moved = np.empty(m)
        residual = np.empty(m)
        moved[0] = 0.0
        rate_prev = speed[lo] * max(np.cos(np.radians(course_deg[lo]) - normal), 0.0)
        for k in range(1, m):
            rate = speed[lo + k] * max(np.cos(np.radians(course_deg[lo + k]) - normal), 0.0)
            moved[k] = moved[k - 1] + 0.5 * (rate_prev + rate) * (t[lo + k] - t[lo + k - 1])
            rate_prev = rate
        for k in range(m):
            across = x[lo + k] * nx + y[lo + k] * ny - offset_m
            residual[k] = across - moved[k]
        median = np.median(residual)
        spread = np.median(np.abs(residual - median)) * 1.4826
        total = 0.0
        count = 0
        for k in range(m):
            if abs(residual[k] - median) <= 3.0 * spread + 0.5:
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
    return out


@njit(cache=True, error_model="numpy")
def nearest_sq_m2(x: FloatArray, y: FloatArray, px: float, py: float) -> float:
    """The smallest squared distance from (px, py) to any point (x, y)."""
    best = np.inf
    for i in range(x.shape[0]):
        dx = x[i] - px
        dy = y[i] - py
        d = dx * dx + dy * dy
        best = d if d < best else best
    return best
