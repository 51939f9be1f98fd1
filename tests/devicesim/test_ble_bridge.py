"""The CDP bridge: a tiny page's real Web Bluetooth (Debian's Chromium, Playwright's sync
API) against the virtual RS-Core's firmware. The page only connects, reads and writes
what the test hands it; the protocol is played by racesense.devicesim.phone through it,
so every frame crosses Chromium both ways: writes reach Provisioning, its answers reach
the page, as notifications or by polling `status`."""

from __future__ import annotations

import base64
import functools
import http.server
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest

from racesense.devicesim import CdpBleBridge, PhoneClient, SimConfig, VirtualCore
from racesense.devicesim.ble_bridge import CHROMIUM_ARGS
from racesense.devicesim.phone import create_sync, sync_request
from racesense.devicesim.phone_session import Constants
from racesense.devicesim.sessions import synthetic_sessions

from .conftest import PAIRING_CODE, TOKEN, Backend

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
SITE = Path(__file__).parent / "site"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run"]
ARGS += ["--disable-background-networking", "--disable-component-update", "--disable-sync"]
FAST = {"scan_ms": 200, "assoc_ms": 200, "attempt_ms": 200}


def _skip_reason() -> str | None:
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "playwright (Python) is not installed: make test installs it"
    if not Path(CHROMIUM).exists():
        return "Debian's chromium is not installed (make chromium)"
    return None


@pytest.fixture
def site(tmp_path: Path) -> Iterator[str]:
    """The test page, served from a temp dir on localhost (a secure context)."""
    root = tmp_path / "site"
    shutil.copytree(SITE, root)

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(Quiet, directory=str(root))
    )
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://localhost:{server.server_address[1]}/index.html"
    server.shutdown()
    server.server_close()
    thread.join(5)


@pytest.fixture
def page() -> Iterator[Any]:
    reason = _skip_reason()
    if reason:
        pytest.skip(reason)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=[*ARGS, *CHROMIUM_ARGS])
        page = browser.new_page()
        page.set_default_timeout(15000)
        yield page
        browser.close()


@pytest.fixture
def core(tmp_path: Path) -> Iterator[VirtualCore]:
    sim = VirtualCore(SimConfig(storage_dir=tmp_path / "sd", pairing_code=PAIRING_CODE, **FAST))
    yield sim
    sim.stop()


class PageLink:
    """phone.Link through the page's Web Bluetooth calls (window.rs in site/index.html)."""

    def __init__(self, page: Any, constants: Constants) -> None:
        self.page = page
        self.names = {
            constants.info_uuid: "info",
            constants.control_uuid: "control",
            constants.status_uuid: "status",
        }
        self.notes: list[bytes] = []

    @property
    def connected(self) -> bool:
        return bool(self.page.evaluate("rs.connected()"))

    def write(self, frame: bytes) -> None:
        self.page.evaluate("data => rs.write(data)", base64.b64encode(frame).decode())

    def read(self, uuid: str) -> bytes:
        return base64.b64decode(self.page.evaluate("name => rs.read(name)", self.names[uuid]))

    def next_notification(self, timeout_s: float) -> bytes | None:
        deadline = time.monotonic() + timeout_s
        while not self.notes:
            self.notes += [base64.b64decode(n) for n in self.page.evaluate("rs.notes.splice(0)")]
            if self.notes or time.monotonic() >= deadline:
                break
            self.page.wait_for_timeout(10)  # the bridge's pump runs meanwhile
        return self.notes.pop(0) if self.notes else None


def _url(site: str, notify: bool) -> str:
    c = Constants.load()
    query = {
        "service": c.service_uuid,
        "info": c.info_uuid,
        "control": c.control_uuid,
        "status": c.status_uuid,
        "notify": "1" if notify else "0",
    }
    return f"{site}?{urlencode(query)}"


def _open(page: Any, site: str, notify: bool) -> PageLink:
    """Load the page, tap Connect (a real gesture: requestDevice), wait for its GATT."""
    page.goto(_url(site, notify))
    page.click("#connect")
    page.wait_for_function("rs.events.some(e => e === 'READY' || e.startsWith('ERROR'))")
    events = page.evaluate("rs.events")
    assert "READY" in events, events
    return PageLink(page, Constants.load())


