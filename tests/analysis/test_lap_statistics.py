"""Per-lap statistics: speeds, distance and average speed agree with the fixes inside
each lap, for every kind of lap (out, timed, in, and the partial laps at either end)."""

from __future__ import annotations

import numpy as np
import pytest

from racesense.analysis.clean import clean_fixes
from racesense.analysis.pipeline import analyse
from racesense.demo import demo_track
from racesense.synth import demo_circuit, make_session


def test_speeds_distance_and_average_match_each_laps_fixes():
    session = make_session(demo_circuit(), rate_hz=10.0, laps=4, seed=5, pit_stop_after_lap=2)
    tel = session.telemetry
    analysis = analyse(tel, tracks=[demo_track()])
    fixes = clean_fixes(tel)
    t0 = float(tel.t_s[0])
    assert {lap.kind for lap in analysis.laps} >= {"out", "timed", "in"}
    assert analysis.laps[-1].end_s == pytest.approx(float(fixes.t_s[-1]) - t0)  # to the end
    for lap in analysis.laps:
        inside = (fixes.t_s >= lap.start_s + t0) & (fixes.t_s <= lap.end_s + t0)
        speed_kmh = fixes.speed_mps[inside] * 3.6
        assert lap.max_speed_kmh == pytest.approx(speed_kmh.max(), rel=1e-12), lap.number
        assert lap.min_speed_kmh == pytest.approx(speed_kmh.min(), rel=1e-12), lap.number
        distance = np.interp(lap.end_s + t0, fixes.t_s, fixes.dist_m) - np.interp(
            lap.start_s + t0, fixes.t_s, fixes.dist_m
        )
        assert lap.distance_m == pytest.approx(distance, rel=1e-9), lap.number
        assert lap.avg_speed_kmh == pytest.approx(distance / lap.time_s * 3.6, rel=1e-9)
