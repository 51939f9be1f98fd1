from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pytest

from racesense.analysis.telemetry import STANDARD_GRAVITY_MPS2
from racesense.ingest import MalformedFileError, detect_format, vbo

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
