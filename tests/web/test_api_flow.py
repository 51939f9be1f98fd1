"""The API around an upload: analysis in worker processes, results, traces, syncs,
tracks, re-analysis, deletion, events."""

from __future__ import annotations

import datetime as dt
import gzip
import json

import pyarrow as pa
import pytest
from fastapi.testclient import TestClient

from racesense.demo import demo_track
from racesense.jobs.dispatcher import host_prefix
from racesense.store import jobs, sessions, tokens
from racesense.synth import demo_circuit, make_session, to_rscore_csv

from .conftest import AUTH, wait_for_status


@pytest.fixture(scope="module")
def session_csv() -> bytes:
    return to_rscore_csv(make_session(demo_circuit(), rate_hz=10, laps=3, seed=4).telemetry)


@pytest.fixture
def worker_client(app_factory) -> TestClient:
    return app_factory(workers=True)


def upload(client: TestClient, data: bytes, headers: dict[str, str] | None = None) -> dict:
    response = client.post("/api/upload", content=data, headers=(headers or AUTH))
    assert response.status_code in (200, 201), response.text
    return response.json()["files"][0]


def test_upload_is_analysed_and_served(worker_client: TestClient, session_csv: bytes) -> None:
    client = worker_client
    item = upload(client, session_csv, AUTH | {"X-Filename": "park.csv"})
    doc = wait_for_status(client, item["session_id"])
    assert doc["status"] == "ready", doc
    assert doc["format"] == "rscore-csv-1"
    assert doc["track"]["source"] == "detected"
    complete = [lap for lap in doc["laps"] if lap["complete"]]
    assert len(complete) == 3
    assert doc["best_lap_s"] == min(lap["time_s"] for lap in complete if lap["kind"] == "timed")
    listing = client.get("/api/sessions", headers=AUTH).json()["sessions"][0]
    assert listing["status"] == "ready" and listing["lap_count"] == 3
    assert listing["best_lap_s"] == pytest.approx(doc["best_lap_s"], abs=1e-3)
    assert listing["theoretical_best_s"] == pytest.approx(doc["theoretical_best_s"], abs=1e-3)
    assert listing["theoretical_best_s"] <= listing["best_lap_s"]
    trace = client.get(f"/api/sessions/{item['session_id']}/laps/1/trace", headers=AUTH)
    assert trace.status_code == 200
    assert trace.headers["content-type"] == "application/vnd.apache.arrow.stream"
    table = pa.ipc.open_stream(trace.content).read_all()
    assert table.schema.metadata[b"lap"] == b"1"
    assert table.num_rows > 100 and table.schema.field("speed_kmh").type == pa.float32()
    as_json = client.get(
        f"/api/sessions/{item['session_id']}/laps/1/trace",
        headers=AUTH | {"Accept": "application/json"},
    ).json()
    assert as_json["lap"] == 1 and len(as_json["speed_kmh"]) == table.num_rows
    assert as_json["speed_kmh"][5] == pytest.approx(table.column("speed_kmh")[5].as_py(), abs=0.01)
    missing = client.get(f"/api/sessions/{item['session_id']}/laps/99/trace", headers=AUTH)
    assert missing.status_code == 404


def test_unrecognised_file_is_kept_as_failed_with_a_reason(worker_client: TestClient) -> None:
    item = upload(worker_client, b"shopping list: milk, eggs\n")
    doc = wait_for_status(worker_client, item["session_id"])
    assert doc["status"] == "failed"
    assert (
        doc["error_code"] == "unknown_format" and doc["session"]["error_code"] == "unknown_format"
    )
    assert doc["error"] and "unknown_format" not in doc["error"]  # a sentence, for people
    raw = worker_client.get(f"/api/sessions/{item['session_id']}/raw", headers=AUTH)
    assert raw.content == b"shopping list: milk, eggs\n"


def test_reanalyse_with_a_given_start_finish(worker_client: TestClient, session_csv: bytes) -> None:
    client = worker_client
    item = upload(client, session_csv)
    wait_for_status(client, item["session_id"])
    line = demo_track().start_finish
    assert line is not None
    body = {"start_finish_line": [list(line.p1), list(line.p2)]}
    response = client.post(f"/api/sessions/{item['session_id']}/reanalyse", json=body, headers=AUTH)
    assert response.status_code == 202
    doc = wait_for_status(client, item["session_id"])
    assert doc["track"]["source"] == "user"
    assert sum(1 for lap in doc["laps"] if lap["complete"]) == 3


