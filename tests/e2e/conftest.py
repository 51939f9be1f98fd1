"""End to end: the page's Sync flow in Debian's Chromium (Playwright for Python), its Web
Bluetooth bridged to a virtual RS-Core running the real firmware (racesense.devicesim),
the logger's uploads over TCP to a real `racesense serve`, which analyses them.

Nothing here stands in for a part a user meets: the page is the built UI, the logger is
the firmware's own code, the backend is the real server. What is simulated is the radio
(CDP BluetoothEmulation) and the phone's hotspot (devicesim's Wi-Fi station).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from browser.conftest import (
    CHROMIUM,
    CHROMIUM_ARGS,
    TOKEN,
    Server,
    _skip_reason,
    screenshot,
)
from racesense import devserver
from racesense.demo import demo_track
from racesense.devicesim import CdpBleBridge, SimConfig, VirtualCore, firmware
from racesense.devicesim.ble_bridge import CHROMIUM_ARGS as WEB_BLUETOOTH

# The browser tests' Server.api sends their admin token: this server takes the same.
PAIRING_CODE = "24681357"
SSID = "Racesense-Pit"
PASSWORD = "racesense"
# Short Wi-Fi steps (a scan, an association, a failing driver attempt); the 15 s join
# deadline stays the firmware's own.
FAST_WIFI = {"scan_ms": 300, "assoc_ms": 300, "attempt_ms": 300, "dhcp_ms": 100}


@pytest.fixture(scope="session", autouse=True)
def _prerequisites() -> None:
    reason = _skip_reason()
    if reason:
        pytest.skip(reason)
    try:
        firmware.firmware_dir()
    except firmware.FirmwareUnavailable as exc:
        pytest.skip(str(exc))


class Backend(Server):
    def api_json(self, path: str, body: dict[str, Any] | None = None, method: str = "GET") -> Any:
        data = None if body is None else json.dumps(body).encode()
        return self.api(
            path, data, method if body is None else "POST", **{"Content-Type": "application/json"}
        )


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Backend]:
    """A real `racesense serve` that tells loggers to upload to 127.0.0.1 (the virtual
    RS-Core runs on this machine), with the circuit the generated sessions drive."""
    data_dir = tmp_path_factory.mktemp("e2e-data")
    env = {"RACESENSE_API_TOKEN": TOKEN, "RACESENSE_UPLOAD_HOST": "127.0.0.1"}
    with devserver.running(data_dir, env, workers=2) as (_p, port):
        srv = Backend(port, {})
        line = demo_track().start_finish
        assert line is not None
        srv.api_json(
            "/api/tracks",
            {"name": demo_track().name, "start_finish_line": [list(line.p1), list(line.p2)]},
        )
        yield srv


@pytest.fixture
def make_core(tmp_path: Path) -> Iterator[Callable[..., VirtualCore]]:
    """make_core(**SimConfig fields) -> a configured, not yet started, virtual RS-Core
    whose hotspot starts switched off (the racer switches it on at the prompt)."""
    cores: list[VirtualCore] = []

    def make(**overrides: Any) -> VirtualCore:
        values: dict[str, Any] = {"storage_dir": tmp_path / "sd", "pairing_code": PAIRING_CODE}
        values.update(FAST_WIFI)
        values.update(overrides)
        core = VirtualCore(SimConfig(**values))
        core.hotspot.switch(False)
        cores.append(core)
        return core

    yield make
    for core in cores:
        core.stop()


@pytest.fixture
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = p.chromium.launch(
            executable_path=CHROMIUM, args=[*CHROMIUM_ARGS, *WEB_BLUETOOTH]
        )
        yield chromium
        chromium.close()


class Phone:
    """The page at 390×844 with the bridge to one virtual RS-Core."""

    def __init__(self, page: Any, core: VirtualCore, bridge: CdpBleBridge, server: Backend) -> None:
        self.page = page
        self.core = core
        self.bridge = bridge
        self.server = server
        self.steps: list[str] = []

    def settings(self, **values: Any) -> None:
        stored = {"hotspotSsid": SSID, "hotspotPassword": PASSWORD, **values}
        self.page.evaluate(
            "s => localStorage.setItem('racesense.settings', JSON.stringify(s))", stored
        )

    def tap_sync(self) -> None:
        self.page.get_by_role("button", name="Sync logger").click()

    @property
    def dialog(self) -> Any:
        return self.page.locator("dialog.sync")

    def step(self) -> str | None:
        return self.dialog.get_attribute("data-step", timeout=2000)

    def wait_step(self, *steps: str, timeout_s: float = 30, shot: str | None = None) -> str:
        """Wait until the modal shows one of `steps` (the bridge works meanwhile);
        keep a screenshot of it under `shot` (build/test-artifacts/screenshots)."""
        from playwright.sync_api import TimeoutError as PlaywrightTimeout

        selector = ", ".join(f"dialog.sync[data-step='{s}']" for s in steps)
        try:
            self.page.wait_for_selector(selector, timeout=timeout_s * 1000)
        except PlaywrightTimeout:
            shown = self.page.evaluate(
                "() => { const d = document.querySelector('dialog.sync');"
                " return d ? [d.dataset.step, d.innerText] : null; }"
            )
            raise AssertionError(
                f"waited {timeout_s} s for {steps}; the modal: {shown}; "
                f"the logger: {self.core.status()}; page errors: {self.page.errors}; "
                f"bridge: {self.bridge.connections} connections, {self.bridge.writes} writes,"
                f" {self.bridge.reads} reads, refused {self.bridge.refused[-3:]}; "
                f"console: {[text for _t, text in self.page.console_lines[-8:]]}"
            ) from None
        step = str(self.step())
        self.steps.append(step)
        if shot:
            screenshot(self.page, shot)
        return step

    def alert(self) -> str:
        return str(self.dialog.locator("[role=alert]").inner_text())

    def click(self, name: str) -> None:
        self.dialog.get_by_role("button", name=name, exact=True).click()

    def pair(self, code: str) -> None:
        self.page.fill("#pairing-code", code)
        self.click("Pair")

    def sync_id(self) -> str:
        return str(self.dialog.get_attribute("data-sync-id"))


@pytest.fixture
def phone(browser: Any, server: Backend) -> Iterator[Callable[..., Phone]]:
    """phone(core, chooser="select", notifications=True, backend=server) -> Phone: the
    app open at 390×844 with the bridge to `core` (started here if it is not)."""
    made: list[tuple[Any, CdpBleBridge]] = []

    def make(
        core: VirtualCore,
        chooser: str = "select",
        notifications: bool = True,
        backend: Backend = server,
    ) -> Phone:
        context = browser.new_context(viewport={"width": 390, "height": 844}, bypass_csp=True)
        page = context.new_page()
        page.set_default_timeout(30_000)
        page.errors = []
        page.on("pageerror", lambda error: page.errors.append(str(error)))
        page.console_lines = []
        page.on(
            "console", lambda message: page.console_lines.append((time.monotonic(), message.text))
        )
        if not core.running:
            core.start()
        bridge = CdpBleBridge(
            page,
            core,
            chooser=chooser,  # type: ignore[arg-type]
            notifications=notifications,
        ).start()
        made.append((context, bridge))
        page.goto(f"{backend.origin}/#token={TOKEN}")
        page.wait_for_selector("main h1")
        result = Phone(page, core, bridge, backend)
        result.settings()
        return result

    yield make
    for context, bridge in made:
        bridge.close()
        context.close()
