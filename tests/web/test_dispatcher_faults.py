"""The dispatcher outlives a database that is locked for longer than its busy timeout,
and /api/health says so meanwhile."""

from __future__ import annotations

import sqlite3
import threading
import time

import pytest
from fastapi.testclient import TestClient

from racesense.demo import demo_session_csv
from racesense.web.app import create_app

from .conftest import AUTH, make_settings, wait_for_status


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_lock_held_15_s_stalls_analysis_then_it_resumes(tmp_path, database_url) -> None:
    settings = make_settings(tmp_path, database_url)
    with TestClient(create_app(settings, start_workers=True)) as client:
        blob = client.app.state.blobs.put(demo_session_csv()[1])  # type: ignore[attr-defined]
        db_path = database_url.removeprefix("sqlite:///")
        locked = threading.Event()

        def hold_the_write_lock() -> None:
            """What a long write by another process looks like: the lock held 15 s,
            and a session queued inside that very transaction."""
            con = sqlite3.connect(db_path, isolation_level=None, timeout=30)
            con.execute("BEGIN IMMEDIATE")
            con.execute(
                "INSERT INTO sessions (id, sha256, filename, bytes, uploaded_at, status)"
                " VALUES ('locked1', ?, 'demo.csv', 1, CURRENT_TIMESTAMP, 'queued')",
                (blob.sha256,),
            )
            con.execute(
                "INSERT INTO jobs (session_id, state, attempts, not_before, created_at)"
                " VALUES ('locked1', 'queued', 0, '2000-01-01', CURRENT_TIMESTAMP)"
            )
            locked.set()
            time.sleep(15)
            con.execute("COMMIT")
            con.close()

        holder = threading.Thread(target=hold_the_write_lock)
        holder.start()
        locked.wait()
        seen: set[str] = set()
        while holder.is_alive():
            health = client.get("/api/health")
            seen.add(health.json()["dispatcher"]["state"])
            if health.json()["dispatcher"]["state"] == "stalled":
                assert health.status_code == 503 and health.json()["ok"] is False
            time.sleep(0.5)
        holder.join()
        assert "stalled" in seen, seen
        doc = wait_for_status(client, "locked1", timeout_s=90)
        assert doc["status"] == "ready" and doc["lap_count"] == 8
        health = client.get("/api/health")
        assert health.status_code == 200 and health.json()["dispatcher"]["state"] == "running"
        assert client.get("/api/sessions", headers=AUTH).json()["total"] == 1
