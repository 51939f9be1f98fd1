from __future__ import annotations

import datetime as dt
from collections.abc import Callable

import numpy as np
import pytest
from format_writers import racechrono as write_racechrono
from format_writers import session, synthetic

from racesense.analysis.pipeline import analyse
from racesense.analysis.telemetry import STANDARD_GRAVITY_MPS2
from racesense.ingest import MalformedFileError, detect_format, racechrono

SAMPLE = "racechrono_tianma/session_20251231_111318_tianma_lap9_v3.csv"

# A small file in the same layout as RaceChrono's export, written for these tests.
SMALL = (
    b"This file is created using RaceChrono Pro v9.1.3 ( http://racechrono.com/ ).\n"
    b"Format,3\n"
    b'Session title,"Test"\n'
    b"Created,01/02/2024,10:00\n"
    b"\n"
    b"timestamp,lap_number,latitude,longitude,speed,speed,lateral_acc\n"
    b"unix time,,deg,deg,km/h,m/s,G\n"
    b",,100: gps,100: gps,100: gps,200: obd,calc\n"
    b"1706781600.00,1,52.0,-1.0,36.0,9.5,0.5\n"
    b"1706781600.04,1,52.00001,-1.00001,72.0,19.0,-0.25\n"
    b"1706781600.08,2,52.00002,-1.00002,108.0,28.0,0.0\n"
)


@pytest.fixture(scope="module")
def sample(shared_file: Callable[[str], bytes]) -> bytes:
    return shared_file(SAMPLE)


def test_sample_is_detected(sample: bytes) -> None:
    assert racechrono.sniff(sample[:16384])
    assert detect_format(sample) == "racechrono-csv-3"


def test_sample_values(sample: bytes) -> None:
    tel = racechrono.parse(sample)
    assert tel.format == "racechrono-csv-3"
    assert len(tel) == 3850
    assert tel.t_s[0] == 0.0
    assert tel.t_s[-1] == pytest.approx(84.28)
    assert np.all(np.diff(tel.t_s) >= 0)
    assert tel.started_at == dt.datetime(2025, 12, 31, 3, 13, 17, 440000, tzinfo=dt.UTC)
    assert (tel.lat_deg[0], tel.lon_deg[0]) == (31.0781678, 121.1164132)
    # GPS-sourced speed (33.453), not "calc" (33.411) or "obd" (18.82739).
    assert tel.speed_mps[0] == 33.453
    assert tel.heading_deg[0] == 322.56
    assert (tel.sats[0], tel.hdop[0], tel.alt_m[0]) == (8.0, 1.1, 1.1)
    assert tel.accel_lat_mps2[0] == pytest.approx(0.35977 * STANDARD_GRAVITY_MPS2)
    assert tel.accel_lon_mps2[0] == pytest.approx(0.36255 * STANDARD_GRAVITY_MPS2)
    assert tel.channels["speed_obd"].values[0] == 18.82739
    assert tel.channels["speed_calc"].values[0] == 33.411
    assert tel.channels["rpm"].values[0] == pytest.approx(3544.02065)
    assert tel.channels["combined_acc"].unit == "m/s^2"
    assert tel.metadata["track_name"] == "Tianma"
    assert tel.metadata["created_by"] == "RaceChrono Pro v9.1.3"


def test_sample_lap_channels_give_the_logger_lap_time(sample: bytes) -> None:
    tel = racechrono.parse(sample)
    lap = tel.channels["lap_number"]
    elapsed = tel.channels["elapsed_time"]
    assert lap.kind == elapsed.kind == "discrete"
    changes = np.flatnonzero(np.diff(lap.values) != 0) + 1
    assert list(lap.values[changes]) == [9.0, 10.0]
    assert np.diff(elapsed.values[changes])[0] == pytest.approx(76.329, abs=1e-3)


def test_small_file_units_and_sources() -> None:
    tel = racechrono.parse(SMALL)
    assert len(tel) == 3
    np.testing.assert_allclose(tel.t_s, [0.0, 0.04, 0.08])
    np.testing.assert_allclose(tel.speed_mps, [10.0, 20.0, 30.0])  # km/h from the GPS
    np.testing.assert_allclose(tel.channels["speed_obd"].values, [9.5, 19.0, 28.0])
    np.testing.assert_allclose(tel.accel_lat_mps2, np.array([0.5, -0.25, 0.0]) * 9.80665)
    assert tel.started_at == dt.datetime(2024, 2, 1, 10, 0, tzinfo=dt.UTC)
    assert tel.metadata["created"] == "01/02/2024 10:00"


def test_truncated_last_line_is_dropped() -> None:
    tel = racechrono.parse(SMALL[:-12])
    assert len(tel) == 2
    assert tel.speed_mps[-1] == pytest.approx(20.0)


def test_garbage_number_reads_as_nan() -> None:
    tel = racechrono.parse(SMALL.replace(b"52.00001,", b"5x.0000,"))
    assert len(tel) == 3
    assert np.isnan(tel.lat_deg[1])
    assert tel.lat_deg[2] == 52.00002


def test_empty_data_section_is_malformed() -> None:
    head = SMALL[: SMALL.index(b"1706781600.00")]
    with pytest.raises(MalformedFileError, match="no data rows"):
        racechrono.parse(head)


