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
import numpy.typing as npt

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
    fixes: Fixes, across: FloatArray, idx: npt.NDArray[np.intp], half: int, normal_deg: float
) -> FloatArray:
    """Crossing time for each crossing step idx[j] -> idx[j]+1 (NaN where the model
    cannot say), all crossings at once: each row of the 2-D arrays is one window."""
    t, n = fixes.t_s, len(fixes)
    gaps_before = np.concatenate(([0], np.cumsum(fixes.gap_after[:-1])))
    k = idx[:, None] + np.arange(-half, half + 2)[None, :]
    kc = np.clip(k, 0, n - 1)
    i = idx[:, None]
    # A fix belongs to the window if no gap lies between it and the crossing step.
    connected = np.where(
        kc <= i, gaps_before[i] == gaps_before[kc], gaps_before[kc] == gaps_before[i + 1]
    )
    valid = (k >= 0) & (k < n) & connected
    tw = t[kc]
    cos_theta = np.cos(np.radians(fixes.course_deg[kc] - normal_deg))
    rate = fixes.speed_mps[kc] * np.clip(cos_theta, 0.0, None)
    # D, distance moved along the normal since the window's first fix; steps out of
    # the window (beyond a gap or the ends) move nothing.
    step = 0.5 * (rate[:, :-1] + rate[:, 1:]) * np.diff(tw, axis=1)
    step = np.where(valid[:, :-1] & valid[:, 1:], step, 0.0)
    moved = np.concatenate((np.zeros((idx.shape[0], 1)), np.cumsum(step, axis=1)), axis=1)
    residual = across[kc] - moved
    masked = np.where(valid, residual, np.nan)
    enough = valid.sum(axis=1) >= 4
    masked[~enough] = 0.0  # rows without enough fixes are discarded below
    median = np.nanmedian(masked, axis=1)
    spread = np.nanmedian(np.abs(masked - median[:, None]), axis=1) * 1.4826
    inlier = valid & (np.abs(residual - median[:, None]) <= 3.0 * spread[:, None] + 0.5)
    count = inlier.sum(axis=1)
    offset = np.where(inlier, residual, 0.0).sum(axis=1) / np.maximum(count, 1)
    target = -offset
    # D never decreases along a row: the crossing is the first column where D
    # reaches the target, interpolated from the column before.
    reached = (moved >= target[:, None]) & valid
    j = np.argmax(reached, axis=1)
    found = reached[np.arange(j.shape[0]), j] & (j > 0)
    j = np.maximum(j, 1)
    rows = np.arange(j.shape[0])
    d0, d1 = moved[rows, j - 1], moved[rows, j]
    with np.errstate(invalid="ignore", divide="ignore"):
        frac = np.where(found & (d1 > d0), (target - d0) / (d1 - d0), np.nan)
    estimate: FloatArray = tw[rows, j - 1] + frac * (tw[rows, j] - tw[rows, j - 1])
    estimate[~enough | (count < 4) | (frac < 0) | (frac > 1)] = np.nan
    return estimate


def _estimate_with_fit(t: FloatArray, across: FloatArray, t_guess: float) -> float:
    """Root of a least-squares polynomial of distance against time (NaN if none)."""
    if t.shape[0] < 4:
        return math.nan
    tc = t - t_guess
    degree = 2 if t.shape[0] >= 6 else 1
    coef = np.polynomial.polynomial.polyfit(tc, across, degree)
    roots = np.polynomial.polynomial.polyroots(coef)
    real = [float(r.real) for r in np.atleast_1d(roots) if abs(r.imag) < 1e-9]
    if not real:
        return math.nan
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
    ii = idx.astype(np.intp)
    t_linear = t[ii] + frac * (t[ii + 1] - t[ii])
    speed = fixes.speed_mps[ii] + frac * (fixes.speed_mps[ii + 1] - fixes.speed_mps[ii])
    across_gap = fixes.gap_after[ii]
    if fixes.speed_from_gnss:
        estimate = _estimate_with_speed(fixes, across, ii, half, normal_deg)
    else:
        estimate = np.array(
            [
                _estimate_with_fit(t[lo:hi], across[lo:hi], float(tl))
                for lo, hi, tl in (
                    (*_window(fixes.gap_after, int(i), half), tl)
                    for i, tl in zip(ii, t_linear, strict=True)
                )
            ],
            dtype=np.float64,
        )
    # Noise moves the apparent crossing by a few fixes, not more: an estimate farther
    # away means the model did not fit (a spin, a stop on the line), and the plain
    # interpolation is the honest answer. Across a gap there is nothing to fit.
    limit_s = max(4 * fixes.period_s, 0.25)
    bad = ~np.isfinite(estimate) | (np.abs(estimate - t_linear) > limit_s) | across_gap
    estimate = np.where(bad, t_linear, estimate)
    return [
        Crossing(int(i), float(e), float(v), bool(g))
        for i, e, v, g in zip(ii, estimate, speed, across_gap, strict=True)
    ]
