"""A track's JSON form, both ways: the one codec the API, the track list and a
session's forced track all use.

    {"name": "Sonoma Raceway",
     "start_finish": {"lat": 38.1614, "lon": -122.4549},            # a point, or
     "start_finish_line": [[lat, lon], [lat, lon]],                 # a line by its ends
     "sectors": [[lat, lon], [[lat, lon], [lat, lon]], ...]}        # points or lines

A sector point may also be written {"lat": ..., "lon": ...}. Anything else is a
TrackError whose message says what is wrong, in words a user can act on.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, NotRequired, TypedDict

from racesense.analysis.errors import TrackError
from racesense.analysis.track import Gate, LatLon, Track, TrackSource


class PointJson(TypedDict):
    lat: float
    lon: float


class TrackJson(TypedDict):
    name: str
    start_finish: NotRequired[PointJson]
    start_finish_line: NotRequired[list[list[float]]]
    sectors: list[Any]  # [lat, lon] points or [[lat, lon], [lat, lon]] lines


def _latlon(value: object) -> LatLon:
    if isinstance(value, Mapping) and set(value) == {"lat", "lon"}:
        value = [value["lat"], value["lon"]]
    if (
        not isinstance(value, list | tuple)
        or len(value) != 2
        or not all(
            isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)
            for v in value
        )
    ):
        raise TrackError(f"{value!r} is not a point [lat, lon].")
    return (float(value[0]), float(value[1]))


def _line(value: object) -> Gate:
    if not isinstance(value, list | tuple) or len(value) != 2:
        raise TrackError(f"{value!r} is not a line [[lat, lon], [lat, lon]].")
    return Gate(_latlon(value[0]), _latlon(value[1]))


def _is_line(value: object) -> bool:
    return isinstance(value, list | tuple) and bool(value) and isinstance(value[0], list | tuple)


def sectors_from_json(values: object) -> tuple[Gate | LatLon, ...]:
    if values is None:
        return ()
    if not isinstance(values, list | tuple):
        raise TrackError("sectors must be a list of points or lines.")
    return tuple(_line(v) if _is_line(v) else _latlon(v) for v in values)


def sectors_to_json(sectors: tuple[Gate | LatLon, ...]) -> list[Any]:
    return [[list(s.p1), list(s.p2)] if isinstance(s, Gate) else [s[0], s[1]] for s in sectors]


def track_from_json(data: object, source: TrackSource) -> Track:
    """A Track from its JSON form; TrackError says what is wrong."""
    if not isinstance(data, Mapping):
        raise TrackError("A track is a JSON object.")
    name = data.get("name")
    if not isinstance(name, str) or not name.strip() or len(name) > 200:
        raise TrackError("A track needs a name of 1 to 200 characters.")
    sectors = sectors_from_json(data.get("sectors"))
    line, point = data.get("start_finish_line"), data.get("start_finish")
    if (line is None) == (point is None):
        raise TrackError("A track needs one of start_finish (a point) or start_finish_line.")
    if line is not None:
        return Track(name, start_finish=_line(line), sectors=sectors, source=source)
    return Track(name, start_finish_point=_latlon(point), sectors=sectors, source=source)


def track_to_json(track: Track) -> TrackJson:
    out: TrackJson = {"name": track.name, "sectors": sectors_to_json(track.sectors)}
    if track.start_finish is not None:
        out["start_finish_line"] = [list(track.start_finish.p1), list(track.start_finish.p2)]
    else:
        assert track.start_finish_point is not None
        lat, lon = track.start_finish_point
        out["start_finish"] = {"lat": lat, "lon": lon}
    return out
