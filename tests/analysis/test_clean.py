import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from racesense.analysis.clean import _speeds_off_positions, clean_fixes, session_start_s
from racesense.analysis.errors import NoFixesError
from racesense.analysis.geo import LocalFrame
from racesense.analysis.telemetry import MAX_SPEED_MPS, Telemetry

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


def drive(speed_mps: np.ndarray, rate_hz: float = 10.0) -> Telemetry:
    """A car driving east along a straight at the given speeds (one per fix), its
    positions the exact integral of them, heading east."""
    n = speed_mps.shape[0]
    t = np.arange(n) / rate_hz
    x = np.concatenate(([0.0], np.cumsum(0.5 * (speed_mps[1:] + speed_mps[:-1]) / rate_hz)))
    lat, lon = FRAME.to_latlon(x, np.zeros(n))
    return Telemetry.build(
        "test", t, lat, lon, speed_mps=speed_mps.copy(), heading_deg=np.full(n, 90.0)
    )


def test_courses_outside_0_to_360_are_wrapped_and_slow_ones_come_from_positions():
    # 30 m/s, slowing to 0.5 m/s over fixes 30-40 and back up over 45-55.
    speed = np.interp(np.arange(80), [0, 30, 40, 44, 55, 79], [30, 30, 0.5, 0.5, 30, 30])
    tel = drive(speed)
    heading = tel.heading_deg.copy()
    heading[10], heading[11], heading[12] = -270.0, 450.0, np.nan
    heading[40:45] = 200.0  # too slow for the receiver's course to mean anything
    tel = Telemetry.build(
        "test", tel.t_s, tel.lat_deg, tel.lon_deg, speed_mps=speed, heading_deg=heading
    )
    fixes = clean_fixes(tel)
    np.testing.assert_allclose(fixes.course_deg, 90.0, atol=1e-6)


def test_negative_and_missing_gnss_speeds_are_mended():
    speed = np.full(60, 30.0)
    speed[:10] = 0.0  # standing, then off at 30 m/s
    tel = drive(speed)
    speed[5] = -0.2  # some receivers report a tiny negative speed when still
    speed[20:23] = np.nan
    tel = Telemetry.build(
        "test", tel.t_s, tel.lat_deg, tel.lon_deg, speed_mps=speed, heading_deg=tel.heading_deg
    )
    fixes = clean_fixes(tel)
    assert fixes.speed_from_gnss
    assert fixes.speed_mps[5] == 0.0
    np.testing.assert_allclose(fixes.speed_mps[20:23], 30.0, rtol=1e-6)


# --- Values no car produces: bounded by physics, said in the warnings -------------------


def with_speed(tel: Telemetry, speed: np.ndarray) -> Telemetry:
    return Telemetry.build(
        "test", tel.t_s, tel.lat_deg, tel.lon_deg, speed_mps=speed, heading_deg=tel.heading_deg
    )


@pytest.mark.parametrize("spike", [1e10, 1e6 / 3.6, -1e12, np.inf])
def test_a_speed_no_car_reaches_is_replaced_from_positions(spike: float):
    tel = straight(200)
    speed = tel.speed_mps.copy()
    speed[100] = spike
    fixes = clean_fixes(with_speed(tel, speed))
    assert fixes.speed_mps[100] == pytest.approx(30.0, rel=1e-6)
    assert fixes.dist_m[-1] == pytest.approx(30.0 * 19.9, rel=1e-6)
    assert fixes.speeds_replaced == {"faster_than_any_car": 1, "inconsistent_with_positions": 0}


@pytest.mark.parametrize(("at", "wrong_mps"), [(100, 100.0), (100, 0.0), (0, 120.0), (199, 0.0)])
def test_a_speed_the_positions_contradict_is_replaced(at: int, wrong_mps: float):
    tel = straight(200)
    speed = tel.speed_mps.copy()
    speed[at] = wrong_mps  # a car can go 100 m/s, but not while its fixes move at 30
    fixes = clean_fixes(with_speed(tel, speed))
    assert fixes.speed_mps[at] == pytest.approx(30.0, rel=1e-6)
    assert fixes.speeds_replaced == {"faster_than_any_car": 0, "inconsistent_with_positions": 1}


def test_speeds_are_checked_within_their_stretch_between_gaps():
    # A 3 s silence, and the car 5 km away after it (the receiver re-acquired there):
    # the positions across the gap say nothing about the speeds either side of it.
    tel = straight(100)
    keep = (tel.t_s < 5.0) | (tel.t_s >= 8.0)
    lat = tel.lat_deg[keep].copy()
    lat[tel.t_s[keep] >= 8.0] += 0.045
    fixes = clean_fixes(
        Telemetry.build(
            "test", tel.t_s[keep], lat, tel.lon_deg[keep], speed_mps=tel.speed_mps[keep]
        )
    )
    assert fixes.gap_after.sum() == 1
    assert fixes.speeds_replaced["inconsistent_with_positions"] == 0
    np.testing.assert_array_equal(fixes.speed_mps, 30.0)


