"""Bad files end in a typed error or a session with zero laps and a reason: never a
crash, never a hang."""

from __future__ import annotations

import tracemalloc

import pytest

from racesense.analysis.errors import AnalysisError
from racesense.analysis.pipeline import analyse
from racesense.ingest import IngestError, read_telemetry
from racesense.synth import demo_circuit, make_session, to_rscore_csv

HEADER = (
    b"# racesense-csv 1\n# device_id=RS-Core-TEST\n# session_start_utc=2026-02-14T09:30:00.000Z\n"
    b"time_ms,lat_deg,lon_deg,alt_m,speed_kmh,heading_deg,sats,hdop,ax_g,ay_g,az_g,gz_dps\n"
)


@pytest.fixture(scope="module")
def good() -> bytes:
    return to_rscore_csv(make_session(demo_circuit(), rate_hz=10, laps=2, seed=1).telemetry)


def with_speed(data: bytes, row: int, speed_kmh: bytes) -> bytes:
    """An RS-Core file with the speed of data row `row` replaced."""
    lines = data.split(b"\n")
    first = next(i for i, line in enumerate(lines) if line[:1].isdigit())
    cells = lines[first + row].split(b",")
    cells[4] = speed_kmh
    lines[first + row] = b",".join(cells)
    return b"\n".join(lines)


def outcome(data: bytes) -> str:
    try:
        analysis = analyse(read_telemetry(data))
    except (IngestError, AnalysisError) as exc:
        assert str(exc), "typed errors carry a sentence"
        return exc.code
    if analysis.lap_count == 0:
        assert analysis.reason
        return "no laps"
    return "laps"


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (b"", "empty_file"),
        (b"   \n\n", "empty_file"),
        (bytes(range(256)) * 10, "unknown_format"),
        (b"Dear diary, today I drove fast.\n", "unknown_format"),
        (HEADER, "malformed_file"),
        (HEADER + b"0,,,,,,,,0.1,0.0,1.0,0.0\n100,,,,,,,,0.1,0.0,1.0,0.0\n", "no_fixes"),
        (HEADER + b"0,52.0,-1.0,100,0,0,10,1,0,0,1,0\n", "no_fixes"),
    ],
)
def test_bad_files(data: bytes, expected: str) -> None:
    assert outcome(data) == expected


def test_truncated_mid_line_keeps_the_whole_lines(good: bytes) -> None:
    cut = good[: len(good) * 2 // 3 - 7]
    assert not cut.endswith(b"\n")
    assert outcome(cut) in ("laps", "no laps")
    assert len(read_telemetry(cut)) == cut.count(b"\n") - 5


def test_a_single_lap_session_has_no_complete_lap(good: bytes) -> None:
    one = make_session(demo_circuit(), rate_hz=10, laps=1, seed=2)
    keep_rows = int((one.telemetry.t_s < one.crossing_times_s[0] + 30).sum())
    data = to_rscore_csv(one.telemetry)
    lines = data.split(b"\n")
    assert outcome(b"\n".join(lines[: 5 + keep_rows]) + b"\n") == "no laps"


def test_a_parked_car_has_no_laps() -> None:
    rows = b"".join(
        b"%d,52.0693210,-1.0221960,153.2,0.0,0.0,14,0.7,0,0,1,0\n" % (i * 100) for i in range(600)
    )
    assert outcome(HEADER + rows) == "no laps"


def test_one_impossible_speed_allocates_nothing_more(good: bytes) -> None:
    # 231 KB with one speed of 1e10 km/h: the reference lap's path was resampled every
    # 2 m of the distance it made up (5-11 GB). Now the speed is replaced from positions.
    assert 200_000 < len(good) < 250_000
    bad = with_speed(good, 1000, b"1e10")
    expected = analyse(read_telemetry(good))
    tracemalloc.start()
    try:
        analysis = analyse(read_telemetry(bad))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 20 * len(bad)
    assert [lap.time_s for lap in analysis.laps] == [lap.time_s for lap in expected.laps]


def test_one_impossible_speed_changes_no_lap_and_is_said(good: bytes) -> None:
    # One speed of 1e6 km/h made one lap of two, 16 km long.
    expected = analyse(read_telemetry(good))
    analysis = analyse(read_telemetry(with_speed(good, 1000, b"1000000")))
    assert analysis.lap_count == expected.lap_count == 2
    for lap, want in zip(analysis.laps, expected.laps, strict=True):
        assert lap.time_s == pytest.approx(want.time_s, abs=1e-3)
        assert lap.distance_m == pytest.approx(want.distance_m, rel=0.01)
    assert analysis.warnings == (
        "1 GNSS speeds replaced by speeds from positions: faster than any car",
    )


def _slow_row(data: bytes, below_kmh: float) -> int:
    """The first data row after row 500 (well into lap 1) whose fixes a second either
    side are slower than `below_kmh`."""
    speed_kmh = read_telemetry(data).speed_mps * 3.6
    for row in range(500, speed_kmh.shape[0] - 10):
        if speed_kmh[row - 10 : row + 11].max() < below_kmh:
            return row
    raise AssertionError("no slow corner in the session")


def test_a_speed_the_positions_contradict_is_replaced_and_said(good: bytes) -> None:
    # 300 km/h is a car's speed, but not at a fix whose neighbours move at 100 km/h.
    expected = analyse(read_telemetry(good))
    row = _slow_row(good, 100.0)
    analysis = analyse(read_telemetry(with_speed(good, row, b"300.0")))
    assert [lap.time_s for lap in analysis.laps] == [lap.time_s for lap in expected.laps]
    assert analysis.laps[1].max_speed_kmh == pytest.approx(expected.laps[1].max_speed_kmh)
    assert analysis.warnings == (
        "1 GNSS speeds replaced by speeds from positions: inconsistent with positions",
    )
