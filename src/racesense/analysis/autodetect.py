"""Find a start/finish line in a session that names no known track: from the file's
own hint where it holds up against the path, else from the data.

A file's hint (`StartFinishHint`: a VBO's [laptiming] line, the place an AiM logger
or RaceChrono counted its laps) is the logger's own line, and timing by it gives the
logger's laps. But a hint can lie along the track rather than across it, or belong to
another venue, and it must never produce laps that a line across the track would not:
- a line is used as it is only if the path crosses it square (travel within
  HINT_MAX_SKEW_DEG of its normal, the median over its counted crossings), and those
  crossings are exactly the ones of a line drawn across the direction of travel where
  the path crosses it (same count, each within HINT_MATCH_S);
- otherwise (and for a point) a line across the direction of travel is drawn through
  the hint's middle, if the moving path passes within PASS_RADIUS_M of it and crosses
  that line square;
- otherwise the hint is ignored and the line is found in the data, as below.

A circuit session is a loop driven again and again. Take candidate points where the
car is fast (fast means a straight, and a straight is where a timing line is best
conditioned: the car crosses square to it and one metre costs the fewest
milliseconds). For each, count the separate passes within a few metres going the
same way. The candidate passed most often, by the fastest car, is on the loop; a
line is drawn across the direction of travel there.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from racesense.analysis.clean import Fixes
from racesense.analysis.crossings import Crossing, crossings, orient
from racesense.analysis.errors import TrackError
from racesense.analysis.laps import accept_crossings
from racesense.analysis.telemetry import LatLon, StartFinishHint
from racesense.analysis.track import (
    GATE_HALF_WIDTH_M,
    Gate,
    GateXY,
    gate_across_travel,
    gate_xy,
    nearest_pass_m,
)

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
# A file's line is crossed square: travel within this angle of the line's normal. A
# line laid along the track is crossed (by GNSS noise) at a few degrees, if at all.
HINT_MAX_SKEW_DEG = 30.0
# Travel at a crossing is judged over this long around it.
SKEW_SPAN_S = 1.0
# A file's line and a line across travel count the same lap boundary within this: far
# less than any lap (MIN_LAP_TIME_S), far more than the lines' offset at racing speed.
HINT_MATCH_S = 1.0


@dataclass(frozen=True)
class HintVerdict:
    """What became of a file's start/finish hint: the line to time by (None: the hint
    is not used), and, where it was not used as it is, a sentence saying why."""

    gate: GateXY | None
    note: str | None = None


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


def _skew_deg(fixes: Fixes, gate: GateXY, found: list[Crossing]) -> float:
    """The median angle between travel and the line's normal at `found` crossings.

    Travel is the path's displacement over SKEW_SPAN_S around each crossing: one fix's
    course is too noisy to judge a line by, and a median lets one odd pass (a spin, a
    car swerving onto the line) not condemn a line every other pass crosses square.
    """
    if not found:
        return 0.0
    t = np.array([c.t_s for c in found])
    half = max(SKEW_SPAN_S, 2.0 * fixes.period_s) / 2.0
    x0, x1 = np.interp(t - half, fixes.t_s, fixes.x_m), np.interp(t + half, fixes.t_s, fixes.x_m)
    y0, y1 = np.interp(t - half, fixes.t_s, fixes.y_m), np.interp(t + half, fixes.t_s, fixes.y_m)
    travel = np.degrees(np.arctan2(x1 - x0, y1 - y0))
    turn = np.abs((travel - gate.normal_bearing_deg() + 180.0) % 360.0 - 180.0)
    return float(np.median(turn))


def _crossing_point(fixes: Fixes, found: list[Crossing]) -> LatLon:
    """The mean place where the path crosses a line, as latitude and longitude."""
    i = np.array([c.index for c in found])
    t = np.array([c.t_s for c in found])
    step = fixes.t_s[i + 1] - fixes.t_s[i]
    share = np.divide(t - fixes.t_s[i], step, out=np.zeros_like(t), where=step > 0)
    share = np.clip(share, 0.0, 1.0)
    x = fixes.x_m[i] + share * (fixes.x_m[i + 1] - fixes.x_m[i])
    y = fixes.y_m[i] + share * (fixes.y_m[i + 1] - fixes.y_m[i])
    lat, lon = fixes.frame.to_latlon([float(np.mean(x))], [float(np.mean(y))])
    return float(lat[0]), float(lon[0])


def _counted(fixes: Fixes, gate: GateXY) -> list[Crossing]:
    return accept_crossings(fixes, crossings(fixes, gate))


def _line_holds(fixes: Fixes, hint: StartFinishHint) -> tuple[GateXY | None, str | None]:
    """The hint's line, if the path crosses it as a start/finish line: square, and at
    exactly the crossings of a line across travel at the same place. Else (None, why)."""
    assert hint.p2 is not None
    try:
        line = orient(fixes, gate_xy(Gate(hint.p1, hint.p2), fixes.frame))
    except TrackError as exc:
        return None, f"is no line ({exc})"
    counted = _counted(fixes, line)
    if not counted:
        return None, "is never crossed"
    skew = _skew_deg(fixes, line, counted)
    if skew > HINT_MAX_SKEW_DEG:
        return None, f"is crossed at {skew:.0f} degrees from square, not across the track"
    try:
        across = gate_across_travel(fixes, _crossing_point(fixes, counted))
    except TrackError:
        return None, "is crossed where the direction of travel is undefined"
    reference = _counted(fixes, across)
    same = len(reference) == len(counted) and all(
        abs(a.t_s - b.t_s) <= HINT_MATCH_S for a, b in zip(counted, reference, strict=True)
    )
    if not same:
        return None, (
            f"counts {len(counted)} crossings where a line across the track counts {len(reference)}"
        )
    return line, None


def start_finish_from_hint(fixes: Fixes, hint: StartFinishHint) -> HintVerdict:
    """The start/finish line to time by from a file's hint (module docstring), or a
    verdict without a line when the hint does not hold up."""
    what = hint.what or "The file's start/finish"
    what = what[:1].upper() + what[1:]
    why: str | None = None
    if hint.p2 is not None:
        line, why = _line_holds(fixes, hint)
        if line is not None:
            return HintVerdict(line)
    middle = hint.midpoint()
    miss_m = nearest_pass_m(fixes, middle)
    if miss_m > PASS_RADIUS_M:
        return HintVerdict(
            None,
            f"{what} is not on the session's path (its nearest pass is {miss_m:,.0f} m away):"
            " the start/finish was found in the data instead.",
        )
    try:
        gate = gate_across_travel(fixes, middle)
    except TrackError:
        gate = None
    counted = [] if gate is None else _counted(fixes, gate)
    if gate is None or not counted or _skew_deg(fixes, gate, counted) > HINT_MAX_SKEW_DEG:
        return HintVerdict(
            None,
            f"{what} is on the path where no line across the track is crossed cleanly:"
            " the start/finish was found in the data instead.",
        )
    if why is None:
        return HintVerdict(gate)
    return HintVerdict(
        gate, f"{what} {why}: a line across the track through its middle is used instead."
    )
