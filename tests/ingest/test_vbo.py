from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pytest
from format_writers import session, synthetic, vbo_laptiming
from format_writers import vbo as write_vbo

from racesense.analysis.pipeline import analyse
from racesense.analysis.telemetry import STANDARD_GRAVITY_MPS2
from racesense.ingest import MalformedFileError, detect_format, read_telemetry, vbo

# Written for these tests from Racelogic's published description of the format:
# 10 Hz, CRLF line ends, crossing midnight UTC, created just after midnight.
SESSION = (Path(__file__).parent / "data" / "session.vbo").read_bytes()

MINIMAL = (
    b"File created on 03/09/2023 at 14:10:00\n"
    b"[header]\nsatellites\ntime\nlatitude\nlongitude\nvelocity knots\nheading\n"
    b"[column names]\nsats time lat long velocity heading\n"
    b"[data]\n"
    b"008 140955.00 +3119.408424 -00062.635139 010.00 356.06\n"
    b"008 140956.00 +3119.408592 -00062.635104 020.00 356.02\n"
    b"008 140957.00 +3119.408629 -00062.635108 030.00 355.92\n"
)


def test_session_is_detected() -> None:
    assert vbo.sniff(SESSION[:16384])
    assert detect_format(SESSION) == "vbox-vbo"


def test_session_values() -> None:
    tel = vbo.parse(SESSION)
    assert tel.format == "vbox-vbo"
    assert len(tel) == 20
    # 23:59:58.5 to 00:00:00.4 and on: the day carries over midnight.
    np.testing.assert_allclose(tel.t_s, np.arange(20) * 0.1, atol=1e-6)
    # Created 15/06 00:00:03, first sample 23:59:58.5: that is the 14th.
    assert tel.started_at == dt.datetime(2024, 6, 14, 23, 59, 58, 500000, tzinfo=dt.UTC)
    # Minutes / 60, and positive longitude is west.
    assert tel.lat_deg[0] == pytest.approx(3124.398 / 60)
    assert tel.lon_deg[0] == pytest.approx(-60.852 / 60)
    assert tel.lon_deg[-1] > tel.lon_deg[0]  # the file's longitude falls: moving east
    assert tel.speed_mps[0] == pytest.approx(25.0)  # 90 km/h
    assert tel.sats[0] == 9.0  # 137 = 128 (DGPS) + 9
    assert (tel.heading_deg[0], tel.alt_m[1]) == (45.0, 150.01)
    assert tel.accel_lon_mps2[0] == pytest.approx(0.1 * STANDARD_GRAVITY_MPS2)
    assert tel.accel_lat_mps2[0] == pytest.approx(-0.2 * STANDARD_GRAVITY_MPS2)
    assert tel.channels["rpm"].unit == "rpm" and tel.channels["rpm"].values[-1] == 4190.0
    assert tel.channels["vert-vel"].unit == "m/s"
    assert tel.device_id == "012345"
    assert tel.metadata["log_rate_hz"] == "10.00"
    assert tel.metadata["laptiming"].startswith("Start +3124.398000")


def test_speed_unit_from_the_header_and_east_longitude() -> None:
    tel = vbo.parse(MINIMAL)
    np.testing.assert_allclose(tel.speed_mps, np.array([10.0, 20.0, 30.0]) * 1852 / 3600)
    assert tel.lon_deg[0] == pytest.approx(62.635139 / 60)  # negative = east
    assert tel.started_at == dt.datetime(2023, 9, 3, 14, 9, 55, tzinfo=dt.UTC)
    np.testing.assert_allclose(tel.t_s, [0.0, 1.0, 2.0])


def test_date_column_wins_and_midnight_carries() -> None:
    data = (
        b"File created on 01/01/2020\n[header]\ntime\nlatitude\nlongitude\ndate\n"
        b"[column names]\ntime lat long Date\n[data]\n"
        b"235959.50 +3119.4 +00062.6 311223\n"
        b"000000.50 +3119.4 +00062.6 010124\n"
    )
    tel = vbo.parse(data)
    assert tel.started_at == dt.datetime(2023, 12, 31, 23, 59, 59, 500000, tzinfo=dt.UTC)
    np.testing.assert_allclose(tel.t_s, [0.0, 1.0])


def test_no_created_line_means_no_start_time() -> None:
    tel = vbo.parse(MINIMAL[MINIMAL.index(b"[header]") :])
    assert tel.started_at is None
    assert len(tel) == 3


def test_truncated_last_line_is_dropped() -> None:
    tel = vbo.parse(SESSION[:-40])
    assert len(tel) == 19


def test_garbage_number_reads_as_nan() -> None:
    tel = vbo.parse(MINIMAL.replace(b"020.00", b"02O.00"))
    assert len(tel) == 3 and np.isnan(tel.speed_mps[1])
    bad_time = vbo.parse(MINIMAL.replace(b"140956.00", b"146956.00"))  # 69 minutes
    assert len(bad_time) == 2


def test_empty_data_section_is_malformed() -> None:
    with pytest.raises(MalformedFileError, match="empty"):
        vbo.parse(MINIMAL[: MINIMAL.index(b"008 ")])


def test_missing_sections_are_malformed() -> None:
    with pytest.raises(MalformedFileError, match=r"\[data\]"):
        vbo.parse(b"File created on 01/01/2020\n[header]\ntime\n")
    with pytest.raises(MalformedFileError, match="column names"):
        vbo.parse(b"[header]\ntime\n[data]\n120000.00\n")


