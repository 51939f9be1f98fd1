"""The speed profile and the exact motion model."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from racesense.synth import Circuit, Driver
from racesense.synth.driver import (
    Motion,
    cornering_limit_mps,
    flying_lap_speeds_mps,
    flying_lap_time_s,
    limit_acceleration,
)

DRIVER = Driver()


def test_cornering_limit() -> None:
    v = cornering_limit_mps(np.array([0.0, 1.0 / 15.0, -1.0 / 300.0, 1e-6]), DRIVER)
    assert v[0] == DRIVER.v_max_mps
    assert v[1] == pytest.approx(np.sqrt(12.0 * 15.0))
    assert v[2] == pytest.approx(60.0)
    assert v[3] == DRIVER.v_max_mps


@settings(max_examples=60, deadline=None)
@given(
    limits=hnp.arrays(np.float64, st.integers(2, 300), elements=st.floats(0.0, 80.0)),
    step=st.floats(0.2, 5.0),
)
def test_limit_acceleration_respects_every_limit(limits: np.ndarray, step: float) -> None:
    v = limit_acceleration(limits, step, DRIVER)
    assert np.all(v <= limits + 1e-9)
    dw = np.diff(v**2) / (2.0 * step)
    assert np.all(dw <= DRIVER.a_accel_max_mps2 + 1e-6)
    assert np.all(dw >= -DRIVER.a_brake_max_mps2 - 1e-6)


def test_limit_acceleration_is_the_fastest_such_profile() -> None:
    limits = np.full(1001, 50.0)
    limits[0] = limits[-1] = 0.0
    v = limit_acceleration(limits, 1.0, DRIVER)
    d = np.arange(1001.0)
    expected = np.minimum.reduce(
        [np.sqrt(2 * 5.0 * d), np.full(1001, 50.0), np.sqrt(2 * 10.0 * (1000.0 - d))]
    )
    assert np.allclose(v, expected)


@settings(max_examples=60, deadline=None)
@given(
    limits=hnp.arrays(np.float64, st.integers(2, 300), elements=st.floats(0.0, 80.0)),
    curvature=st.floats(0.0, 1.0 / 20.0),
    step=st.floats(0.2, 5.0),
)
def test_shared_grip_keeps_every_step_inside_the_friction_ellipse(
    limits: np.ndarray, curvature: float, step: float
) -> None:
    """Each step's longitudinal acceleration, with the lateral acceleration at its slower
    end, lies within the ellipse of the driver's limits; and the profile is never faster
    than with grip apart."""
    kappa = np.full(limits.shape, curvature)
    limits = np.minimum(limits, cornering_limit_mps(kappa, DRIVER))  # as a session's are
    v = limit_acceleration(limits, step, DRIVER, kappa)
    w = v**2
    assert np.all(w <= limit_acceleration(limits, step, DRIVER) ** 2 + 1e-6)
    a_lon = np.diff(w) / (2.0 * step)
    slower = np.minimum(w[:-1], w[1:])
    lateral = slower * curvature / DRIVER.a_lat_max_mps2
    pedal = np.where(a_lon > 0, a_lon / DRIVER.a_accel_max_mps2, -a_lon / DRIVER.a_brake_max_mps2)
    assert np.all(lateral**2 + pedal**2 <= 1.0 + 1e-6)


def test_shared_grip_brakes_before_a_corner_and_not_in_it() -> None:
    """A straight into a 50 m-radius corner: with grip shared, braking ends before the
    corner's limit is reached, the car never brakes at full force while cornering at
    full grip, and it arrives no faster than the corner allows."""
    n = 601
    kappa = np.where(np.arange(n) >= 300, 1.0 / 50.0, 0.0)
    limits = cornering_limit_mps(kappa, DRIVER)
    limits[0] = 0.0
    apart = limit_acceleration(limits, 1.0, DRIVER)
    shared = limit_acceleration(limits, 1.0, DRIVER, kappa)
    corner_v = np.sqrt(DRIVER.a_lat_max_mps2 * 50.0)
    assert shared[300:] == pytest.approx(np.full(n - 300, corner_v))
    assert np.all(shared <= apart + 1e-9)
    # On the straight, full braking as before: the corner's grip is not used there.
    a_lon = np.diff(shared**2) / 2.0
    assert a_lon[:299].min() == pytest.approx(-DRIVER.a_brake_max_mps2)


def test_flying_lap_is_periodic_and_plausible(demo: Circuit) -> None:
    kappa = demo.curvature_1pm(np.arange(0.0, demo.length_m, demo.spacing_m)[: len(demo.x_m)])
    v = flying_lap_speeds_mps(kappa, demo.spacing_m, DRIVER)
    assert abs(v[0] ** 2 - v[-1] ** 2) / (2 * demo.spacing_m) <= DRIVER.a_brake_max_mps2 + 1e-6
    lap = flying_lap_time_s(kappa, demo.spacing_m, DRIVER)
    assert 80.0 < lap < 110.0  # about 120 km/h average on a 3.2 km club circuit
    assert flying_lap_time_s(kappa, demo.spacing_m, Driver(v_max_mps=40.0)) > lap


def test_motion_is_exact_and_invertible() -> None:
    v = np.array([0.0, 3.0, 5.0, 5.0, 4.0, 0.0, 2.0, 0.0])
    motion = Motion.from_profile(v, 2.0, {0: 1.5, 5: 10.0, 7: 2.0})
    # Segment times from constant acceleration: 2 h / (v0 + v1).
    moving = 2.0 * 2.0 / (v[:-1] + v[1:])
    assert motion.duration_s == pytest.approx(moving.sum() + 13.5)
    d, speed, _ = motion.at(np.array([0.0, 1.5, motion.duration_s, motion.duration_s + 5]))
    assert list(d) == [0.0, 0.0, 14.0, 14.0]
    assert speed[-1] == 0.0
    targets = np.linspace(0.01, 13.99, 200)
    times = motion.time_at(targets)
    assert np.all(np.diff(times) > 0.0)
    back, _, _ = motion.at(times)
    assert np.allclose(back, targets, atol=1e-9)
    # The stop at node 5 (10 m) lasts 10 s: that distance is first reached on arrival.
    arrive = motion.time_at(np.array([10.0]))[0]
    d_during, v_during, a_during = motion.at(np.linspace(arrive, arrive + 9.999, 11))
    assert np.allclose(d_during, 10.0) and np.all(v_during == 0.0) and np.all(a_during == 0.0)


def test_motion_rejects_impossible_profiles() -> None:
    with pytest.raises(ValueError):
        Motion.from_profile([0.0, 0.0, 1.0], 1.0)
    with pytest.raises(ValueError):
        Motion.from_profile([0.0, 1.0, 2.0], 1.0, {1: 5.0})
    with pytest.raises(ValueError):
        Driver(a_brake_max_mps2=0.0)
