"""Every export reads back through Racesense's own importers to the same laps.

A synthetic session (exact ground truth not needed: the reference is the analysis of
the telemetry itself) is written in each format, read with `read_telemetry`, and
analysed against the same start/finish line. Lap times must agree within 1 ms, or
within what the format's precision forces: VBO times are written to 10 ms, so each
sample may move by up to 5 ms and a lap by up to 10 ms (the sessions here start on a
whole second and log at 25 or 5 Hz, so in fact no sample moves).

The sessions log at 25 Hz and 5 Hz on purpose. At 10 Hz and 20 Hz the analysis's
crossing window, ceil(1.5 s / median step), sits exactly on an integer, and float noise
in the median step (which a file that starts its clock at another sample changes) flips
it by one fix and a lap time by 1-2 ms: a property of the analysis, not of the files,
which the export's report describes.
"""

from __future__ import annotations

import datetime as dt
import re
import xml.etree.ElementTree as ET
from functools import cache

import numpy as np
import pytest

from racesense.analysis.pipeline import analyse
from racesense.analysis.results import SessionAnalysis
from racesense.analysis.telemetry import STANDARD_GRAVITY_MPS2, Telemetry
from racesense.analysis.track import Gate, Track
from racesense.export import (
    FORMATS,
    MARGIN_S,
    Export,
    LapBounds,
    NoLapsError,
    SelectionError,
    prepare,
)
from racesense.ingest import read_telemetry
from racesense.synth import SyntheticSession, demo_circuit, make_session

# What each format's file reads back as, and how far a lap time may move.
DETECTED = {"racechrono": "racechrono-csv-3", "gpx": "gpx", "vbo": "vbox-vbo"}
LAP_TOLERANCE_S = {"racechrono": 0.001, "gpx": 0.001, "vbo": 0.010}
NAMES = sorted(FORMATS)
GPX = "{http://www.topografix.com/GPX/1/1}"


@cache
def synthetic(rate_hz: float = 25.0, laps: int = 3, imu: bool = True) -> SyntheticSession:
    return make_session(demo_circuit(), rate_hz=rate_hz, laps=laps, seed=5, imu=imu)


def line(session: SyntheticSession) -> Track:
    return Track("t", start_finish=Gate(*session.start_finish.endpoints_deg))


@cache
def analysed(rate_hz: float = 25.0, laps: int = 3, imu: bool = True) -> SessionAnalysis:
    session = synthetic(rate_hz, laps, imu)
    return analyse(session.telemetry, track=line(session))


def bounds(analysis: SessionAnalysis) -> tuple[LapBounds, ...]:
    """The laps as the results document stores them (to the millisecond)."""
    return tuple(
        LapBounds(lap.number, round(lap.start_s, 3), round(lap.end_s, 3)) for lap in analysis.laps
    )


def complete_times(analysis: SessionAnalysis, *, valid_only: bool = False) -> list[float]:
    return [lap.time_s for lap in analysis.laps if lap.complete and (lap.valid or not valid_only)]


def export_of(
    chosen: tuple[int, ...] | None = None,
    *,
    rate_hz: float = 25.0,
    imu: bool = True,
    title: str = "park",
) -> Export:
    session = synthetic(rate_hz, 3, imu)
    return prepare(
        session.telemetry,
        title=title,
        laps=bounds(analysed(rate_hz, 3, imu)),
        chosen=chosen,
        track_name="Racesense Park",
    )


def read_back(name: str, export: Export) -> Telemetry:
    tel = read_telemetry(FORMATS[name].write(export))
    assert tel.format == DETECTED[name]
    return tel


# --- Whole sessions ------------------------------------------------------------------


@pytest.mark.parametrize("rate_hz", [25.0, 5.0])
@pytest.mark.parametrize("name", NAMES)
def test_whole_session_reads_back_to_the_same_laps(name: str, rate_hz: float) -> None:
    session = synthetic(rate_hz)
    original = analysed(rate_hz)
    back = analyse(read_back(name, export_of(rate_hz=rate_hz)), track=line(session))
    assert len(back.laps) == len(original.laps)
    assert [lap.kind for lap in back.laps] == [lap.kind for lap in original.laps]
    got, want = complete_times(back), complete_times(original)
    assert len(got) == len(want) == 3
    np.testing.assert_allclose(got, want, rtol=0, atol=LAP_TOLERANCE_S[name])


