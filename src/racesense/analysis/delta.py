"""Delta-T against a reference lap, aligned by position along the reference path.

Integrated distance is not a position: a lap on a wider line, or one measured with a
slightly different speed bias, drifts metres per corner against the reference, and
the delta then shows time that was never lost (FastF1 issue #219). So every fix of a
lap is projected onto the reference lap's own path, and compared with the time the
reference lap took to reach that same point.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from racesense.analysis.clean import Fixes, moving_average
from racesense.analysis.telemetry import FloatArray

# The reference path is resampled this finely; projection refines within a segment.
PATH_STEP_M = 2.0
# A fix is matched to the reference within this distance of where its own distance
# says it should be. Bounded search (not a global nearest point) keeps a hairpin's
# other side, or a crossing figure-of-eight, from capturing the match.
SEARCH_M = 60.0


@dataclass(frozen=True, eq=False)
class ReferencePath:
    """The reference lap's path: x, y, and elapsed time, at PATH_STEP_M spacing."""

    x_m: FloatArray
    y_m: FloatArray
    dist_m: FloatArray
    t_s: FloatArray

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
    grid = np.arange(0.0, float(d[-1]) + PATH_STEP_M / 2, PATH_STEP_M)
    return ReferencePath(np.interp(grid, d, x), np.interp(grid, d, y), grid, np.interp(grid, d, t))


def project(
    ref: ReferencePath, x_m: FloatArray, y_m: FloatArray, lap_dist_m: FloatArray
) -> FloatArray:
    """Position along `ref` of each point, searching near its expected position.

    `lap_dist_m` is each point's own distance from its lap start; scaled to the
    reference length it predicts where to look.
    """
    n_ref = ref.x_m.shape[0]
    if n_ref < 2 or x_m.shape[0] == 0:
        return np.zeros_like(x_m)
    lap_len = float(lap_dist_m[-1]) if lap_dist_m[-1] > 0 else ref.length_m
    scale = ref.length_m / lap_len
    predicted = np.clip(np.rint(lap_dist_m * scale / PATH_STEP_M), 0, n_ref - 1).astype(np.intp)
    half = int(SEARCH_M / PATH_STEP_M)
    offsets = np.arange(-half, half + 1)
    cand = np.clip(predicted[:, None] + offsets[None, :], 0, n_ref - 1)
    d2 = (ref.x_m[cand] - x_m[:, None]) ** 2 + (ref.y_m[cand] - y_m[:, None]) ** 2
    nearest = cand[np.arange(cand.shape[0]), np.argmin(d2, axis=1)]
    # Refine onto the segment after the nearest vertex (or before, at the end).
    seg = np.minimum(nearest, n_ref - 2)
    ax, ay = ref.x_m[seg], ref.y_m[seg]
    bx, by = ref.x_m[seg + 1], ref.y_m[seg + 1]
    vx, vy = bx - ax, by - ay
    length2 = vx * vx + vy * vy
    with np.errstate(invalid="ignore", divide="ignore"):
        u = np.where(length2 > 0, ((x_m - ax) * vx + (y_m - ay) * vy) / length2, 0.0)
    # u < 0 belongs to the previous segment; clamping keeps it at the vertex.
    u = np.clip(u, -1.0, 1.0)
    pos: FloatArray = np.clip(ref.dist_m[seg] + u * PATH_STEP_M, 0.0, ref.length_m)
    return pos


def delta_to_reference(
    ref: ReferencePath, fixes: Fixes, lo: int, hi: int, start_t_s: float
) -> tuple[FloatArray, FloatArray]:
    """(position along the reference, delta-T) for fixes[lo:hi] of a lap starting at
    start_t_s. Positive delta: slower than the reference at that point."""
    x, y = fixes.x_m[lo:hi], fixes.y_m[lo:hi]
    own = fixes.dist_m[lo:hi] - (fixes.dist_m[lo] if hi > lo else 0.0)
    pos = project(ref, x, y, own)
    # A car does not go backwards along the track: noise in the projection can.
    pos = np.maximum.accumulate(pos) if pos.shape[0] else pos
    elapsed = fixes.t_s[lo:hi] - start_t_s
    delta: FloatArray = elapsed - ref.time_at(pos)
    return pos, delta