def test_sniff_is_precise() -> None:
    assert vbo.sniff(b"[header]\nsatellites\n")
    assert not vbo.sniff(b"[comments]\n[header]\n")
    assert not vbo.sniff(b"File created on 01/01/2020\nsomething else\n")


# The same nine columns as other writers name them: RaceBox and other apps' exports,
# converters, VBOX HD2 and Video VBOX; upper case, full words, units in the name.
OTHER_WRITERS = [
    "sats time lat lng velocity heading height Longacc Latacc",
    "Sats Time Lat Long Velocity Heading Height LongAcc LatAcc",
    "satellites time latitude longitude velocity kmh heading height long_acc lat_acc",
    "SATS TIME LAT LON SPEED HEADING HEIGHT LONGACC LATACC",
    "sats UTC_time latitude longitude velocity_kmh course altitude longaccel lataccel",
]


@pytest.mark.parametrize("columns", OTHER_WRITERS)
def test_column_names_of_other_writers(columns: str) -> None:
    racelogic = vbo.parse(write_vbo(session()))
    other = vbo.parse(write_vbo(session(), columns=columns))
    for name in ("t_s", "lat_deg", "lon_deg", "speed_mps", "heading_deg", "alt_m"):
        np.testing.assert_array_equal(getattr(other, name), getattr(racelogic, name), name)
    np.testing.assert_array_equal(other.accel_lon_mps2, racelogic.accel_lon_mps2)
    assert other.started_at == racelogic.started_at
    assert analyse(other).lap_count == 2


def test_speed_unit_in_the_column_name() -> None:
    tel = vbo.parse(
        MINIMAL.replace(
            b"sats time lat long velocity heading", b"sats time lat lng speed_kmh heading"
        )
    )
    np.testing.assert_allclose(tel.speed_mps, np.array([10.0, 20.0, 30.0]) / 3.6)
    mph = vbo.parse(MINIMAL.replace(b"velocity heading\n", b"velocity mph heading\n"))
    np.testing.assert_allclose(mph.speed_mps, np.array([10.0, 20.0, 30.0]) * 0.44704)


def test_channel_units_listed_for_every_column() -> None:
    data = MINIMAL.replace(
        b"[column names]", b"[channel units]\ncount\ns\nmin\nmin\nmph\ndeg\n[column names]"
    )
    tel = vbo.parse(data)
    np.testing.assert_allclose(tel.speed_mps, np.array([10.0, 20.0, 30.0]) * 0.44704)


def test_a_file_without_position_columns_names_the_columns_it_has() -> None:
    data = MINIMAL.replace(b"sats time lat long velocity", b"sats time northing easting velocity")
    with pytest.raises(MalformedFileError) as caught:
        vbo.parse(data)
    message = str(caught.value)
    assert "position" in message
    for name in ("'sats'", "'time'", "'northing'", "'easting'", "'velocity'", "'heading'"):
        assert name in message


def test_a_file_without_time_names_the_columns_it_has() -> None:
    with pytest.raises(MalformedFileError, match=r"no time column.*'clock', 'lat', 'long'"):
        vbo.parse(MINIMAL.replace(b"sats time lat", b"sats clock lat"))


def test_a_damaged_time_of_day_starts_no_new_day() -> None:
    rows = b"".join(
        b"008 1409%05.2f +3119.408424 -00062.635139 010.00 356.06\n" % (10.0 + 0.1 * k)
        for k in range(20)
    )
    damaged = rows.replace(b"140910.50", b"000000.00")
    tel = vbo.parse(MINIMAL[: MINIMAL.index(b"008 ")] + damaged)
    assert len(tel) == 19  # the damaged row has no time
    np.testing.assert_allclose(tel.t_s, np.delete(np.arange(20) * 0.1, 5), atol=1e-6)
    assert tel.started_at == dt.datetime(2023, 9, 3, 14, 9, 10, tzinfo=dt.UTC)


@pytest.mark.parametrize("order", ["longitude first", "latitude first"])
def test_laptiming_start_line_is_the_start_finish_hint(order: str) -> None:
    line = synthetic().start_finish_line_deg
    text = vbo_laptiming(line)
    if order == "latitude first":
        words = text.split()
        text = " ".join([words[0], words[2], words[1], words[4], words[3], *words[5:]])
    tel = vbo.parse(write_vbo(session(), laptiming=text))
    hint = tel.start_finish_hint
    assert hint is not None and hint.p2 is not None
    np.testing.assert_allclose([hint.p1, hint.p2], line, atol=1e-7)
    analysis = analyse(tel)
    assert analysis.track is not None and analysis.track.source == "file"
    complete = [lap.time_s for lap in analysis.laps if lap.complete]
    np.testing.assert_allclose(complete, synthetic().lap_times_s, atol=0.1)


def test_laptiming_line_of_another_venue_is_not_used() -> None:
    (lat1, lon1), (lat2, lon2) = synthetic().start_finish_line_deg
    far = ((lat1 + 1.0, lon1), (lat2 + 1.0, lon2))  # 111 km north
    tel = read_telemetry(write_vbo(session(), laptiming=vbo_laptiming(far)))
    analysis = analyse(tel)
    assert analysis.track is not None and analysis.track.source == "detected"
    assert analysis.lap_count == 2
