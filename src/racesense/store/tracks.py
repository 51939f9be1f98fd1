"""The user's track list, as analysis `Track`s; a session's forced track.

JSON forms go through analysis.track_json, the one Track <-> JSON codec.
"""

from __future__ import annotations

import json

from sqlalchemy import Engine, select

from racesense.analysis.track import Gate, Track
from racesense.analysis.track_json import (
    TrackJson,
    sectors_from_json,
    sectors_to_json,
    track_from_json,
    track_to_json,
)
from racesense.store.db import reading, writing
from racesense.store.models import TrackRow

# Long imports are written in batches of this many rows, each its own transaction, so
# that the write lock is never held for long (uploads and analyses wait for it).
ADD_BATCH = 500


def to_track(row: TrackRow) -> Track:
    sectors = sectors_from_json(json.loads(row.sectors)) if row.sectors else ()
    if row.lat2 is not None and row.lon2 is not None:
        line = Gate((row.lat, row.lon), (row.lat2, row.lon2))
        return Track(row.name, start_finish=line, sectors=sectors, source="list")
    return Track(row.name, start_finish_point=(row.lat, row.lon), sectors=sectors, source="list")


def to_json(row: TrackRow) -> TrackJson:
    """A listed track as the API shows it: its JSON form (`id` is added by the caller)."""
    return track_to_json(to_track(row))


def _row(track: Track) -> TrackRow:
    if track.start_finish is not None:
        (lat, lon), (lat2, lon2) = track.start_finish.p1, track.start_finish.p2
        row = TrackRow(name=track.name, lat=lat, lon=lon, lat2=lat2, lon2=lon2)
    else:
        assert track.start_finish_point is not None
        lat, lon = track.start_finish_point
        row = TrackRow(name=track.name, lat=lat, lon=lon)
    row.sectors = json.dumps(sectors_to_json(track.sectors)) if track.sectors else None
    return row


def add(engine: Engine, tracks: list[Track]) -> list[int]:
    ids: list[int] = []
    for start in range(0, len(tracks), ADD_BATCH):
        with writing(engine) as db:
            rows = [_row(t) for t in tracks[start : start + ADD_BATCH]]
            db.add_all(rows)
            db.flush()
            ids.extend(row.id for row in rows)
    return ids


def remove(engine: Engine, track_id: int) -> Track | None:
    """Delete a listed track; the track it was, or None if there was none."""
    with writing(engine) as db:
        row = db.get(TrackRow, track_id)
        if row is None:
            return None
        track = to_track(row)
        db.delete(row)
    return track


def rows(engine: Engine) -> list[TrackRow]:
    with reading(engine) as db:
        return list(db.scalars(select(TrackRow).order_by(TrackRow.id)))


def all_tracks(engine: Engine) -> list[Track]:
    return [to_track(row) for row in rows(engine)]


def override_json(track: Track) -> str:
    """A forced track, as a session's `track_override` column keeps it. Its source
    ("list" if picked from the track list, "user" if given as a line) is kept too."""
    return json.dumps(track_to_json(track) | {"source": track.source})


def forced_track(track_override: str | None) -> Track | None:
    """A session's forced track, from its `track_override` column."""
    if not track_override:
        return None
    data = json.loads(track_override)
    listed = data.get("source") == "list" or "id" in data  # (older rows kept the list's id)
    return track_from_json(data, "list" if listed else "user")
