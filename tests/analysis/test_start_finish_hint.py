"""A file's own start/finish (a VBO [laptiming] line, where a logger counted its laps)
is used only as far as it holds up against the session's path, and never produces laps
that a line across the track would not.

Each case is a synthetic session with known laps. The reference is the analysis with a
line drawn across the direction of travel at the true start/finish point (a `user`
track given as that point), or, for a hint that cannot be used, the analysis of the
session without the hint.
"""

from __future__ import annotations

import dataclasses
import math
from functools import cache

import numpy as np
import pytest

from racesense.analysis.pipeline import analyse
from racesense.analysis.results import SessionAnalysis
from racesense.analysis.telemetry import LatLon, StartFinishHint, Telemetry
from racesense.analysis.track import Track
from racesense.synth import SyntheticSession, demo_circuit, make_session

SEEDS = (1, 2, 3)


@cache
def _session(seed: int) -> SyntheticSession:
    return make_session(demo_circuit(), rate_hz=10.0, laps=3, seed=seed, gps_noise_m=1.5)


def _with(synthetic: SyntheticSession, hint: StartFinishHint | None) -> Telemetry:
    return dataclasses.replace(synthetic.telemetry, start_finish_hint=hint)


def _laps(analysis: SessionAnalysis) -> list[float]:
    return [lap.time_s for lap in analysis.laps if lap.complete]


def _across_the_track(synthetic: SyntheticSession) -> SessionAnalysis:
    point = Track("across", start_finish_point=synthetic.start_finish_point_deg, source="user")
    return analyse(_with(synthetic, None), track=point)


def _on_circuit(synthetic: SyntheticSession, s_m: float, left_m: float = 0.0) -> LatLon:
    """The place `s_m` metres along the centreline from the line, `left_m` to its left."""
    circuit = synthetic.circuit
    g = circuit.geometry(np.array([s_m % circuit.length_m]))
    norm = math.hypot(float(g.dx[0]), float(g.dy[0]))
    x = float(g.x[0]) - left_m * float(g.dy[0]) / norm
    y = float(g.y[0]) + left_m * float(g.dx[0]) / norm
    lat, lon = circuit.to_wgs84([x], [y])
    return float(lat[0]), float(lon[0])


def _same_laps(got: SessionAnalysis, want: SessionAnalysis, tolerance_s: float) -> None:
    assert len(_laps(got)) == len(_laps(want)) > 0
    np.testing.assert_allclose(_laps(got), _laps(want), atol=tolerance_s)
    assert [lap.number for lap in got.laps] == [lap.number for lap in want.laps]
    assert [lap.kind for lap in got.laps] == [lap.kind for lap in want.laps]


@pytest.mark.parametrize("seed", SEEDS)
def test_a_good_line_is_the_logger_line(seed: int) -> None:
    synthetic = _session(seed)
    hint = StartFinishHint(*synthetic.start_finish_line_deg, what="the test's line")
    analysis = analyse(_with(synthetic, hint))
    assert analysis.track is not None and analysis.track.source == "file"
    assert not any("start/finish" in w for w in analysis.warnings)
    _same_laps(analysis, _across_the_track(synthetic), 0.01)
    np.testing.assert_allclose(_laps(analysis), synthetic.lap_times_s, atol=0.05)


@pytest.mark.parametrize("seed", SEEDS)
def test_a_line_along_the_track_becomes_a_line_across_it(seed: int) -> None:
    synthetic = _session(seed)
    # 60 m along the centreline, centred on the start/finish point: the path runs
    # beside it and crosses it only by GNSS noise, if at all.
    hint = StartFinishHint(_on_circuit(synthetic, -30.0), _on_circuit(synthetic, 30.0))
    analysis = analyse(_with(synthetic, hint))
    assert analysis.track is not None and analysis.track.source == "file"
    assert any("line across the track through its middle" in w for w in analysis.warnings)
    _same_laps(analysis, _across_the_track(synthetic), 0.01)


@pytest.mark.parametrize("seed", SEEDS)
def test_a_skewed_line_becomes_a_line_across_the_track(seed: int) -> None:
    synthetic = _session(seed)
    # Crossed, but at 60 degrees from square.
    hint = StartFinishHint(_on_circuit(synthetic, -17.3, 10.0), _on_circuit(synthetic, 17.3, -10.0))
    analysis = analyse(_with(synthetic, hint))
    assert analysis.track is not None and analysis.track.source == "file"
    assert any("degrees from square" in w for w in analysis.warnings)
    _same_laps(analysis, _across_the_track(synthetic), 0.01)


