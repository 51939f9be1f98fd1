from __future__ import annotations

import csv
import dataclasses
import datetime as dt
import io
from collections.abc import Callable
from functools import cache

import numpy as np
import pytest
from format_writers import racecapture_time_of_day

from racesense.analysis.pipeline import analyse
from racesense.analysis.telemetry import STANDARD_GRAVITY_MPS2, Telemetry
from racesense.analysis.track import Gate, Track
from racesense.ingest import MalformedFileError, detect_format, racecapture
from racesense.synth import SyntheticSession, demo_circuit, make_session

SAMPLE = "racecapture_sonoma/sonoma.log"
LAPS = "racecapture_sonoma/LAPS_from_logger_columns_sonoma.csv"
G = STANDARD_GRAVITY_MPS2

HEADER = (
    b'"Interval"|"ms"|0|0|1,"Utc"|"ms"|0|0|1,"AccelX"|"G"|-2.0|2.0|25,'
    b'"AccelY"|"G"|-2.0|2.0|25,"Yaw"|"Deg/Sec"|-300.0|300.0|25,'
    b'"Latitude"|"Degrees"|0.0|0.0|10,"Longitude"|"Degrees"|0.0|0.0|10,'
    b'"Speed"|"MPH"|0.0|150.0|10,"LapCount"|""|0|0|10\n'
)
# Logger clock 100 ms between the two fixes, GNSS clock 150 ms: the logger is off.
# The IMU-only rows' own Utc values (the 2nd column) are the logger's extrapolation,
# deliberately wrong here; they must not be used.
SMALL = HEADER + (
    b"1000,5000900,0.1,0.2,1.0,,,,\n"
    b"1040,5000040,0.1,0.2,1.0,38.0,-122.0,10.0,0\n"
    b"1080,5000999,0.1,0.2,1.0,,,,\n"
    b"1140,5000190,0.1,0.2,1.0,38.0001,-122.0,10.0,0\n"
    b"1180,5000150,0.3,0.4,2.0,,,,\n"
)


@pytest.fixture(scope="module")
def sample(shared_file: Callable[[str], bytes]) -> bytes:
    return shared_file(SAMPLE)


@pytest.fixture(scope="module")
def tel(sample: bytes) -> Telemetry:
    return racecapture.parse(sample)


def test_sample_is_detected(sample: bytes) -> None:
    assert racecapture.sniff(sample[:16384])
    assert detect_format(sample) == "racecapture-log"


def test_sample_values(tel: Telemetry) -> None:
    assert len(tel) == 33310
    assert tel.t_s[0] == 0.0 and np.all(np.diff(tel.t_s) >= 0)
    # First row: Interval 1195962, 80 ms before the first fix (Interval 1196042,
    # Utc 1429743738008), so 1429743737928 ms.
    assert tel.started_at == dt.datetime(2015, 4, 22, 23, 2, 17, 928000, tzinfo=dt.UTC)
    fix = np.flatnonzero(np.isfinite(tel.lat_deg))
    assert tel.t_s[fix[0]] == pytest.approx(0.080)
    assert (tel.lat_deg[fix[0]], tel.lon_deg[fix[0]]) == (38.162849, -122.455605)
    assert tel.speed_mps[fix[0]] == pytest.approx(96.42 * 0.44704)
    assert tel.alt_m[fix[0]] == 12.0 and tel.sats[fix[0]] == 11.0 and tel.hdop[fix[0]] == 1.3
    # 11103 rows carry a fix; 1561 of them repeat the previous one while moving (stale).
    assert fix.size == 9542
    assert tel.channels["Distance"].unit == "m"
    assert tel.channels["TPS"].values[2] == 73.0


def test_sample_laps_match_the_logger(tel: Telemetry, shared_file: Callable[[str], bytes]) -> None:
    reference = list(csv.DictReader(io.StringIO(shared_file(LAPS).decode())))
    lap_count = tel.channels["LapCount"]
    assert lap_count.kind == "discrete"
    rows = np.flatnonzero(np.isfinite(lap_count.values))
    changes = rows[1:][np.diff(lap_count.values[rows]) != 0]
    assert list(lap_count.values[changes]) == [float(r["lap_completed"]) for r in reference]
    lap_time_s = tel.channels["LapTime"].values[changes]  # minutes in the file
    expected = [float(r["logger_laptime_s"]) for r in reference]
    np.testing.assert_allclose(lap_time_s, expected, atol=0.002)
    # The logger counts a lap at its own (uninterpolated) crossing: within 0.25 s.
    np.testing.assert_allclose(np.diff(tel.t_s[changes]), expected[1:], atol=0.25)


