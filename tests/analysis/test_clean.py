import numpy as np
import pytest

from racesense.analysis.clean import clean_fixes
from racesense.analysis.errors import NoFixesError
from racesense.analysis.geo import LocalFrame
from racesense.analysis.telemetry import Telemetry

FRAME = LocalFrame(-37.85, 144.97)


def straight(n: int = 200, rate_hz: float = 10.0, speed_mps: float = 30.0) -> Telemetry:
    t = np.arange(n) / rate_hz
    lat, lon = FRAME.to_latlon(speed_mps * t, np.zeros(n))
    return Telemetry.build(
        "test", t, lat, lon, speed_mps=np.full(n, speed_mps), heading_deg=np.full(n, 90.0)
    )


def test_keeps_a_clean_straight_as_it_is():
    fixes = clean_fixes(straight())
    assert len(fixes) == 200
    assert fixes.speed_from_gnss
    assert not fixes.gap_after.any()
    assert fixes.dist_m[-1] == pytest.approx(30.0 * 19.9, rel=1e-9)


def test_sorts_backwards_and_drops_duplicate_timestamps():
    tel = straight(50)
    order = np.r_[np.arange(10), 20, np.arange(10, 50)]  # fix 20 twice, once out of order
    shuffled = Telemetry.build(
        "test",
        tel.t_s[order],
        tel.lat_deg[order],
        tel.lon_deg[order],
        speed_mps=tel.speed_mps[order],
    )
    fixes = clean_fixes(shuffled)
    assert len(fixes) == 50
    assert np.all(np.diff(fixes.t_s) > 0)
    assert fixes.dropped["duplicate_time"] == 1


def test_drops_a_fix_that_jumps_away_and_back():
    tel = straight(100)
    lat = tel.lat_deg.copy()
    lat[40] += 0.002  # ~220 m north, at 30 m/s and 10 Hz
    fixes = clean_fixes(Telemetry.build("test", tel.t_s, lat, tel.lon_deg, speed_mps=tel.speed_mps))
    assert len(fixes) == 99
    assert 4.0 not in fixes.t_s
    assert fixes.dropped["impossible_jump"] == 1


def test_a_long_silence_is_a_gap():
    tel = straight(100)
    keep = (tel.t_s < 3.0) | (tel.t_s >= 6.0)
    fixes = clean_fixes(
        Telemetry.build(
            "test",
            tel.t_s[keep],
            tel.lat_deg[keep],
            tel.lon_deg[keep],
            speed_mps=tel.speed_mps[keep],
        )
    )
    assert fixes.gap_after.sum() == 1
    assert fixes.t_s[np.flatnonzero(fixes.gap_after)[0]] == pytest.approx(2.9)


def test_rows_without_position_and_zero_zero_fixes_are_dropped():
    tel = straight(20)
    lat, lon = tel.lat_deg.copy(), tel.lon_deg.copy()
    lat[3] = np.nan
    lat[4], lon[4] = 0.0, 0.0
    fixes = clean_fixes(Telemetry.build("test", tel.t_s, lat, lon))
    assert len(fixes) == 18
    assert not fixes.speed_from_gnss  # no speed column: derived from positions
    assert np.median(fixes.speed_mps) == pytest.approx(30.0, rel=0.02)


def test_no_fix_at_all_is_a_typed_error():
    n = 10
    tel = Telemetry.build("test", np.arange(n), np.full(n, np.nan), np.full(n, np.nan))
    with pytest.raises(NoFixesError):
        clean_fixes(tel)


def test_derived_lateral_acceleration_is_positive_in_a_left_turn():
    # A 100 m radius circle driven counter-clockwise (a left turn) at 20 m/s.
    t = np.arange(0, 30, 0.1)
    omega = 20.0 / 100.0
    x, y = 100 * np.cos(omega * t), 100 * np.sin(omega * t)
    lat, lon = FRAME.to_latlon(x, y)
    fixes = clean_fixes(Telemetry.build("test", t, lat, lon, speed_mps=np.full(t.shape, 20.0)))
    assert not fixes.accel_from_imu
    middle = fixes.accel_lat_mps2[50:-50]
    assert np.median(middle) == pytest.approx(20.0**2 / 100.0, rel=0.05)


def test_a_straight_across_the_antimeridian_is_as_long_as_anywhere_else():
    # 200 fixes at 30 m/s heading east through 180 degrees of longitude (Fiji's
    # Taveuni): the local frame must not tear at the +180/-180 seam.
    seam = LocalFrame(-16.8, 180.0)
    t = np.arange(200) / 10.0
    lat, lon = seam.to_latlon(30.0 * t - 300.0, np.zeros(200))
    assert lon.min() < -179.99 and lon.max() > 179.99
    tel = Telemetry.build(
        "test", t, lat, lon, speed_mps=np.full(200, 30.0), heading_deg=np.full(200, 90.0)
    )
    fixes = clean_fixes(tel)
    assert len(fixes) == 200
    assert abs(fixes.frame.origin_lon_deg) == pytest.approx(180.0, abs=0.01)
    steps = np.hypot(np.diff(fixes.x_m), np.diff(fixes.y_m))
    np.testing.assert_allclose(steps, 3.0, rtol=1e-6)
    assert not fixes.gap_after.any()


def test_courses_outside_0_to_360_are_wrapped_and_slow_ones_come_from_positions():
    tel = straight(60)
    heading = np.full(60, 90.0)
    heading[10], heading[11], heading[12] = -270.0, 450.0, np.nan
    speed = np.full(60, 30.0)
    speed[40:45] = 0.5  # too slow for the receiver's course to mean anything
    heading[40:45] = 200.0
    tel = Telemetry.build(
        "test", tel.t_s, tel.lat_deg, tel.lon_deg, speed_mps=speed, heading_deg=heading
    )
    fixes = clean_fixes(tel)
    np.testing.assert_allclose(fixes.course_deg, 90.0, atol=1e-6)


def test_negative_and_missing_gnss_speeds_are_mended():
    tel = straight(60)
    speed = np.full(60, 30.0)
    speed[5] = -0.2  # some receivers report a tiny negative speed
    speed[20:23] = np.nan
    tel = Telemetry.build(
        "test", tel.t_s, tel.lat_deg, tel.lon_deg, speed_mps=speed, heading_deg=tel.heading_deg
    )
    fixes = clean_fixes(tel)
    assert fixes.speed_from_gnss
    assert fixes.speed_mps[5] == 0.0
    np.testing.assert_allclose(fixes.speed_mps[20:23], 30.0, rtol=1e-6)
