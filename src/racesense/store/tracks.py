"""The user's track list, as analysis `Track`s."""

from __future__ import annotations

import json

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session as OrmSession

from racesense.analysis.track import Gate, LatLon, Track
from racesense.store.models import TrackRow


def _sectors_json(track: Track) -> str | None:
    if not track.sectors:
        return None
    out: list[object] = []
    for sector in track.sectors:
        out.append([list(sector.p1), list(sector.p2)] if isinstance(sector, Gate) else list(sector))
    return json.dumps(out)


def _sectors(text: str | None) -> tuple[Gate | LatLon, ...]:
    if not text:
        return ()
    result: list[Gate | LatLon] = []
    for item in json.loads(text):
        if isinstance(item[0], list):
            result.append(Gate((item[0][0], item[0][1]), (item[1][0], item[1][1])))
        else:
            result.append((item[0], item[1]))
    return tuple(result)


def to_track(row: TrackRow) -> Track:
    sectors = _sectors(row.sectors)
    if row.lat2 is not None and row.lon2 is not None:
        line = Gate((row.lat, row.lon), (row.lat2, row.lon2))
        return Track(row.name, start_finish=line, sectors=sectors, source="list")
    return Track(row.name, start_finish_point=(row.lat, row.lon), sectors=sectors, source="list")


def add(engine: Engine, tracks: list[Track]) -> list[int]:
    ids = []
    with OrmSession(engine) as db, db.begin():
        for track in tracks:
            if track.start_finish is not None:
                (lat, lon), (lat2, lon2) = track.start_finish.p1, track.start_finish.p2
                row = TrackRow(name=track.name, lat=lat, lon=lon, lat2=lat2, lon2=lon2)
            else:
                assert track.start_finish_point is not None
                lat, lon = track.start_finish_point
                row = TrackRow(name=track.name, lat=lat, lon=lon)
            row.sectors = _sectors_json(track)
            db.add(row)
            db.flush()
            ids.append(row.id)
    return ids


def rows(engine: Engine) -> list[TrackRow]:
    with OrmSession(engine, expire_on_commit=False) as db:
        return list(db.scalars(select(TrackRow).order_by(TrackRow.id)))


def all_tracks(engine: Engine) -> list[Track]:
    return [to_track(row) for row in rows(engine)]


def track_from_dict(data: dict[str, object], source: str) -> Track:
    """A track from its JSON form: {"name", "start_finish": {"lat", "lon"}} or
    {"name", "start_finish_line": [[lat, lon], [lat, lon]]}, optional "sectors"."""
    name = str(data.get("name") or "Given start/finish")
    sectors = _sectors(json.dumps(data["sectors"])) if data.get("sectors") else ()
    line = data.get("start_finish_line")
    if isinstance(line, list):
        (a, b) = line
        return Track(
            name, start_finish=Gate((a[0], a[1]), (b[0], b[1])), sectors=sectors, source=source
        )
    point = data.get("start_finish")
    if isinstance(point, dict):
        return Track(
            name, start_finish_point=(point["lat"], point["lon"]), sectors=sectors, source=source
        )
    raise ValueError("a track needs start_finish or start_finish_line")


def forced_track(track_override: str | None) -> Track | None:
    """A session's forced track (stored JSON), as an analysis Track: "list" if it was
    picked from the track list, "user" if given as a start/finish."""
    if not track_override:
        return None
    data = json.loads(track_override)
    return track_from_dict(data, "list" if "id" in data else "user")
