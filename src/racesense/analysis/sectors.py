"""Sector times: the track's sector lines, else three equal-distance sectors of the
reference lap. Sector lines are timed exactly as the start/finish is, so sectors
always add up to their lap."""

from __future__ import annotations

import bisect
import itertools
import math

import numpy as np

from racesense.analysis.clean import Fixes
from racesense.analysis.crossings import crossings, orient
from racesense.analysis.laps import LapSpan
from racesense.analysis.track import Gate, GateXY, LatLon, gate_across_travel, gate_xy

DEFAULT_SECTORS = 3
# Lines drawn on the reference lap's own path need not reach far.
AUTO_SECTOR_HALF_WIDTH_M = 15.0


def sector_gates_from_track(fixes: Fixes, lines: tuple[Gate | LatLon, ...]) -> list[GateXY]:
    gates = []
    for line in lines:
        if isinstance(line, Gate):
            gates.append(orient(fixes, gate_xy(line, fixes.frame)))
        else:
            gates.append(gate_across_travel(fixes, line))
    return gates


def equal_distance_gates(
    fixes: Fixes, reference: LapSpan, t0_s: float, count: int = DEFAULT_SECTORS
) -> list[GateXY]:
    """Lines square to the reference lap at 1/count, 2/count, ... of its distance."""
    t = fixes.t_s
    t0 = reference.start_s + t0_s
    t1 = reference.end_s + t0_s
    d0 = float(np.interp(t0, t, fixes.dist_m))
    d1 = float(np.interp(t1, t, fixes.dist_m))
    gates = []
    for k in range(1, count):
        target = d0 + (d1 - d0) * k / count
        i = int(np.searchsorted(fixes.dist_m, target))
        i = min(max(i, 0), len(fixes) - 1)
        course = math.radians(float(fixes.course_deg[i]))
        nx, ny = math.sin(course), math.cos(course)
        # Centre the line on a local average of the path, not on one noisy fix.
        lo, hi = max(0, i - 2), min(len(fixes), i + 3)
        px, py = float(np.mean(fixes.x_m[lo:hi])), float(np.mean(fixes.y_m[lo:hi]))
        h = AUTO_SECTOR_HALF_WIDTH_M
        gates.append(GateXY(px + ny * h, py - nx * h, px - ny * h, py + nx * h, nx, ny))
    return gates


def gate_crossing_times(fixes: Fixes, gates: list[GateXY]) -> list[list[float]]:
    """Every crossing time of each sector line over the whole session, in order: one
    pass per line, then each lap picks its own."""
    return [[c.t_s for c in crossings(fixes, gate)] for gate in gates]


def sector_times(
    lap: LapSpan, gate_times: list[list[float]], t0_s: float
) -> tuple[float | None, ...]:
    """Time of each sector of `lap`; None for a sector whose line was not crossed."""
    start, end = lap.start_s + t0_s, lap.end_s + t0_s
    boundaries: list[float | None] = [start]
    previous = start
    for k, times in enumerate(gate_times):
        expected = start + (end - start) * (k + 1) / (len(gate_times) + 1)
        # The crossings strictly between the previous boundary and the lap's end.
        found = times[bisect.bisect_right(times, previous) : bisect.bisect_left(times, end)]
        if not found:
            boundaries.append(None)
            continue
        # The crossing nearest where the line should fall, should a line be crossed
        # twice (a parallel stretch of track).
        chosen = min(found, key=lambda c: abs(c - expected))
        boundaries.append(chosen)
        previous = chosen
    boundaries.append(end)
    # A missing line leaves the two sectors around it unknown.
    return tuple(
        None if a is None or b is None else b - a for a, b in itertools.pairwise(boundaries)
    )