@pytest.mark.parametrize("name", NAMES)
def test_channels_and_start_time_read_back(name: str) -> None:
    tel = synthetic().telemetry
    back = read_back(name, export_of())
    assert len(back) == len(tel)
    assert back.started_at == tel.started_at
    np.testing.assert_allclose(back.t_s, tel.t_s, atol=1e-6)
    np.testing.assert_allclose(back.lat_deg, tel.lat_deg, atol=1e-7)
    np.testing.assert_allclose(back.lon_deg, tel.lon_deg, atol=1e-7)
    np.testing.assert_allclose(back.speed_mps, tel.speed_mps, atol=1e-3)
    np.testing.assert_allclose(back.heading_deg, tel.heading_deg, atol=0.01)
    np.testing.assert_allclose(back.alt_m, tel.alt_m, atol=0.01)
    np.testing.assert_array_equal(back.sats, tel.sats)
    if name in ("racechrono", "gpx"):
        np.testing.assert_allclose(back.hdop, tel.hdop, atol=0.01)
    if name in ("racechrono", "vbo"):  # GPX has no place for accelerations
        g_step = 1e-4 * STANDARD_GRAVITY_MPS2
        np.testing.assert_allclose(back.accel_lat_mps2, tel.accel_lat_mps2, atol=g_step)
        np.testing.assert_allclose(back.accel_lon_mps2, tel.accel_lon_mps2, atol=g_step)


# --- Chosen laps -----------------------------------------------------------------------


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("lap", [1, 2, 3])
def test_a_lap_alone_reads_back_as_that_lap(name: str, lap: int) -> None:
    session = synthetic()
    original = {each.number: each for each in analysed().laps}[lap]
    export = export_of((lap,))
    t = export.column("t_s")
    # The lap and MARGIN_S either side, so that both crossings are in the file.
    assert t[0] == pytest.approx(original.start_s - MARGIN_S, abs=0.04)
    assert t[-1] == pytest.approx(original.end_s + MARGIN_S, abs=0.04)
    back = analyse(read_back(name, export), track=line(session))
    assert complete_times(back) == pytest.approx([original.time_s], abs=LAP_TOLERANCE_S[name])
    assert [lap.kind for lap in back.laps] == ["out", "timed", "in"]


@pytest.mark.parametrize("name", NAMES)
def test_laps_apart_read_back_as_themselves(name: str) -> None:
    session = synthetic()
    times = {lap.number: lap.time_s for lap in analysed().laps}
    export = export_of((3, 1))
    assert export.laps == (1, 3)
    assert set(export.fragment_ids.tolist()) == {0, 1}  # two stretches, lap 2 left out
    back = analyse(read_back(name, export), track=line(session))
    # Laps 1 and 3 as they were; what lies between them, across the jump in time, is
    # no valid lap.
    assert complete_times(back, valid_only=True) == pytest.approx(
        [times[1], times[3]], abs=LAP_TOLERANCE_S[name]
    )


def test_adjacent_laps_are_one_stretch() -> None:
    export = export_of((1, 2))
    assert set(export.fragment_ids.tolist()) == {0}
    assert np.all(np.diff(export.rows) == 1)


def test_lap_numbers_and_elapsed_time_come_from_the_results() -> None:
    analysis = analysed()
    export = export_of()
    t = export.column("t_s")
    for lap in analysis.laps:
        inside = (t >= lap.start_s) & (t < lap.end_s)
        assert np.all(export.lap_numbers[inside] == lap.number)
    assert not np.isnan(export.lap_numbers).any()  # laps cover the session
    np.testing.assert_allclose(export.elapsed_s, t)
    assert export.distance_m[0] == 0.0
    timed = [lap for lap in analysis.laps if lap.complete]
    for lap in timed:  # the analysis's own distance: each lap's, from line to line
        along = np.interp([lap.start_s, lap.end_s], t, export.distance_m)
        assert along[1] - along[0] == pytest.approx(lap.distance_m, rel=1e-3)


