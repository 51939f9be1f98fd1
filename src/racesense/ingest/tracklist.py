"""Track lists: start/finish points (and optionally lines) imported from GPX or CSV.

Accepted:
- GPX waypoints (`<wpt lat= lon=><name>`), one track each;
- whitespace-separated `type latitude longitude name...` rows, as in RaceCapture's
  start/finish database (the name may contain spaces);
- comma-separated with a header naming `name`, `lat`/`latitude` and `lon`/`longitude`
  columns, and optionally `lat2`, `lon2` for the far end of a start/finish line.
"""

from __future__ import annotations

import csv
import io
import re

from racesense.analysis.errors import TrackError
from racesense.analysis.track import Gate, Track
from racesense.ingest.errors import MalformedFileError
from racesense.ingest.xmlsafe import parse_xml

_WS_ROW = re.compile(r"^\s*(\S+)\s+(-?\d+(?:\.\d+)?)\s+(-?\d+(?:\.\d+)?)\s+(.+?)\s*$")


def _track(
    name: str, lat: float, lon: float, lat2: float | None = None, lon2: float | None = None
) -> Track:
    if lat2 is not None and lon2 is not None:
        return Track(name=name, start_finish=Gate((lat, lon), (lat2, lon2)), source="list")
    return Track(name=name, start_finish_point=(lat, lon), source="list")


def _from_gpx(text: str) -> list[Track]:
    root = parse_xml(text)
    tracks: list[Track] = []
    for element in root.iter():
        if not element.tag.endswith("wpt"):
            continue
        name = next((c.text for c in element if c.tag.endswith("name") and c.text), None)
        try:
            lat, lon = float(element.attrib["lat"]), float(element.attrib["lon"])
        except (KeyError, ValueError) as exc:
            raise MalformedFileError("A GPX waypoint lacks a valid lat/lon.") from exc
        tracks.append(_track((name or f"Track {len(tracks) + 1}").strip(), lat, lon))
    return tracks


def _from_csv(text: str) -> list[Track]:
    sample = text.splitlines()[0] if text.strip() else ""
    if "," in sample:
        reader = csv.DictReader(io.StringIO(text))
        fields = {f.strip().lower(): f for f in reader.fieldnames or []}

        def col(*names: str) -> str | None:
            return next((fields[n] for n in names if n in fields), None)

        name_c, lat_c, lon_c = col("name", "track"), col("lat", "latitude"), col("lon", "longitude")
        lat2_c, lon2_c = col("lat2", "latitude2"), col("lon2", "longitude2")
        if lat_c is None or lon_c is None:
            raise MalformedFileError("The track list CSV needs latitude and longitude columns.")
        tracks: list[Track] = []
        for row in reader:
            try:
                lat, lon = float(row[lat_c]), float(row[lon_c])
                lat2 = float(row[lat2_c]) if lat2_c and row.get(lat2_c) else None
                lon2 = float(row[lon2_c]) if lon2_c and row.get(lon2_c) else None
            except (TypeError, ValueError) as exc:
                raise MalformedFileError(
                    f"Track list row {reader.line_num} has a bad number."
                ) from exc
            name = (row.get(name_c) or "").strip() if name_c else ""
            tracks.append(_track(name or f"Track {len(tracks) + 1}", lat, lon, lat2, lon2))
        return tracks
    rows: list[Track] = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        match = _WS_ROW.match(line)
        if match is None:
            if number == 1:  # a header row such as "type latitude longitude name"
                continue
            raise MalformedFileError(f"Track list line {number} is not 'type lat lon name'.")
        rows.append(_track(match.group(4), float(match.group(2)), float(match.group(3))))
    return rows


def parse_track_list(data: bytes) -> list[Track]:
    """The tracks in a GPX or CSV track list. Raises MalformedFileError."""
    text = data.decode("utf-8-sig", errors="replace")
    if not text.strip():
        raise MalformedFileError("The track list is empty.")
    try:
        tracks = _from_gpx(text) if text.lstrip().startswith("<") else _from_csv(text)
    except TrackError as exc:
        raise MalformedFileError(str(exc)) from exc
    if not tracks:
        raise MalformedFileError("The track list holds no start/finish points.")
    return tracks
