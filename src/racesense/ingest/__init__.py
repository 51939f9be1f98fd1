"""Importers: raw logger files in, `Telemetry` out.

The format is detected from the content, never from the file name: a logger's upload
may arrive with any name or none. Each importer module offers `sniff(head) -> bool`,
which looks only at the first few KB, and `parse(data) -> Telemetry`.
"""

from __future__ import annotations

from types import ModuleType

from racesense.analysis.telemetry import Telemetry
from racesense.ingest import aim, gpx, nmea, racecapture, racechrono, rscore, vbo
from racesense.ingest.errors import (
    EmptyFileError,
    IngestError,
    MalformedFileError,
    UnknownFormatError,
)

__all__ = [
    "FORMATS",
    "EmptyFileError",
    "IngestError",
    "MalformedFileError",
    "UnknownFormatError",
    "detect_format",
    "read_telemetry",
]

SNIFF_BYTES = 16384

# Most specific first: each sniff must be cheap and must not claim another's files.
FORMATS: dict[str, ModuleType] = {
    "rscore-csv-1": rscore,
    "racechrono-csv-3": racechrono,
    "aim-csv": aim,
    "racecapture-log": racecapture,
    "vbox-vbo": vbo,
    "gpx": gpx,
    "nmea-0183": nmea,
}


def _looks_binary(head: bytes) -> bool:
    if b"\x00" in head:
        return True
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as exc:
        # A cut in the middle of a multi-byte character at the end of the sniff window
        # is not binary; anything earlier is.
        if exc.start < len(head) - 4:
            return True
    return False


def detect_format(data: bytes) -> str:
    """Name of the format of `data` (a key of FORMATS), or raise a typed error."""
    head = data[:SNIFF_BYTES]
    # Whitespace only: look at the head first, the whole file only if the head is blank.
    if not head.strip() and not data.strip():
        raise EmptyFileError("The file is empty.")
    if head.startswith(b"\xef\xbb\xbf"):
        head = head[3:]
    if _looks_binary(head):
        raise UnknownFormatError("The file is binary, not a telemetry log this version reads.")
    for name, module in FORMATS.items():
        if module.sniff(head):
            return name
    raise UnknownFormatError(
        f"The file is not in a telemetry format this version reads ({', '.join(FORMATS)})."
    )


def read_telemetry(data: bytes) -> Telemetry:
    """Detect the format of `data` and parse it."""
    name = detect_format(data)
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    telemetry: Telemetry = FORMATS[name].parse(data)
    return telemetry
