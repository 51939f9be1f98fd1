"""GPX 1.0 / 1.1 tracks (`<trk><trkseg><trkpt lat lon><ele/><time/></trkpt>`).

Units: lat/lon degrees (WGS84), `ele` m, `time` ISO 8601 (UTC where no zone is
given, as the GPX schema says). Speed and course, where a file has them, are
`<speed>` (m/s) and `<course>` (degrees) inside `trkpt` in GPX 1.0, or inside
`<extensions>` in GPX 1.1 (Garmin's TrackPointExtension and similar); `<sat>` and
`<hdop>` map to the core channels. Other numeric extension values (hr, cad, atemp,
power...) become extra channels, named by their element's local name.

Only track points are telemetry. A GPX of waypoints or routes only is a track list
(start/finish points), which `racesense.ingest.tracklist` reads: `sniff` does not claim
it and `parse` refuses it.

Uploaded XML is untrusted: it is parsed with defusedxml (a project dependency) with
DTDs refused outright, so entity expansion ("billion laughs") and external entities
cannot happen. A file cut off mid-way keeps the track points completed before the cut.
"""

from __future__ import annotations

import datetime as dt
import io
import re
import xml.etree.ElementTree as ET

import defusedxml
import defusedxml.ElementTree as DET
import numpy as np

from racesense.analysis.telemetry import Channel, Telemetry
from racesense.ingest import _common
from racesense.ingest.errors import MalformedFileError

FORMAT = "gpx"

_GPX = re.compile(r"<(?:[\w.-]+:)?gpx[\s>]")
_TRKPT = re.compile(r"<(?:[\w.-]+:)?trkpt[\s>/]")
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
# Child element (local name) -> core channel.
_CORE = {"ele": "alt_m", "speed": "speed_mps", "course": "heading_deg", "sat": "sats"}
_CORE |= {"hdop": "hdop"}
_EXTRA_UNITS = {"hr": "1/min", "cad": "1/min", "atemp": "°C", "wtemp": "°C", "power": "W"}


def sniff(head: bytes) -> bool:
    text = _common.decode(head)
    return _GPX.search(text) is not None and _TRKPT.search(text) is not None


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _number(text: str | None) -> float:
    try:
        return float(text) if text is not None else float("nan")
    except ValueError:
        return float("nan")


def _time_s(text: str | None) -> float:
    if not text:
        return float("nan")
    try:
        when = dt.datetime.fromisoformat(text.strip())
    except ValueError:
        return float("nan")
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    return (when - _EPOCH).total_seconds()


def _point(element: ET.Element) -> dict[str, float]:
    values = {
        "t": float("nan"),
        "lat": _number(element.get("lat")),
        "lon": _number(element.get("lon")),
    }
    for child in element:
        name = _local(child.tag)
        if name == "time":
            values["t"] = _time_s(child.text)
        elif name in _CORE:
            values[name] = _number(child.text)
        elif name == "extensions":
            for leaf in child.iter():
                if len(leaf) == 0 and leaf is not child:
                    key = _local(leaf.tag)
                    # Core names found directly on the point win over extensions.
                    values.setdefault(key, _number(leaf.text))
    return values


def parse(data: bytes) -> Telemetry:
    points: list[dict[str, float]] = []
    meta: dict[str, str] = {}
    path: list[str] = []
    try:
        events = DET.iterparse(io.BytesIO(data), events=("start", "end"), forbid_dtd=True)
        for event, element in events:
            name = _local(element.tag)
            if event == "start":
                if not path:
                    if name != "gpx":
                        raise MalformedFileError("The XML file is not GPX (its root is not gpx).")
                    meta = {k: v for k, v in element.attrib.items() if k in ("version", "creator")}
                path.append(name)
                continue
            path.pop()
            if name == "trkpt":
                points.append(_point(element))
                element.clear()
            elif name == "name" and path[-1:] == ["trk"] and element.text:
                meta.setdefault("track_name", element.text.strip())
    except defusedxml.DefusedXmlException as exc:
        raise MalformedFileError(
            "The GPX file declares a DTD or entities, which are refused."
        ) from exc
    except LookupError as exc:
        raise MalformedFileError(
            f"The GPX file declares an unknown text encoding ({exc})."
        ) from exc
    except ET.ParseError as exc:
        # A file cut off mid-way keeps the points completed before the cut.
        if not points:
            raise MalformedFileError(f"The GPX file is not well-formed XML ({exc}).") from exc
    if not points:
        raise MalformedFileError(
            "The GPX file has no track points: a list of waypoints or routes is a track "
            "list, not a recorded session."
        )

    keys: list[str] = []
    for point in points:
        keys.extend(k for k in point if k not in keys)
    columns = {k: np.array([p.get(k, np.nan) for p in points], dtype=np.float64) for k in keys}
    core = {_CORE[k]: columns[k] for k in _CORE if k in columns}
    channels = {
        k: Channel(columns[k], unit=_EXTRA_UNITS.get(k, ""))
        for k in keys
        if k not in _CORE and k not in ("t", "lat", "lon") and np.isfinite(columns[k]).any()
    }
    lat, lon = _common.position_or_nan(columns["lat"], columns["lon"])
    return _common.build(
        FORMAT,
        columns["t"],
        lat,
        lon,
        core=core,
        channels=channels,
        origin=_EPOCH,
        metadata=meta,
        what="The GPX file",
    )
