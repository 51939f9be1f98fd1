"""GET /api/sessions/{id}/export through the real app: a synthetic RS-Core file is
uploaded and analysed by the workers, exported in each format, and each export uploaded
again as a session of its own, whose laps must be the original's.

One app for the module, on SQLite (starting analysis workers for every test would be
most of the run): the route reads the database only through the session lookup every
other route shares, which tests/web run on PostgreSQL too.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any, get_args
from urllib.parse import quote

import pytest
from fastapi.testclient import TestClient

from racesense.export import FORMATS
from racesense.settings import Settings
from racesense.synth import demo_circuit, make_session, to_rscore_csv
from racesense.web.app import create_app
from racesense.web.export import FormatName

from .conftest import AUTH, make_settings, wait_for_status

NAME = "Été à Spa.csv"  # not ASCII: the download's name needs RFC 6266's filename*
MEDIA = {
    "racechrono": "text/csv; charset=utf-8",
    "gpx": "application/gpx+xml",
    "vbo": "text/plain; charset=utf-8",
}
DETECTED = {"racechrono": "racechrono-csv-3", "gpx": "gpx", "vbo": "vbox-vbo"}
# VBO writes times to 10 ms (the session's samples here fall on them exactly).
TOLERANCE_S = {"racechrono": 0.001, "gpx": 0.001, "vbo": 0.010}


def _start(settings: Settings, *, workers: bool) -> TestClient:
    client = TestClient(create_app(settings, start_workers=workers))
    client.__enter__()
    return client


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    root = tmp_path_factory.mktemp("export")
    client = _start(make_settings(root, f"sqlite:///{root / 'racesense.db'}"), workers=True)
    yield client
    client.__exit__(None, None, None)


def upload(client: TestClient, data: bytes, filename: str) -> str:
    response = client.post("/api/upload", params={"filename": filename}, content=data, headers=AUTH)
    assert response.status_code == 201, response.text
    session_id: str = response.json()["files"][0]["session_id"]
    return session_id


@pytest.fixture(scope="module")
def original(client: TestClient) -> dict[str, Any]:
    """The uploaded session's results document, analysed."""
    tel = make_session(demo_circuit(), rate_hz=25, laps=3, seed=8).telemetry
    doc = wait_for_status(client, upload(client, to_rscore_csv(tel), NAME))
    assert doc["status"] == "ready" and doc["format"] == "rscore-csv-1", doc
    return doc


def complete_times(doc: dict[str, Any]) -> list[float]:
    return [lap["time_s"] for lap in doc["laps"] if lap["complete"]]


def timed_on_line(client: TestClient, session_id: str, line: list[list[float]]) -> dict[str, Any]:
    """The session analysed again with `line` as its start/finish. An upload left to
    itself is timed from a known track near it, else from a line its file suggests (VBO's
    [laptiming] gate; where a RaceChrono CSV's lap number changes, which in an export is
    the first sample after the line, up to a sample off it), else from one found in the
    data: the file's laps are compared here on the line the original was timed from."""
    body = {"start_finish_line": line}
    response = client.post(f"/api/sessions/{session_id}/reanalyse", json=body, headers=AUTH)
    assert response.status_code == 202, response.text
    deadline = time.monotonic() + 60.0
    while time.monotonic() < deadline:
        doc = wait_for_status(client, session_id)
        if doc["status"] == "ready" and (doc["track"] or {}).get("source") == "user":
            return doc
        time.sleep(0.05)
    raise AssertionError(f"session {session_id} was not analysed again")


def export(client: TestClient, session_id: str, query: str, **headers: str) -> Any:
    return client.get(f"/api/sessions/{session_id}/export?{query}", headers=AUTH | headers)


@pytest.mark.parametrize("name", sorted(MEDIA))
def test_export_uploaded_again_gives_the_same_laps(
    client: TestClient, original: dict[str, Any], name: str
) -> None:
    response = export(client, original["id"], f"format={name}")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == MEDIA[name]
    extension = {"racechrono": "csv"}.get(name, name)
    wanted = f"Été à Spa-session.{extension}"
    assert response.headers["content-disposition"] == (
        f"attachment; filename=\"_t_ _ Spa-session.{extension}\"; filename*=UTF-8''{quote(wanted)}"
    )
    session_id = upload(client, response.content, wanted)
    again = wait_for_status(client, session_id)
    assert again["status"] == "ready", again
    assert again["format"] == DETECTED[name]
    assert again["started_at"] == original["started_at"]
    assert len(again["laps"]) == len(original["laps"])
    line = original["track"]["start_finish"]
    if name == "vbo":  # the results' line goes with it, as the file's own gate
        (lat1, lon1), (lat2, lon2) = line
        gate = f"Start {-lon1 * 60:+.6f} {lat1 * 60:+.6f} {-lon2 * 60:+.6f} {lat2 * 60:+.6f}"
        assert f"[laptiming]\r\n{gate} ¬ Start / Finish\r\n".encode() in response.content
        assert again["track"]["source"] == "file"
        ends = [v for end in again["track"]["start_finish"] for v in end]
        assert ends == pytest.approx([lat1, lon1, lat2, lon2])
    # Timed from the original's line, the laps are the original's. (Left to find its own
    # line, a file may be timed from another: see timed_on_line's docstring.)
    again = timed_on_line(client, session_id, line)
    assert complete_times(again) == pytest.approx(complete_times(original), abs=TOLERANCE_S[name])
    assert again["best_lap_number"] == original["best_lap_number"]


