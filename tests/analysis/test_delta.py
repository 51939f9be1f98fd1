"""Delta-T is aligned by position on the reference path, not by integrated distance."""

import tracemalloc

import numpy as np
import pytest

from racesense.analysis.clean import clean_fixes
from racesense.analysis.delta import MAX_PATH_CELLS, delta_to_reference, reference_path
from racesense.analysis.geo import LocalFrame
from racesense.analysis.telemetry import Telemetry

FRAME = LocalFrame(-33.9, 18.4)
PERIOD_S = 30.0


def circle_lap(radius_m: float, rate_hz: float = 25.0, pace: float = 1.0):
    """One lap round a circle, counter-clockwise, in PERIOD_S / pace seconds."""
    t = np.arange(0.0, PERIOD_S / pace + 1e-9, 1.0 / rate_hz)
    angle = 2 * np.pi * t * pace / PERIOD_S
    lat, lon = FRAME.to_latlon(radius_m * np.sin(angle), -radius_m * np.cos(angle))
    speed = np.full(t.shape, 2 * np.pi * radius_m * pace / PERIOD_S)
    return clean_fixes(Telemetry.build("test", t, lat, lon, speed_mps=speed))


def test_the_reference_lap_against_itself_is_zero():
    ref_fixes = circle_lap(100.0)
    ref = reference_path(ref_fixes, 0, len(ref_fixes), 0.0)
    _, delta = delta_to_reference(ref, ref_fixes, 0, len(ref_fixes), 0.0)
    assert np.max(np.abs(delta)) < 0.01


def test_a_wider_line_at_the_same_pace_loses_no_time():
    """Three metres wide all the way round: 3% more distance, same time at every point.
    Aligning by integrated distance would show the wide lap 0.9 s down by the end."""
    ref_fixes = circle_lap(100.0)
    ref = reference_path(ref_fixes, 0, len(ref_fixes), 0.0)
    wide = circle_lap(103.0)
    pos, delta = delta_to_reference(ref, wide, 0, len(wide), 0.0)
    assert np.max(np.abs(delta)) < 0.05
    assert pos[-1] == pytest.approx(ref.length_m, abs=1.0)
    naive = wide.t_s - ref.time_at(wide.dist_m - wide.dist_m[0])
    assert abs(naive[len(naive) // 2]) > 0.3  # what distance alignment would have claimed


def test_a_slower_lap_loses_time_steadily():
    ref_fixes = circle_lap(100.0)
    ref = reference_path(ref_fixes, 0, len(ref_fixes), 0.0)
    slow = circle_lap(100.0, pace=0.95)
    pos, delta = delta_to_reference(ref, slow, 0, len(slow), 0.0)
    expected_total = PERIOD_S / 0.95 - PERIOD_S
    assert delta[-1] == pytest.approx(expected_total, abs=0.05)
    halfway = np.searchsorted(pos, ref.length_m / 2)
    assert delta[halfway] == pytest.approx(expected_total / 2, abs=0.05)
    assert np.all(np.diff(pos) >= 0)


def test_delta_trace_is_smooth_on_a_noisy_session():
    """1 m of GNSS noise must not turn into tenths of a second of jitter in slow corners."""
    from racesense.analysis.pipeline import analyse
    from racesense.analysis.track import Gate, Track
    from racesense.synth import demo_circuit, make_session

    session = make_session(demo_circuit(), rate_hz=25, laps=4, seed=3)
    line = Track("t", start_finish=Gate(*session.start_finish.endpoints_deg))
    analysis = analyse(session.telemetry, track=line)
    reference = next(lap for lap in analysis.laps if lap.number == analysis.reference_lap_number)
    for lap in analysis.laps:
        if lap.complete and lap.kind == "timed":
            trace = analysis.trace(lap.number)
            assert trace is not None
            assert np.max(np.abs(np.diff(trace.delta_s))) < 0.08
            assert trace.delta_s[-1] == pytest.approx(lap.time_s - reference.time_s, abs=0.05)


def test_the_reference_path_is_bounded_however_long_the_lap():
    """A "lap" of thousands of km (a day's silence at 100 m/s): the path's cells grow
    longer, not more numerous, so its memory stays bounded (it was a cell per 2 m)."""
    t = np.concatenate((np.arange(0.0, 10.0, 0.1), 86400.0 + np.arange(0.0, 10.0, 0.1)))
    lat, lon = FRAME.to_latlon(100.0 * np.where(t < 10.0, t, t - 86390.0), 0.0 * t)
    fixes = clean_fixes(Telemetry.build("test", t, lat, lon, speed_mps=np.full(t.shape, 100.0)))
    assert fixes.dist_m[-1] > 8e6
    tracemalloc.start()
    try:
        ref = reference_path(fixes, 0, len(fixes), 0.0)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert ref.x_m.shape[0] == MAX_PATH_CELLS + 1
    assert ref.length_m == pytest.approx(fixes.dist_m[-1])
    assert peak < 8 * 8 * (MAX_PATH_CELLS + 1) + (1 << 20)