# --- Layouts as the formats' own readers expect them -----------------------------------


def test_racechrono_layout() -> None:
    data = FORMATS["racechrono"].write(export_of((2,)))
    lines = data.decode().split("\r\n")
    assert "\n" not in data.decode().replace("\r\n", "")  # CRLF throughout
    assert lines[0].startswith("This file is created using RaceChrono v9")
    assert lines[1] == "Format,3"
    assert lines[2] == 'Session title,"park"'
    assert lines[4] == 'Track name,"Racesense Park"'
    assert re.fullmatch(r"Created,\d\d/\d\d/\d{4},\d\d:\d\d", lines[6])
    assert lines[7] == 'Note,"Exported by Racesense 0.1.0 (lap 2)"'
    assert lines[8] == ""  # nine preamble lines, then the three header rows
    names, units, sources = (row.split(",") for row in lines[9:12])
    assert names[:5] == ["timestamp", "fragment_id", "lap_number", "elapsed_time",
                         "distance_traveled"]  # fmt: skip
    assert units[names.index("timestamp")] == "unix time"
    assert units[names.index("speed")] == "m/s"
    assert units[names.index("lateral_acc")] == "G"
    assert units[names.index("coordinate_precision")] == "DOP"
    assert sources[names.index("latitude")] == "100: gps"
    assert sources[names.index("longitudinal_acc")] == "calc"
    first = dict(zip(names, lines[12].split(","), strict=True))
    assert re.fullmatch(r"\d{10}\.\d{3}", first["timestamp"])
    assert first["lap_number"] == "1"  # the margin before lap 2 lies in lap 1
    laps = {row.split(",")[2] for row in lines[12:] if row}
    assert laps == {"1", "2", "3"}


def test_racechrono_lap_columns_read_back_as_channels() -> None:
    export = export_of()
    back = read_back("racechrono", export)
    np.testing.assert_array_equal(back.channels["lap_number"].values, export.lap_numbers)
    np.testing.assert_allclose(back.channels["elapsed_time"].values, export.elapsed_s, atol=1e-3)
    assert back.metadata["session_title"] == "park"
    assert back.metadata["track_name"] == "Racesense Park"


def test_gpx_layout() -> None:
    data = FORMATS["gpx"].write(export_of((1, 3)))
    root = ET.fromstring(data)
    assert root.tag == f"{GPX}gpx" and root.get("version") == "1.1"
    assert root.findtext(f"{GPX}metadata/{GPX}name") == "park"
    segments = root.findall(f"{GPX}trk/{GPX}trkseg")
    assert len(segments) == 2  # laps 1 and 3: two stretches
    point = segments[0].find(f"{GPX}trkpt")
    assert point is not None
    # Children in the order the GPX 1.1 schema requires.
    tags = [child.tag.split("}")[1] for child in point]
    assert tags == ["ele", "time", "sat", "hdop", "extensions"]
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", point.findtext(f"{GPX}time", ""))
    tpx = "{http://www.garmin.com/xmlschemas/TrackPointExtension/v2}"
    assert point.find(f"{GPX}extensions/{tpx}TrackPointExtension/{tpx}speed") is not None


def test_vbo_layout_and_signs() -> None:
    tel = synthetic().telemetry
    assert np.all(tel.lon_deg < 0)  # the demo circuit lies west of Greenwich
    text = FORMATS["vbo"].write(export_of()).decode()
    assert "\n" not in text.replace("\r\n", "")  # CRLF throughout
    lines = text.split("\r\n")
    assert re.fullmatch(r"File created on \d\d/\d\d/\d{4} at \d\d:\d\d:\d\d", lines[0])
    sections = [line for line in lines if line.startswith("[")]
    assert sections == ["[header]", "[channel units]", "[comments]", "[column names]", "[data]"]
    names = lines[lines.index("[column names]") + 1].split()
    assert names == ["sats", "time", "lat", "long", "velocity", "heading", "height",
                     "Longacc", "Latacc"]  # fmt: skip
    row = dict(zip(names, lines[lines.index("[data]") + 1].split(), strict=True))
    assert re.fullmatch(r"\d{6}\.\d\d", row["time"])
    assert float(row["lat"]) == pytest.approx(tel.lat_deg[0] * 60.0, abs=1e-6)
    # Racelogic's longitude is in minutes and positive WEST.
    assert float(row["long"]) == pytest.approx(-tel.lon_deg[0] * 60.0, abs=1e-6)
    assert float(row["long"]) > 0
    assert float(row["velocity"]) == pytest.approx(tel.speed_mps[0] * 3.6, abs=1e-3)
    assert "Log Rate (Hz) : 25.00" in lines