def test_new_track_reanalyses_sessions_near_it(
    worker_client: TestClient, session_csv: bytes
) -> None:
    client = worker_client
    item = upload(client, session_csv)
    wait_for_status(client, item["session_id"])
    line = demo_track().start_finish
    assert line is not None
    response = client.post(
        "/api/tracks",
        json={"name": "Racesense Park", "start_finish_line": [list(line.p1), list(line.p2)]},
        headers=AUTH,
    )
    assert response.status_code == 201
    assert response.json()["reanalysing"] == [item["session_id"]]
    for _ in range(200):
        doc = wait_for_status(client, item["session_id"])
        if doc["track"]["source"] == "list":
            break
    assert doc["track"]["name"] == "Racesense Park" and doc["track"]["source"] == "list"
    (listed,) = client.get("/api/tracks", headers=AUTH).json()["tracks"]
    assert listed["sessions"] == 1  # the Tracks view shows which sessions used it
    # Deleted again: the session goes back to a start/finish found in its data.
    deleted = client.delete(f"/api/tracks/{response.json()['id']}", headers=AUTH)
    assert deleted.status_code == 200 and deleted.json()["reanalysing"] == [item["session_id"]]
    assert client.get("/api/tracks", headers=AUTH).json()["tracks"] == []
    for _ in range(200):
        doc = wait_for_status(client, item["session_id"])
        if doc["track"]["source"] == "detected":
            break
    assert doc["track"]["source"] == "detected"
    again = client.delete(f"/api/tracks/{response.json()['id']}", headers=AUTH)
    assert again.status_code == 404 and again.json()["error"] == "not_found"


def test_a_timing_line_too_short_to_cross_a_track_is_refused(client: TestClient) -> None:
    short = [[52.0, -1.0], [52.000004, -1.0]]  # 0.45 m
    response = client.post(
        "/api/tracks", json={"name": "x", "start_finish_line": short}, headers=AUTH
    )
    assert response.status_code == 422 and "at least 2 m" in response.json()["message"]
    listed = b"name,lat,lon,lat2,lon2\nTiny,52.0,-1.0,52.000004,-1.0\n"
    imported = client.post("/api/tracks/import", content=listed, headers=AUTH)
    assert imported.status_code == 400 and imported.json()["error"] == "bad_track_list"
    assert client.get("/api/tracks", headers=AUTH).json()["tracks"] == []


def test_tracks_validation_and_import(client: TestClient, shared_file) -> None:
    bad = client.post("/api/tracks", json={"name": "x"}, headers=AUTH)
    assert bad.status_code == 422 and bad.json()["error"] == "invalid"
    bad_lat = client.post(
        "/api/tracks", json={"name": "x", "start_finish": {"lat": 95, "lon": 0}}, headers=AUTH
    )
    assert bad_lat.status_code == 422
    good = client.post(
        "/api/tracks",
        json={
            "name": "Pt",
            "start_finish": {"lat": -37.85, "lon": 144.97},
            "sectors": [[-37.8, 144.9]],
        },
        headers=AUTH,
    )
    assert good.status_code == 201, good.text
    data = shared_file("racecapture_startfinish_db/sf_data.gpx")
    imported = client.post("/api/tracks/import", content=data, headers=AUTH)
    assert imported.status_code == 201 and imported.json()["imported"] == 628
    listed = client.get("/api/tracks", headers=AUTH).json()["tracks"]
    assert len(listed) == 629 and listed[0]["sectors"] == [[-37.8, 144.9]]
    garbage = client.post("/api/tracks/import", content=b"not a list", headers=AUTH)
    assert garbage.status_code == 400


def test_sync_token_is_upload_only_bound_and_expiring(client: TestClient) -> None:
    sync = client.post("/api/syncs", json={"device_id": "RS-Core-7F3A"}, headers=AUTH).json()
    assert set(sync) == {
        "sync_id",
        "upload_url",
        "ip_fallback",
        "unreachable",
        "token",
        "expires_at",
        "ack_key",
        "cert_sha256",
        "plain_upload_url",
        "plain_ip_fallback",
    }
    assert sync["upload_url"].endswith("/api/upload")
    # Without the https listeners (tests, loopback) there is no pin and no plain port.
    assert sync["cert_sha256"] is None and sync["plain_upload_url"] is None
    device = {"Authorization": f"Bearer {sync['token']}"}
    first = client.post("/api/upload", content=b"a,b\n1,2\n", headers=device)
    assert first.status_code == 201
    assert client.get("/api/sessions", headers=device).status_code == 403
    other = client.post("/api/syncs", headers=AUTH).json()
    wrong = client.post(
        "/api/upload", content=b"c\n", headers=device | {"X-Sync-Id": other["sync_id"]}
    )
    assert wrong.status_code == 403 and wrong.json()["error"] == "wrong_sync"
    status = client.get(f"/api/syncs/{sync['sync_id']}", headers=AUTH).json()
    assert [f["id"] for f in status["files"]] == [first.json()["files"][0]["session_id"]]
    report = {"phases_ms": {"join": 4200, "total": 9100}, "files_sent": 1}
    assert (
        client.post(f"/api/syncs/{sync['sync_id']}/report", json=report, headers=device).status_code
        == 200
    )
    assert (
        client.get(f"/api/syncs/{sync['sync_id']}", headers=AUTH).json()["report"]["files_sent"]
        == 1
    )
    other_report = client.post(f"/api/syncs/{other['sync_id']}/report", json=report, headers=device)
    assert other_report.status_code == 403
    # An expired token is refused like an unknown one.
    engine = client.app.state.engine  # type: ignore[attr-defined]
    expired, _ = tokens.create(engine, "old", "upload", sync_id=sync["sync_id"], ttl_s=-1)
    late = client.post(
        "/api/upload", content=b"d\n", headers={"Authorization": f"Bearer {expired}"}
    )
    assert late.status_code == 401