@pytest.mark.parametrize("notify", [True, False], ids=["notifications", "polling-only"])
def test_a_whole_sync_through_the_browser(
    backend: Backend, core: VirtualCore, page: Any, site: str, notify: bool
) -> None:
    files = synthetic_sessions(core.config.storage_dir, 1, laps=1, seed=1001 + notify)
    core.start()
    bridge = CdpBleBridge(page, core).start()
    link = _open(page, site, notify)
    assert page.evaluate("rs.events")[1] == f"picked: {core.ble_name}"
    phone = PhoneClient(link, PAIRING_CODE, notifications=notify)
    info = phone.read_info()  # a GATT read, answered from the value the firmware stored
    assert info["device_id"] == core.device_id and info["pending_files"] == 1
    phone.pair()  # each write reached Provisioning; pake_b and the ack reached the page
    sync = create_sync(backend.origin, TOKEN, core.device_id)
    phone.request_sync(sync_request(sync, "Racesense-Pit", "racesense", backend=backend.origin))
    final = phone.follow(30)
    assert final["state"] == "done" and final["files_sent"] == 1, final
    assert [s["sha256"] for s in backend.sync_files(sync["sync_id"])] == [files[0].sha256]
    assert bridge.writes >= 6  # pake_a, confirm, the request: 20-byte frames
    if notify:
        assert bridge.delivered >= 10 and phone.timeline.marks.keys() >= {"joining", "joined"}
    else:
        assert bridge.delivered == 0 and bridge.reads > 10
    bridge.close()


def test_ble_drops_mid_upload_and_the_page_reconnects(
    backend: Backend, core: VirtualCore, page: Any, site: str
) -> None:
    synthetic_sessions(core.config.storage_dir, 2, laps=2, seed=1101)
    core.hotspot.uplink_bytes_s = 400_000  # about 3 s of uploading
    core.start()
    bridge = CdpBleBridge(page, core).start()
    link = _open(page, site, notify=True)
    phone = PhoneClient(link, PAIRING_CODE)
    phone.pair()
    sync = create_sync(backend.origin, TOKEN, core.device_id)
    phone.request_sync(sync_request(sync, "Racesense-Pit", "racesense", backend=backend.origin))
    assert bridge.wait_for(lambda: core.status().get("state") == "uploading", 10)
    bridge.drop()  # out of range
    page.wait_for_function("rs.events.includes('disconnected')")
    assert core.radio.connection is None
    assert bridge.wait_for(lambda: core.status()["state"] == "done", 30), core.status()
    # The page connects again (no chooser: the same device), pairs anew, asks.
    page.evaluate("rs.open()")
    again = PhoneClient(link, PAIRING_CODE)
    again.pair()
    again.sync_id = sync["sync_id"]
    again.send_sealed("status_request", {})
    final = again.follow(5)
    assert final["state"] == "done" and final["files_sent"] == 2
    assert bridge.connections == 2
    # The firmware ends a connection itself (as after 60 s unpaired): the page hears it.
    core.call(lambda: core.radio.disconnect(core.radio.connection))
    page.wait_for_function("rs.events.filter(e => e === 'disconnected').length === 2")
    bridge.close()


def test_the_chooser_cancelled_and_no_bluetooth_adapter(
    core: VirtualCore, page: Any, site: str
) -> None:
    core.start()
    bridge = CdpBleBridge(page, core, chooser="cancel").start()
    page.goto(_url(site, notify=True))
    page.click("#connect")
    page.wait_for_function("rs.events.some(e => e.startsWith('ERROR'))")
    assert page.evaluate("rs.events")[-1].startswith("ERROR NotFoundError"), page.evaluate(
        "rs.events"
    )
    assert bridge.prompts and core.radio.connection is None
    # No adapter: getAvailability() says so, requestDevice fails. (Chromium 150's
    # emulation still reports "powered-off" as available and opens the chooser.)
    bridge.set_central_state("absent")
    page.click("#connect")
    page.wait_for_function("rs.events.length >= 4")
    assert page.evaluate("rs.events")[2:] == [
        "available: false",
        "ERROR NotFoundError: Bluetooth adapter not available.",
    ]
    bridge.close()


def test_the_cli_opens_chromium_with_the_virtual_logger(site: str, tmp_path: Path) -> None:
    """`racesense device-sim` without --phone: the browser demo, driven from stdin."""
    reason = _skip_reason()
    if reason:
        pytest.skip(reason)
    command = [sys.executable, "-m", "racesense", "device-sim", "--headless"]
    command += ["--url", _url(site, notify=True), "--storage", str(tmp_path / "sd")]
    command += ["--sessions", "1", "--laps", "1", "--pairing-code", PAIRING_CODE]
    done = subprocess.run(
        command, input="status\noff\nquit\n", capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert "pairing code 2468-1357" in out and "Chromium at http://localhost:" in out
    assert "'state': 'idle'" in out and "pending 1 files" in out and "hotspot off" in out


def test_the_bridge_paces_gatt_operations_as_the_air_would(
    core: VirtualCore, page: Any, site: str
) -> None:
    """rate_bytes_s/latency_ms: each operation completes its latency plus its bytes at
    that rate later (a lower bound: the emulation itself adds a little)."""
    core.start()
    bridge = CdpBleBridge(page, core, rate_bytes_s=1000, latency_ms=50).start()
    link = _open(page, site, notify=True)
    c = Constants.load()
    started = time.monotonic()
    info = link.read(c.info_uuid)
    elapsed_s = time.monotonic() - started
    assert len(info) > 50
    assert elapsed_s >= 0.05 + len(info) / 1000, (elapsed_s, len(info))
    bridge.close()