def test_vbo_laptiming_is_the_results_line() -> None:
    """The results' start/finish as Racelogic writes a gate: longitude first, minutes,
    west positive. Read back, it is the file's start/finish hint, and a lap alone is
    timed from it without a track."""
    analysis = analysed()
    assert analysis.track is not None
    line_deg = analysis.track.start_finish
    export = prepare(
        synthetic().telemetry,
        title="park",
        laps=bounds(analysis),
        chosen=(2,),
        start_finish=line_deg,
    )
    lines = FORMATS["vbo"].write(export).decode().split("\r\n")
    gate = lines[lines.index("[laptiming]") + 1].split()
    assert gate[0] == "Start" and gate[5:] == ["¬", "Start", "/", "Finish"]
    (lat1, lon1), (lat2, lon2) = line_deg
    want = [-lon1 * 60.0, lat1 * 60.0, -lon2 * 60.0, lat2 * 60.0]
    assert [float(v) for v in gate[1:5]] == pytest.approx(want, abs=1e-6)
    back = read_back("vbo", export)
    assert back.start_finish_hint is not None
    assert [back.start_finish_hint.p1, back.start_finish_hint.p2] == [
        pytest.approx(end, abs=1e-7) for end in line_deg
    ]
    found = analyse(back)
    assert found.track is not None and found.track.source == "file"
    assert complete_times(found) == pytest.approx(
        [analysis.laps[2].time_s], abs=LAP_TOLERANCE_S["vbo"]
    )


def test_vbo_time_of_day_wraps_at_midnight() -> None:
    tel = synthetic().telemetry
    late = Telemetry.build(
        "synthetic",
        tel.t_s,
        tel.lat_deg,
        tel.lon_deg,
        speed_mps=tel.speed_mps,
        started_at=dt.datetime(2026, 3, 1, 23, 58, 30, tzinfo=dt.UTC),
    )
    data = FORMATS["vbo"].write(prepare(late, title="late"))
    assert data.startswith(b"File created on 01/03/2026 at 23:58:30")
    assert b"\r\n000000.00 " in data  # sats left out: the session has none
    back = read_telemetry(data)
    assert back.started_at == late.started_at
    np.testing.assert_allclose(back.t_s, late.t_s, atol=1e-6)


# --- Names, sessions without laps, other sessions --------------------------------------

TITLE = 'Spa-Francorchamps — séance 2 <&> "pluie"\x07'


@pytest.mark.parametrize("name", NAMES)
def test_a_non_ascii_title_is_kept_and_escaped(name: str) -> None:
    data = FORMATS[name].write(export_of(title=TITLE))
    assert "Spa-Francorchamps — séance 2".encode() in data
    assert b"\x07" not in data
    back = read_telemetry(data)
    assert len(back) == len(synthetic().telemetry)
    if name == "gpx":
        assert ET.fromstring(data).findtext(f"{GPX}metadata/{GPX}name") == TITLE[:-1]
    if name == "racechrono":  # quoted as CSV quotes a cell
        assert 'Session title,"Spa-Francorchamps — séance 2 <&> ""pluie"""\r\n'.encode() in data
        assert back.metadata["session_title"].startswith("Spa-Francorchamps — séance 2 <&> ")


@pytest.mark.parametrize("name", NAMES)
def test_a_session_without_laps_is_exported_whole(name: str) -> None:
    session = synthetic()
    export = prepare(session.telemetry, title="new")
    assert np.isnan(export.lap_numbers).all()
    back = analyse(read_back(name, export), track=line(session))
    assert complete_times(back) == pytest.approx(
        complete_times(analysed()), abs=LAP_TOLERANCE_S[name]
    )


