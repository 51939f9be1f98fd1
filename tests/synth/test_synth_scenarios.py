"""The hard-case scenarios: Racesense Raceway, drivers drawn per seed, pit lanes across
the line. Each scenario must put the line where it says, for every driver it draws."""

from __future__ import annotations

import numpy as np
import pytest

from racesense.synth import Circuit, demo_circuit, make_session
from racesense.synth.circuit import (
    _DEMO_CLOSING,
    _DEMO_LAYOUT,
    raceway_circuit,
    raceway_station_m,
)
from racesense.synth.driver import (
    ACCEL_RANGE_G,
    BRAKE_RANGE_G,
    LATERAL_RANGE_G,
    TOP_SPEED_RANGE_MPS,
    sampled_driver,
)
from racesense.synth.scenarios import SCENARIO_NAMES, scenario, scenario_session, scenarios
from racesense.synth.session import PIT_SPEED_LIMIT_MPS, PitLane

from .helpers import NOISELESS, distance_to_segment_m, segment_crossings

G = 9.80665
SEEDS = range(12)


@pytest.fixture(scope="module")
def raceway() -> Circuit:
    return raceway_circuit()


def test_raceway_is_a_plausible_circuit(raceway: Circuit) -> None:
    assert raceway.name == "Racesense Raceway"
    assert 3000.0 <= raceway.length_m <= 3400.0
    s = np.arange(0.0, raceway.length_m, 0.5)
    kappa = raceway.curvature_1pm(s)
    g = raceway.geometry(s)
    # Counter-clockwise, one full turn, no kink where the loop closes.
    assert np.sum(kappa * np.hypot(g.dx, g.dy)) * 0.5 == pytest.approx(2.0 * np.pi, abs=2e-4)
    assert np.abs(np.diff(kappa)).max() / 0.5 < 0.01
    assert 24.0 < 1.0 / np.abs(kappa).max() < 26.0  # the T1 hairpin
    # Parts of the track further than a hairpin apart along it never come within 40 m.
    s2 = np.arange(0.0, raceway.length_m, 2.0)
    x, y = raceway.position(s2)
    d = np.hypot(x[:, None] - x[None, :], y[:, None] - y[None, :])
    sep = np.abs(s2[:, None] - s2[None, :])
    sep = np.minimum(sep, raceway.length_m - sep)
    assert d[sep > 100.0].min() > 40.0


def test_raceway_pieces_are_where_the_layout_says(raceway: Circuit) -> None:
    curve = raceway_station_m("fast curve")
    inside = np.arange(curve + 30.0, curve + 580.0, 5.0)
    assert np.allclose(1.0 / raceway.curvature_1pm(inside), 350.0, rtol=1e-3)
    straight = raceway_station_m("main straight")
    along = np.arange(straight + 15.0, straight + raceway.length_m - straight + 480.0, 5.0)
    assert np.abs(raceway.curvature_1pm(along)).max() < 1e-6
    # Nothing within 25 m to the right of the main straight: room for a pit lane.
    g = raceway.geometry(along)
    norm = np.hypot(g.dx, g.dy)
    right_x, right_y = g.x + 25.0 * g.dy / norm, g.y - 25.0 * g.dx / norm
    cx, cy = raceway.position(np.arange(0.0, raceway.length_m, 1.0))
    gaps = np.hypot(right_x[:, None] - cx[None, :], right_y[:, None] - cy[None, :]).min(axis=1)
    assert gaps.min() > 24.0
    assert abs(raceway.curvature_1pm(np.array([raceway_station_m("T1") + 40.0]))[0]) > 0.03


def test_the_demo_circuit_is_built_from_its_layout_as_before() -> None:
    # The layout builder is shared; the demo's straights still close the loop exactly.
    from racesense.synth.circuit import layout_stations_m

    stations = layout_stations_m(_DEMO_LAYOUT, _DEMO_CLOSING)
    demo = demo_circuit()
    assert stations[0] == 0.0
    assert stations[-1] + 150.0 == pytest.approx(demo.length_m, abs=0.5)
    hairpin = stations[1] + 0.5 * np.pi * 15.0
    assert 1.0 / demo.curvature_1pm(np.array([hairpin]))[0] == pytest.approx(15.0, rel=0.01)


