"""POST /api/syncs/{id}/report: each source keeps its own report; GET shows them."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest
from fastapi.testclient import TestClient

from racesense.store import syncs
from racesense.store.db import writing
from racesense.store.models import Sync

from .conftest import AUTH

LOGGER = {
    "phases_ms": {"join": 4200, "first_byte": 300, "upload": 2500, "total": 7000},
    "files_sent": 2,
    "bytes_sent": 1_200_000,
    "duplicates": 0,
}


def _sync(client: TestClient) -> dict[str, Any]:
    sync: dict[str, Any] = client.post("/api/syncs", headers=AUTH).json()
    return sync


def _report(client: TestClient, sync_id: str) -> Any:
    return client.get(f"/api/syncs/{sync_id}", headers=AUTH).json()["report"]


def test_the_page_and_the_logger_keep_their_own_reports(client: TestClient) -> None:
    sync = _sync(client)
    device = {"Authorization": f"Bearer {sync['token']}"}
    url = f"/api/syncs/{sync['sync_id']}/report"
    assert client.post(url, json=LOGGER, headers=device).status_code == 200
    page = {
        "phases_ms": LOGGER["phases_ms"] | {"page_total": 9100, "ble_handshake": 1500},
        "files_sent": 2,
        "phone": "Pixel 7, Android 15, Chrome 131",
        "firmware": "rs-core 1.4.2",
        "link": "hotspot 2.4 GHz, 3 m",
        "session_minutes": 20,
    }
    assert client.post(url, json=page, headers=AUTH).status_code == 200
    # The logger's again (a retry): the page's is still there.
    assert client.post(url, json=LOGGER, headers=device).status_code == 200

    report = _report(client, sync["sync_id"])
    # What readers always had: one report, the page's first, at the top.
    assert report["files_sent"] == 2 and report["phases_ms"]["page_total"] == 9100
    assert report["phone"] == "Pixel 7, Android 15, Chrome 131"
    by_source = report["sources"]
    assert set(by_source) == {"page", "logger"}
    assert by_source["logger"]["phases_ms"] == LOGGER["phases_ms"]
    assert by_source["logger"]["bytes_sent"] == 1_200_000
    assert by_source["page"]["session_minutes"] == 20
    assert "received_at" in by_source["page"] and "source" not in by_source["page"]
    assert "ble_handshake" not in by_source["logger"]["phases_ms"]  # unmeasured: absent

    stored = syncs.reports_since(client.app.state.engine)  # type: ignore[attr-defined]
    assert [r.sync_id for r in stored] == [sync["sync_id"]]
    assert stored[0].by_source["logger"]["files_sent"] == 2


def test_a_logger_alone_shows_as_the_report_and_a_fieldtest_source_is_its_own(
    client: TestClient,
) -> None:
    sync = _sync(client)
    url = f"/api/syncs/{sync['sync_id']}/report"
    device = {"Authorization": f"Bearer {sync['token']}"}
    assert client.post(url, json=LOGGER, headers=device).status_code == 200
    assert _report(client, sync["sync_id"])["phases_ms"]["total"] == 7000
    harness = {"source": "fieldtest", "preset": "good", "phases_ms": {"on_screen": 800}}
    assert client.post(url, json=harness, headers=AUTH).status_code == 200
    report = _report(client, sync["sync_id"])
    assert report["phases_ms"]["total"] == 7000  # the logger's still first
    assert report["sources"]["fieldtest"]["preset"] == "good"


@pytest.mark.parametrize(
    ("body", "where"),
    [
        ({"phases_ms": {"hotspot_joined": 4200}}, "phases_ms.hotspot_joined"),
        ({"phases_ms": {"join": -1}}, "phases_ms.join"),
        ({"phases_ms": {"join": 1.5}}, "phases_ms.join"),
        ({"phases_ms": {"join": "soon"}}, "phases_ms.join"),
        ({"sesion_minutes": 20}, "sesion_minutes"),
        ({"source": "laptop"}, "source"),
        ({"phone": "x" * 121}, "phone"),
        ({"firmware": "x" * 41}, "firmware"),
        ({"link": "x" * 121}, "link"),
        ({"preset": "x" * 41}, "preset"),
        ({"session_minutes": -1}, "session_minutes"),
        ({"encoding": "brotli"}, "encoding"),
        ({"wire_bytes": -5}, "wire_bytes"),
    ],
)
def test_a_bad_report_is_refused_in_the_api_shape(
    client: TestClient, body: dict[str, Any], where: str
) -> None:
    sync = _sync(client)
    response = client.post(f"/api/syncs/{sync['sync_id']}/report", json=body, headers=AUTH)
    assert response.status_code == 422
    doc = response.json()
    assert doc["error"] == "invalid" and doc["message"].startswith(where + ":")
    assert _report(client, sync["sync_id"]) is None


def test_a_report_stored_before_sources_reads_as_the_pages(client: TestClient) -> None:
    sync = _sync(client)
    engine = client.app.state.engine  # type: ignore[attr-defined]
    old = {
        "phases_ms": {"join": 5000.0, "total": 8000.0, "page_total": 9000},
        "files_sent": 1,
        "bytes_sent": None,
        "duplicates": None,
        "error": None,
        "received_at": "2026-05-01T10:00:00Z",
    }
    with writing(engine) as db:
        row = db.get(Sync, sync["sync_id"])
        assert row is not None
        row.report = json.dumps(old)
    assert _report(client, sync["sync_id"]) == old  # as before
    (stored,) = syncs.reports_since(engine)
    assert stored.by_source == {"page": old}

    device = {"Authorization": f"Bearer {sync['token']}"}
    url = f"/api/syncs/{sync['sync_id']}/report"
    assert client.post(url, json=LOGGER, headers=device).status_code == 200
    report = _report(client, sync["sync_id"])
    assert report["sources"]["page"] == old and report["files_sent"] == 1
    assert report["sources"]["logger"]["phases_ms"]["total"] == 7000


def test_reports_since_leaves_out_older_syncs_and_unreported_ones(client: TestClient) -> None:
    engine = client.app.state.engine  # type: ignore[attr-defined]
    old, new, silent = _sync(client), _sync(client), _sync(client)
    del silent
    for sync in (old, new):
        url = f"/api/syncs/{sync['sync_id']}/report"
        assert client.post(url, json=LOGGER, headers=AUTH).status_code == 200
    with writing(engine) as db:
        row = db.get(Sync, old["sync_id"])
        assert row is not None
        row.created_at = dt.datetime(2026, 1, 1, 12, tzinfo=dt.UTC)
    assert [r.sync_id for r in syncs.reports_since(engine)] == [old["sync_id"], new["sync_id"]]
    since = dt.datetime(2026, 1, 2, tzinfo=dt.UTC)
    assert [r.sync_id for r in syncs.reports_since(engine, since)] == [new["sync_id"]]


def test_a_report_for_an_unknown_sync_is_404(client: TestClient) -> None:
    response = client.post("/api/syncs/nope/report", json=LOGGER, headers=AUTH)
    assert response.status_code == 404 and response.json()["error"] == "not_found"
