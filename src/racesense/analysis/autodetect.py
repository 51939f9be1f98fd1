"""Find a start/finish line in a session that names no track.

A circuit session is a loop driven again and again. Take candidate points where the
car is fast (fast means a straight, and a straight is where a timing line is best
conditioned: the car crosses square to it and one metre costs the fewest
milliseconds). For each, count the separate passes within a few metres going the
same way. The candidate passed most often, by the fastest car, is on the loop; a
line is drawn across the direction of travel there.
"""

from __future__ import annotations

import math

import numpy as np

from racesense.analysis.clean import Fixes
from racesense.analysis.errors import TrackError
from racesense.analysis.track import GATE_HALF_WIDTH_M, GateXY

# How many candidate points to try, spread over the session.
CANDIDATES = 24
# A pass: within this distance of the candidate, heading within this angle of it.
PASS_RADIUS_M = 12.0
PASS_HEADING_DEG = 45.0
# Fixes this far apart in time belong to separate passes.
PASS_SEPARATION_S = 10.0
# Candidates must be at least this fast (share of the session's top speed): a
# straight, not a corner or the paddock.
FAST_SHARE = 0.6


def _passes(fixes: Fixes, i: int) -> int:
    dx = fixes.x_m - fixes.x_m[i]
    dy = fixes.y_m - fixes.y_m[i]
    near = np.hypot(dx, dy) <= PASS_RADIUS_M
    turn = np.abs((fixes.course_deg - fixes.course_deg[i] + 180.0) % 360.0 - 180.0)
    hit_t = fixes.t_s[near & (turn <= PASS_HEADING_DEG)]
    if hit_t.shape[0] == 0:
        return 0
    return 1 + int(np.sum(np.diff(hit_t) > PASS_SEPARATION_S))


def detect_start_finish(fixes: Fixes) -> GateXY:
    """A start/finish line on the repeated loop of the session. Raises TrackError."""
    speed = fixes.speed_mps
    if len(fixes) < 10 or float(np.max(speed)) < 3.0:
        raise TrackError("The car never moved, so no circuit can be found in the session.")
    fast = np.flatnonzero(speed >= FAST_SHARE * float(np.percentile(speed, 99)))
    # The fastest fix in each of CANDIDATES stretches of the fast fixes.
    candidates: list[int] = []
    for chunk in np.array_split(fast, min(CANDIDATES, fast.shape[0])):
        if chunk.shape[0]:
            candidates.append(int(chunk[np.argmax(speed[chunk])]))
    scored = [(_passes(fixes, i), float(speed[i]), i) for i in candidates]
    passes, _, best = max(scored)
    if passes < 2:
        raise TrackError("The session never passes the same place twice: it is not a lap.")
    course = math.radians(float(fixes.course_deg[best]))
    nx, ny = math.sin(course), math.cos(course)
    gx, gy = -ny, nx
    px, py = float(fixes.x_m[best]), float(fixes.y_m[best])
    h = GATE_HALF_WIDTH_M
    return GateXY(px - gx * h, py - gy * h, px + gx * h, py + gy * h, nx, ny)