@pytest.mark.parametrize("seed", SEEDS)
def test_a_line_of_another_venue_is_ignored(seed: int) -> None:
    synthetic = _session(seed)
    lat, lon = synthetic.start_finish_point_deg
    hint = StartFinishHint((lat + 0.5, lon), (lat + 0.5, lon + 0.0004), what="the test's line")
    analysis = analyse(_with(synthetic, hint))
    assert analysis.track is not None and analysis.track.source == "detected"
    assert any("is not on the session's path" in w for w in analysis.warnings)
    _same_laps(analysis, analyse(_with(synthetic, None)), 0.0)


def test_a_point_on_the_path_draws_a_line_across_it() -> None:
    synthetic = _session(1)
    hint = StartFinishHint(_on_circuit(synthetic, 0.0, 3.0), what="where the logger counted")
    analysis = analyse(_with(synthetic, hint))
    assert analysis.track is not None and analysis.track.source == "file"
    _same_laps(analysis, _across_the_track(synthetic), 0.01)


def test_a_point_beside_the_path_is_ignored() -> None:
    synthetic = _session(1)
    # 40 m to the right of the main straight: a car park, another road.
    hint = StartFinishHint(_on_circuit(synthetic, 0.0, -40.0))
    analysis = analyse(_with(synthetic, hint))
    assert analysis.track is not None and analysis.track.source == "detected"
    _same_laps(analysis, analyse(_with(synthetic, None)), 0.0)


def test_a_given_or_listed_track_wins_over_the_hint() -> None:
    synthetic = _session(1)
    far = StartFinishHint(_on_circuit(synthetic, 400.0, 0.0))
    listed = Track("Racesense Park", start_finish_point=synthetic.start_finish_point_deg)
    analysis = analyse(_with(synthetic, far), tracks=[listed])
    assert analysis.track is not None and analysis.track.source == "list"
    _same_laps(analysis, _across_the_track(synthetic), 0.0)


def _nearest_fix(tel: Telemetry, point: LatLon) -> LatLon:
    north = (tel.lat_deg - point[0]) * 111_320.0
    east = (tel.lon_deg - point[1]) * 111_320.0 * math.cos(math.radians(point[0]))
    k = int(np.nanargmin(np.hypot(north, east)))
    return float(tel.lat_deg[k]), float(tel.lon_deg[k])


@pytest.mark.parametrize("seed", SEEDS)
def test_any_hint_gives_the_laps_of_a_line_across_the_track(seed: int) -> None:
    """Random lines near the track, at any angle and length: the laps are those of a
    line across the track where the line used meets the path, or, if the hint is not
    used, those found without it."""
    synthetic = _session(seed)
    without = analyse(_with(synthetic, None))
    rng = np.random.default_rng(seed)
    sources = set()
    for _ in range(20):
        s_m = float(rng.uniform(0.0, synthetic.circuit.length_m))
        left_m = float(rng.uniform(-40.0, 40.0))
        angle = float(rng.uniform(0.0, math.pi))
        half_m = float(rng.uniform(3.0, 30.0))
        along, across = half_m * math.cos(angle), half_m * math.sin(angle)
        hint = StartFinishHint(
            _on_circuit(synthetic, s_m - along, left_m - across),
            _on_circuit(synthetic, s_m + along, left_m + across),
        )
        analysis = analyse(_with(synthetic, hint))
        assert analysis.track is not None
        sources.add(analysis.track.source)
        if analysis.track.source == "detected":
            _same_laps(analysis, without, 0.0)
            continue
        (lat1, lon1), (lat2, lon2) = analysis.track.start_finish
        where = _nearest_fix(synthetic.telemetry, ((lat1 + lat2) / 2, (lon1 + lon2) / 2))
        reference = analyse(
            _with(synthetic, None), track=Track("across", start_finish_point=where, source="user")
        )
        # The same laps; their times differ only by where along the track the lines are.
        _same_laps(analysis, reference, 0.25)
    assert "file" in sources