def speeds_off_by_the_book(t, x, y, v, gap_after, period_s):
    """The speed check written plainly, one fix at a time, from its docstring."""
    n = len(t)
    half = round(1.0 / period_s)
    bad = np.zeros(n, dtype=bool)
    for i in range(n if half >= 1 else 0):
        lo = i
        while lo > 0 and i - lo < half and not gap_after[lo - 1]:
            lo -= 1
        hi = i
        while hi < n - 1 and hi - i < half and not gap_after[hi]:
            hi += 1
        dt = t[hi] - t[lo]
        chord = np.hypot(x[hi] - x[lo], y[hi] - y[lo])
        least = (v[i] - 10.0) * dt / 1.5 - 15.0
        bad[i] = chord > (1.5 * v[i] + 10.0) * dt + 15.0 or (least > 0 and least > chord)
    return bad


@given(
    n=st.integers(1, 80),
    period_s=st.sampled_from([0.04, 0.1, 0.2, 0.5, 1.0, 3.0]),
    gaps=st.integers(0, 6),
    seed=st.integers(0, 2**20),
)
def test_the_speed_check_matches_its_plain_description(n, period_s, gaps, seed):
    rng = np.random.default_rng(seed)
    t = np.cumsum(rng.uniform(0.5, 1.5, n) * period_s)
    x = np.cumsum(rng.normal(0.0, 30.0 * period_s, n))
    y = np.cumsum(rng.normal(0.0, 30.0 * period_s, n))
    v = rng.uniform(0.0, 60.0, n)
    v[rng.integers(0, n, 3)] = rng.choice([0.0, 140.0, np.nan], 3)
    gap_after = np.zeros(n, dtype=bool)
    gap_after[rng.integers(0, n, gaps)] = True
    gap_after[-1] = False
    got = _speeds_off_positions(t, x, y, v, gap_after, period_s)
    np.testing.assert_array_equal(got, speeds_off_by_the_book(t, x, y, v, gap_after, period_s))


def test_a_fix_days_away_from_the_session_is_dropped():
    tel = straight(100)
    t = tel.t_s.copy()
    t[-1] = 1e300  # a damaged time: would stretch the session (and its distance) forever
    t[0] = -3 * 86400.0
    fixes = clean_fixes(
        Telemetry.build("test", t, tel.lat_deg, tel.lon_deg, speed_mps=tel.speed_mps)
    )
    assert len(fixes) == 98
    assert fixes.dropped["time_far_from_session"] == 2
    assert fixes.dist_m[-1] == pytest.approx(30.0 * 9.7, rel=1e-6)


def test_a_jump_across_a_gap_counts_no_farther_than_a_car_could_go():
    # Two fixes 5,800 km away (latitude 0), jumping there and back: each step is a gap,
    # and counts as far as a car goes in its 0.1 s at most, plus GNSS noise.
    tel = straight(100)
    lat = tel.lat_deg.copy()
    lat[50:52] = 0.0
    fixes = clean_fixes(Telemetry.build("test", tel.t_s, lat, tel.lon_deg, speed_mps=tel.speed_mps))
    assert fixes.gap_after.sum() == 2
    assert fixes.dist_m[-1] < 30.0 * 9.9 + 2 * (MAX_SPEED_MPS * 0.1 + 15.0)


def test_imu_values_beyond_any_sensor_are_missing():
    tel = straight(100)
    accel = np.full(100, 2.0)
    accel[40] = 1e300
    tel = Telemetry.build(
        "test",
        tel.t_s,
        tel.lat_deg,
        tel.lon_deg,
        speed_mps=tel.speed_mps,
        accel_lon_mps2=accel,
        accel_lat_mps2=np.zeros(100),
    )
    fixes = clean_fixes(tel)
    assert fixes.accel_from_imu
    np.testing.assert_array_equal(fixes.accel_lon_mps2, 2.0)


def test_a_row_with_a_damaged_time_starts_no_session():
    # An IMU row 30 years before the fixes: laps still count from the session's start.
    tel = straight(100)
    t = np.concatenate(([-1e9, -0.5], tel.t_s))
    nan2 = np.full(2, np.nan)
    tel = Telemetry.build(
        "test",
        t,
        np.concatenate((nan2, tel.lat_deg)),
        np.concatenate((nan2, tel.lon_deg)),
        speed_mps=np.concatenate((nan2, tel.speed_mps)),
    )
    assert session_start_s(tel, clean_fixes(tel)) == -0.5
