"""The whole analysis of one session: telemetry in, `SessionAnalysis` out.

clean fixes -> choose the track (given, listed, the file's own start/finish where it
holds up, or detected) -> time start/finish
crossings -> laps -> reference lap -> sectors -> best and theoretical best -> traces
with delta-T. Pure: no I/O, no clocks, no globals.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Sequence
from dataclasses import replace

import numpy as np

from racesense.analysis.autodetect import detect_start_finish, start_finish_from_hint
from racesense.analysis.clean import Fixes, clean_fixes, session_start_s
from racesense.analysis.crossings import crossings, orient
from racesense.analysis.delta import reference_path
from racesense.analysis.errors import TrackError
from racesense.analysis.laps import LapSpan, accept_crossings, build_laps
from racesense.analysis.results import (
    LapResult,
    SessionAnalysis,
    TrackResult,
)
from racesense.analysis.sectors import (
    DEFAULT_SECTORS,
    equal_distance_gates,
    gate_crossing_times,
    sector_gates_from_track,
    sector_times,
)
from racesense.analysis.telemetry import Telemetry
from racesense.analysis.traces import MPS_TO_KMH, lap_traces
from racesense.analysis.track import (
    GateXY,
    Track,
    TrackSource,
    gate_across_travel,
    gate_xy,
    match_track,
)


def _track_name(tel: Telemetry) -> str:
    for key in ("track", "track_name", "venue", "session_title"):
        name = tel.metadata.get(key)
        if name:
            return name
    return "Unknown circuit"


def _start_finish(fixes: Fixes, track: Track) -> GateXY:
    if track.start_finish is not None:
        return orient(fixes, gate_xy(track.start_finish, fixes.frame))
    assert track.start_finish_point is not None
    return gate_across_travel(fixes, track.start_finish_point)


def _choose_track(
    tel: Telemetry, fixes: Fixes, track: Track | None, tracks: Sequence[Track]
) -> tuple[Track | None, GateXY, TrackSource, str | None]:
    """The track, its oriented start/finish line in the session's frame, where that
    line comes from, and a note when the file's own start/finish was not used as it is.

    A track given or listed wins; else the file's start/finish hint, only as far as it
    holds up against the path (`start_finish_from_hint`); else one found in the data.
    """
    chosen = track if track is not None else match_track(fixes, list(tracks))
    if chosen is not None:
        return chosen, _start_finish(fixes, chosen), chosen.source, None
    note = None
    if tel.start_finish_hint is not None:
        verdict = start_finish_from_hint(fixes, tel.start_finish_hint)
        if verdict.gate is not None:
            return None, verdict.gate, "file", verdict.note
        note = verdict.note
    return None, detect_start_finish(fixes), "detected", note


def _speed_extremes_mps(fixes: Fixes, spans: list[LapSpan]) -> list[tuple[float, float]]:
    """(max, min) speed of each lap's fixes, NaN for a lap without fixes: two
    whole-session reductions instead of two per lap."""
    out = [(math.nan, math.nan)] * len(spans)
    filled = [k for k, s in enumerate(spans) if s.end_index > s.start_index]
    if filled:
        bounds = np.array(
            [b for k in filled for b in (spans[k].start_index, spans[k].end_index)], dtype=np.intp
        )
        # reduceat over [start, end) pairs. Only the last lap can end at len(fixes),
        # which reduceat cannot take; without it, the last start reduces to the end.
        if bounds[-1] == len(fixes):
            bounds = bounds[:-1]
        highest = np.maximum.reduceat(fixes.speed_mps, bounds)[::2].tolist()
        lowest = np.minimum.reduceat(fixes.speed_mps, bounds)[::2].tolist()
        for k, hi, lo in zip(filled, highest, lowest, strict=True):
            out[k] = (hi, lo)
    return out


# The reason given for a lap the user took out of the best and theoretical best.
EXCLUDED_REASON = "excluded by hand"


def _exclude(spans: list[LapSpan], excluded_laps: Collection[int]) -> list[LapSpan]:
    """Complete laps the user excluded become invalid, so the best lap, the best
    sectors and the theoretical best are taken without them."""
    return [
        replace(s, valid=False, invalid_reason=EXCLUDED_REASON)
        if s.number in excluded_laps and s.complete
        else s
        for s in spans
    ]


def _lap_result(
    span: LapSpan,
    sectors: tuple[float | None, ...],
    speed_extremes_mps: tuple[float, float],
    excluded: bool,
) -> LapResult:
    fastest, slowest = speed_extremes_mps
    time_s = span.time_s
    return LapResult(
        number=span.number,
        start_s=span.start_s,
        end_s=span.end_s,
        time_s=time_s,
        kind=span.kind,
        complete=span.complete,
        valid=span.valid,
        invalid_reason=span.invalid_reason,
        sectors_s=sectors,
        max_speed_kmh=fastest * MPS_TO_KMH,
        min_speed_kmh=slowest * MPS_TO_KMH,
        avg_speed_kmh=span.distance_m / time_s * MPS_TO_KMH if time_s > 0 else math.nan,
        distance_m=span.distance_m,
        excluded=excluded,
    )


def _no_laps(
    tel: Telemetry, fixes: Fixes, track: TrackResult | None, reason: str
) -> SessionAnalysis:
    return SessionAnalysis(
        format=tel.format,
        device_id=tel.device_id,
        started_at=tel.started_at,
        track=track,
        laps=(),
        best_lap_s=None,
        best_lap_number=None,
        theoretical_best_s=None,
        best_sectors_s=(),
        reference_lap_number=None,
        traces=(),
        reason=reason,
        fix_count=len(fixes),
        duration_s=float(fixes.t_s[-1] - fixes.t_s[0]),
    )


def analyse(
    tel: Telemetry,
    *,
    track: Track | None = None,
    tracks: Sequence[Track] = (),
    sector_count: int = DEFAULT_SECTORS,
    excluded_laps: Collection[int] = (),
) -> SessionAnalysis:
    """Analyse a session. `track` forces a track ("user"); else the first of `tracks`
    whose start/finish the session passes within 50 m; else one found in the data.

    `excluded_laps`: lap numbers the user excluded (invalid, "excluded by hand").

    Raises NoFixesError when there is nothing to analyse; a session that has fixes
    but no laps comes back with zero laps and a `reason`.
    """
    fixes = clean_fixes(tel)
    t0 = session_start_s(tel, fixes)
    try:
        chosen, sf, source, hint_note = _choose_track(tel, fixes, track, tracks)
    except TrackError as exc:
        return _no_laps(tel, fixes, None, str(exc))
    name = _track_name(tel) if chosen is None else chosen.name
    try:
        sector_gates = [] if chosen is None else sector_gates_from_track(fixes, chosen.sectors)
    except TrackError as exc:
        return _no_laps(tel, fixes, None, str(exc))

    spans = build_laps(fixes, accept_crossings(fixes, crossings(fixes, sf)), t0)
    excluded = {s.number for s in spans if s.number in excluded_laps and s.complete}
    spans = _exclude(spans, excluded)
    complete = [s for s in spans if s.complete]
    timed = [s for s in complete if s.kind == "timed" and s.valid]
    reference = min(timed or complete, key=lambda s: s.time_s) if complete else None
    if reference is not None and not sector_gates and sector_count > 1:
        sector_gates = equal_distance_gates(fixes, reference, t0, sector_count)

    gate_times = gate_crossing_times(fixes, sector_gates)
    sectors_by_lap = {
        s.number: sector_times(s, gate_times, t0) if sector_gates else (s.time_s,) for s in complete
    }
    laps = tuple(
        _lap_result(s, sectors_by_lap.get(s.number, ()), extremes, s.number in excluded)
        for s, extremes in zip(spans, _speed_extremes_mps(fixes, spans), strict=True)
    )

    best = min(timed, key=lambda s: s.time_s) if timed else None
    best_sectors: tuple[float | None, ...] = ()
    theoretical: float | None = None
    full = [sectors_by_lap[s.number] for s in timed if None not in sectors_by_lap[s.number]]
    if full:
        best_sectors = tuple(
            min(float(v) for v in col if v is not None) for col in zip(*full, strict=True)
        )
        theoretical = float(sum(v for v in best_sectors if v is not None))

    ref_path = None
    if reference is not None and reference.end_index - reference.start_index >= 2:
        ref_path = reference_path(
            fixes, reference.start_index, reference.end_index, reference.start_s + t0
        )
    traces = lap_traces(fixes, spans, ref_path, t0)

    track_result = TrackResult(
        name=name,
        source=source,
        start_finish=sf.to_gate(fixes.frame).p1_p2(),
        sectors=tuple(g.to_gate(fixes.frame).p1_p2() for g in sector_gates),
    )
    reason = None
    if not complete:
        reason = (
            "The session never crosses the start/finish line."
            if not spans or len(spans) == 1
            else "The session crosses the start/finish line only once: no complete lap."
        )
    return SessionAnalysis(
        format=tel.format,
        device_id=tel.device_id,
        started_at=tel.started_at,
        track=track_result,
        laps=laps,
        best_lap_s=best.time_s if best else None,
        best_lap_number=best.number if best else None,
        theoretical_best_s=theoretical,
        best_sectors_s=best_sectors,
        reference_lap_number=reference.number if reference else None,
        traces=traces,
        reason=reason,
        fix_count=len(fixes),
        duration_s=float(fixes.t_s[-1] - fixes.t_s[0]),
        warnings=(*_warnings(fixes), *((hint_note,) if hint_note else ())),
    )


def _warnings(fixes: Fixes) -> tuple[str, ...]:
    """What cleaning had to do to the file's fixes, one sentence per reason."""
    dropped = [
        f"{count} fixes dropped: {why.replace('_', ' ')}"
        for why, count in fixes.dropped.items()
        if count and why != "no_position"
    ]
    replaced = [
        f"{count} GNSS speeds replaced by speeds from positions: {why.replace('_', ' ')}"
        for why, count in fixes.speeds_replaced.items()
        if count
    ]
    return (*dropped, *replaced)
