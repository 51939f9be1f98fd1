"""Damaged values that used to end in a traceback (an "internal error" on the server,
retried three times) or a NumPy warning: each now reads to a clean result, the damage
taken as missing and said in the analysis's warnings. The importer fuzz test
(test_fuzz_importers.py) searches for more of these; these are the ones it, or a
fault probe before it, found."""

from __future__ import annotations

import datetime as dt
import warnings

import pytest
from format_writers import sample, session

from racesense.analysis.pipeline import analyse
from racesense.analysis.results import SessionAnalysis
from racesense.ingest import read_telemetry

FIXES = len(session().t_s)  # the sample session's GNSS fixes, one row each in most formats


def damage(data: bytes, column: int, rows: range | list[int], value: bytes) -> bytes:
    """`data` with cell `column` of the data rows `rows` (counted from the first line
    that starts with a digit) set to `value`. Comma-separated, or space-separated where
    the line has no comma (VBO)."""
    lines = data.split(b"\n")
    first = next(i for i, line in enumerate(lines) if line[:1].isdigit())
    for row in rows:
        line = lines[first + row]
        sep = b"," if b"," in line else b" "
        cells = line.split(sep)
        cells[column] = value
        lines[first + row] = sep.join(cells)
    return b"\n".join(lines)


def analysed(data: bytes) -> SessionAnalysis:
    """Read and analyse `data`, any warning (NumPy's overflow and invalid value
    included) an error."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        return analyse(read_telemetry(data))


def same_laps(analysis: SessionAnalysis, fmt: str, tolerance_s: float = 1e-3) -> None:
    expected = analysed(sample(fmt))
    assert analysis.lap_count == expected.lap_count == 2
    complete = [lap.time_s for lap in analysis.laps if lap.complete]
    want = [lap.time_s for lap in expected.laps if lap.complete]
    assert complete == pytest.approx(want, abs=tolerance_s)


def test_racecapture_gps_rows_sharing_one_utc_are_timed_by_the_logger_clock() -> None:
    # Every fix's Utc the same: GNSS time that never advances is no time at all, so the
    # rows keep the logger's clock (Interval) from the one fix that anchors it. It put
    # every row at one instant and failed smoothing an empty track.
    data = damage(sample("racecapture-log"), 1, range(FIXES), b"1772355600000")
    analysis = analysed(data)
    same_laps(analysis, "racecapture-log")
    assert analysis.started_at == dt.datetime(2026, 3, 1, 9, 0, tzinfo=dt.UTC)


def test_racecapture_adjacent_speeds_of_1e300() -> None:
    # Overflowed computing the axes' correlations (np.std of 1e300 squared).
    analysis = analysed(damage(sample("racecapture-log"), 7, [500, 501], b"1e300"))
    same_laps(analysis, "racecapture-log")
    assert analysis.warnings == (
        "2 GNSS speeds replaced by speeds from positions: faster than any car",
    )


@pytest.mark.parametrize(
    ("fmt", "column"),
    [("racecapture-log", 7), ("rscore-csv-1", 4), ("racechrono-csv-3", 4), ("aim-csv", 1)],
)
def test_speeds_of_1e308_on_many_points(fmt: str, column: int) -> None:
    # Distances summed to infinity, and infinity minus infinity is an invalid value.
    # With a third of the speeds from positions, crossings are timed less well.
    analysis = analysed(damage(sample(fmt), column, range(100, 1500, 3), b"1e308"))
    same_laps(analysis, fmt, tolerance_s=0.3)
    assert analysis.warnings == (
        "467 GNSS speeds replaced by speeds from positions: faster than any car",
    )


def test_racechrono_timestamp_of_minus_1e12_is_a_row_without_a_time() -> None:
    # Year -29,700: the start time overflowed Python's dates.
    data = damage(sample("racechrono-csv-3"), 0, [700], b"-1e12")
    tel = read_telemetry(data)
    # The sample's fixes and RaceChrono's row on the line at each of 3 crossings.
    assert len(tel) == FIXES + 3 - 1
    assert tel.started_at == read_telemetry(sample("racechrono-csv-3")).started_at
    same_laps(analysed(data), "racechrono-csv-3")


@pytest.mark.parametrize(
    ("fmt", "column", "rows", "value"),
    [
        ("racecapture-log", 0, range(480, FIXES, 9), b"-1e300"),  # Interval: start time
        ("racecapture-log", 2, range(0, 1500, 5), b"1e308"),  # AccelX: std overflowed
        ("rscore-csv-1", 0, [0], b"1e300"),  # time_ms of the first row: the start time
        ("rscore-csv-1", 8, range(0, 1500, 7), b"1e308"),  # ax_g: g to m/s^2 overflowed
        ("aim-csv", 3, range(200, 300), b"1e308"),  # GPS LatAcc: g to m/s^2 overflowed
        ("aim-csv", 8, [50, 51], b"inf"),  # GPS Heading: inf modulo 360 is invalid
        ("aim-csv", 0, [700, 701], b"1e308"),  # Time: a session's distance infinite
        ("vbox-vbo", 0, [19, 20], b"inf"),  # sats: inf modulo 64 is invalid
        ("vbox-vbo", 1, [0], b"inf"),  # time: HHMMSS of inf taken apart, inf - inf
        ("vbox-vbo", 7, [100], b"1e308"),  # Longacc: g to m/s^2 overflowed
    ],
)
def test_huge_and_infinite_numbers_found_by_fuzzing(
    fmt: str, column: int, rows: list[int], value: bytes
) -> None:
    same_laps(analysed(damage(sample(fmt), column, rows, value)), fmt, tolerance_s=0.25)


def test_a_latin_1_name_is_text_not_binary() -> None:
    # A venue in Latin-1, as a Windows tool writes it: was "The file is binary".
    data = sample("aim-csv").replace(b"Racesense Park", "Nürburgring".encode("latin-1"))
    analysis = analysed(data)
    same_laps(analysis, "aim-csv")


@pytest.mark.parametrize("fmt", ["aim-csv", "racechrono-csv-3", "gpx"])
def test_utf_16_text_with_its_byte_order_mark_is_read(fmt: str) -> None:
    same_laps(analysed(sample(fmt).decode().encode("utf-16")), fmt)