def test_sampled_drivers_span_the_ranges_and_repeat_per_seed() -> None:
    drivers = [sampled_driver(seed) for seed in range(200)]
    for values, (low, high) in (
        ([d.a_accel_max_mps2 / G for d in drivers], ACCEL_RANGE_G),
        ([d.a_brake_max_mps2 / G for d in drivers], BRAKE_RANGE_G),
        ([d.a_lat_max_mps2 / G for d in drivers], LATERAL_RANGE_G),
        ([d.v_max_mps for d in drivers], TOP_SPEED_RANGE_MPS),
    ):
        assert low <= min(values) and max(values) <= high
        assert max(values) - min(values) > 0.8 * (high - low)  # spread over the range
    assert sampled_driver(7) == sampled_driver(7)
    assert sampled_driver(7) != sampled_driver(8)
    with pytest.raises(ValueError):
        sampled_driver(-1)


def test_the_scenarios_are_the_ones_named() -> None:
    assert tuple(s.name for s in scenarios()) == SCENARIO_NAMES


def test_unknown_scenarios_and_too_few_laps_are_refused() -> None:
    with pytest.raises(ValueError, match="no scenario"):
        scenario("hairpin")
    with pytest.raises(ValueError, match="more than 2 laps"):
        scenario_session("pit_exit", rate_hz=10, seed=1, laps=2)


def _truth_at_crossings(name: str, seed: int):  # type: ignore[no-untyped-def]
    s = scenario_session(name, rate_hz=5, seed=seed, **NOISELESS)
    return s, s.truth.at(s.crossing_times_s)


@pytest.mark.parametrize("seed", SEEDS)
def test_accelerating_line_is_crossed_at_full_throttle(seed: int) -> None:
    s, truth = _truth_at_crossings("accelerating", seed)
    driver = sampled_driver(seed)
    assert s.complete_laps == 4
    # Every crossing, the first (after a launch from standstill) included: the car is
    # accelerating at its limit, at 30-55 m/s.
    assert np.allclose(truth.accel_lon_mps2, driver.a_accel_max_mps2, rtol=1e-4)
    assert truth.speed_mps.min() > 30.0 and truth.speed_mps.max() < 55.0
    assert np.abs(truth.accel_lat_mps2).max() < 1e-6  # on the straight


@pytest.mark.parametrize("seed", SEEDS)
def test_braking_line_is_crossed_braking_at_the_limit(seed: int) -> None:
    _, truth = _truth_at_crossings("braking", seed)
    driver = sampled_driver(seed)
    flying = truth.accel_lon_mps2[1:]  # the first crossing follows the launch
    assert np.allclose(flying, -driver.a_brake_max_mps2, rtol=1e-4)
    assert truth.speed_mps[1:].min() > 30.0


@pytest.mark.parametrize("seed", SEEDS)
def test_fast_curve_line_is_in_the_350_m_curve(seed: int) -> None:
    s, truth = _truth_at_crossings("fast_curve", seed)
    radius = 1.0 / np.abs(s.circuit.curvature_1pm(truth.s_m))
    assert np.allclose(radius, 350.0, rtol=1e-3)
    # Fast, and cornering hard: 0.5 g or more on every flying lap.
    assert truth.speed_mps[1:].min() > 45.0
    assert np.abs(truth.accel_lat_mps2[1:]).min() > 0.5 * G


