"""Hypothesis properties of the analysis: structure that must hold for any session."""

from __future__ import annotations

import itertools

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from racesense.analysis.errors import AnalysisError
from racesense.analysis.pipeline import analyse
from racesense.analysis.telemetry import Telemetry
from racesense.analysis.track import Gate, Track
from racesense.synth import demo_circuit, make_session

DEMO = demo_circuit()
SETTINGS = settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])

sessions = st.builds(
    lambda rate, laps, seed, noise, pit, gap: make_session(
        DEMO,
        rate_hz=rate,
        laps=laps,
        seed=seed,
        gps_noise_m=noise,
        pit_stop_after_lap=1 if pit and laps > 1 else None,
        gps_gap_at_s=gap,
    ),
    rate=st.sampled_from([5, 10, 20, 25]),
    laps=st.integers(1, 4),
    seed=st.integers(0, 2**16),
    noise=st.floats(0.0, 2.0),
    pit=st.booleans(),
    gap=st.one_of(st.none(), st.floats(20.0, 200.0)),
)


@SETTINGS
@given(session=sessions, given_line=st.booleans())
def test_laps_are_ordered_and_never_overlap(session, given_line):
    track = None
    if given_line:
        track = Track("t", start_finish=Gate(*session.start_finish.endpoints_deg), source="user")
    analysis = analyse(session.telemetry, track=track)
    laps = analysis.laps
    assert [lap.number for lap in laps] == sorted(lap.number for lap in laps)
    for lap in laps:
        assert lap.end_s > lap.start_s
        assert abs(lap.time_s - (lap.end_s - lap.start_s)) < 1e-9
    for a, b in itertools.pairwise(laps):
        assert a.end_s <= b.start_s + 1e-9
    # Laps partition the session between its first and last fix.
    if laps:
        assert abs(laps[-1].end_s - laps[0].start_s - analysis.duration_s) < 1e-6


@SETTINGS
@given(session=sessions)
def test_sectors_sum_to_their_lap(session):
    track = Track("t", start_finish=Gate(*session.start_finish.endpoints_deg), source="user")
    analysis = analyse(session.telemetry, track=track)
    for lap in analysis.laps:
        if lap.complete and lap.sectors_s and None not in lap.sectors_s:
            assert abs(sum(lap.sectors_s) - lap.time_s) < 1e-6
            assert all(s > 0 for s in lap.sectors_s)
    if analysis.theoretical_best_s is not None:
        assert analysis.best_lap_s is not None
        assert analysis.theoretical_best_s <= analysis.best_lap_s + 1e-9


def _resample(tel: Telemetry, keep: np.ndarray) -> Telemetry:
    return Telemetry.build(
        tel.format,
        tel.t_s[keep],
        tel.lat_deg[keep],
        tel.lon_deg[keep],
        speed_mps=tel.speed_mps[keep],
        heading_deg=tel.heading_deg[keep],
        started_at=tel.started_at,
    )


@SETTINGS
@given(
    seed=st.integers(0, 2**16),
    step=st.integers(2, 5),
    offset=st.integers(0, 4),
)
def test_results_are_stable_when_the_input_is_resampled(seed, step, offset):
    """25 Hz decimated to 12.5, 8.3, 6.25 or 5 Hz: same laps, times within 0.1 s."""
    session = make_session(DEMO, rate_hz=25, laps=3, seed=seed)
    track = Track("t", start_finish=Gate(*session.start_finish.endpoints_deg), source="user")
    full = analyse(session.telemetry, track=track)
    keep = np.arange(offset % step, len(session.telemetry), step)
    coarse = analyse(_resample(session.telemetry, keep), track=track)
    a = [lap.time_s for lap in full.laps if lap.complete]
    b = [lap.time_s for lap in coarse.laps if lap.complete]
    assert len(a) == len(b) == len(session.lap_times_s)
    assert max(abs(x - y) for x, y in zip(a, b, strict=True)) < 0.1
    assert [lap.kind for lap in full.laps] == [lap.kind for lap in coarse.laps]


@settings(max_examples=60, deadline=None)
@given(
    n=st.integers(0, 300),
    seed=st.integers(0, 2**16),
    nan_share=st.floats(0, 1),
    scale_deg=st.sampled_from([0.0, 1e-5, 1e-3, 1.0, 200.0]),
)
def test_garbage_telemetry_never_crashes(n, seed, nan_share, scale_deg):
    """Random times (backwards, duplicated), random positions, holes: a typed error or
    a result, never an exception of another kind, never a hang."""
    rng = np.random.default_rng(seed)
    t = np.round(rng.uniform(0, 100, n), 1)
    lat = 45 + rng.normal(0, 1, n) * scale_deg
    lon = 7 + rng.normal(0, 1, n) * scale_deg
    lat[rng.uniform(size=n) < nan_share] = np.nan
    speed = rng.uniform(-5, 80, n)
    tel = Telemetry.build("test", t, lat, lon, speed_mps=speed)
    try:
        analysis = analyse(tel)
    except AnalysisError:
        return
    assert analysis.lap_count >= 0
    assert (analysis.reason is None) == (analysis.lap_count > 0)
