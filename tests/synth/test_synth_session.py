"""Synthetic sessions: the truth is consistent, the noise is what was asked for."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from racesense.synth import Circuit, SyntheticSession, load_centreline_csv, make_session

from .helpers import NOISELESS, distance_to_segment_m, segment_crossings


def test_course_of_a_session(clean_session: SyntheticSession) -> None:
    s = clean_session
    assert s.complete_laps == 4
    assert s.crossing_times_s.shape == (5,)
    assert np.all(np.diff(s.crossing_times_s) > 0.0)
    assert np.array_equal(s.lap_times_s, np.diff(s.crossing_times_s))
    tm = s.telemetry
    assert tm.format == "synthetic"
    assert tm.t_s[0] == 0.0 and tm.t_s[-1] <= s.duration_s
    # Standing at the start and at the end, stopping short of another lap.
    truth = s.truth.at(np.array([0.0, 4.9, s.duration_s]))
    assert np.all(truth.speed_mps == 0.0)
    lead = (s.start_finish.s_m - truth.s_m[0]) % s.circuit.length_m
    assert lead == pytest.approx(200.0, abs=1e-6)
    assert truth.distance_m[-1] < 200.0 + 5 * s.circuit.length_m
    assert 0.0 < s.crossing_times_s[0] < 30.0


def test_truth_positions_at_crossings_lie_on_the_line(clean_session: SyntheticSession) -> None:
    s = clean_session
    truth = s.truth.at(s.crossing_times_s)
    a, b = s.start_finish.endpoints_xy_m
    assert distance_to_segment_m(truth.x_m, truth.y_m, a, b).max() < 1e-6
    # The same in WGS84: the line's endpoints and the truth go through one projection.
    la, lo = s.start_finish.endpoints_deg
    ax, ay = s.circuit.from_wgs84(np.array([la[0], lo[0]]), np.array([la[1], lo[1]]))
    x, y = s.circuit.from_wgs84(truth.lat_deg, truth.lon_deg)
    assert distance_to_segment_m(x, y, (ax[0], ay[0]), (ax[1], ay[1])).max() < 1e-3
    # The line is 30 m long, perpendicular to the direction of travel, centred.
    assert np.hypot(ax[1] - ax[0], ay[1] - ay[0]) == pytest.approx(30.0, abs=1e-6)
    cx, cy = s.circuit.from_wgs84(*s.start_finish_point_deg)
    assert np.hypot(x - cx, y - cy).max() < 1e-3
    heading = np.radians(truth.heading_deg)
    along = np.sin(heading) * (ax[1] - ax[0]) + np.cos(heading) * (ay[1] - ay[0])
    assert np.abs(along).max() < 1e-6


def test_lap_time_is_lap_length_over_mean_speed(clean_session: SyntheticSession) -> None:
    s = clean_session
    for k, (start, end) in enumerate(
        zip(s.crossing_times_s[:-1], s.crossing_times_s[1:], strict=True)
    ):
        t = np.linspace(start, end, 200_001)
        travelled = np.trapezoid(s.truth.at(t).speed_mps, t)
        mean_speed = travelled / (end - start)
        if k == 2:  # the pit lap: longer by the detour through the pit lane
            assert s.circuit.length_m + 5.0 < travelled < s.circuit.length_m + 20.0
            continue
        # The station length and the spline's arc length agree to a few ppm.
        assert s.lap_times_s[k] == pytest.approx(s.circuit.length_m / mean_speed, rel=2e-5)


def test_laps_differ_by_pace_and_the_pit_lap_includes_the_stop(
    clean_session: SyntheticSession,
) -> None:
    laps = clean_session.lap_times_s
    flying = laps[[0, 1, 3]]
    assert flying.max() - flying.min() > 0.01  # each lap has its own pace
    assert flying.max() / flying.min() < 1.02
    assert laps[2] > flying.max() + 20.0


def test_noiseless_telemetry_crosses_the_line_at_the_true_times(
    clean_session: SyntheticSession,
) -> None:
    tm = clean_session.telemetry
    found = segment_crossings(tm.t_s, tm.lat_deg, tm.lon_deg, clean_session.start_finish_line_deg)
    assert found.shape == clean_session.crossing_times_s.shape  # the pit lane does not cross
    assert np.abs(found - clean_session.crossing_times_s).max() < 1e-3


def test_sectors(clean_session: SyntheticSession) -> None:
    s = clean_session
    assert len(s.sector_lines) == 2
    assert s.sector_times_s.shape == (4, 3)
    assert np.allclose(s.sector_times_s.sum(axis=1), s.lap_times_s, rtol=0, atol=1e-9)
    for line, times in zip(s.sector_lines, s.sector_crossing_times_s, strict=True):
        assert times.shape == (5,)  # four timed laps and the in-lap
        assert (line.s_m - s.start_finish.s_m) % s.circuit.length_m in (900.0, 2200.0)
        truth = s.truth.at(times)
        a, b = line.endpoints_xy_m
        assert distance_to_segment_m(truth.x_m, truth.y_m, a, b).max() < 1e-6
        tm = s.telemetry
        found = segment_crossings(tm.t_s, tm.lat_deg, tm.lon_deg, line.endpoints_deg)
        assert np.abs(found - times).max() < 1e-3


def test_a_sector_line_beside_the_pit_lane_is_not_crossed_on_the_pit_lap(demo: Circuit) -> None:
    s = make_session(
        demo, rate_hz=10, laps=3, seed=2, pit_stop_after_lap=1, sector_s_m=(130.0,), **NOISELESS
    )
    # Laps 1 and 3 and the in-lap cross it; lap 2 passes 20 m to its right.
    assert s.sector_crossing_times_s[0].shape == (3,)
    assert np.isnan(s.sector_times_s[1, :]).all()
    assert not np.isnan(s.sector_times_s[[0, 2], :]).any()
    tm = s.telemetry
    found = segment_crossings(tm.t_s, tm.lat_deg, tm.lon_deg, s.sector_lines[0].endpoints_deg)
    assert np.abs(found - s.sector_crossing_times_s[0]).max() < 1e-3


def test_pit_stop(clean_session: SyntheticSession) -> None:
    s = clean_session
    assert s.pit_stop_interval_s is not None
    start, end = s.pit_stop_interval_s
    assert end - start == pytest.approx(20.0)
    assert s.crossing_times_s[2] < start < end < s.crossing_times_s[3]
    truth = s.truth.at(np.linspace(start, end - 1e-6, 1001))
    assert np.all(truth.speed_mps == 0.0)
    assert np.allclose(truth.offset_m, -20.0)  # in the pit box, 20 m right of the centreline
    tm = s.telemetry
    still = (tm.t_s > s.crossing_times_s[2]) & (tm.t_s < s.crossing_times_s[3])
    still &= tm.speed_mps < 0.2
    assert still.sum() / s.rate_hz == pytest.approx(20.0, abs=0.5)
    # The pit lane speed limit holds on the path.
    lane = s.truth.at(np.linspace(s.crossing_times_s[2] + 3.0, end + 10.0, 2001))
    in_lane = np.abs(lane.offset_m) > 0.0
    assert lane.speed_mps[in_lane].max() <= 60.0 / 3.6 * 1.001


def test_noise_statistics(demo: Circuit) -> None:
    for noise_m in (1.0, 2.5):
        s = make_session(demo, rate_hz=20, laps=3, seed=11, gps_noise_m=noise_m)
        tm = s.telemetry
        truth = s.truth.at(tm.t_s)
        x, y = demo.from_wgs84(tm.lat_deg, tm.lon_deg)
        for error in (x - truth.x_m, y - truth.y_m):
            assert np.std(error) == pytest.approx(noise_m, rel=0.1)
            assert abs(np.mean(error)) < 0.05 * noise_m
        moving = truth.speed_mps > 2.0
        speed_error = tm.speed_mps[moving] - truth.speed_mps[moving]
        assert np.std(speed_error) == pytest.approx(0.1, rel=0.1)
        assert np.all(tm.speed_mps >= 0.0)
        heading_error = (tm.heading_deg - truth.heading_deg + 180.0) % 360.0 - 180.0
        assert np.std(heading_error) == pytest.approx(0.5, rel=0.1)
        assert np.std(tm.accel_lat_mps2 - truth.accel_lat_mps2) == pytest.approx(0.05, rel=0.1)
        assert np.std(tm.yaw_rate_dps - truth.yaw_rate_dps) == pytest.approx(0.2, rel=0.1)


@pytest.mark.parametrize("rate_hz", [5, 10, 20, 25])
def test_rates_give_the_right_sample_counts(demo: Circuit, rate_hz: int) -> None:
    s = make_session(demo, rate_hz=rate_hz, laps=2, seed=5)
    t = s.telemetry.t_s
    assert len(s.telemetry) == int(np.floor(s.duration_s * rate_hz)) + 1
    assert np.allclose(np.diff(t), 1.0 / rate_hz, rtol=0, atol=1e-9)
    assert s.duration_s - t[-1] < 1.0 / rate_hz
    # The truth does not depend on the rate or on the noise.
    reference = make_session(demo, rate_hz=7, laps=2, seed=5, **NOISELESS)
    assert np.array_equal(s.crossing_times_s, reference.crossing_times_s)


def test_gps_gap_removes_exactly_those_rows(demo: Circuit) -> None:
    full = make_session(demo, rate_hz=10, laps=2, seed=3)
    gapped = make_session(demo, rate_hz=10, laps=2, seed=3, gps_gap_at_s=100.0, gps_gap_s=3.0)
    t = gapped.telemetry.t_s
    assert gapped.gps_gap_interval_s == (100.0, 103.0)
    assert not np.any((t >= 100.0) & (t < 103.0))
    assert len(full.telemetry) - len(gapped.telemetry) == 30
    assert np.diff(t).max() == pytest.approx(3.1)
    assert np.array_equal(gapped.crossing_times_s, full.crossing_times_s)
    kept = (full.telemetry.t_s < 100.0) | (full.telemetry.t_s >= 103.0)
    assert np.array_equal(full.telemetry.lat_deg[kept], gapped.telemetry.lat_deg)
    with pytest.raises(ValueError, match="GPS gap"):
        make_session(demo, rate_hz=10, laps=1, seed=3, gps_gap_at_s=1e6)


def test_truth_kinematics_are_consistent(clean_session: SyntheticSession) -> None:
    t = np.arange(0.0, clean_session.crossing_times_s[3], 1e-3)
    truth = clean_session.truth.at(t)
    # Longitudinal acceleration integrates to the speed, yaw rate to the heading
    # (heading is clockwise from north, yaw rate counter-clockwise). The acceleration
    # changes at every grid node, and the trapezoid rule errs by up to half a jump times
    # 1 ms at each (7.5 mm/s from full throttle to full braking): speed is checked over
    # each second, where a wrong sign or scale would be off by metres per second.
    dv = np.concatenate(
        [[0.0], np.cumsum(0.5 * (truth.accel_lon_mps2[1:] + truth.accel_lon_mps2[:-1]))]
    )
    integrated = truth.speed_mps[0] + dv * 1e-3
    second = 1000
    drift = (truth.speed_mps - integrated)[second:] - (truth.speed_mps - integrated)[:-second]
    assert np.abs(drift).max() < 0.02
    assert np.abs(truth.speed_mps - integrated).max() < 0.1  # and nothing builds up
    heading = np.degrees(np.unwrap(np.radians(truth.heading_deg)))
    yaw = truth.yaw_rate_dps
    turned = np.concatenate([[0.0], np.cumsum(0.5 * (yaw[1:] + yaw[:-1]))]) * 1e-3
    assert np.abs(heading - heading[0] + turned).max() < 0.5
    # The positions move in the direction of the heading at the speed.
    vx = np.gradient(truth.x_m, t)
    vy = np.gradient(truth.y_m, t)
    fast = truth.speed_mps > 5.0
    fast[[0, -1]] = False  # one-sided differences at the ends
    assert np.allclose(np.hypot(vx, vy)[fast], truth.speed_mps[fast], rtol=1e-4)
    course = np.degrees(np.arctan2(vx, vy))
    error = (course - truth.heading_deg + 180.0) % 360.0 - 180.0
    assert np.abs(error[fast]).max() < 0.01


def test_imu_sign_conventions(clean_session: SyntheticSession) -> None:
    tm = clean_session.telemetry
    # Lateral acceleration is positive to the left: speed times the counter-clockwise
    # yaw rate, and mostly positive on a counter-clockwise circuit.
    expected = tm.speed_mps * np.radians(tm.yaw_rate_dps)
    assert np.abs(tm.accel_lat_mps2 - expected).max() < 1e-6
    assert tm.accel_lat_mps2.max() > 10.0
    assert np.sum(tm.yaw_rate_dps) > 0.0
    # Longitudinal acceleration is positive when the speed grows.
    dv = np.gradient(tm.speed_mps, tm.t_s)
    assert np.corrcoef(dv, tm.accel_lon_mps2)[0, 1] > 0.95
    assert np.allclose(tm.accel_vert_mps2, 9.80665)


def test_imu_can_be_left_out(demo: Circuit) -> None:
    s = make_session(demo, rate_hz=10, laps=1, seed=1, imu=False)
    tm = s.telemetry
    assert not tm.has("accel_lon_mps2") and not tm.has("yaw_rate_dps")
    assert tm.has("speed_mps") and tm.has("alt_m")
    with_imu = make_session(demo, rate_hz=10, laps=1, seed=1)
    assert np.array_equal(with_imu.telemetry.lat_deg, tm.lat_deg)


def test_same_seed_same_session_and_started_at(demo: Circuit) -> None:
    a = make_session(demo, rate_hz=10, laps=2, seed=42)
    b = make_session(demo, rate_hz=10, laps=2, seed=42)
    c = make_session(demo, rate_hz=10, laps=2, seed=43)
    assert np.array_equal(a.telemetry.lat_deg, b.telemetry.lat_deg)
    assert a.telemetry.started_at == b.telemetry.started_at
    started = a.telemetry.started_at
    assert started is not None and started.utcoffset() == dt.timedelta(0)
    assert c.telemetry.started_at != started
    assert not np.array_equal(a.lap_times_s, c.lap_times_s)


def test_southern_western_placement(clean_session: SyntheticSession) -> None:
    tm = clean_session.telemetry
    assert np.all(tm.lat_deg < 0.0) and np.all(tm.lon_deg < 0.0)
    (lat_a, lon_a), (lat_b, lon_b) = clean_session.start_finish_line_deg
    assert max(lat_a, lat_b) < 0.0 and max(lon_a, lon_b) < 0.0
    # The demo's main straight runs east; right of travel is south.
    assert lat_a < lat_b
    assert abs(lon_a - lon_b) < 1e-6


def test_session_on_a_real_centreline_in_the_north_east(tumftm_tracks: Path) -> None:
    path = tumftm_tracks / "Spielberg.csv"
    circuit = load_centreline_csv(path.read_text(), "Spielberg", 47.22, 14.76)
    s = make_session(circuit, rate_hz=10, laps=2, seed=9, start_finish_s_m=100.0, **NOISELESS)
    assert s.complete_laps == 2
    assert np.all(s.telemetry.lat_deg > 0.0) and np.all(s.telemetry.lon_deg > 0.0)
    tm = s.telemetry
    found = segment_crossings(tm.t_s, tm.lat_deg, tm.lon_deg, s.start_finish_line_deg)
    assert np.abs(found - s.crossing_times_s).max() < 2e-3


def test_arguments_are_checked(demo: Circuit) -> None:
    with pytest.raises(ValueError):
        make_session(demo, rate_hz=0, laps=1, seed=1)
    with pytest.raises(ValueError):
        make_session(demo, rate_hz=10, laps=0, seed=1)
    with pytest.raises(ValueError):
        make_session(demo, rate_hz=10, laps=2, seed=1, pit_stop_after_lap=2)
    with pytest.raises(ValueError):
        make_session(demo, rate_hz=10, laps=2, seed=1, sector_s_m=(demo.length_m,))
    with pytest.raises(ValueError):
        make_session(demo, rate_hz=10, laps=2, seed=1, gps_noise_m=-1.0)


@settings(max_examples=15, deadline=None)
@given(
    rate_hz=st.sampled_from([1.0, 5.0, 10.0, 20.0, 25.0, 50.0]),
    laps=st.integers(2, 4),
    seed=st.integers(0, 2**32),
    start_finish_s_m=st.floats(0.0, 3200.0),
    sectors=st.lists(st.floats(1.0, 3000.0), max_size=3, unique=True),
    pit=st.booleans(),
)
def test_truth_invariants(
    demo: Circuit,
    rate_hz: float,
    laps: int,
    seed: int,
    start_finish_s_m: float,
    sectors: list[float],
    pit: bool,
) -> None:
    s = make_session(
        demo,
        rate_hz=rate_hz,
        laps=laps,
        seed=seed,
        start_finish_s_m=start_finish_s_m,
        sector_s_m=tuple(sorted(sectors)),
        pit_stop_after_lap=1 if pit else None,
    )
    assert s.complete_laps == laps
    assert np.all(np.diff(s.crossing_times_s) > 0.0)
    assert np.all(np.diff(s.telemetry.t_s) > 0.0)
    truth = s.truth.at(s.crossing_times_s)
    a, b = s.start_finish.endpoints_xy_m
    assert distance_to_segment_m(truth.x_m, truth.y_m, a, b).max() < 1e-6
    sums = np.sum(s.sector_times_s, axis=1)
    complete = ~np.isnan(sums)
    assert np.allclose(sums[complete], s.lap_times_s[complete], rtol=0, atol=1e-9)
    assert np.all(s.sector_times_s[~np.isnan(s.sector_times_s)] > 0.0)
    for line, times in zip(s.sector_lines, s.sector_crossing_times_s, strict=True):
        at = s.truth.at(times)
        assert distance_to_segment_m(at.x_m, at.y_m, *line.endpoints_xy_m).max() < 1e-6
