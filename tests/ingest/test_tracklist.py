"""Track lists: RaceCapture's start/finish database (both forms), and a CSV with lines."""

from __future__ import annotations

import pytest

from racesense.ingest.errors import MalformedFileError
from racesense.ingest.tracklist import parse_track_list


def test_racecapture_database_in_both_forms(shared_file):
    as_text = parse_track_list(shared_file("racecapture_startfinish_db/sf_data.csv"))
    as_gpx = parse_track_list(shared_file("racecapture_startfinish_db/sf_data.gpx"))
    assert len(as_text) == len(as_gpx) == 628
    first = as_text[0]
    assert first.name == "103rd Street Kart Track"
    assert first.start_finish_point == pytest.approx((30.246222222, -81.828277778))
    assert [t.name for t in as_text] == [t.name for t in as_gpx]
    assert all(t.source == "list" for t in as_text)


def test_comma_csv_with_points_and_lines():
    data = (
        b"name,lat,lon,lat2,lon2\n"
        b"Point Park,-37.85,144.97,,\n"
        b"Line Raceway,52.07,-1.02,52.0702,-1.0198\n"
    )
    point, line = parse_track_list(data)
    assert point.start_finish_point == (-37.85, 144.97)
    assert line.start_finish is not None
    assert line.start_finish.p2 == (52.0702, -1.0198)


@pytest.mark.parametrize(
    "data",
    [b"", b"name,lat,lon\nX,91.5,0\n", b"name,x\nA,1\n", b"<gpx><wpt lat='a' lon='1'/></gpx>"],
)
def test_bad_lists_are_typed_errors(data):
    with pytest.raises(MalformedFileError):
        parse_track_list(data)


def test_entity_expansion_is_refused():
    bomb = (
        b'<?xml version="1.0"?><!DOCTYPE g [<!ENTITY a "aaaa">]>'
        b'<gpx><wpt lat="1" lon="2"><name>&a;</name></wpt></gpx>'
    )
    with pytest.raises(MalformedFileError):
        parse_track_list(bomb)
