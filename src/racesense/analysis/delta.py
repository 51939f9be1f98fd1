"""Delta-T against a reference lap, aligned by position along the reference path.

Integrated distance is not a position: a lap on a wider line, or one measured with a
slightly different speed bias, drifts metres per corner against the reference, and
the delta then shows time that was never lost (FastF1 issue #219). So every fix of a
lap is projected onto the reference lap's own path, and compared with the time the
reference lap took to reach that same point.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from racesense.analysis import kernels
from racesense.analysis.clean import Fixes, moving_average
from racesense.analysis.laps import LapSpan
from racesense.analysis.telemetry import FloatArray

# The reference path is resampled this finely; projection refines within a segment.
PATH_STEP_M = 2.0
# And into at most this many cells: 50 km at PATH_STEP_M, twice the longest circuit ever
# raced (Pescara, 25.8 km). A longer "lap" (a road trip, or a distance inflated by a
# jump across a gap) gets longer cells, not more of them: the path's memory is bounded.
MAX_PATH_CELLS = 25_000
# Projection refines a guess from the lap's own distance, moving at most this far per
# step: a bounded local search (not a global nearest point) keeps a hairpin's other
# side, or a crossing figure-of-eight, from capturing the match.
NEWTON_STEPS = 2
POSITION_SMOOTHING_S = 0.4
MAX_STEP_M = 15.0


@dataclass(frozen=True, eq=False)
class ReferencePath:
    """The reference lap's path: x, y, and elapsed time, every `step_m` (about
    PATH_STEP_M)."""

    x_m: FloatArray
    y_m: FloatArray
    dist_m: FloatArray
    t_s: FloatArray
    step_m: float
    tangent_x: FloatArray  # unit tangent at each point
    tangent_y: FloatArray

    @property
    def length_m(self) -> float:
        return float(self.dist_m[-1])

    def time_at(self, dist_m: FloatArray) -> FloatArray:
        result: FloatArray = np.interp(dist_m, self.dist_m, self.t_s)
        return result


def reference_path(fixes: Fixes, lo: int, hi: int, start_t_s: float) -> ReferencePath:
    """The path of fixes[lo:hi], smoothed of GNSS noise and resampled by distance."""
    window = max(3, round(0.3 / max(fixes.period_s, 1e-3)) | 1)
    x = moving_average(fixes.x_m[lo:hi], window)
    y = moving_average(fixes.y_m[lo:hi], window)
    d = fixes.dist_m[lo:hi] - fixes.dist_m[lo]
    t = fixes.t_s[lo:hi] - start_t_s
    # A whole number of equal steps, so the grid ends exactly where the lap does.
    cells = min(max(1, math.ceil(float(d[-1]) / PATH_STEP_M)), MAX_PATH_CELLS)
    grid = np.linspace(0.0, float(d[-1]), cells + 1)
    step = float(grid[1] - grid[0])
    px, py = np.interp(grid, d, x), np.interp(grid, d, y)
    tx, ty = np.gradient(px), np.gradient(py)
    norm = np.hypot(tx, ty)
    norm[norm == 0] = 1.0
    return ReferencePath(px, py, grid, np.interp(grid, d, t), step, tx / norm, ty / norm)


def delta_to_reference(
    ref: ReferencePath, fixes: Fixes, lo: int, hi: int, start_t_s: float
) -> tuple[FloatArray, FloatArray]:
    """(position along the reference, delta-T) for fixes[lo:hi] of a complete lap
    starting at start_t_s. Positive delta: slower than the reference at that point.

    Each fix is projected onto the reference path by Newton steps along the local
    tangent, starting from the lap's own distance scaled to the reference length; each
    step is capped, so a guess a little off never jumps to the far side of a hairpin.
    GNSS noise moves a projected fix a metre or so along the track, a tenth of a second
    in a slow hairpin, so positions are averaged over POSITION_SMOOTHING_S; and a car
    does not go backwards along the track, though noise in the projection can.
    """
    pos = np.full(len(fixes), np.nan)
    delta = np.full(len(fixes), np.nan)
    if hi > lo and ref.x_m.shape[0] >= 2:
        _run(ref, fixes, [lo], [hi], [start_t_s], pos, delta)
    return pos[lo:hi], delta[lo:hi]


def delta_for_laps(
    ref: ReferencePath,
    fixes: Fixes,
    laps: list[LapSpan],
    t0_s: float,
    pos_out: FloatArray,
    delta_out: FloatArray,
) -> None:
    """`delta_to_reference` for several complete laps in one compiled call, written into
    pos_out and delta_out (indexed like `fixes`)."""
    _run(
        ref,
        fixes,
        [lap.start_index for lap in laps],
        [lap.end_index for lap in laps],
        [lap.start_s + t0_s for lap in laps],
        pos_out,
        delta_out,
    )


def _run(
    ref: ReferencePath,
    fixes: Fixes,
    starts: list[int],
    ends: list[int],
    start_times_s: list[float],
    pos_out: FloatArray,
    delta_out: FloatArray,
) -> None:
    window = max(3, round(POSITION_SMOOTHING_S / max(fixes.period_s, 1e-3)) | 1)
    kernels.project_and_delta_ranges(
        ref.x_m,
        ref.y_m,
        ref.tangent_x,
        ref.tangent_y,
        ref.t_s,
        ref.step_m,
        np.ascontiguousarray(fixes.x_m),
        np.ascontiguousarray(fixes.y_m),
        np.ascontiguousarray(fixes.dist_m),
        np.ascontiguousarray(fixes.t_s),
        np.array(starts, dtype=np.intp),
        np.array(ends, dtype=np.intp),
        np.array(start_times_s, dtype=np.float64),
        NEWTON_STEPS,
        MAX_STEP_M,
        window // 2,
        pos_out,
        delta_out,
    )
