"""The tangent-plane projection and the closed-curve geometry."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from racesense.synth.geometry import PeriodicSpline, resample_closed_curve, signed_curvature
from racesense.synth.projection import WGS84_A_M, WGS84_E2, LocalTangentPlane

ORIGINS = [(52.07, -1.02), (-33.95, -60.55), (-37.85, 144.97), (64.1, -21.9), (0.1, 179.99)]


@pytest.mark.parametrize(("lat0", "lon0"), ORIGINS)
def test_projection_round_trip_is_sub_micrometre(lat0: float, lon0: float) -> None:
    plane = LocalTangentPlane(lat0, lon0)
    rng = np.random.default_rng(0)
    x, y = rng.uniform(-5000.0, 5000.0, (2, 500))
    lat, lon = plane.to_wgs84(x, y)
    x2, y2 = plane.from_wgs84(lat, lon)
    assert np.abs(x2 - x).max() < 1e-6
    assert np.abs(y2 - y).max() < 1e-6
    assert np.all(np.abs(lon) <= 180.0)


def _meridian_arc_m(lat0_deg: float, lat1_deg: float) -> float:
    """Meridian arc length by numerical integration of the meridian radius of curvature."""
    phi = np.linspace(np.radians(lat0_deg), np.radians(lat1_deg), 20001)
    radius = WGS84_A_M * (1.0 - WGS84_E2) / (1.0 - WGS84_E2 * np.sin(phi) ** 2) ** 1.5
    return float(np.trapezoid(radius, phi))


@pytest.mark.parametrize(("lat0", "lon0"), ORIGINS[:4])
@pytest.mark.parametrize("north_m", [-3000.0, 500.0, 3000.0])
def test_projection_keeps_distances_to_a_millimetre(
    lat0: float, lon0: float, north_m: float
) -> None:
    plane = LocalTangentPlane(lat0, lon0)
    lat, lon = plane.to_wgs84(np.array([0.0]), np.array([north_m]))
    assert abs(float(lon[0]) - lon0) < 1e-12
    assert _meridian_arc_m(lat0, float(lat[0])) == pytest.approx(north_m, abs=1e-3)


def test_projection_signs_in_each_hemisphere() -> None:
    lat, lon = LocalTangentPlane(-33.95, -60.55).to_wgs84(np.array([100.0]), np.array([100.0]))
    assert lat[0] > -33.95 and lon[0] > -60.55  # north-east of the origin
    with pytest.raises(ValueError):
        LocalTangentPlane(91.0, 0.0)


def _circle(radius_m: float, n: int) -> tuple[np.ndarray, np.ndarray]:
    a = np.linspace(0.0, 2.0 * np.pi, n, endpoint=False)
    return radius_m * np.cos(a), radius_m * np.sin(a)


def test_spline_interpolates_and_measures_a_circle() -> None:
    x, y = _circle(100.0, 628)
    spline = PeriodicSpline(x, y, 2.0 * np.pi * 100.0 / 628)
    knots = spline.evaluate(np.arange(628) * spline.step)
    assert np.allclose(knots.x, x, atol=1e-9) and np.allclose(knots.y, y, atol=1e-9)
    u = np.linspace(-50.0, 2000.0, 3001)  # any real parameter, wrapped
    d = spline.evaluate(u)
    assert np.allclose(np.hypot(d.x, d.y), 100.0, atol=1e-6)
    assert np.allclose(signed_curvature(d), 0.01, rtol=1e-5)  # counter-clockwise: left


@settings(max_examples=20, deadline=None)
@given(
    radius=st.floats(20.0, 500.0),
    spacing=st.floats(0.5, 3.0),
    reverse=st.booleans(),
)
def test_resample_gives_uniform_spacing_and_keeps_a_circle(
    radius: float, spacing: float, reverse: bool
) -> None:
    x, y = _circle(radius, 97)
    if reverse:
        x, y = x[::-1], y[::-1]
    rx, ry = resample_closed_curve(x, y, spacing_m=spacing, smoothing_m=1.0)
    chord = np.hypot(np.diff(rx, append=rx[0]), np.diff(ry, append=ry[0]))
    assert chord.max() - chord.min() < 1e-3 * spacing
    assert abs(chord.mean() - spacing) < 0.5 * spacing / len(rx) + 1e-3 * spacing
    # The polygon's corners are smoothed away, leaving a circle of about the same size.
    inscribed = radius * np.cos(np.pi / 97)
    assert np.hypot(rx, ry) == pytest.approx(np.full(len(rx), inscribed), abs=0.01 * radius)


def test_resample_drops_a_repeated_closing_point_and_rejects_nonsense() -> None:
    x, y = _circle(50.0, 40)
    open_x, open_y = resample_closed_curve(x, y)
    closed_x, closed_y = resample_closed_curve(np.append(x, x[0]), np.append(y, y[0]))
    assert np.allclose(open_x, closed_x) and np.allclose(open_y, closed_y)
    with pytest.raises(ValueError):
        resample_closed_curve([0.0, 1.0], [0.0, 1.0])
    with pytest.raises(ValueError):
        resample_closed_curve([0.0, 1.0, np.nan], [0.0, 1.0, 0.0])
    with pytest.raises(ValueError):
        resample_closed_curve([0.0, 0.0, 1.0], [0.0, 0.0, 1.0])
