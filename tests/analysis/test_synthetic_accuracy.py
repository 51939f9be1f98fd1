"""Lap-time accuracy against exact ground truth on synthetic sessions.

1 m of independent GNSS noise on every fix (each horizontal axis), GNSS speed with
0.1 m/s of noise. Laps must be within 0.02 s of the truth at 20-25 Hz and 0.05 s at
10 Hz, with no missed or extra laps, on the project's own circuit and on real circuit
geometries (TUMFTM centrelines, placed in all four hemispheres).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from racesense.analysis.pipeline import analyse
from racesense.analysis.results import SessionAnalysis
from racesense.analysis.track import Gate, Track
from racesense.synth import (
    Circuit,
    SyntheticSession,
    demo_circuit,
    load_centreline_csv,
    make_session,
)

TUMFTM = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "tumftm_centerlines"
TOLERANCE_S = {25: 0.02, 20: 0.02, 10: 0.05, 5: 0.1}
# (circuit, origin latitude, origin longitude): one per hemisphere pair.
REAL_CIRCUITS = [
    ("Spa", 50.44, 5.97),
    ("Melbourne", -37.85, 144.97),
    ("SaoPaulo", -23.70, -46.70),
    ("Montreal", 45.50, -73.52),
    ("Suzuka", 34.84, 136.54),  # a figure of eight: the track crosses itself
]


def _line(session: SyntheticSession) -> Track:
    return Track(
        "truth line", start_finish=Gate(*session.start_finish.endpoints_deg), source="user"
    )


def _complete_times(analysis: SessionAnalysis) -> np.ndarray:
    return np.array([lap.time_s for lap in analysis.laps if lap.complete])


def _assert_laps_match(analysis: SessionAnalysis, session: SyntheticSession, tol_s: float) -> None:
    got = _complete_times(analysis)
    truth = np.asarray(session.lap_times_s)
    assert got.shape == truth.shape, f"{len(got)} laps found, {len(truth)} driven"
    worst = float(np.max(np.abs(got - truth)))
    assert worst <= tol_s, f"worst lap error {worst * 1000:.1f} ms > {tol_s * 1000:.0f} ms"


@pytest.fixture(scope="module")
def demo() -> Circuit:
    return demo_circuit()


@pytest.mark.parametrize("rate_hz", [25, 20, 10, 5])
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_demo_circuit_every_rate(demo: Circuit, rate_hz: int, seed: int) -> None:
    session = make_session(demo, rate_hz=rate_hz, laps=6, seed=seed)
    _assert_laps_match(
        analyse(session.telemetry, track=_line(session)), session, TOLERANCE_S[rate_hz]
    )


@pytest.mark.parametrize("rate_hz", [25, 10])
def test_start_finish_given_as_a_point(demo: Circuit, rate_hz: int) -> None:
    session = make_session(demo, rate_hz=rate_hz, laps=5, seed=7)
    track = Track("point", start_finish_point=session.start_finish.point_deg, source="user")
    _assert_laps_match(analyse(session.telemetry, track=track), session, TOLERANCE_S[rate_hz])


@pytest.mark.parametrize("rate_hz", [25, 10])
def test_pit_stop_makes_no_extra_or_missing_lap(demo: Circuit, rate_hz: int) -> None:
    session = make_session(demo, rate_hz=rate_hz, laps=5, seed=11, pit_stop_after_lap=2)
    analysis = analyse(session.telemetry, track=_line(session))
    _assert_laps_match(analysis, session, TOLERANCE_S[rate_hz])
    pit_lap = next(lap for lap in analysis.laps if lap.number == 3)
    assert pit_lap.kind != "timed", "the lap with the pit stop is not a timed lap"
    assert analysis.best_lap_number != 3


@pytest.mark.parametrize("rate_hz", [25, 10])
def test_gps_gap_inside_a_lap(demo: Circuit, rate_hz: int) -> None:
    probe = make_session(demo, rate_hz=rate_hz, laps=5, seed=5)
    mid_lap_2 = float(np.mean(probe.crossing_times_s[1:3]))
    session = make_session(
        demo, rate_hz=rate_hz, laps=5, seed=5, gps_gap_at_s=mid_lap_2, gps_gap_s=3.0
    )
    analysis = analyse(session.telemetry, track=_line(session))
    _assert_laps_match(analysis, session, TOLERANCE_S[rate_hz])
    invalid = [lap.number for lap in analysis.laps if lap.complete and not lap.valid]
    assert invalid == [2]


def test_gps_gap_across_the_line_keeps_the_lap_count(demo: Circuit) -> None:
    probe = make_session(demo, rate_hz=25, laps=5, seed=5)
    at_line = float(probe.crossing_times_s[2]) - 1.5
    session = make_session(demo, rate_hz=25, laps=5, seed=5, gps_gap_at_s=at_line, gps_gap_s=3.0)
    analysis = analyse(session.telemetry, track=_line(session))
    # A crossing inside a 3 s gap can only be interpolated: both laps that share it
    # are invalid, but it is still found.
    _assert_laps_match(analysis, session, 0.5)
    invalid = [lap.number for lap in analysis.laps if lap.complete and not lap.valid]
    assert invalid == [2, 3]


@pytest.mark.parametrize(("name", "lat", "lon"), REAL_CIRCUITS)
def test_real_circuit_geometries(name: str, lat: float, lon: float) -> None:
    path = TUMFTM / "tracks" / f"{name}.csv"
    if not path.is_file():
        pytest.skip(f"TUMFTM centrelines not present at {TUMFTM} (../shared/data)")
    circuit = load_centreline_csv(path.read_text(), name, lat, lon)
    for rate_hz in (25, 10):
        session = make_session(circuit, rate_hz=rate_hz, laps=3, seed=3)
        _assert_laps_match(
            analyse(session.telemetry, track=_line(session)), session, TOLERANCE_S[rate_hz]
        )
        auto = analyse(session.telemetry)
        assert abs(len(_complete_times(auto)) - len(session.lap_times_s)) <= 1


def test_automatic_start_finish_on_the_demo_circuit(demo: Circuit) -> None:
    session = make_session(demo, rate_hz=10, laps=6, seed=4)
    analysis = analyse(session.telemetry)
    assert analysis.track is not None and analysis.track.source == "detected"
    got = _complete_times(analysis)
    assert abs(len(got) - len(session.lap_times_s)) <= 1
    assert np.median(got) == pytest.approx(np.median(session.lap_times_s), rel=0.02)
