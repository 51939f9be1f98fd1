"""The crossing estimator against analytic truth on a straight with braking."""

import math

import numpy as np
import pytest

from racesense.analysis.clean import clean_fixes
from racesense.analysis.crossings import crossings, orient
from racesense.analysis.geo import LocalFrame
from racesense.analysis.telemetry import Telemetry
from racesense.analysis.track import Gate, gate_xy

FRAME = LocalFrame(52.07, -1.02)
LINE_X_M = 400.0


def braking_run(rate_hz: float, noise_m: float, seed: int, with_speed: bool = True):
    """East along y=0 at 60 m/s, braking at 8 m/s^2 from t=4 s. Returns (tel, truth)."""
    rng = np.random.default_rng(seed)
    t = np.arange(0.0, 12.0, 1.0 / rate_hz) + rng.uniform(0, 1.0 / rate_hz)
    v0, a, tb = 60.0, -8.0, 4.0
    x = np.where(t < tb, v0 * t, v0 * tb + v0 * (t - tb) + 0.5 * a * (t - tb) ** 2)
    v = np.where(t < tb, v0, v0 + a * (t - tb))
    # Truth: solve x(t) = LINE_X_M in the braking phase.
    dx = LINE_X_M - v0 * tb
    truth = tb + (-v0 + math.sqrt(v0 * v0 + 2 * a * dx)) / a
    xn = x + rng.normal(0, noise_m, t.shape)
    yn = rng.normal(0, noise_m, t.shape)
    lat, lon = FRAME.to_latlon(xn, yn)
    speed = v + rng.normal(0, 0.1, t.shape) if with_speed else None
    heading = np.full(t.shape, 90.0) if with_speed else None
    return Telemetry.build("test", t, lat, lon, speed_mps=speed, heading_deg=heading), truth


def line_gate():
    lat, lon = FRAME.to_latlon([LINE_X_M, LINE_X_M], [-20.0, 20.0])
    return Gate((lat[0], lon[0]), (lat[1], lon[1]))


@pytest.mark.parametrize(("rate_hz", "tolerance_s"), [(25, 0.01), (10, 0.02), (5, 0.04)])
def test_estimate_beats_noise(rate_hz, tolerance_s):
    errors = []
    for seed in range(20):
        tel, truth = braking_run(rate_hz, 1.0, seed)
        fixes = clean_fixes(tel)
        found = crossings(fixes, orient(fixes, gate_xy(line_gate(), fixes.frame)))
        assert len(found) == 1
        errors.append(found[0].t_s - truth)
    assert max(abs(e) for e in errors) < tolerance_s


def test_without_speed_the_fit_still_beats_two_point_interpolation():
    fit_errors, linear_errors = [], []
    for seed in range(20):
        tel, truth = braking_run(25, 1.0, seed, with_speed=False)
        fixes = clean_fixes(tel)
        gate = orient(fixes, gate_xy(line_gate(), fixes.frame))
        found = crossings(fixes, gate)
        assert len(found) == 1
        fit_errors.append(abs(found[0].t_s - truth))
        linear_errors.append(abs(crossings(fixes, gate, window_s=0.0)[0].t_s - truth))
    assert np.sqrt(np.mean(np.square(fit_errors))) < 0.6 * np.sqrt(
        np.mean(np.square(linear_errors))
    )


def test_only_crossings_in_the_direction_of_travel_count():
    tel, _ = braking_run(10, 0.0, 0)
    fixes = clean_fixes(tel)
    gate = orient(fixes, gate_xy(line_gate(), fixes.frame))
    assert len(crossings(fixes, gate)) == 1
    assert crossings(fixes, gate.reversed()) == []


def test_a_line_the_car_passes_beside_is_not_crossed():
    tel, _ = braking_run(10, 0.0, 0)
    fixes = clean_fixes(tel)
    lat, lon = FRAME.to_latlon([LINE_X_M, LINE_X_M], [10.0, 40.0])  # starts 10 m to the side
    gate = orient(fixes, gate_xy(Gate((lat[0], lon[0]), (lat[1], lon[1])), fixes.frame))
    assert crossings(fixes, gate) == []
