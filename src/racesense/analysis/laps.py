"""Laps from start/finish crossings: which crossings count, and what kind of lap lies
between them.

Lap 0 runs from the first fix to the first crossing (the out-lap); laps 1..N run from
crossing to crossing; the last runs from the final crossing to the last fix (the
in-lap). Complete laps that hold a stop are in- or out-laps too: a car that stops in
the second half of a lap has come in, and the lap after an in-lap starts from the pits.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass

import numpy as np

from racesense.analysis.clean import Fixes
from racesense.analysis.crossings import Crossing
from racesense.analysis.results import LapKind

# A crossing counts only if the car was moving: a car parked on the line, with
# GNSS noise jittering it back and forth, crosses it a hundred times.
MIN_CROSSING_SPEED_MPS = 1.0
# No lap is shorter than this: pit-lane passes and noise make short "laps".
MIN_LAP_TIME_S = 10.0
MIN_LAP_DISTANCE_M = 100.0
# Nor shorter than this share of a typical lap: a lap ends where it started.
MIN_LAP_DISTANCE_SHARE = 0.5
# A complete lap whose distance strays this far from the typical lap is not a lap
# of the circuit (a missed crossing, a trip through the paddock).
LAP_DISTANCE_TOLERANCE = 0.2
# A stop: slower than this for at least this long.
STOP_SPEED_MPS = 1.0
STOP_MIN_S = 5.0


@dataclass(frozen=True)
class LapSpan:
    """A lap's extent and its classification, before sectors and statistics."""

    number: int
    start_s: float
    end_s: float
    start_index: int  # first fix inside the lap
    end_index: int  # one past the last fix inside the lap
    kind: LapKind
    complete: bool
    valid: bool
    invalid_reason: str | None
    distance_m: float  # along the fixes' distance, from crossing to crossing

    @property
    def time_s(self) -> float:
        return self.end_s - self.start_s


def _distances_at(fixes: Fixes, times_s: list[float]) -> list[float]:
    values: list[float] = np.interp(times_s, fixes.t_s, fixes.dist_m).tolist()
    return values


def accept_crossings(fixes: Fixes, found: list[Crossing]) -> list[Crossing]:
    """Drop crossings that cannot be lap boundaries."""
    moving = [c for c in found if c.speed_mps >= MIN_CROSSING_SPEED_MPS]
    if len(moving) < 2:
        return moving
    dist = _distances_at(fixes, [c.t_s for c in moving])
    typical = float(np.median(np.diff(dist)))
    min_dist = max(MIN_LAP_DISTANCE_M, MIN_LAP_DISTANCE_SHARE * typical)
    accepted = [moving[0]]
    last_dist = dist[0]
    for crossing, d in zip(moving[1:], dist[1:], strict=True):
        if crossing.t_s - accepted[-1].t_s < MIN_LAP_TIME_S or d - last_dist < min_dist:
            continue
        accepted.append(crossing)
        last_dist = d
    return accepted


def _stop_position(fixes: Fixes, lo: int, hi: int) -> float | None:
    """Where in [lo, hi) the car stands still for STOP_MIN_S or more, as a fraction of
    the span's distance; None if it never does."""
    slow = fixes.speed_mps[lo:hi] < STOP_SPEED_MPS
    if not slow.any():
        return None
    t = fixes.t_s[lo:hi]
    edges = np.diff(np.concatenate(([0], slow.astype(np.int8), [0])))
    starts = np.flatnonzero(edges == 1)
    ends = np.flatnonzero(edges == -1) - 1
    durations = t[ends] - t[starts]
    long_stops = np.flatnonzero(durations >= STOP_MIN_S)
    if long_stops.shape[0] == 0:
        return None
    at = starts[long_stops[0]] + lo
    span = fixes.dist_m[hi - 1] - fixes.dist_m[lo]
    return float((fixes.dist_m[at] - fixes.dist_m[lo]) / span) if span > 0 else 0.0


def _any_in(sorted_indices: list[int], lo: int, hi: int) -> bool:
    """True if some index of `sorted_indices` lies in [lo, hi)."""
    k = bisect.bisect_left(sorted_indices, lo)
    return k < len(sorted_indices) and sorted_indices[k] < hi


def build_laps(fixes: Fixes, accepted: list[Crossing], t0_s: float) -> list[LapSpan]:
    """Laps between accepted crossings. `t0_s` is the time of the first sample of the
    file (laps report seconds from it)."""
    t = fixes.t_s
    bounds = [float(t[0]), *(c.t_s for c in accepted), float(t[-1])]
    bound_dist = _distances_at(fixes, bounds)
    # Every lap's index range, gap and stop found in a few whole-session passes; the
    # per-lap loop below then only compares numbers.
    first: list[int] = np.searchsorted(t, bounds[:-1], side="left").tolist()
    last: list[int] = np.searchsorted(t, bounds[1:], side="right").tolist()
    gaps: list[int] = np.flatnonzero(fixes.gap_after).tolist()
    slow: list[int] = np.flatnonzero(fixes.speed_mps < STOP_SPEED_MPS).tolist()
    n_complete = max(0, len(accepted) - 1)
    complete_dist = [bound_dist[k + 2] - bound_dist[k + 1] for k in range(n_complete)]
    typical_m = float(np.median(complete_dist)) if complete_dist else 0.0
    laps: list[LapSpan] = []
    previous_in = False
    for k in range(len(bounds) - 1):
        start, end = bounds[k], bounds[k + 1]
        if end - start <= 0.0:
            continue
        lo, hi = first[k], last[k]
        complete = 0 < k < len(bounds) - 2
        reason: str | None = None
        kind: LapKind
        if not complete:
            kind = "out" if k == 0 else "in"
            reason = "partial lap"
        else:
            kind = "out" if previous_in else "timed"
            stop_at = _stop_position(fixes, lo, hi) if _any_in(slow, lo, hi) else None
            if stop_at is not None:
                kind = "in" if stop_at >= 0.5 else "out"
            # A gap inside the lap, or on the steps into or out of it.
            if _any_in(gaps, max(lo - 1, 0), min(hi, len(fixes) - 1)):
                reason = "GPS gap"
            elif typical_m > 0 and (
                abs(complete_dist[k - 1] - typical_m) > LAP_DISTANCE_TOLERANCE * typical_m
            ):
                reason = "distance differs from the typical lap"
        previous_in = kind == "in"
        laps.append(
            LapSpan(
                number=k,
                start_s=start - t0_s,
                end_s=end - t0_s,
                start_index=lo,
                end_index=hi,
                kind=kind,
                complete=complete,
                valid=reason is None,
                invalid_reason=reason,
                distance_m=bound_dist[k + 1] - bound_dist[k],
            )
        )
    return laps