def test_missing_header_row_is_malformed() -> None:
    with pytest.raises(MalformedFileError):
        racechrono.parse(b"This file is created using RaceChrono\nFormat,3\n")


def test_other_versions_are_not_claimed() -> None:
    assert not racechrono.sniff(SMALL.replace(b"Format,3", b"Format,4"))
    assert not racechrono.sniff(b"timestamp,latitude\n1,2\n")


# The older layout: units in the names, no units or sources row, a source after a name.
V2 = (
    b"This file is created using RaceChrono v7.0.9 ( http://racechrono.com/ ).\n"
    b"Format,2\n"
    b"Session title,Test\n"
    b"\n"
    b"Timestamp (s),Lap #,Latitude (deg),Longitude (deg),Speed (kph),Bearing (deg),"
    b"Altitude (m),Locked satellites,Lateral Acceleration (G),"
    b"Longitudinal acceleration (G) *canbus\n"
    b"1706781600.00,1,52.0,-1.0,36.0,90.0,100.0,9,0.5,0.1\n"
    b"1706781600.04,1,52.00001,-1.00001,72.0,91.0,100.5,9,-0.25,0.2\n"
    b"1706781600.08,2,52.00002,-1.00002,108.0,92.0,101.0,10,0.0,0.3\n"
)


def _expect_v2(tel: object) -> None:
    assert isinstance(tel, type(racechrono.parse(SMALL)))
    np.testing.assert_allclose(tel.t_s, [0.0, 0.04, 0.08])
    np.testing.assert_allclose(tel.speed_mps, [10.0, 20.0, 30.0])  # kph
    np.testing.assert_allclose(tel.lat_deg, [52.0, 52.00001, 52.00002])
    np.testing.assert_allclose(tel.heading_deg, [90.0, 91.0, 92.0])
    np.testing.assert_allclose(tel.sats, [9, 9, 10])
    np.testing.assert_allclose(tel.accel_lat_mps2, np.array([0.5, -0.25, 0.0]) * 9.80665)
    np.testing.assert_allclose(tel.accel_lon_mps2, np.array([0.1, 0.2, 0.3]) * 9.80665)
    assert tel.channels["Lap #"].kind == "discrete"
    assert tel.started_at == dt.datetime(2024, 2, 1, 10, 0, tzinfo=dt.UTC)


def test_v2_layout_with_units_in_the_names() -> None:
    assert detect_format(V2) == "racechrono-csv-3"
    _expect_v2(racechrono.parse(V2))


@pytest.mark.parametrize("separator", [b";", b"\t"])
def test_decimal_commas_with_semicolons_or_tabs(separator: bytes) -> None:
    lines = V2.split(b"\n")
    head, rows = lines[:4], lines[4:]
    rows = [
        row.replace(b",", b"\x00").replace(b".", b",").replace(b"\x00", separator) for row in rows
    ]
    head = [line.replace(b"Format,2", b"Format" + separator + b"2") for line in head]
    data = b"\n".join(head + rows)
    assert detect_format(data) == "racechrono-csv-3"
    _expect_v2(racechrono.parse(data))


def test_v3_names_in_other_case_and_units_in_the_header() -> None:
    data = SMALL.replace(
        b"timestamp,lap_number,latitude,longitude,speed,speed,lateral_acc",
        b"Timestamp,Lap_Number,Latitude,Longitude,Speed (km/h),Speed,Lateral_Acc",
    ).replace(b"unix time,,deg,deg,km/h,m/s,G", b"unix time,,deg,deg,,m/s,G")
    tel = racechrono.parse(data)
    np.testing.assert_allclose(tel.speed_mps, [10.0, 20.0, 30.0])
    np.testing.assert_allclose(tel.lat_deg, [52.0, 52.00001, 52.00002])


def test_a_file_without_position_names_the_columns_it_has() -> None:
    data = SMALL.replace(b"latitude,longitude", b"northing,easting")
    with pytest.raises(MalformedFileError) as caught:
        racechrono.parse(data)
    message = str(caught.value)
    assert "position" in message
    for name in ("'timestamp'", "'lap_number'", "'northing'", "'easting'", "'speed'"):
        assert name in message


def test_the_lap_line_is_the_start_finish_hint() -> None:
    """RaceChrono adds a row on the line at each lap: where those rows are is its
    start/finish, and timing by it gives the session's laps."""
    tel = racechrono.parse(write_racechrono(session(), with_laps=True))
    hint = tel.start_finish_hint
    assert hint is not None and hint.p2 is None
    lat, lon = synthetic().start_finish_point_deg
    north_m = (hint.p1[0] - lat) * 111_320.0
    east_m = (hint.p1[1] - lon) * 111_320.0 * np.cos(np.radians(lat))
    assert np.hypot(north_m, east_m) < 3.0  # on the line, within the GNSS noise
    analysis = analyse(tel)
    assert analysis.track is not None and analysis.track.source == "file"
    complete = [lap.time_s for lap in analysis.laps if lap.complete]
    np.testing.assert_allclose(complete, synthetic().lap_times_s, atol=0.1)
