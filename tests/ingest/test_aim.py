from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest
from format_writers import sample as written_sample
from format_writers import synthetic

from racesense.analysis.pipeline import analyse
from racesense.analysis.telemetry import STANDARD_GRAVITY_MPS2, Telemetry
from racesense.ingest import MalformedFileError, aim, detect_format

SAMPLE = "aim_mychron_sskc/aim_format_example_SSKC_2022-06-19.csv"
G = STANDARD_GRAVITY_MPS2

# A small file in the layout of Race Studio's CSV export, written for these tests.
SMALL = (
    b"Format,AiM CSV File,,,,,\n"
    b"Venue,Test Ring,,,,,\n"
    b'Date,"Monday, May 6, 2024",,,,,\n'
    b"Time,10:05 AM,,,,,\n"
    b"Sample Rate,10,,,,,\n"
    b"Beacon Markers,12.5,70.25,,,,\n"
    b",,,,,,\n"
    b"Time,GPS Speed,GPS Latitude,GPS Longitude,AccelerometerY,GyroZ,RPM\n"
    b"s,mph,deg,deg,g,deg/s,rpm\n"
    b",,,,,,\n"
    b"0.000,10.0,51.5,-0.5,0.5,10.0,3000\n"
    b"0.100,20.0,51.50001,-0.50001,-0.25,-5.0,3100\n"
    b"0.200,30.0,0.0,0.0,0.0,0.0,3200\n"
)


@pytest.fixture(scope="module")
def sample(shared_file: Callable[[str], bytes]) -> bytes:
    return shared_file(SAMPLE)


@pytest.fixture(scope="module")
def tel(sample: bytes) -> Telemetry:
    return aim.parse(sample)


def test_sample_is_detected(sample: bytes) -> None:
    assert aim.sniff(sample[:16384])
    assert detect_format(sample) == "aim-csv"


def test_sample_values(tel: Telemetry) -> None:
    assert len(tel) == 19020  # Duration 951 s at 20 Hz
    assert tel.t_s[0] == 0.0 and tel.t_s[-1] == pytest.approx(950.95)
    assert np.diff(tel.t_s) == pytest.approx(0.05)
    assert tel.started_at is None  # local time, no zone: not invented
    assert (tel.lat_deg[0], tel.lon_deg[0]) == (50.51938948, -104.49508287)
    assert tel.speed_mps[0] == pytest.approx(1.4676 / 3.6)
    assert (tel.sats[0], tel.alt_m[0], tel.heading_deg[0]) == (11.0, 588.5188, 34.848)
    assert tel.accel_vert_mps2[0] == pytest.approx(0.81 * G)  # AccelerometerZ -0.81 g
    assert tel.yaw_rate_dps[0] == pytest.approx(-11.3)  # GyroZ 11.3, clockwise positive
    assert tel.channels["RPM"].values[4] == 289.0
    assert tel.channels["Water Temp"].unit == "°C"
    assert tel.channels["AccelerometerX"].values[0] == pytest.approx(-0.33 * G)


def test_sample_metadata(tel: Telemetry) -> None:
    assert tel.metadata["venue"] == "SSKC"
    assert tel.metadata["date_local"] == "Sunday, June 19, 2022"
    assert tel.metadata["time_local"] == "3:42 PM"
    markers = [float(x) for x in tel.metadata["beacon_markers_s"].split(",")]
    assert markers[:3] == [77.2, 149.128, 211.432] and len(markers) == 16


