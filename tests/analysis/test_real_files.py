"""Accuracy on real loggers' files against the loggers' own lap times.

The expected values come from the loggers themselves (read here with the csv module,
independently of the importers under test), never from this project's output.
"""

from __future__ import annotations

import csv
import dataclasses
import itertools
import statistics
from pathlib import Path

import pytest

from racesense.analysis.pipeline import analyse
from racesense.analysis.results import SessionAnalysis
from racesense.analysis.track import Track
from racesense.ingest import read_telemetry

DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data"
pytestmark = pytest.mark.skipif(
    not DATA.is_dir(), reason=f"real recordings not present at {DATA} (../shared/data)"
)


def _racechrono_reference() -> tuple[Path, list[float], tuple[float, float]]:
    """RaceChrono inserts a row at each line crossing; lap time = difference of
    elapsed_time where lap_number changes."""
    path = next((DATA / "racechrono_tianma").glob("*.csv"))
    lines = path.read_text().splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("timestamp,"))
    header = lines[start].split(",")
    lap_c, el_c = header.index("lap_number"), header.index("elapsed_time")
    lat_c, lon_c = header.index("latitude"), header.index("longitude")
    changes: list[tuple[float, float, float]] = []
    previous = None
    for row in csv.reader(lines[start + 3 :]):
        if len(row) != len(header) or not row[lap_c]:
            continue
        if previous is not None and row[lap_c] != previous:
            changes.append((float(row[el_c]), float(row[lat_c]), float(row[lon_c])))
        previous = row[lap_c]
    times = [b[0] - a[0] for a, b in itertools.pairwise(changes)]
    return path, times, (changes[0][1], changes[0][2])


def _aim_reference() -> tuple[Path, list[float], tuple[float, float]]:
    folder = DATA / "aim_mychron_sskc"
    with (folder / "LAPS_from_logger_header_SSKC.csv").open() as f:
        rows = [r for r in csv.DictReader(f) if r["note"] == "complete lap"]
    times = [float(r["duration_s_from_markers"]) for r in rows]
    return folder / "aim_format_example_SSKC_2022-06-19.csv", times, (50.519849, -104.493537)


def _racecapture_reference() -> tuple[Path, list[float], tuple[float, float]]:
    folder = DATA / "racecapture_sonoma"
    with (folder / "LAPS_from_logger_columns_sonoma.csv").open() as f:
        times = [float(r["logger_laptime_s"]) for r in csv.DictReader(f)]
    return folder / "sonoma.log", times, (38.161534, -122.454619)


CASES = {
    # name: (reference, tolerance in seconds)
    "racechrono": (_racechrono_reference, 0.02),
    "aim": (_aim_reference, 0.05),
    # RaceCapture does not interpolate its own crossings: its times carry +-0.1 s.
    "racecapture": (_racecapture_reference, 0.15),
}


def _complete(analysis: SessionAnalysis) -> list[float]:
    return [lap.time_s for lap in analysis.laps if lap.complete]


@pytest.mark.parametrize("name", CASES)
def test_laps_match_the_logger_with_its_start_finish_point(name: str) -> None:
    reference, tolerance = CASES[name]
    path, expected, point = reference()
    track = Track(name, start_finish_point=point, source="user")
    analysis = analyse(read_telemetry(path.read_bytes()), track=track)
    got = _complete(analysis)
    assert len(got) == len(expected), (got, expected)
    errors = [abs(a - b) for a, b in zip(got, expected, strict=True)]
    assert max(errors) <= tolerance, list(zip(got, expected, strict=True))


@pytest.mark.parametrize("name", CASES)
def test_the_files_own_start_finish_gives_the_loggers_laps(name: str) -> None:
    """No track given or listed: where the logger counted its laps (AiM's beacon
    markers, RaceChrono's rows on its line, RaceCapture's lap counter) is the line,
    checked against the path, and the laps are the logger's."""
    reference, tolerance = CASES[name]
    path, expected, _point = reference()
    analysis = analyse(read_telemetry(path.read_bytes()))
    assert analysis.track is not None and analysis.track.source == "file"
    got = _complete(analysis)
    assert len(got) == len(expected), (got, expected)
    errors = [abs(a - b) for a, b in zip(got, expected, strict=True)]
    assert max(errors) <= tolerance, list(zip(got, expected, strict=True))


@pytest.mark.parametrize("name", CASES)
def test_automatic_start_finish_finds_the_loop(name: str) -> None:
    reference, _ = CASES[name]
    path, expected, _point = reference()
    tel = dataclasses.replace(read_telemetry(path.read_bytes()), start_finish_hint=None)
    analysis = analyse(tel)
    assert analysis.track is not None and analysis.track.source == "detected"
    got = _complete(analysis)
    assert abs(len(got) - len(expected)) <= 1, (got, expected)
    assert got, "no complete lap found"
    assert statistics.median(got) == pytest.approx(statistics.median(expected), rel=0.02)


def test_a_listed_track_is_used_when_the_session_passes_it() -> None:
    path, expected, point = _racecapture_reference()
    listed = [
        Track("Far away", start_finish_point=(51.0, -1.0)),
        Track("Sonoma Raceway", start_finish_point=point),
    ]
    analysis = analyse(read_telemetry(path.read_bytes()), tracks=listed)
    assert analysis.track is not None
    assert (analysis.track.name, analysis.track.source) == ("Sonoma Raceway", "list")
    assert len(_complete(analysis)) == len(expected)
