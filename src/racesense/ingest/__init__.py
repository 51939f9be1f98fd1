"""Importers: raw logger files in, `Telemetry` out.

The format is detected from the content, never from the file name: a logger's upload
may arrive with any name or none. Each importer module offers `sniff(head) -> bool`,
which looks only at the first few KB, and `parse(data) -> Telemetry`.
"""

from __future__ import annotations

import re
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
_UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")
# Control characters that text has no use for (tab, line ends and form feed aside).
_CONTROL = re.compile(rb"[\x00-\x08\x0e-\x1f\x7f]")

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
    """Binary: control characters, which no text log holds. Bytes that are not UTF-8
    are not enough: a venue's or driver's name in Latin-1 (as Windows tools write it)
    is still text, and the importers read it with a replacement character."""
    return _CONTROL.search(head) is not None


def _utf8(data: bytes) -> bytes:
    """Text saved as UTF-16 with its byte-order mark (as Windows tools save "Unicode
    text") in UTF-8, which every importer reads; any other bytes as they are."""
    if data.startswith(_UTF16_BOMS):
        return data.decode("utf-16", "replace").encode("utf-8")
    return data


def detect_format(data: bytes) -> str:
    """Name of the format of `data` (a key of FORMATS), or raise a typed error."""
    head = _utf8(data[: 2 * SNIFF_BYTES])[:SNIFF_BYTES]
    # Whitespace only: look at the head first, the whole file only if the head is blank.
    if not head.strip() and not _utf8(data).strip():
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
    data = _utf8(data)
    name = detect_format(data)
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    telemetry: Telemetry = FORMATS[name].parse(data)
    return telemetry
