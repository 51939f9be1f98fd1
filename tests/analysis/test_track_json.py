"""The one Track <-> JSON codec: round trips, and bad input named in plain words."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from racesense.analysis.errors import TrackError
from racesense.analysis.geo import haversine_m
from racesense.analysis.track import MIN_GATE_LENGTH_M, Gate, Track
from racesense.analysis.track_json import track_from_json, track_to_json

lat = st.floats(-89.0, 89.0)
lon = st.floats(-179.0, 179.0)
point = st.tuples(lat, lon)
line = (
    st.tuples(point, point)
    .filter(lambda ab: haversine_m(*ab[0], *ab[1]) >= MIN_GATE_LENGTH_M)
    .map(lambda ab: Gate(*ab))
)


@given(
    name=st.text(min_size=1, max_size=50).filter(str.strip),
    start=st.one_of(point, line),
    sectors=st.lists(st.one_of(point, line), max_size=4),
)
def test_round_trip(name: str, start, sectors) -> None:
    if isinstance(start, Gate):
        track = Track(name, start_finish=start, sectors=tuple(sectors), source="list")
    else:
        track = Track(name, start_finish_point=start, sectors=tuple(sectors), source="list")
    assert track_from_json(track_to_json(track), "list") == track


def test_accepted_forms() -> None:
    by_point = track_from_json(
        {"name": "A", "start_finish": {"lat": 1, "lon": 2}, "sectors": [{"lat": 1.1, "lon": 2}]},
        "user",
    )
    assert by_point.start_finish_point == (1.0, 2.0) and by_point.sectors == ((1.1, 2.0),)
    by_line = track_from_json({"name": "B", "start_finish_line": [[1, 2], [1.001, 2]]}, "list")
    assert by_line.start_finish == Gate((1.0, 2.0), (1.001, 2.0)) and by_line.source == "list"


@pytest.mark.parametrize(
    ("data", "words"),
    [
        ([], "JSON object"),
        ({"start_finish": {"lat": 1, "lon": 2}}, "name"),
        ({"name": "x"}, "one of start_finish"),
        ({"name": "x", "start_finish": {"lat": 1, "lon": 2}, "start_finish_line": []}, "one of"),
        ({"name": "x", "start_finish": {"lat": 91, "lon": 2}}, "not a valid latitude"),
        ({"name": "x", "start_finish": [1, "2"]}, "not a point"),
        ({"name": "x", "start_finish": [True, 2]}, "not a point"),
        ({"name": "x", "start_finish_line": [[1, 2]]}, "not a line"),
        ({"name": "x", "start_finish_line": [[1, 2], [1, 2]]}, "two different points"),
        ({"name": "x", "start_finish_line": [[1, 2], [1.000004, 2]]}, "at least 2 m"),
        ({"name": "x", "start_finish": [1, 2], "sectors": "north"}, "sectors"),
    ],
)
def test_bad_tracks_say_what_is_wrong(data, words: str) -> None:
    with pytest.raises(TrackError, match=words):
        track_from_json(data, "user")