@pytest.mark.parametrize("name", sorted(MEDIA))
def test_chosen_laps(client: TestClient, original: dict[str, Any], name: str) -> None:
    laps = {lap["number"]: lap for lap in original["laps"]}
    one = export(client, original["id"], f"format={name}&laps=2")
    assert one.status_code == 200, one.text
    extension = {"racechrono": "csv"}.get(name, name)
    assert f'filename="_t_ _ Spa-lap-2.{extension}"' in one.headers["content-disposition"]
    whole = export(client, original["id"], f"format={name}")
    assert 0 < len(one.content) < len(whole.content) / 3
    two = export(client, original["id"], f"format={name}&laps=3,%201")
    assert two.status_code == 200, two.text
    assert "Spa-laps-1-3." in two.headers["content-disposition"]
    if name == "racechrono":  # a lap's rows carry its number; lap 2's margins its neighbours'
        rows = one.content.decode().split("\r\n")[12:-1]
        assert {row.split(",")[2] for row in rows} == {"1", "2", "3"}
        assert len(rows) == pytest.approx((laps[2]["time_s"] + 4.0) * 25, abs=2)


def test_compressed_for_a_client_that_takes_gzip(
    client: TestClient, original: dict[str, Any]
) -> None:
    plain = export(client, original["id"], "format=gpx", **{"Accept-Encoding": "identity"})
    assert "content-encoding" not in plain.headers
    packed = export(client, original["id"], "format=gpx", **{"Accept-Encoding": "gzip"})
    assert packed.headers["content-encoding"] == "gzip"
    assert packed.headers["vary"] == "Accept-Encoding"
    assert packed.content == plain.content  # (the client inflates it)
    assert int(packed.headers["content-length"]) < len(plain.content) / 5


def test_the_route_offers_every_writer() -> None:
    assert set(get_args(FormatName)) == set(FORMATS)


def test_ascii_names_have_no_filename_star(client: TestClient) -> None:
    tel = make_session(demo_circuit(), rate_hz=5, laps=1, seed=9).telemetry
    session_id = upload(client, to_rscore_csv(tel), 'plain "name".csv')
    response = export(client, session_id, "format=gpx")
    assert response.status_code == 200, response.text
    assert response.headers["content-disposition"] == (
        "attachment; filename=\"plain _name_-session.gpx\"; filename*=UTF-8''"
        + quote('plain "name"-session.gpx')
    )
    clean = upload(client, to_rscore_csv(tel) + b"\n", "plain.csv")
    response = export(client, clean, "format=vbo")
    assert response.headers["content-disposition"] == 'attachment; filename="plain-session.vbo"'


def error(response: Any, status: int, code: str) -> str:
    assert response.status_code == status, response.text
    body = response.json()
    assert body == {"ok": False, "status": status, "error": code, "message": body["message"]}
    message: str = body["message"]
    return message


@pytest.mark.parametrize(
    "query",
    [
        "format=csv",
        "format=",
        "",
        "format=GPX",
        "format=gpx&laps=",
        "format=gpx&laps=1;2",
        "format=gpx&laps=-1",
        "format=gpx&laps=1,,2",
        "format=gpx&laps=1.5",
        "format=gpx&laps=%D9%A3",  # an Arabic-Indic digit three, which int() would take
        "format=gpx&laps=99999999999999999999",
        "format=gpx&laps=" + "1," * 2000 + "1",
    ],
)
def test_bad_queries(client: TestClient, original: dict[str, Any], query: str) -> None:
    message = error(export(client, original["id"], query), 422, "invalid")
    assert ("format" in message) or ("laps" in message)


def test_unknown_lap_and_session(client: TestClient, original: dict[str, Any]) -> None:
    message = error(export(client, original["id"], "format=gpx&laps=2,9"), 404, "unknown_lap")
    assert message.endswith("no lap 9; its laps are 0, 1, 2, 3, 4.")
    error(export(client, "no-such-session", "format=gpx"), 404, "not_found")


def test_a_file_that_cannot_be_read(client: TestClient) -> None:
    session_id = upload(client, b"shopping list: milk, eggs\n", "list.txt")
    assert wait_for_status(client, session_id)["status"] == "failed"
    message = error(export(client, session_id, "format=gpx"), 409, "not_exportable")
    assert "cannot be read" in message


def test_needs_a_read_token(client: TestClient, original: dict[str, Any]) -> None:
    url = f"/api/sessions/{original['id']}/export?format=gpx"
    error(client.get(url), 401, "unauthorized")
    error(client.get(url, headers={"Authorization": "Bearer wrong"}), 401, "unauthorized")


def test_a_session_not_analysed(tmp_path_factory: pytest.TempPathFactory) -> None:
    """Without workers the upload stays queued: it exports whole, and asking for laps
    says why there are none."""
    root = tmp_path_factory.mktemp("queued")
    client = _start(make_settings(root, f"sqlite:///{root / 'racesense.db'}"), workers=False)
    try:
        tel = make_session(demo_circuit(), rate_hz=5, laps=1, seed=10).telemetry
        session_id = upload(client, to_rscore_csv(tel), "queued.csv")
        whole = client.get(f"/api/sessions/{session_id}/export?format=racechrono", headers=AUTH)
        assert whole.status_code == 200, whole.text
        assert whole.content.count(b"\r\n") == 12 + len(tel)
        laps = client.get(
            f"/api/sessions/{session_id}/export?format=racechrono&laps=1", headers=AUTH
        )
        assert "no laps" in error(laps, 409, "no_laps")
    finally:
        client.__exit__(None, None, None)
