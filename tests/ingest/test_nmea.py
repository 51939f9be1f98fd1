from __future__ import annotations

import datetime as dt
from functools import reduce
from pathlib import Path

import numpy as np
import pytest

from racesense.ingest import MalformedFileError, detect_format, nmea

# Written for these tests: 10 Hz GN talker over midnight UTC (4 to 5 May 2024), with
# one corrupted RMC (epoch 7), one epoch without a fix (12: RMC V, GGA quality 0) and a
# GSV sentence that is not used.
SESSION = (Path(__file__).parent / "data" / "session.nmea").read_bytes()


def sentence(body: str) -> bytes:
    checksum = reduce(lambda a, b: a ^ b, body.encode(), 0)
    return f"${body}*{checksum:02X}\r\n".encode()


def test_session_is_detected() -> None:
    assert nmea.sniff(SESSION[:16384])
    assert detect_format(SESSION) == "nmea-0183"


def test_session_values() -> None:
    tel = nmea.parse(SESSION)
    assert tel.format == "nmea-0183"
    assert len(tel) == 20
    np.testing.assert_allclose(tel.t_s, np.arange(20) * 0.1, atol=1e-6)
    assert tel.started_at == dt.datetime(2024, 5, 4, 23, 59, 59, tzinfo=dt.UTC)
    # 5204.15926 N, 00101.33176 W
    assert tel.lat_deg[0] == pytest.approx(52 + 4.15926 / 60)
    assert tel.lon_deg[0] == pytest.approx(-(1 + 1.33176 / 60))
    assert tel.speed_mps[0] == pytest.approx(40.0 * 1852 / 3600)
    assert (tel.heading_deg[0], tel.sats[0], tel.hdop[0], tel.alt_m[0]) == (270.0, 12, 0.8, 153.2)
    assert tel.channels["fix_quality"].kind == "discrete"


def test_bad_checksum_sentence_is_skipped() -> None:
    tel = nmea.parse(SESSION)
    # Epoch 7's RMC is corrupted: GGA still gives the position, not speed or course.
    assert np.isfinite(tel.lat_deg[7]) and np.isfinite(tel.alt_m[7])
    assert np.isnan(tel.speed_mps[7]) and np.isnan(tel.heading_deg[7])


def test_epoch_without_fix_has_no_position() -> None:
    tel = nmea.parse(SESSION)
    assert np.isnan(tel.lat_deg[12]) and np.isnan(tel.lon_deg[12])
    assert np.isnan(tel.speed_mps[12]) and np.isnan(tel.alt_m[12])
    assert tel.channels["fix_quality"].values[12] == 0.0


def test_talkers_and_hemispheres() -> None:
    data = (
        sentence("GPRMC,120000.00,A,3351.60000,S,15112.00000,E,10.0,90.0,311299,,")
        + sentence("BDGGA,120000.00,3351.60000,S,15112.00000,E,2,8,1.1,20.0,M,22.0,M,,")
        + sentence("GLRMC,120001.00,A,3351.60000,S,15112.01000,E,10.0,90.0,311299,,")
    )
    tel = nmea.parse(data)
    assert len(tel) == 2
    assert tel.lat_deg[0] == pytest.approx(-(33 + 51.6 / 60))
    assert tel.lon_deg[1] == pytest.approx(151 + 12.01 / 60)
    assert tel.sats[0] == 8 and np.isnan(tel.sats[1])
    assert tel.started_at == dt.datetime(1999, 12, 31, 12, 0, tzinfo=dt.UTC)


def test_gga_only_has_no_start_date() -> None:
    data = sentence("GNGGA,083000.00,4807.03800,N,01131.00000,E,1,08,0.9,545.4,M,46.9,M,,")
    tel = nmea.parse(data * 2)
    assert len(tel) == 1 and tel.started_at is None
    assert tel.lat_deg[0] == pytest.approx(48 + 7.038 / 60)


def test_truncated_last_line_is_dropped() -> None:
    tel = nmea.parse(SESSION + b"$GNRMC,000001.00,A,5204.1")
    assert len(tel) == 20


def test_garbage_number_reads_as_nan() -> None:
    data = sentence("GPRMC,120000.00,A,52O4.15926,N,00101.33176,W,10.0,90.0,040524,,")
    data += sentence("GPRMC,120000.10,A,5204.15926,N,00101.33176,W,1x.0,90.0,040524,,")
    tel = nmea.parse(data)
    assert np.isnan(tel.lat_deg[0]) and np.isnan(tel.lon_deg[0])
    assert np.isfinite(tel.lat_deg[1]) and np.isnan(tel.speed_mps[1])


def test_no_usable_sentence_is_malformed() -> None:
    with pytest.raises(MalformedFileError, match="checksum"):
        nmea.parse(b"$GPRMC,120000.00,A,5204.1,N,00101.3,W,1,2,040524,,*00\r\n")
    with pytest.raises(MalformedFileError, match="valid time"):
        nmea.parse(sentence("GPRMC,,V,,,,,,,,,"))


def test_sniff_is_precise() -> None:
    assert nmea.sniff(sentence("GPGGA,120000.00,5204.1,N,00101.3,W,1,8,0.9,1.0,M,1.0,M,,"))
    assert not nmea.sniff(b"$GPRMC,120000.00,A,5204.1,N,00101.3,W,1,2,040524,,*00\r\n")
    assert not nmea.sniff(b"time,lat\n" + sentence("GPRMC,120000.00,V,,,,,,,040524,,"))


def test_capture_starting_inside_a_sentence() -> None:
    data = b"5204.15926,N,00101.33176,W,1,12,0.8,153.2,M,47.1,M,,*57\r\n" + SESSION
    assert nmea.sniff(data)
    assert len(nmea.parse(data)) == 20


def test_a_damaged_time_of_day_starts_no_new_day() -> None:
    # A time of 00:00:00 in the middle of a noon session (right checksum: damaged before
    # the receiver summed it) is no midnight: the session stays on its day.
    times = [f"1200{10 + 0.1 * k:05.2f}" for k in range(20)]
    times[6] = "000000.00"
    data = b"".join(
        sentence(f"GPRMC,{hms},A,5204.15926,N,00101.33176,W,40.0,270.0,040524,,,A") for hms in times
    )
    tel = nmea.parse(data)
    assert len(tel) == 19
    np.testing.assert_allclose(tel.t_s, np.delete(np.arange(20) * 0.1, 6), atol=1e-6)
    assert tel.started_at == dt.datetime(2024, 5, 4, 12, 0, 10, tzinfo=dt.UTC)
