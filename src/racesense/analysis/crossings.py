"""Where and when the car crosses a timing line, to a few milliseconds.

Finding a crossing is geometry: the step between two consecutive fixes intersects the
line, going the way the line faces. GNSS noise near the line can make one pass cross it
forward, back and forward again: the crossing steps of one pass (each within a window of
the previous) are one crossing.

Timing it is estimation. Interpolating between the two fixes either side is only as good
as those two fixes: with 1.5 m of GNSS noise at 17 m/s (a pit lane) that alone is
+-90 ms. So each crossing is estimated from every fix around it, together with the GNSS
speed and course:

    d_k = signed distance of fix k from the line, along the line's normal
    D(t) = integral of speed * cos(course - normal): how far the car has moved along
           the normal since the start of the window. It is the exact rate of change of
           the distance from the line on any path, straight or curved, at any speed or
           acceleration (the cosine is signed: a hairpin that turns back is followed
           too), and the Doppler speed it comes from is far less noisy than positions
    d_k = D(t_k) + c + noise   for every fix k in the window

The offset c is the mean of d_k - D(t_k) (after dropping outliers), and the crossing is
where D(t) + c rises through 0 nearest the pass, inside that step by the trapezoidal
model (speed linear across the step) rather than a straight line.

The rate is the only thing the window trusts from the logger's channels, so one glitch
must not spoil it: a rate farther than 10 % of the speed from the median of the five
around it is replaced by that median (some loggers' headings swing by 36 and then 144
degrees for two samples; a car's own motion never strays that far).

Only c is fitted, so the timing error is the noise of its mean: sigma / sqrt(fixes),
divided by the speed along the normal. A fixed window times a slow crossing (a pit lane
exit at 60 km/h) three times worse than a fast one. So the window is at least WINDOW_S
either side and grows until that error is PRECISION_S, up to MAX_WINDOW_S. Sigma is
measured from the fixes themselves, and only its part that is independent from one fix
to the next (from the differences of consecutive residuals): a receiver's slow errors,
steps and drifts, do not average out, and a longer window would only take in more of
them. The window stops at gaps and at a stop (the speed of a car at rest is noise folded
to positive values, which the integral would turn into a drift).

Without a speed channel the distances alone say when: a robust least-squares cubic of
d_k against t_k, centred on the crossing and re-centred twice on its estimate. Constant
acceleration is its quadratic part, a curve or a change of acceleration its cubic part;
the odd terms cost no precision at the centre of a symmetric window, and a window centred
on a sudden change of acceleration (a pit speed limit that ends at the line) leaves the
root unbiased. The window grows as above, up to FIT_MAX_WINDOW_S: farther out,
polynomials stop describing a car. This is noise-limited: positions alone time a
crossing two to three times less precisely than with the Doppler speed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from racesense.analysis import kernels
from racesense.analysis.clean import BoolArray, Fixes
from racesense.analysis.kernels.lines import estimate_passes
from racesense.analysis.telemetry import FloatArray
from racesense.analysis.track import GateXY

# Half-width of the estimation window: at least this, and (with a speed channel) up to
# MAX_WINDOW_S, until the crossing is known to PRECISION_S (one standard deviation).
WINDOW_S = 1.5
MAX_WINDOW_S = 6.0
PRECISION_S = 0.003
# Without a speed channel the fit's window stops here: a polynomial describes a car's
# motion over a few seconds at most.
FIT_MAX_WINDOW_S = 2.0
# A fix slower than this is a stop: the window does not reach across it.
STOP_MPS = 1.0
# A crossing slightly beyond a line end still counts: GNSS noise moves the path too.
_END_TOLERANCE_M = 2.0
# Residuals farther than this many robust standard deviations (plus a floor, for
# noiseless data) from the median are outliers.
_OUTLIER_SIGMAS = 3.0
_OUTLIER_FLOOR_M = 0.5
# The fit's window moves to its estimate and is fitted again, this many times.
_FIT_RECENTRE = 2


@dataclass(frozen=True)
class Crossing:
    index: int  # the crossing lies between fixes index and index+1
    t_s: float
    speed_mps: float
    across_gap: bool


@dataclass(frozen=True)
class _Passes:
    """The passes over a line: the crossing steps first[j]..last[j] of each, their
    interpolated times' first, last and middle (median), and whether a step crossed a
    gap."""

    first: npt.NDArray[np.intp]
    last: npt.NDArray[np.intp]
    t_first_s: FloatArray
    t_last_s: FloatArray
    centre_s: FloatArray
    across_gap: BoolArray


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


def _passes(fixes: Fixes, gate: GateXY, window_s: float) -> _Passes | None:
    """Group the crossing steps into passes: a step within `window_s` (or two periods)
    of the previous one is the same pass."""
    idx, frac = _candidates(fixes, gate, forward=True)
    if idx.shape[0] == 0:
        return None
    t = fixes.t_s
    t_step = t[idx] + frac * (t[idx + 1] - t[idx])
    starts = np.concatenate(([True], np.diff(t_step) >= max(window_s, 2 * fixes.period_s)))
    begin = np.flatnonzero(starts)
    end = np.append(begin[1:], idx.shape[0]) - 1
    # The steps are in time order: a pass's median time is its middle step's (or the
    # mean of its two middle steps').
    centre = 0.5 * (t_step[(begin + end) // 2] + t_step[(begin + end + 1) // 2])
    gaps = np.logical_or.reduceat(fixes.gap_after[idx], begin)
    return _Passes(idx[begin], idx[end], t_step[begin], t_step[end], centre, gaps)


def _fit_window(
    fixes: Fixes, centre_s: float, half_s: float, step_lo: int, step_hi: int
) -> tuple[int, int]:
    """Fixes [lo, hi) within half_s of centre_s, not across a gap or a stop outside the
    steps step_lo..step_hi."""
    t = fixes.t_s
    lo = int(np.searchsorted(t, centre_s - half_s, side="left"))
    hi = int(np.searchsorted(t, centre_s + half_s, side="right"))
    lo, hi = min(lo, step_lo), max(hi, step_hi + 2)
    before = fixes.gap_after[lo:step_lo] | (fixes.speed_mps[lo:step_lo] < STOP_MPS)
    stops = np.flatnonzero(before)
    if stops.shape[0]:
        lo += int(stops[-1]) + 1
    after_gap = np.flatnonzero(fixes.gap_after[step_hi + 1 : hi - 1])
    if after_gap.shape[0]:
        hi = step_hi + 2 + int(after_gap[0])
    after_stop = np.flatnonzero(fixes.speed_mps[step_hi + 2 : hi] < STOP_MPS)
    if after_stop.shape[0]:
        hi = step_hi + 2 + int(after_stop[0])
    return lo, hi


def _fit_root(tau: FloatArray, across: FloatArray) -> tuple[float, float, float] | None:
    """Where the robust fit of `across` against `tau` rises through 0 nearest tau = 0,
    its slope there, and the standard deviation of the residuals' part that is
    independent from one fix to the next (see `_white_m`); None if it never does."""
    n = tau.shape[0]
    columns = 4 if n >= 10 else 3 if n >= 6 else 2 if n >= 4 else 0
    if columns == 0:
        return None
    design = np.stack([tau**k for k in range(columns)], axis=-1)
    keep = np.ones(n, dtype=bool)
    for _ in range(3):
        coef = np.linalg.lstsq(design[keep], across[keep], rcond=None)[0]
        residual = across - design @ coef
        median = float(np.median(residual[keep]))
        spread = 1.4826 * float(np.median(np.abs(residual[keep] - median)))
        inlier = np.abs(residual - median) <= _OUTLIER_SIGMAS * spread + _OUTLIER_FLOOR_M
        if inlier.sum() < columns + 2 or np.array_equal(inlier, keep):
            break
        keep = inlier
    # The fitted polynomial at the fixes' times: the step where it rises through 0
    # nearest tau = 0, then the root inside that step.
    fitted = design @ coef
    rises = np.flatnonzero((fitted[:-1] < 0.0) & (fitted[1:] >= 0.0))
    if rises.shape[0] == 0:
        return None
    k = int(rises[np.argmin(np.minimum(np.abs(tau[rises]), np.abs(tau[rises + 1])))])
    roots = np.polynomial.polynomial.polyroots(coef)
    inside = [
        float(r.real)
        for r in np.atleast_1d(roots)
        if abs(r.imag) < 1e-12 and tau[k] <= r.real <= tau[k + 1]
    ]
    root = (
        inside[0]
        if inside
        else float(tau[k] - fitted[k] * (tau[k + 1] - tau[k]) / (fitted[k + 1] - fitted[k]))
    )
    slope = float(np.polynomial.polynomial.polyval(root, np.polynomial.polynomial.polyder(coef)))
    return root, slope, _white_m(residual[keep])


def _white_m(residual: FloatArray) -> float:
    """The standard deviation of the part of `residual` that is independent from one
    fix to the next, from the differences of consecutive residuals: only that part
    averages out over more fixes (a receiver's slow errors, steps and drifts, do not)."""
    if residual.shape[0] < 3:
        return 0.0
    step = np.diff(residual)
    return 1.4826 / math.sqrt(2.0) * float(np.median(np.abs(step - np.median(step))))


def _estimate_with_fit(
    fixes: Fixes, across: FloatArray, first: int, last: int, centre_s: float, window_s: float
) -> float:
    """One pass's crossing time from the distances alone (NaN if the fit has none)."""
    half_s = window_s
    estimate = math.nan
    for _ in range(_FIT_RECENTRE + 1):
        lo, hi = _fit_window(fixes, centre_s, half_s, first, last)
        found = _fit_root(fixes.t_s[lo:hi] - centre_s, across[lo:hi])
        if found is None:
            return math.nan
        root, slope, white = found
        if not slope > 0.0:
            return math.nan
        estimate = centre_s + root
        # A symmetric fit knows its value at the centre to 1.5 * white / sqrt(fixes).
        need = (1.5 * white / (PRECISION_S * slope)) ** 2
        half_s = min(max(window_s, 0.5 * need * fixes.period_s), FIT_MAX_WINDOW_S)
        centre_s = estimate
    return estimate


def _fixes_in(span_s: float, period_s: float) -> int:
    """How many fixes cover `span_s`. The period is a median of time steps, so 1.5 s at
    20 Hz may come out as 30.000000001 fixes: rounded up as it stands, where a file's
    clock happens to start would decide the window and move lap times by a millisecond."""
    return math.ceil(span_s / period_s - 1e-6)


def crossings(fixes: Fixes, gate: GateXY, window_s: float = WINDOW_S) -> list[Crossing]:
    """Every crossing of `gate` in the direction it faces, in time order."""
    found = _passes(fixes, gate, window_s)
    if found is None:
        return []
    t = fixes.t_s
    period = max(fixes.period_s, 1e-3)
    if fixes.speed_from_gnss:
        half = max(2, _fixes_in(window_s, period))
        estimate = estimate_passes(
            t,
            fixes.x_m,
            fixes.y_m,
            gate.nx,
            gate.ny,
            _offset_m(gate),
            fixes.speed_mps,
            fixes.course_deg,
            fixes.gap_after,
            found.first,
            found.last,
            found.centre_s,
            half,
            max(half, _fixes_in(MAX_WINDOW_S, period)),
            gate.normal_bearing_deg(),
            PRECISION_S,
            STOP_MPS,
        )
    else:
        across = fixes.x_m * gate.nx + fixes.y_m * gate.ny - _offset_m(gate)
        estimate = np.array(
            [
                _estimate_with_fit(fixes, across, int(a), int(b), float(c), window_s)
                for a, b, c in zip(found.first, found.last, found.centre_s, strict=True)
            ],
            dtype=np.float64,
        )
    # Noise moves the apparent crossing by a few fixes, not more: an estimate farther
    # from the pass's crossing steps means the model did not fit (a spin, a stop on the
    # line), and the plain interpolation is the honest answer. Across a gap there is
    # nothing to fit.
    limit_s = max(4 * fixes.period_s, 0.25)
    bad = (
        ~np.isfinite(estimate)
        | (estimate < found.t_first_s - limit_s)
        | (estimate > found.t_last_s + limit_s)
        | found.across_gap
    )
    estimate = np.where(bad, found.centre_s, estimate)
    # The step that holds the estimate; a gap's crossing keeps its own step.
    index = np.clip(np.searchsorted(t, estimate, side="right") - 1, 0, len(fixes) - 2)
    index = np.where(found.across_gap, found.first, index)
    speed = np.interp(estimate, t, fixes.speed_mps)
    return [
        Crossing(int(i), float(e), float(v), bool(g))
        for i, e, v, g in zip(index, estimate, speed, found.across_gap, strict=True)
    ]
