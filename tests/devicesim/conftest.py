"""The virtual RS-Core's tests: the real firmware (firmware/) on this host, a real
`racesense serve` on loopback, and for the bridge Debian's Chromium driven by Playwright
(never `playwright install`).

Each test generates sessions from its own seed: files are told apart by their bytes on
the backend, which this worker's tests share.
"""

from __future__ import annotations

import json
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from racesense import devserver
from racesense.demo import demo_track
from racesense.devicesim import firmware

TOKEN = "test-devicesim-admin-token-0123456789"
PAIRING_CODE = "24681357"
# Short Wi-Fi timings: a scan, an association and a failing driver attempt of 0.2 s.
FAST_WIFI = ["--scan-ms", "200", "--assoc-ms", "200", "--attempt-ms", "200"]


@pytest.fixture(scope="session", autouse=True)
def _firmware_present() -> None:
    try:
        firmware.firmware_dir()
    except firmware.FirmwareUnavailable as exc:
        pytest.skip(str(exc))


@dataclass
class Backend:
    port: int

    @property
    def origin(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def api(self, path: str, body: dict[str, Any] | None = None) -> Any:
        request = urllib.request.Request(
            self.origin + path,
            data=None if body is None else json.dumps(body).encode(),
            method="GET" if body is None else "POST",
            headers={"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            return json.load(response)

    def sync_files(self, sync_id: str) -> list[dict[str, Any]]:
        files: list[dict[str, Any]] = self.api(f"/api/syncs/{sync_id}")["files"]
        return files

    def analysed(self, session_id: str, timeout_s: float = 60.0) -> dict[str, Any]:
        deadline = time.monotonic() + timeout_s
        while True:
            doc: dict[str, Any] = self.api(f"/api/sessions/{session_id}")
            if doc["status"] in ("ready", "failed") or time.monotonic() > deadline:
                return doc
            time.sleep(0.2)


@pytest.fixture(scope="session")
def backend(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Backend]:
    """A real `racesense serve` with a known admin token and the demo circuit's track."""
    data_dir = tmp_path_factory.mktemp("devicesim-backend")
    with devserver.running(data_dir, {"RACESENSE_API_TOKEN": TOKEN}, workers=2) as (_p, port):
        srv = Backend(port)
        line = demo_track().start_finish
        assert line is not None
        srv.api(
            "/api/tracks",
            {"name": demo_track().name, "start_finish_line": [list(line.p1), list(line.p2)]},
        )
        yield srv


@pytest.fixture
def device_sim(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> Callable[..., tuple[int, dict[str, Any], str]]:
    """device_sim(*args) runs `racesense device-sim --phone --json` in this process with a
    card in tmp_path and the fast Wi-Fi timings: (exit code, its JSON report, stderr)."""
    from racesense.cli import main

    def run(*args: str) -> tuple[int, dict[str, Any], str]:
        argv = ["device-sim", "--phone", "--json", "--token", TOKEN]
        argv += ["--storage", str(tmp_path / "sd"), "--pairing-code", PAIRING_CODE, *FAST_WIFI]
        code = main([*argv, *args])
        captured = capsys.readouterr()
        lines = captured.out.strip().splitlines()
        report = json.loads(lines[-1]) if lines else {}
        return code, report, captured.err

    return run
