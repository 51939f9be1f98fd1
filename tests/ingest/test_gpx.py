from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from racesense.ingest import MalformedFileError, UnknownFormatError, detect_format, gpx

DATA = Path(__file__).parent / "data"
# Written for these tests: GPX 1.1 with Garmin extensions, GPX 1.0 with inline speed.
GPX_11 = (DATA / "track_1_1.gpx").read_bytes()
GPX_10 = (DATA / "track_1_0.gpx").read_bytes()

TEMPLATE = (
    '<?xml version="1.0"?>\n{doctype}'
    '<gpx version="1.1" creator="t" xmlns="http://www.topografix.com/GPX/1/1"><trk><trkseg>'
    '<trkpt lat="{lat}" lon="8.5"><time>2024-01-01T12:00:00Z</time></trkpt>'
    '<trkpt lat="47.1" lon="8.6"><time>2024-01-01T12:00:01Z</time></trkpt>'
    "</trkseg></trk></gpx>\n"
)


def _gpx(lat: str = "47.0", doctype: str = "") -> bytes:
    return TEMPLATE.format(lat=lat, doctype=doctype).encode()


def test_files_are_detected() -> None:
    assert detect_format(GPX_11) == "gpx"
    assert detect_format(GPX_10) == "gpx"


def test_gpx_1_1_with_extensions() -> None:
    tel = gpx.parse(GPX_11)
    assert tel.format == "gpx"
    assert len(tel) == 3  # two segments; the waypoint is not a sample
    np.testing.assert_allclose(tel.t_s, [0.0, 1.0, 2.0])
    assert tel.started_at == dt.datetime(2024, 5, 4, 9, 30, tzinfo=dt.UTC)
    assert (tel.lat_deg[0], tel.lon_deg[0]) == (52.069321, -1.022196)
    np.testing.assert_allclose(tel.alt_m, [153.2, 153.4, 153.5])
    np.testing.assert_allclose(tel.speed_mps, [20.5, 21.0, np.nan])
    np.testing.assert_allclose(tel.heading_deg, [270.0, 270.5, np.nan])
    np.testing.assert_allclose(tel.channels["hr"].values, [121.0, 124.0, np.nan])
    assert tel.metadata == {
        "version": "1.1",
        "creator": "racesense tests",
        "track_name": "Morning session",
    }


def test_gpx_1_0_inline_speed_and_midnight() -> None:
    tel = gpx.parse(GPX_10)
    assert tel.started_at == dt.datetime(2023, 12, 31, 23, 59, 59, 500000, tzinfo=dt.UTC)
    np.testing.assert_allclose(tel.t_s, [0.0, 1.0])
    np.testing.assert_allclose(tel.speed_mps, [10.0, 10.5])
    np.testing.assert_allclose(tel.heading_deg, [90.0, 90.5])
    np.testing.assert_allclose(tel.sats, [9.0, 10.0])
    np.testing.assert_allclose(tel.hdop, [0.9, 0.8])
    assert tel.lat_deg[0] == -33.86


def test_waypoint_list_is_not_telemetry(shared_file: Callable[[str], bytes]) -> None:
    data = shared_file("racecapture_startfinish_db/sf_data.gpx")
    assert not gpx.sniff(data[:16384])
    with pytest.raises(UnknownFormatError):
        detect_format(data)
    with pytest.raises(MalformedFileError, match="track list"):
        gpx.parse(data)


def test_entity_expansion_is_refused() -> None:
    bomb = '<!DOCTYPE gpx [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;">]>\n'
    with pytest.raises(MalformedFileError, match="DTD or entities"):
        gpx.parse(_gpx(lat="&b;", doctype=bomb))


def test_external_entity_is_refused() -> None:
    doctype = '<!DOCTYPE gpx [<!ENTITY x SYSTEM "file:///etc/passwd">]>\n'
    with pytest.raises(MalformedFileError, match="DTD or entities"):
        gpx.parse(_gpx(lat="&x;", doctype=doctype))


def test_truncated_file_keeps_the_complete_points() -> None:
    data = GPX_11[: GPX_11.index(b"<ele>153.5")]
    tel = gpx.parse(data)
    assert len(tel) == 2


def test_garbage_number_reads_as_nan() -> None:
    tel = gpx.parse(_gpx(lat="4x.0"))
    assert len(tel) == 2 and np.isnan(tel.lat_deg[0]) and np.isnan(tel.lon_deg[0])


def test_points_without_time_are_malformed() -> None:
    with pytest.raises(MalformedFileError, match="valid time"):
        gpx.parse(b'<gpx version="1.1"><trk><trkseg><trkpt lat="1" lon="2"/></trkseg></trk></gpx>')


def test_not_xml_or_not_gpx_is_malformed() -> None:
    with pytest.raises(MalformedFileError, match="well-formed"):
        gpx.parse(b"<gpx><trkpt lat=")
    with pytest.raises(MalformedFileError, match="not GPX"):
        gpx.parse(b"<kml><trkpt/></kml>")


def test_sniff_is_precise() -> None:
    assert gpx.sniff(_gpx())
    assert not gpx.sniff(b'<gpx version="1.1"><wpt lat="1" lon="2"/></gpx>')
    assert not gpx.sniff(b"<kml><trkpt/></kml>")