def test_sample_axes_are_inferred_from_the_gnss_track(tel: Telemetry) -> None:
    # This 2015 unit logged AccelX lateral (right +) and AccelY longitudinal.
    assert tel.metadata["imu_axes"] == (
        "accel_lon_mps2=+AccelY accel_lat_mps2=-AccelX yaw_rate_dps=+Yaw "
        "accel_vert_mps2=+AccelZ (inferred from the GNSS track)"
    )
    fix = np.isfinite(tel.speed_mps)
    imu = np.isfinite(tel.accel_lon_mps2)
    grid = np.arange(1.0, tel.t_s[-1] - 1.0, 0.1)
    box = np.ones(10) / 10  # 1 s
    v = np.convolve(np.interp(grid, tel.t_s[fix], tel.speed_mps[fix]), box, "same")
    dvdt = np.convolve(np.gradient(v, grid), box, "same")
    accel = np.convolve(np.interp(grid, tel.t_s[imu], tel.accel_lon_mps2[imu]), box, "same")
    assert np.corrcoef(accel, dvdt)[0, 1] > 0.8
    assert np.nanmedian(tel.accel_vert_mps2) == pytest.approx(G, rel=0.2)


def test_gnss_time_wins_over_the_logger_clock() -> None:
    tel = racecapture.parse(SMALL)
    # Fixes take Utc; 1080 lies halfway between the fixes -> 5000040 + 40 * 1.5;
    # 1000 and 1180 are past the ends -> slope 1 from the nearest fix.
    assert tel.started_at == dt.datetime.fromtimestamp(5000.0, dt.UTC)
    np.testing.assert_allclose(tel.t_s, [0.0, 0.040, 0.100, 0.190, 0.230])
    np.testing.assert_allclose(tel.lat_deg[[1, 3]], [38.0, 38.0001])
    assert np.isnan(tel.lat_deg[[0, 2, 4]]).all()
    np.testing.assert_allclose(tel.speed_mps[[1, 3]], 10.0 * 0.44704)


def test_rows_are_sorted_by_gnss_time() -> None:
    # The second fix's Utc lies before the IMU row logged ahead of it.
    data = HEADER + (
        b"1000,5000000,0.1,0.2,1.0,38.0,-122.0,10.0,0\n"
        b"1100,5000100,0.1,0.2,1.0,,,,\n"
        b"1140,5000080,0.1,0.2,1.0,38.0001,-122.0,10.0,0\n"
    )
    tel = racecapture.parse(data)
    # The IMU row maps to 5000000 + 100 * 80 / 140 ms, before the second fix.
    np.testing.assert_allclose(tel.t_s, [0.0, 0.08 * 100 / 140, 0.08], atol=1e-6)
    assert np.isnan(tel.lat_deg[1]) and tel.lat_deg[2] == 38.0001


def test_sae_axes_without_enough_track() -> None:
    tel = racecapture.parse(SMALL)
    assert tel.metadata["imu_axes"].endswith("(SAE J670E default)")
    np.testing.assert_allclose(tel.accel_lon_mps2[0], 0.1 * G)
    np.testing.assert_allclose(tel.accel_lat_mps2[0], -0.2 * G)
    np.testing.assert_allclose(tel.yaw_rate_dps[0], -1.0)


def test_stale_repeated_fix_is_dropped() -> None:
    data = HEADER + (
        b"1000,5000000,,,,38.0,-122.0,20.0,0\n"
        b"1100,5000100,,,,38.0,-122.0,20.0,0\n"
        b"1200,5000190,,,,38.0002,-122.0,20.0,0\n"
    )
    tel = racecapture.parse(data)
    np.testing.assert_allclose(tel.t_s, [0.0, 0.095, 0.19])  # stale row: Interval mapped
    assert np.isnan(tel.lat_deg[1]) and np.isnan(tel.speed_mps[1])


