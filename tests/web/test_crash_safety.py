"""Crash safety: a real `racesense serve` killed with SIGKILL at random moments while
clients upload and delete, again and again. After every restart, every acknowledged
upload is there, with its bytes, as a session (unless a delete of that very session was
sent); no session lacks its raw file; and every session ends ready or failed."""

from __future__ import annotations

import contextlib
import hashlib
import http.client
import json
import os
import random
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from racesense import devserver
from racesense.synth import demo_circuit, make_session, to_rscore_csv

TOKEN = "crash-test-admin-token-31c9"
KILLS = 20
UPLOADERS = 3
pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL is POSIX")


def _request(port: int, method: str, path: str, body: bytes | None = None) -> tuple[int, Any]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        headers = {"Authorization": f"Bearer {TOKEN}"}
        conn.request(method, path, body=body, headers=headers)
        response = conn.getresponse()
        data = response.read()
        is_json = response.getheader("content-type", "").startswith("application/json")
        return response.status, json.loads(data) if is_json else data
    finally:
        conn.close()


class Ledger:
    """What the clients were told, and what they asked for."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.acked: dict[str, str] = {}  # session id -> SHA-256 of the bytes sent
        self.delete_sent: set[str] = set()  # session ids a delete was sent for
        self.uploads = 0

    def upload(self, port: int, data: bytes) -> str | None:
        with self.lock:
            self.uploads += 1
        try:
            status, body = _request(port, "POST", "/api/upload", data)
        except (OSError, http.client.HTTPException):
            return None  # cut off by the kill: not acknowledged
        if status not in (200, 201):
            return None
        item = body["files"][0]
        assert item["sha256"] == hashlib.sha256(data).hexdigest()
        with self.lock:
            self.acked[item["session_id"]] = item["sha256"]
        return str(item["session_id"])

    def delete(self, port: int, session_id: str) -> None:
        with self.lock:
            self.delete_sent.add(session_id)
        with contextlib.suppress(OSError, http.client.HTTPException):
            _request(port, "DELETE", f"/api/sessions/{session_id}")


def _traffic(port: int, ledger: Ledger, base: bytes, stop: threading.Event, seed: int) -> None:
    rng = random.Random(seed)
    while not stop.is_set():
        data = base + f"# upload {seed} {time.monotonic_ns()}\n".encode()
        session_id = ledger.upload(port, data)
        if session_id is not None and rng.random() < 0.25:
            # A delete racing an upload of the very same bytes.
            racer = threading.Thread(target=ledger.upload, args=(port, data))
            racer.start()
            ledger.delete(port, session_id)
            racer.join()


def _life(data_dir: Path, ledger: Ledger, base: bytes, rng: random.Random) -> None:
    env = {"RACESENSE_API_TOKEN": TOKEN}
    with devserver.running(data_dir, env, workers=1) as (proc, port):
        stop = threading.Event()
        clients = [
            threading.Thread(target=_traffic, args=(port, ledger, base, stop, rng.random()))
            for _ in range(UPLOADERS)
        ]
        for client in clients:
            client.start()
        time.sleep(rng.uniform(0.2, 1.2))
        os.kill(proc.pid, signal.SIGKILL)  # no clean shutdown of anything
        proc.wait()
        stop.set()
        for client in clients:
            client.join()


def _all_sessions(port: int) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    while True:
        status, body = _request(port, "GET", f"/api/sessions?limit=500&offset={len(found)}")
        assert status == 200
        found += body["sessions"]
        if len(found) >= body["total"]:
            return found


def test_acknowledged_uploads_survive_kill_9(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    base = to_rscore_csv(make_session(demo_circuit(), rate_hz=10, laps=1, seed=5).telemetry)
    ledger = Ledger()
    rng = random.Random(2026)
    for _ in range(KILLS):
        _life(data_dir, ledger, base, rng)

    with devserver.running(data_dir, {"RACESENSE_API_TOKEN": TOKEN}, workers=2) as (_, port):
        deadline = time.monotonic() + 120
        while True:
            sessions = _all_sessions(port)
            if all(s["status"] in ("ready", "failed") for s in sessions):
                break
            assert time.monotonic() < deadline, "sessions still waiting for analysis"
            time.sleep(0.5)
        stored = {s["id"]: s for s in sessions}
        lost = [
            sid
            for sid, sha in ledger.acked.items()
            if sid not in ledger.delete_sent and stored.get(sid, {}).get("sha256") != sha
        ]
        missing_raw = []
        for session in sessions:
            status, raw = _request(port, "GET", f"/api/sessions/{session['id']}/raw")
            if status != 200 or hashlib.sha256(raw).hexdigest() != session["sha256"]:
                missing_raw.append(session["id"])
    print(
        f"\ncrash safety: {KILLS} kill -9, {ledger.uploads} uploads sent, "
        f"{len(ledger.acked)} acknowledged, {len(ledger.delete_sent)} deletes racing "
        f"uploads, {len(lost)} acknowledged uploads lost, {len(missing_raw)} sessions "
        f"without their raw file"
    )
    assert len(ledger.acked) >= KILLS  # the kills did land among real traffic
    assert lost == [] and missing_raw == []
    assert all(s["status"] == "ready" for s in sessions)  # every file was a valid log