@pytest.mark.parametrize("seed", SEEDS)
def test_pit_exit_line_is_crossed_at_the_limit_then_full_throttle(seed: int) -> None:
    s, truth = _truth_at_crossings("pit_exit", seed)
    driver = sampled_driver(seed)
    assert s.complete_laps == 4
    # The session starts standing in the box; it leaves again after lap 2's stop.
    start = s.truth.at(np.array([0.0, 4.0]))
    assert np.all(start.speed_mps == 0.0) and np.allclose(start.offset_m, -12.0)
    assert s.pit_stop_interval_s is not None
    assert s.crossing_times_s[1] < s.pit_stop_interval_s[0] < s.crossing_times_s[2]
    pit_exits = [0, 2]
    assert np.allclose(truth.speed_mps[pit_exits], PIT_SPEED_LIMIT_MPS, rtol=1e-3)
    assert np.allclose(truth.offset_m[pit_exits], -12.0)
    # The limit holds up to the line, full throttle from the next metre (grid node) on.
    for k in pit_exits:
        t = s.crossing_times_s[k]
        before = s.truth.at(np.linspace(t - 2.0, t - 0.1, 20))
        after = s.truth.at(np.linspace(t + 0.1, t + 2.0, 20))  # from a metre on
        assert np.allclose(before.speed_mps, PIT_SPEED_LIMIT_MPS, rtol=1e-3)
        assert np.allclose(after.accel_lon_mps2, driver.a_accel_max_mps2, rtol=1e-4)
    # The flying laps cross on the track, fast.
    assert np.allclose(truth.offset_m[[1, 3, 4]], 0.0)
    assert truth.speed_mps[[1, 3]].min() > 40.0


@pytest.mark.parametrize("name", SCENARIO_NAMES)
def test_noiseless_fixes_cross_each_scenarios_line_at_the_true_times(name: str) -> None:
    s = scenario_session(name, rate_hz=25, seed=3, **NOISELESS)
    tm = s.telemetry
    found = segment_crossings(tm.t_s, tm.lat_deg, tm.lon_deg, s.start_finish_line_deg)
    assert found.shape == s.crossing_times_s.shape
    assert np.abs(found - s.crossing_times_s).max() < 2e-3
    a, b = s.start_finish.endpoints_xy_m
    at = s.truth.at(s.crossing_times_s)
    assert distance_to_segment_m(at.x_m, at.y_m, a, b).max() < 1e-6


def test_scenario_sessions_repeat_per_seed_and_differ_across_seeds() -> None:
    a = scenario_session("braking", rate_hz=10, seed=4)
    b = scenario_session("braking", rate_hz=10, seed=4)
    c = scenario_session("braking", rate_hz=10, seed=5)
    assert np.array_equal(a.telemetry.lat_deg, b.telemetry.lat_deg)
    assert not np.allclose(a.lap_times_s, c.lap_times_s, atol=0.5)


def test_the_default_pit_lane_is_the_pit_lane_as_before() -> None:
    demo = demo_circuit()
    implicit = make_session(demo, rate_hz=10, laps=3, seed=2, pit_stop_after_lap=1)
    explicit = make_session(
        demo, rate_hz=10, laps=3, seed=2, pit_stop_after_lap=1, pit_lane=PitLane()
    )
    assert np.array_equal(implicit.telemetry.lat_deg, explicit.telemetry.lat_deg)
    assert implicit.pit_stop_interval_s == explicit.pit_stop_interval_s


def test_pit_lanes_are_checked() -> None:
    with pytest.raises(ValueError, match="box"):
        PitLane(box_m=0.0)  # before the lane holds its offset
    with pytest.raises(ValueError, match="after the pit box"):
        PitLane(limit_end_m=50.0)  # the default box is at 130 m
    with pytest.raises(ValueError, match="positive"):
        PitLane(ramp_m=0.0)
    lane = PitLane.across_the_line()
    assert lane.box_at_m == -80.0 and lane.limit_end_m == 0.0
    assert lane.entry_m + lane.ramp_m <= lane.box_at_m
    assert lane.exit_m - lane.ramp_m == pytest.approx(150.0)
    with pytest.raises(ValueError, match="before the line"):
        make_session(demo_circuit(), rate_hz=10, laps=2, seed=1, start_in_pit=True)


def test_a_session_can_start_in_a_pit_lane_on_the_demo_circuit() -> None:
    demo = demo_circuit()
    lane = PitLane.across_the_line(box_before_line_m=60.0, before_box_m=20.0, ramp_m=50.0)
    s = make_session(
        demo, rate_hz=10, laps=2, seed=3, pit_lane=lane, start_in_pit=True, **NOISELESS
    )
    first = s.truth.at(s.crossing_times_s[:1])
    assert first.speed_mps[0] == pytest.approx(PIT_SPEED_LIMIT_MPS, rel=1e-3)
    assert first.offset_m[0] == pytest.approx(-12.0)
    assert s.complete_laps == 2