def test_zero_position_is_no_fix_and_no_utc_uses_interval() -> None:
    header = (
        b'"Interval"|"ms"|0|0|1,"Latitude"|"Degrees"|0.0|0.0|10,"Longitude"|"Degrees"|0.0|0.0|10\n'
    )
    tel = racecapture.parse(header + b"500,0.0,0.0\n600,38.5,-122.5\n")
    assert tel.started_at is None
    np.testing.assert_allclose(tel.t_s, [0.0, 0.1])
    assert np.isnan(tel.lat_deg[0]) and tel.lat_deg[1] == 38.5


def test_truncated_last_line_is_dropped() -> None:
    tel = racecapture.parse(SMALL + b"1220,5000230,0.3,0.")
    assert len(tel) == 5


def test_garbage_number_reads_as_nan() -> None:
    tel = racecapture.parse(SMALL.replace(b"0.3,0.4,2.0", b"0.3,zz,2.0"))
    assert len(tel) == 5
    assert np.isnan(tel.accel_lat_mps2[-1])


def test_empty_data_section_is_malformed() -> None:
    with pytest.raises(MalformedFileError, match="no data rows"):
        racecapture.parse(HEADER)


def test_sniff_is_precise() -> None:
    assert racecapture.sniff(HEADER)
    assert not racecapture.sniff(b'"Name"|"unit"\n')
    assert not racecapture.sniff(b"Interval,Utc\n1,2\n")
    assert not racecapture.sniff(b'"RPM"|""|0|10000|10\n1\n')  # no Interval or Utc


def test_a_damaged_utc_is_not_trusted() -> None:
    rows = [f"{1000 + 100 * k},{5000000 + 100 * k},,,,38.{k:04d},-122.0,10.0,0\n" for k in range(7)]
    rows[3] = rows[3].replace("5000300", "50003")  # digits lost in a write error
    tel = racecapture.parse(HEADER + "".join(rows).encode())
    np.testing.assert_allclose(tel.t_s, np.arange(7) * 0.1, atol=1e-6)
    assert tel.started_at == dt.datetime.fromtimestamp(5000.0, dt.UTC)


@cache
def _synthetic() -> SyntheticSession:
    return make_session(demo_circuit(), rate_hz=10.0, laps=3, seed=11)


def _complete_laps(tel: Telemetry, synthetic: SyntheticSession) -> list[float]:
    line = Track("true line", start_finish=Gate(*synthetic.start_finish_line_deg), source="user")
    return [lap.time_s for lap in analyse(tel, track=line).laps if lap.complete]


def test_older_log_times_laps_by_its_gnss_time_of_day_over_missed_samples() -> None:
    """Older logs carry GNSS time as `Time` (hhmmss.sss), and their Interval does not
    advance over missed GNSS samples: timed by Interval, every lap came out 0.3% short."""
    synthetic = _synthetic()
    tel = synthetic.telemetry
    keep = np.ones(len(tel), dtype=bool)
    keep[150::300] = False  # one GNSS sample in 300 missed: 0.33%
    log = racecapture_time_of_day(tel, keep)
    assert detect_format(log) == "racecapture-log"
    read = racecapture.parse(log)
    kept_t = tel.t_s[keep] - tel.t_s[keep][0]
    np.testing.assert_allclose(read.t_s, kept_t, atol=1e-3)  # GNSS time, skips included
    assert tel.started_at is not None
    first = tel.started_at + dt.timedelta(seconds=float(tel.t_s[keep][0]))
    assert read.started_at is not None
    assert abs((read.started_at - first).total_seconds()) < 1e-3
    got = _complete_laps(read, synthetic)
    assert len(got) == synthetic.complete_laps
    np.testing.assert_allclose(got, synthetic.lap_times_s, atol=0.06)
    # The logger's own clock would have made each lap about 0.33% short.
    by_interval = dataclasses.replace(read, t_s=np.arange(len(read)) * 0.1)
    short = np.array(_complete_laps(by_interval, synthetic)) - synthetic.lap_times_s
    assert np.all(short < -0.002 * synthetic.lap_times_s)


def test_older_log_carries_its_time_of_day_over_midnight() -> None:
    synthetic = _synthetic()
    before_midnight = dt.datetime(2024, 5, 4, 23, 58, 30, tzinfo=dt.UTC)
    tel = dataclasses.replace(synthetic.telemetry, started_at=before_midnight)
    read = racecapture.parse(racecapture_time_of_day(tel))
    np.testing.assert_allclose(read.t_s, tel.t_s, atol=1e-3)
    assert read.started_at == before_midnight
    # Without a date: the same times, and no start instant invented.
    undated = racecapture.parse(racecapture_time_of_day(tel, date=False))
    np.testing.assert_allclose(undated.t_s, tel.t_s, atol=1e-3)
    assert undated.started_at is None
    assert undated.metadata["start_time_utc"] == "23:58:30.000"