def test_sample_axes_follow_the_gps_track(tel: Telemetry) -> None:
    """Longitudinal follows d(speed)/dt; lateral (left +) follows speed x left turn rate."""
    t, k = tel.t_s, 20  # 1 s at 20 Hz
    north = np.radians(tel.lat_deg) * 6_371_000.0
    east = np.radians(tel.lon_deg) * 6_371_000.0 * np.cos(np.radians(tel.lat_deg[0]))
    course = np.unwrap(np.arctan2(east[k:] - east[:-k], north[k:] - north[:-k]))
    left_rate = -np.gradient(course, t[k // 2 : k // 2 + course.size])
    mid = slice(k // 2, k // 2 + course.size)
    moving = tel.speed_mps[mid] > 5.0
    box = np.ones(k) / k
    lateral_ref = np.convolve(tel.speed_mps[mid] * left_rate, box, "same")
    lateral = np.convolve(tel.accel_lat_mps2[mid], box, "same")
    assert np.corrcoef(lateral[moving], lateral_ref[moving])[0, 1] > 0.9
    lon_ref = np.convolve(np.gradient(tel.speed_mps, t), box, "same")
    assert np.corrcoef(tel.accel_lon_mps2, lon_ref)[0, 1] > 0.9
    yaw = np.convolve(tel.yaw_rate_dps[mid], box, "same")
    assert np.corrcoef(yaw[moving], np.convolve(left_rate, box, "same")[moving])[0, 1] > 0.8


def test_small_file_units_and_fallbacks() -> None:
    tel = aim.parse(SMALL)
    assert len(tel) == 3
    np.testing.assert_allclose(tel.t_s, [0.0, 0.1, 0.2])
    np.testing.assert_allclose(tel.speed_mps, np.array([10.0, 20.0, 30.0]) * 0.44704)
    # No GPS LatAcc: the accelerometer's y (right +) is used, negated to left +.
    np.testing.assert_allclose(tel.accel_lat_mps2, [-0.5 * G, 0.25 * G, 0.0])
    np.testing.assert_allclose(tel.yaw_rate_dps, [-10.0, 5.0, 0.0])
    assert np.isnan(tel.lat_deg[2]) and np.isnan(tel.lon_deg[2])  # 0,0 = no fix
    assert tel.metadata["beacon_markers_s"] == "12.5,70.25"
    assert tel.started_at is None


def test_truncated_last_line_is_dropped() -> None:
    tel = aim.parse(SMALL[:-10])
    assert len(tel) == 2


def test_garbage_number_reads_as_nan() -> None:
    tel = aim.parse(SMALL.replace(b"3100", b"3l00"))
    assert len(tel) == 3
    assert np.isnan(tel.channels["RPM"].values[1])


def test_empty_data_section_is_malformed() -> None:
    with pytest.raises(MalformedFileError, match="no data rows"):
        aim.parse(SMALL[: SMALL.index(b"0.000,")])


def test_no_column_names_is_malformed() -> None:
    with pytest.raises(MalformedFileError, match="column names"):
        aim.parse(b"Format,AiM CSV File\nVenue,X\n")


def test_sniff_is_precise() -> None:
    assert aim.sniff(SMALL)
    assert not aim.sniff(b"Format,3\nVenue,AiM CSV File\n")
    assert not aim.sniff(b"Time,GPS Speed\ns,km/h\n0,1\n")


def test_sample_beacon_markers_are_the_start_finish_hint(tel: Telemetry) -> None:
    # The GPS position at the logger's beacon times (shared/data/README.md).
    hint = tel.start_finish_hint
    assert hint is not None and hint.p2 is None
    assert hint.p1 == pytest.approx((50.519849, -104.493537), abs=2e-5)


# Race Studio's other spellings: underscores, short names, units in the header.
OTHER_EXPORTS = [
    (b"Time,GPS_Speed,GPS_Latitude,GPS_Longitude,AccelerometerY,GyroZ,RPM", True),
    (b"Time,GPS Speed,Latitude,Longitude,Accelerometer Y,Gyro Z,RPM", True),
    (
        b"Time [s],GPS Speed [mph],GPS Latitude [deg],GPS Longitude [deg],"
        b"AccelerometerY [g],GyroZ [deg/s],RPM [rpm]",
        False,
    ),
    (
        b'"Time (s)","GPS Speed (mph)","GPS Latitude (deg)","GPS Longitude (deg)",'
        b'"AccelerometerY (g)","GyroZ (deg/s)","RPM (rpm)"',
        False,
    ),
]


@pytest.mark.parametrize(("names", "units_row"), OTHER_EXPORTS)
def test_other_exports_names_and_units(names: bytes, units_row: bool) -> None:
    data = SMALL.replace(
        b"Time,GPS Speed,GPS Latitude,GPS Longitude,AccelerometerY,GyroZ,RPM", names
    )
    if not units_row:
        data = data.replace(b"s,mph,deg,deg,g,deg/s,rpm\n,,,,,,\n", b"")
    small = aim.parse(SMALL)
    tel = aim.parse(data)
    for name in ("t_s", "lat_deg", "lon_deg", "speed_mps", "accel_lat_mps2", "yaw_rate_dps"):
        np.testing.assert_array_equal(getattr(tel, name), getattr(small, name), name)


def test_semicolons_and_decimal_commas() -> None:
    head, _, rows = SMALL.partition(b"0.000,")
    rows = b"0.000," + rows
    data = head.replace(b",", b";") + rows.replace(b",", b";").replace(b".", b",")
    data = data.replace(b"Beacon Markers;12.5;70.25", b"Beacon Markers;12,5;70,25")
    assert detect_format(data) == "aim-csv"
    small, tel = aim.parse(SMALL), aim.parse(data)
    for name in ("t_s", "lat_deg", "lon_deg", "speed_mps", "accel_lat_mps2"):
        np.testing.assert_array_equal(getattr(tel, name), getattr(small, name), name)
    assert tel.metadata["venue"] == "Test Ring"


def test_a_file_without_position_names_the_columns_it_has() -> None:
    data = SMALL.replace(b"GPS Latitude,GPS Longitude", b"Pos X,Pos Y")
    with pytest.raises(MalformedFileError) as caught:
        aim.parse(data)
    message = str(caught.value)
    assert "position" in message
    for name in ("'Time'", "'GPS Speed'", "'Pos X'", "'Pos Y'", "'RPM'"):
        assert name in message


def test_beacon_markers_give_the_loggers_laps() -> None:
    tel = aim.parse(written_sample("aim-csv"))
    assert tel.start_finish_hint is not None
    analysis = analyse(tel)
    assert analysis.track is not None and analysis.track.source == "file"
    complete = [lap.time_s for lap in analysis.laps if lap.complete]
    np.testing.assert_allclose(complete, synthetic().lap_times_s, atol=0.1)


def test_beacon_markers_that_do_not_agree_give_no_hint() -> None:
    # Marks spread round the lap are no place: no hint, and the line is found instead.
    rows = b"".join(b"%.1f,50.0,51.%05d,-0.5,0,0,0\n" % (k * 0.1, k * 30) for k in range(200))
    head = SMALL[: SMALL.index(b"0.000,")].replace(b"12.5,70.25", b"2.0,6.0,10.0,14.0")
    assert aim.parse(head + rows).start_finish_hint is None