def test_a_user_may_delete_a_logger_may_not(client: TestClient) -> None:
    item = upload(client, b"x,y\n1,2\n")
    engine = client.app.state.engine  # type: ignore[attr-defined]
    user, _ = tokens.create(engine, "phone", "user")
    logger, _ = tokens.create(engine, "rs-core", "upload")
    refused = client.delete(
        f"/api/sessions/{item['session_id']}", headers={"Authorization": f"Bearer {logger}"}
    )
    assert refused.status_code == 403
    user_auth = {"Authorization": f"Bearer {user}"}
    assert (
        client.delete(f"/api/sessions/{item['session_id']}", headers=user_auth).status_code == 200
    )
    assert client.get(f"/api/sessions/{item['session_id']}", headers=AUTH).status_code == 404
    assert client.get(f"/api/sessions/{item['session_id']}/raw", headers=AUTH).status_code == 404


def test_excluding_a_lap_moves_the_best_and_counting_it_again_restores_it(
    worker_client: TestClient, session_csv: bytes
) -> None:
    client = worker_client
    item = upload(client, session_csv)
    before = wait_for_status(client, item["session_id"])
    best = before["best_lap_number"]
    url = f"/api/sessions/{item['session_id']}/laps/{best}"
    response = client.patch(url, json={"excluded": True}, headers=AUTH)
    assert response.status_code == 202
    after = wait_for_status(client, item["session_id"])
    lap = next(entry for entry in after["laps"] if entry["number"] == best)
    assert lap["excluded"] and not lap["valid"] and lap["invalid_reason"] == "excluded by hand"
    others = [
        e["time_s"] for e in after["laps"] if e["kind"] == "timed" and e["valid"] and e["complete"]
    ]
    assert after["best_lap_number"] != best and after["best_lap_s"] == min(others)
    assert after["best_lap_s"] > before["best_lap_s"]
    assert after["theoretical_best_s"] >= before["theoretical_best_s"]
    listed = client.get("/api/sessions", headers=AUTH).json()["sessions"][0]
    assert listed["best_lap_s"] == pytest.approx(after["best_lap_s"], abs=1e-3)
    # Counted again: as before.
    assert client.patch(url, json={"excluded": False}, headers=AUTH).status_code == 202
    again = wait_for_status(client, item["session_id"])
    assert again["best_lap_number"] == best and again["best_lap_s"] == before["best_lap_s"]
    # Laps that do not exist or never count cannot be excluded.
    missing = client.patch(
        f"/api/sessions/{item['session_id']}/laps/999", json={"excluded": True}, headers=AUTH
    )
    assert missing.status_code == 404 and missing.json()["error"] == "not_found"
    out_lap = next(e["number"] for e in again["laps"] if not e["complete"])
    refused = client.patch(
        f"/api/sessions/{item['session_id']}/laps/{out_lap}", json={"excluded": True}, headers=AUTH
    )
    assert refused.status_code == 422 and refused.json()["error"] == "incomplete_lap"


def test_filters_and_pagination(client: TestClient) -> None:
    for i in range(5):
        upload(client, f"row,{i}\n".encode(), AUTH | {"X-Device-Id": f"dev-{i % 2}"})
    page = client.get("/api/sessions?limit=2&offset=0", headers=AUTH).json()
    assert page["total"] == 5 and len(page["sessions"]) == 2
    rest = client.get("/api/sessions?limit=10&offset=2", headers=AUTH).json()["sessions"]
    assert len(rest) == 3
    assert not {s["id"] for s in page["sessions"]} & {s["id"] for s in rest}
    dev0 = client.get("/api/sessions?device=dev-0", headers=AUTH).json()
    assert dev0["total"] == 3
    today = dt.datetime.now(dt.UTC).date().isoformat()
    assert client.get(f"/api/sessions?date={today}", headers=AUTH).json()["total"] == 5
    assert client.get("/api/sessions?date=2001-01-01", headers=AUTH).json()["total"] == 0
    bad = client.get("/api/sessions?limit=0", headers=AUTH)
    assert bad.status_code == 422 and bad.json()["error"] == "invalid"