def test_a_damaged_time_of_day_starts_no_new_day() -> None:
    header = (
        b'"Interval"|"ms"|0|0|1,"Time"|"utc"|0|0|10,'
        b'"Latitude"|"Degrees"|0.0|0.0|10,"Longitude"|"Degrees"|0.0|0.0|10\n'
    )
    rows = [f"{1000 + 100 * k},{143512.2 + 0.1 * k:.3f},38.{k:04d},-122.0\n" for k in range(9)]
    rows[4] = rows[4].replace("143512.600", "000000.000")  # a damaged time of day
    tel = racecapture.parse(header + "".join(rows).encode())
    np.testing.assert_allclose(tel.t_s, np.arange(9) * 0.1, atol=1e-6)
    assert tel.metadata["start_time_utc"] == "14:35:12.200"


def test_utc_wins_over_time_of_day() -> None:
    header = HEADER.replace(b'"Utc"|"ms"|0|0|1,', b'"Utc"|"ms"|0|0|1,"Time"|"utc"|0|0|10,')
    data = header + (
        b"1000,5000000,120000.000,,,,38.0,-122.0,10.0,0\n"
        b"1100,5000100,120000.500,,,,38.0001,-122.0,10.0,0\n"
    )
    tel = racecapture.parse(data)
    np.testing.assert_allclose(tel.t_s, [0.0, 0.1])
    assert tel.started_at == dt.datetime.fromtimestamp(5000.0, dt.UTC)


def test_sample_lap_counter_is_the_start_finish_hint(tel: Telemetry) -> None:
    # Where LapCount steps: the logger's own start/finish (shared/data/README.md), to
    # within the fix it counted at (the logger does not interpolate its crossing).
    hint = tel.start_finish_hint
    assert hint is not None and hint.p2 is None
    lat, lon = 38.161534, -122.454619
    north_m = (hint.p1[0] - lat) * 111_320.0
    east_m = (hint.p1[1] - lon) * 111_320.0 * np.cos(np.radians(lat))
    assert np.hypot(north_m, east_m) < 10.0


def test_channel_names_of_other_firmware() -> None:
    header = (
        b'"Interval"|"ms"|0|0|1,"Utc"|"ms"|0|0|1,"lat"|"Degrees"|0.0|0.0|10,'
        b'"lon"|"Degrees"|0.0|0.0|10,"GPSSpeed"|"KPH"|0.0|300.0|10,"GPSHeading"|"Deg"|0|360|10\n'
    )
    tel = racecapture.parse(header + b"1000,5000000,38.0,-122.0,36.0,90\n")
    assert (tel.lat_deg[0], tel.lon_deg[0]) == (38.0, -122.0)
    assert tel.speed_mps[0] == pytest.approx(10.0)
    assert tel.heading_deg[0] == 90.0


def test_a_log_without_position_names_the_channels_it_has() -> None:
    header = b'"Interval"|"ms"|0|0|1,"Utc"|"ms"|0|0|1,"AccelX"|"G"|-2.0|2.0|25\n'
    with pytest.raises(MalformedFileError, match=r"no position.*'Interval', 'Utc', 'AccelX'"):
        racecapture.parse(header + b"1000,5000000,0.1\n")


def test_a_log_without_time_names_the_channels_it_has() -> None:
    header = b'"Latitude"|"Degrees"|0|0|10,"Longitude"|"Degrees"|0|0|10,"Clock"|"s"|0|0|1\n'
    with pytest.raises(MalformedFileError, match=r"no time.*'Latitude', 'Longitude', 'Clock'"):
        racecapture.parse(header + b"38.0,-122.0,1.5\n")


def test_a_time_in_seconds_is_a_clock_from_the_start() -> None:
    header = b'"Time"|"s"|0|0|10,"Latitude"|"Degrees"|0|0|10,"Longitude"|"Degrees"|0|0|10\n'
    tel = racecapture.parse(header + b"12.5,38.0,-122.0\n12.6,38.0001,-122.0\n")
    np.testing.assert_allclose(tel.t_s, [0.0, 0.1])
    assert tel.started_at is None
