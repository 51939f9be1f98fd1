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

from racesense.analysis import kernels
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


def _offset_m(gate: GateXY) -> float:
    """A fix's distance from the line is x*nx + y*ny minus this."""
    return gate.ax_m * gate.nx + gate.ay_m * gate.ny


def _candidates(
    fixes: Fixes, gate: GateXY, forward: bool
) -> tuple[npt.NDArray[np.intp], FloatArray]:
    """Indices i where the step i -> i+1 crosses the line (in the given direction), and
    the fraction of the step at which it does."""
    idx, frac = kernels.line_steps(
        fixes.x_m,
        fixes.y_m,
        gate.ax_m,
        gate.ay_m,
        gate.bx_m,
        gate.by_m,
        gate.nx,
        gate.ny,
        _END_TOLERANCE_M,
        forward,
    )
    return idx, frac


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
    t_idx = fixes.t_s[idx]
    same_pass = np.concatenate(([False], np.diff(t_idx) < max(window_s, 2 * fixes.period_s)))
    idx, frac = idx[~same_pass], frac[~same_pass]
    t = fixes.t_s
    half = max(2, math.ceil(window_s / max(fixes.period_s, 1e-3)))
    normal_deg = gate.normal_bearing_deg()
    ii = idx
    t_linear = t[ii] + frac * (t[ii + 1] - t[ii])
    speed = fixes.speed_mps[ii] + frac * (fixes.speed_mps[ii + 1] - fixes.speed_mps[ii])
    across_gap = fixes.gap_after[ii]
    if fixes.speed_from_gnss:
        estimate = kernels.estimate_crossings(
            fixes.t_s,
            fixes.x_m,
            fixes.y_m,
            gate.nx,
            gate.ny,
            _offset_m(gate),
            fixes.speed_mps,
            fixes.course_deg,
            fixes.gap_after,
            ii,
            half,
            normal_deg,
        )
    else:
        across = fixes.x_m * gate.nx + fixes.y_m * gate.ny - _offset_m(gate)
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