def test_openapi_and_error_shape_for_unknown_routes(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    assert "/api/upload" in spec["paths"] and "/api/syncs/{sync_id}/report" in spec["paths"]
    missing = client.get("/api/sessions/nope", headers=AUTH)
    assert missing.status_code == 404 and missing.json()["error"] == "not_found"


def test_json_trace_is_gzipped_only_when_asked(
    worker_client: TestClient, session_csv: bytes
) -> None:
    item = upload(worker_client, session_csv)
    wait_for_status(worker_client, item["session_id"])
    url = f"/api/sessions/{item['session_id']}/laps/1/trace"
    as_json = AUTH | {"Accept": "application/json"}
    plain = worker_client.get(url, headers=as_json | {"Accept-Encoding": "identity"})
    assert json.loads(plain.content)["lap"] == 1
    assert plain.headers.get("content-encoding") is None
    # httpx decodes gzip itself: look at the header, then at the bytes as sent.
    with worker_client.stream("GET", url, headers=as_json | {"Accept-Encoding": "gzip"}) as zipped:
        assert zipped.headers["content-encoding"] == "gzip"
        raw = b"".join(zipped.iter_raw())
    assert gzip.decompress(raw) == plain.content


def test_job_interrupted_by_a_crash_runs_on_restart(app_factory, session_csv: bytes) -> None:
    """A server dies while analysing: at the next start the job runs again."""
    first = app_factory()  # no workers: the job stays queued
    item = upload(first, session_csv)
    engine = first.app.state.engine  # type: ignore[attr-defined]
    claimed = jobs.claim(engine, f"{host_prefix()}99999:0")  # "processing" by a dead worker
    assert claimed is not None
    first.__exit__(None, None, None)
    restarted = app_factory(workers=True)
    doc = wait_for_status(restarted, item["session_id"])
    assert doc["status"] == "ready"


def test_session_document_is_the_stored_bytes_behind_the_row_state(
    worker_client: TestClient, session_csv: bytes
) -> None:
    """GET merges the row's state once, in front of the stored document's own bytes: the
    document is neither parsed nor encoded again, and no key appears twice."""
    item = upload(worker_client, session_csv)
    wait_for_status(worker_client, item["session_id"])
    response = worker_client.get(f"/api/sessions/{item['session_id']}", headers=AUTH)

    def no_duplicates(pairs: list[tuple[str, object]]) -> dict[str, object]:
        keys = [k for k, _ in pairs]
        assert len(keys) == len(set(keys)), keys
        return dict(pairs)

    doc = json.loads(response.content, object_pairs_hook=no_duplicates)
    engine = worker_client.app.state.engine  # type: ignore[attr-defined]
    stored = sessions.get(engine, item["session_id"]).result
    assert stored and response.content.endswith(stored[1:].encode())
    assert doc["id"] == item["session_id"] and doc["status"] == "ready"
    assert doc["session"]["status"] == "ready" and doc["error_code"] is None
    assert '"status"' not in stored and '"id"' not in stored


def test_a_sync_learns_no_other_session_id_and_still_lists_its_duplicate(
    client: TestClient,
) -> None:
    by_hand = client.post("/api/upload", content=b"known,bytes\n1,2\n", headers=AUTH).json()
    sync = client.post("/api/syncs", headers=AUTH).json()
    device = {"Authorization": f"Bearer {sync['token']}"}
    again = client.post("/api/upload", content=b"known,bytes\n1,2\n", headers=device)
    assert again.status_code == 200
    (item,) = again.json()["files"]
    assert item["duplicate"] is True and item["session_id"] is None and item["status"] is None
    assert item["sha256"] == by_hand["files"][0]["sha256"]  # what the logger checks
    files = client.get(f"/api/syncs/{sync['sync_id']}", headers=AUTH).json()["files"]
    assert [f["id"] for f in files] == [by_hand["files"][0]["session_id"]]


@pytest.mark.parametrize("value", ["NaN", "Infinity", "-Infinity"])
def test_a_sync_report_with_non_finite_numbers_is_refused(client: TestClient, value: str) -> None:
    sync = client.post("/api/syncs", headers=AUTH).json()
    body = '{"phases_ms": {"join": VALUE}}'.replace("VALUE", value)
    response = client.post(
        f"/api/syncs/{sync['sync_id']}/report",
        content=body,
        headers=AUTH | {"Content-Type": "application/json"},
    )
    assert response.status_code == 422 and response.json()["error"] == "invalid"
