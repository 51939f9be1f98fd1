"""Writers: a session's telemetry out, as a file another tool reads.

Pure, like the analysis: a `Telemetry` (with the session's laps and the laps chosen,
`selection.prepare`) in, bytes out; no I/O. One module per format, each with
`write(export) -> bytes`, its file `EXTENSION` and `MEDIA_TYPE`; `FORMATS` names them
as the API does. Every file they write reads back through `racesense.ingest` to the
same laps (tests/export).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from types import ModuleType

from racesense.export import gpx, racechrono, vbo
from racesense.export.selection import (
    MARGIN_S,
    Export,
    LapBounds,
    LatLon,
    NoLapsError,
    SelectionError,
    check_laps,
    prepare,
)

__all__ = [
    "FORMATS",
    "MARGIN_S",
    "Export",
    "ExportFormat",
    "LapBounds",
    "LatLon",
    "NoLapsError",
    "SelectionError",
    "check_laps",
    "prepare",
]


@dataclass(frozen=True)
class ExportFormat:
    name: str
    extension: str  # without the dot
    media_type: str
    write: Callable[[Export], bytes]


def _format(name: str, module: ModuleType) -> ExportFormat:
    return ExportFormat(name, module.EXTENSION, module.MEDIA_TYPE, module.write)


# The API's name of each format (`?format=`) -> its writer.
FORMATS: dict[str, ExportFormat] = {
    "racechrono": _format("racechrono", racechrono),
    "gpx": _format("gpx", gpx),
    "vbo": _format("vbo", vbo),
}
