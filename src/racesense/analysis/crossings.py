"""Where and when the car crosses a timing line, to a few milliseconds.

Finding a crossing is geometry: the step between two consecutive fixes intersects
the line, going the way the line faces. Timing it is estimation. Interpolating
between the two fixes either side is only as good as those two fixes: with 1 m of
GNSS noise at 50 m/s that alone is +-20 ms. So each crossing is estimated from every
fix within about a second of it, together with the GNSS speed:

    d_k = signed distance of fix k from the line, along the line's normal
    D(t) = integral of speed * cos(course - normal): how far the car has moved
           along the normal since the start of the window, known smoothly from
           the Doppler speed, which is far less noisy than positions
    d_k = D(t_k) + c + noise   for every fix k in the window

The offset c is the mean of d_k - D(t_k) (after dropping outliers), and the
crossing is where D(t) + c = 0. Without a speed channel a quadratic least-squares
fit of d_k against t_k does the same job less well.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from racesense.analysis.clean import BoolArray, Fixes
from racesense.analysis.telemetry import FloatArray
from racesense.analysis.track import GateXY

# Half-width of the estimation window. Longer averages more noise; the cos() term
# keeps the model exact on curves, so the limit is how well speed is known.
WINDOW_S = 1.5
# A crossing slightly beyond a line end still counts: GNSS noise moves the path too.
_END_TOLERANCE_M = 2.0


@dataclass(frozen=True)
class Crossing:
    index: int  # the crossing lies between fixes index and index+1
    t_s: float
    speed_mps: float
    across_gap: bool


def _coordinates(fixes: Fixes, gate: GateXY) -> tuple[FloatArray, FloatArray]:
    """(along, across) of every fix: metres along the line from its first end, and the
    signed distance from it along its normal."""
    rx = fixes.x_m - gate.ax_m
    ry = fixes.y_m - gate.ay_m
    length = gate.length_m
    gx, gy = (gate.bx_m - gate.ax_m) / length, (gate.by_m - gate.ay_m) / length
    along: FloatArray = rx * gx + ry * gy
    across: FloatArray = rx * gate.nx + ry * gate.ny
    return along, across


def _candidates(fixes: Fixes, gate: GateXY, forward: bool) -> tuple[FloatArray, FloatArray]:
    """Indices i where the step i -> i+1 crosses the line (in the given direction), and
    the fraction of the step at which it does."""
    along, across = _coordinates(fixes, gate)
    if forward:
        hit = (across[:-1] < 0.0) & (across[1:] >= 0.0)
    else:
        hit = (across[:-1] > 0.0) & (across[1:] <= 0.0)
    idx = np.flatnonzero(hit)
    frac = across[idx] / (across[idx] - across[idx + 1])
    at = along[idx] + frac * (along[idx + 1] - along[idx])
    inside = (at >= -_END_TOLERANCE_M) & (at <= gate.length_m + _END_TOLERANCE_M)
    return idx[inside].astype(np.float64), frac[inside]


def orient(fixes: Fixes, gate: GateXY) -> GateXY:
    """Face the line the way most crossings go (a line given by two ends has no way)."""
    fwd, _ = _candidates(fixes, gate, forward=True)
    back, _ = _candidates(fixes, gate, forward=False)
    return gate if fwd.shape[0] >= back.shape[0] else gate.reversed()


def _window(gap_after: BoolArray, i: int, half: int) -> tuple[int, int]:
    """Fixes [lo, hi) around step i -> i+1, stopping at gaps on either side."""
    n = gap_after.shape[0]
    lo = max(0, i - half)
    hi = min(n, i + 2 + half)
    before = np.flatnonzero(gap_after[lo:i])
    if before.shape[0]:
        lo = lo + int(before[-1]) + 1
    after = np.flatnonzero(gap_after[i + 1 : hi - 1])
    if after.shape[0]:
        hi = i + 1 + int(after[0]) + 1
    return lo, hi


def _estimate_with_speed(
    t: FloatArray, across: FloatArray, speed: FloatArray, course_deg: FloatArray, normal_deg: float
) -> float | None:
    cos_theta = np.cos(np.radians(course_deg - normal_deg))
    rate = speed * np.clip(cos_theta, 0.0, None)
    dt = np.diff(t)
    moved = np.concatenate(([0.0], np.cumsum(0.5 * (rate[:-1] + rate[1:]) * dt)))
    if moved[-1] <= 0.0:
        return None
    residual = across - moved
    median = float(np.median(residual))
    spread = float(np.median(np.abs(residual - median))) * 1.4826
    inlier = np.abs(residual - median) <= 3.0 * spread + 0.5
    offset = float(np.mean(residual[inlier]))
    # `moved` never decreases, so the crossing is a 1-D lookup.
    target = -offset
    if not (moved[0] <= target <= moved[-1]):
        return None
    return float(np.interp(target, moved, t))


def _estimate_with_fit(t: FloatArray, across: FloatArray, t_guess: float) -> float | None:
    if t.shape[0] < 4:
        return None
    tc = t - t_guess
    degree = 2 if t.shape[0] >= 6 else 1
    coef = np.polynomial.polynomial.polyfit(tc, across, degree)
    roots = np.polynomial.polynomial.polyroots(coef)
    real = [float(r.real) for r in np.atleast_1d(roots) if abs(r.imag) < 1e-9]
    if not real:
        return None
    best = min(real, key=abs)
    return t_guess + best


def crossings(fixes: Fixes, gate: GateXY, window_s: float = WINDOW_S) -> list[Crossing]:
    """Every crossing of `gate` in the direction it faces, in time order."""
    idx, frac = _candidates(fixes, gate, forward=True)
    if idx.shape[0] == 0:
        return []
    # Noise near the line makes one pass cross it forward, back and forward again:
    # candidates within one estimation window of the previous are the same pass.
    t_idx = fixes.t_s[idx.astype(np.intp)]
    same_pass = np.concatenate(([False], np.diff(t_idx) < max(window_s, 2 * fixes.period_s)))
    idx, frac = idx[~same_pass], frac[~same_pass]
    _, across = _coordinates(fixes, gate)
    t = fixes.t_s
    half = max(2, math.ceil(window_s / max(fixes.period_s, 1e-3)))
    normal_deg = gate.normal_bearing_deg()
    result: list[Crossing] = []
    for i_f, f in zip(idx, frac, strict=True):
        i = int(i_f)
        t_linear = float(t[i] + f * (t[i + 1] - t[i]))
        speed = float(fixes.speed_mps[i] + f * (fixes.speed_mps[i + 1] - fixes.speed_mps[i]))
        across_gap = bool(fixes.gap_after[i])
        estimate: float | None = None
        if not across_gap:
            lo, hi = _window(fixes.gap_after, i, half)
            if fixes.speed_from_gnss:
                estimate = _estimate_with_speed(
                    t[lo:hi],
                    across[lo:hi],
                    fixes.speed_mps[lo:hi],
                    fixes.course_deg[lo:hi],
                    normal_deg,
                )
            else:
                estimate = _estimate_with_fit(t[lo:hi], across[lo:hi], t_linear)
        # Noise moves the apparent crossing by a few fixes, not more: an estimate
        # farther away means the model did not fit (a spin, a stop on the line), and
        # the plain interpolation is the honest answer.
        if estimate is None or abs(estimate - t_linear) > max(4 * fixes.period_s, 0.25):
            estimate = t_linear
        result.append(Crossing(i, estimate, speed, across_gap))
    return result


def crossings_in(
    fixes: Fixes, gate: GateXY, start_s: float, end_s: float, window_s: float = WINDOW_S
) -> list[Crossing]:
    """Crossings of `gate` between two times (a lap's sector lines, for instance)."""
    lo = int(np.searchsorted(fixes.t_s, start_s, side="left"))
    hi = int(np.searchsorted(fixes.t_s, end_s, side="right"))
    margin = max(2, math.ceil(window_s / max(fixes.period_s, 1e-3))) + 2
    lo_m, hi_m = max(0, lo - margin), min(len(fixes), hi + margin)
    found = crossings(fixes.slice(lo_m, hi_m), gate, window_s)
    return [
        Crossing(c.index + lo_m, c.t_s, c.speed_mps, c.across_gap)
        for c in found
        if start_s < c.t_s < end_s
    ]
