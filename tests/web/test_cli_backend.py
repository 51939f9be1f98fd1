"""The backend's commands: token, tracks import, reanalyse --all, serve + upload."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from racesense import devserver
from racesense.cli import main
from racesense.settings import Settings
from racesense.store import sessions, tokens
from racesense.store.blobs import BlobStore
from racesense.store.db import make_engine, migrate
from racesense.synth import demo_circuit, make_session, to_rscore_csv


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.delenv("RACESENSE_DATABASE_URL", raising=False)
    return tmp_path / "data"


def test_token_create_list_revoke(data_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["token", "--data-dir", str(data_dir), "create", "laptop", "--scope", "admin"]) == 0
    value = capsys.readouterr().out.strip()
    assert value.startswith("rs_")
    engine = make_engine(Settings.from_env(data_dir).database_url)
    info = tokens.verify(engine, value, None)
    assert info is not None and info.scope == "admin"
    assert main(["token", "--data-dir", str(data_dir), "list"]) == 0
    listing = capsys.readouterr().out
    assert "laptop" in listing and value not in listing
    assert main(["token", "--data-dir", str(data_dir), "revoke", str(info.id)]) == 0
    assert tokens.verify(engine, value, None) is None
    assert main(["token", "--data-dir", str(data_dir), "revoke", str(info.id)]) == 1


def test_tracks_import_and_reanalyse_all(data_dir: Path, capsys, shared_file) -> None:
    settings = Settings.from_env(data_dir)
    data_dir.mkdir(parents=True)
    engine = make_engine(settings.database_url)
    migrate(engine)
    data = to_rscore_csv(make_session(demo_circuit(), rate_hz=10, laps=2, seed=3).telemetry)
    blob = BlobStore(settings.blob_dir).put(data)
    recorded = sessions.record_upload(
        engine, sha256=blob.sha256, size=blob.size, filename="s.csv", device_id=None, sync_id=None
    )
    list_file = data_dir / "tracks.gpx"
    list_file.write_bytes(shared_file("racecapture_startfinish_db/sf_data.gpx"))
    assert main(["tracks", "--data-dir", str(data_dir), "import", str(list_file)]) == 0
    assert "628 tracks imported" in capsys.readouterr().out
    assert main(["reanalyse", "--all", "--data-dir", str(data_dir)]) == 0
    assert "1 sessions re-analysed" in capsys.readouterr().out
    row = sessions.get(engine, recorded.session_id)
    assert row is not None and row.status == "ready" and row.lap_count == 2
    assert json.loads(row.result or "{}")["track"]["source"] == "detected"


def test_serve_prints_the_ui_address_and_upload_reaches_it(tmp_path: Path) -> None:
    port = devserver.free_port()
    env = os.environ | {"RACESENSE_API_TOKEN": "cli-test-admin-token"}
    env.pop("RACESENSE_DATABASE_URL", None)
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "racesense",
            "serve",
            "--port",
            str(port),
            "--data-dir",
            str(tmp_path / "d"),
            "--workers",
            "1",
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert server.stdout is not None
        first = server.stdout.readline() + server.stdout.readline()
        match = re.search(rf"http://localhost:{port}/#token=(rs_[\w-]+)", first)
        assert match, first
        csv = tmp_path / "lap.csv"
        csv.write_bytes(b"# racesense-csv 1\ntime_ms,lat_deg,lon_deg\n0,1,1\n")
        deadline = time.monotonic() + 60
        while True:
            result = subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "racesense",
                    "upload",
                    str(csv),
                    "--url",
                    f"http://127.0.0.1:{port}",
                    "--token",
                    match.group(1),
                ],
                capture_output=True,
                text=True,
                timeout=60,
            )
            if result.returncode == 0 or time.monotonic() > deadline:
                break
            time.sleep(0.3)  # the server may still be starting
        assert result.returncode == 0, result.stderr
        assert re.search(r"lap.csv: session \w+ \(queued\)", result.stdout)
        again = subprocess.run(
            [
                sys.executable,
                "-m",
                "racesense",
                "upload",
                str(csv),
                "--url",
                f"http://127.0.0.1:{port}",
                "--token",
                "wrong",
            ],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert again.returncode == 1 and "401" in again.stderr
        assert "cli-test-admin-token" not in first
    finally:
        server.terminate()
        server.wait(20)
        if server.stdout is not None:
            server.stdout.close()
