"""GPX 1.1: one track, one `trkseg` per contiguous stretch of the export.

    <trkpt lat="52.0693210" lon="-1.0221960">
      <ele>153.20</ele><time>2026-03-01T09:00:00.040Z</time><sat>14</sat><hdop>0.70</hdop>
      <extensions><gpxtpx:TrackPointExtension>
        <gpxtpx:speed>20.513</gpxtpx:speed><gpxtpx:course>270.00</gpxtpx:course>
      </gpxtpx:TrackPointExtension></extensions>
    </trkpt>

Elements in the order the GPX 1.1 schema requires (`ele`, `time`, `sat`, `hdop`, then
`extensions`); speed (m/s) and course (degrees) in Garmin's TrackPointExtension v2,
which Garmin's tools, Strava and most GPX readers know. Times are UTC with the
millisecond. GPX has no place for accelerations or yaw rate: they are not written. A
track point needs a position, so rows without one are left out; any other value the
session lacks is an element left out. Names are escaped, and characters XML cannot hold
dropped.

Precision: time 1 ms, latitude/longitude 1e-7 degrees (1 cm), elevation 1 cm, speed
1 mm/s, course 0.01 degrees, HDOP 0.01.
"""

from __future__ import annotations

import numpy as np

import racesense
from racesense.export import _text
from racesense.export._text import Column
from racesense.export.selection import Export
from racesense.isotime import iso_utc

EXTENSION = "gpx"
MEDIA_TYPE = "application/gpx+xml"
GPX_NS = "http://www.topografix.com/GPX/1/1"
TPX_NS = "http://www.garmin.com/xmlschemas/TrackPointExtension/v2"
_SCHEMAS = (
    f"{GPX_NS} http://www.topografix.com/GPX/1/1/gpx.xsd "
    f"{TPX_NS} http://www8.garmin.com/xmlschemas/TrackPointExtensionv2.xsd"
)


def _elements(values: list[str], tag: str) -> list[str]:
    return [f"<{tag}>{v}</{tag}>" if v else "" for v in values]


def _times(export: Export) -> list[str]:
    stamps = _text.unix_ms(export).astype("datetime64[ms]")
    return [f"<time>{s}Z</time>" for s in np.datetime_as_string(stamps, unit="ms").tolist()]


def _points(export: Export) -> list[str]:
    """One `trkpt` per written row, "" for a row without a position."""
    lat = Column(export.column("lat_deg"), 7).strings()
    lon = Column(export.column("lon_deg"), 7).strings()
    ele = _elements(Column(export.column("alt_m"), 2).strings(), "ele")
    sat = _elements(Column(export.column("sats"), 0).strings(), "sat")
    hdop = _elements(Column(export.column("hdop"), 2).strings(), "hdop")
    speed = _elements(Column(export.column("speed_mps"), 3).strings(), "gpxtpx:speed")
    course = _elements(Column(export.column("heading_deg"), 2).strings(), "gpxtpx:course")
    points = []
    for la, lo, e, t, s, h, v, c in zip(
        lat, lon, ele, _times(export), sat, hdop, speed, course, strict=True
    ):
        if not (la and lo):
            points.append("")
            continue
        extensions = (
            f"<extensions><gpxtpx:TrackPointExtension>{v}{c}"
            "</gpxtpx:TrackPointExtension></extensions>"
            if v or c
            else ""
        )
        points.append(f'<trkpt lat="{la}" lon="{lo}">{e}{t}{s}{h}{extensions}</trkpt>\n')
    return points


def write(export: Export) -> bytes:
    name = _text.xml_text(export.title)
    points = _points(export)
    segments: list[str] = []
    fragments = export.fragment_ids.tolist()
    start = 0
    for k in range(1, len(points) + 1):
        if k == len(points) or fragments[k] != fragments[start]:
            body = "".join(points[start:k])
            if body:
                segments.append(f"<trkseg>\n{body}</trkseg>\n")
            start = k
    when = iso_utc(_text.first_time(export))
    description = f"<desc>{_text.xml_text(export.track_name)}</desc>" if export.track_name else ""
    document = (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f'<gpx version="1.1" creator="Racesense {racesense.__version__}" xmlns="{GPX_NS}" '
        f'xmlns:gpxtpx="{TPX_NS}" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" '
        f'xsi:schemaLocation="{_SCHEMAS}">\n'
        f"<metadata><name>{name}</name>{description}<time>{when}</time></metadata>\n"
        f"<trk><name>{name}</name>\n{''.join(segments)}</trk>\n"
        "</gpx>\n"
    )
    return document.encode("utf-8")