def test_laps_of_a_session_without_laps_are_refused() -> None:
    with pytest.raises(NoLapsError, match="no laps"):
        prepare(synthetic().telemetry, title="new", chosen=(1,))


@pytest.mark.parametrize(("chosen", "message"), [((7,), "no lap 7;"), ((2, 8, 9), "no laps 8, 9;")])
def test_a_lap_the_session_does_not_have_is_refused(chosen: tuple[int, ...], message: str) -> None:
    with pytest.raises(SelectionError, match=f"{message} its laps are 0, 1, 2, 3, 4"):
        export_of(chosen)


@pytest.mark.parametrize("name", NAMES)
def test_a_session_without_imu_or_date(name: str) -> None:
    tel = synthetic(imu=False).telemetry
    undated = Telemetry.build(
        "aim-csv",
        tel.t_s,
        tel.lat_deg,
        tel.lon_deg,
        speed_mps=tel.speed_mps,
        heading_deg=tel.heading_deg,
    )
    data = FORMATS[name].write(prepare(undated, title="kart"))
    assert b"lateral_acc" not in data and b"Latacc" not in data
    back = read_telemetry(data)
    # A recording without a date is written as starting at the Unix epoch, which an
    # importer may take for a clock from an unknown start.
    assert back.started_at in (None, dt.datetime(1970, 1, 1, tzinfo=dt.UTC))
    epoch = {
        "racechrono": b"\r\nCreated,01/01/1970,00:00\r\n",
        "gpx": b"<time>1970-01-01T00:00:00.000Z</time>",
        "vbo": b"File created on 01/01/1970 at 00:00:00\r\n",
    }
    assert epoch[name] in data
    np.testing.assert_allclose(back.t_s, tel.t_s, atol=1e-6)


def test_rows_without_a_position_and_sparse_channels() -> None:
    """A logger whose IMU rows carry no position (RaceCapture): CSV keeps the rows with
    empty cells, GPX leaves them out, VBO leaves them out and fills the gaps."""
    tel = synthetic().telemetry
    lat, lon = tel.lat_deg.copy(), tel.lon_deg.copy()
    lat[1::2] = lon[1::2] = np.nan  # every other row an IMU-only row
    accel = tel.accel_lon_mps2.copy()
    accel[::2] = np.nan
    sats = tel.sats.copy()
    sats[4:40] = np.nan
    heading = tel.heading_deg.copy()
    heading[10:15] = [359.0, np.nan, np.nan, np.nan, 3.0]  # row 12 (positioned): none
    sparse = Telemetry.build(
        "racecapture-log",
        tel.t_s,
        lat,
        lon,
        speed_mps=tel.speed_mps,
        sats=sats,
        heading_deg=heading,
        accel_lon_mps2=accel,
        started_at=tel.started_at,
    )
    export = prepare(sparse, title="sparse")
    csv = read_telemetry(FORMATS["racechrono"].write(export))
    assert len(csv) == len(tel)
    np.testing.assert_array_equal(np.isnan(csv.lat_deg), np.isnan(lat))
    gpx = read_telemetry(FORMATS["gpx"].write(export))
    vbo = read_telemetry(FORMATS["vbo"].write(export))
    for back in (gpx, vbo):
        np.testing.assert_allclose(back.t_s, tel.t_s[::2] - tel.t_s[0], atol=1e-6)
    # GPX leaves a missing value out, as the schema allows; VBO cannot.
    np.testing.assert_array_equal(np.isnan(gpx.sats), np.isnan(sats[::2]))
    assert np.isfinite(vbo.sats).all()
    assert np.isfinite(vbo.accel_lon_mps2).all()
    # Interpolated between the IMU rows either side.
    want = (tel.accel_lon_mps2[1:-1:2] + tel.accel_lon_mps2[3::2]) / 2.0
    np.testing.assert_allclose(
        vbo.accel_lon_mps2[1 : 1 + want.shape[0]], want, atol=1e-4 * STANDARD_GRAVITY_MPS2
    )
    assert vbo.sats[5] == tel.sats[3]  # held from the last count
    assert vbo.heading_deg[5:8].tolist() == [359.0, 1.0, 3.0]  # the short way round
