"""Every sample and test file is detected as exactly its own format, by exactly one sniff;
bad input gives a typed error and nothing else."""

from __future__ import annotations

from pathlib import Path

import pytest

from racesense.ingest import (
    FORMATS,
    SNIFF_BYTES,
    IngestError,
    UnknownFormatError,
    detect_format,
    read_telemetry,
)

TEST_DATA = Path(__file__).parent / "data"

# Test files written for this project: name -> format.
OWN_FILES = {
    "session.vbo": "vbox-vbo",
    "track_1_1.gpx": "gpx",
    "track_1_0.gpx": "gpx",
    "session.nmea": "nmea-0183",
}
# Real recordings in ../shared/data: path -> format, or None for files that are not
# telemetry (lap references, track lists, centrelines, notes).
SHARED_FILES: dict[str, str | None] = {
    "racechrono_tianma/session_20251231_111318_tianma_lap9_v3.csv": "racechrono-csv-3",
    "aim_mychron_sskc/aim_format_example_SSKC_2022-06-19.csv": "aim-csv",
    "racecapture_sonoma/sonoma.log": "racecapture-log",
    "aim_mychron_sskc/LAPS_from_logger_header_SSKC.csv": None,
    "racecapture_sonoma/LAPS_from_logger_columns_sonoma.csv": None,
    "racecapture_startfinish_db/sf_data.csv": None,
    "racecapture_startfinish_db/sf_data.gpx": None,
    "tumftm_centerlines/tracks/Monza.csv": None,
    "tumftm_centerlines/UPSTREAM_README.md": None,
    "README.md": None,
}


def _claims(data: bytes) -> set[str]:
    head = data[:SNIFF_BYTES].removeprefix(b"\xef\xbb\xbf")
    return {name for name, module in FORMATS.items() if module.sniff(head)}


def _check(data: bytes, expected: str | None) -> None:
    if expected is None:
        assert _claims(data) == set()
        with pytest.raises(UnknownFormatError):
            detect_format(data)
    else:
        assert _claims(data) == {expected}
        assert detect_format(data) == expected


@pytest.mark.parametrize("name", OWN_FILES)
def test_own_test_files(name: str) -> None:
    _check((TEST_DATA / name).read_bytes(), OWN_FILES[name])


@pytest.mark.parametrize("relative", SHARED_FILES)
def test_shared_recordings(relative: str, shared_data: Path) -> None:
    path = shared_data / relative
    if not path.is_file():
        pytest.skip(f"{relative} not present in {shared_data.resolve()}")
    _check(path.read_bytes(), SHARED_FILES[relative])


def _cuts(data: bytes) -> list[bytes]:
    size = len(data)
    cuts = [data[:k] for k in (1, 10, 100, 1000, size // 3, size // 2, size - 7, size - 1)]
    garbage = bytearray(data)
    for k in range(size // 5, size, max(size // 7, 1)):
        garbage[k : k + 3] = b"\xff,\x00"[: len(garbage[k : k + 3])]
    text_garbage = bytearray(data)
    for k in range(size // 5, size, max(size // 11, 1)):
        text_garbage[k : k + 2] = b"#?"[: len(text_garbage[k : k + 2])]
    return [*cuts, bytes(garbage), bytes(text_garbage)]


def _files(shared: Path | None) -> list[bytes]:
    files = [(TEST_DATA / name).read_bytes() for name in OWN_FILES]
    if shared is not None:
        for relative, fmt in SHARED_FILES.items():
            if fmt is not None and (shared / relative).is_file():
                files.append((shared / relative).read_bytes())
    return files


@pytest.mark.parametrize("index", range(len(OWN_FILES) + 3))
def test_damaged_files_give_typed_errors_only(index: int) -> None:
    shared = Path(__file__).resolve().parents[2] / ".." / "shared" / "data"
    files = _files(shared if shared.is_dir() else None)
    if index >= len(files):
        pytest.skip("real recordings not present (../shared/data)")
    for damaged in _cuts(files[index]):
        try:
            telemetry = read_telemetry(damaged)
        except IngestError:
            continue
        assert len(telemetry) > 0
        assert telemetry.t_s[0] == 0.0
