"""One simulated field test: the whole sync, as a racer meets it, over a shaped link.

The parts are the real ones: the built UI in Debian's Chromium (Playwright), its Web
Bluetooth bridged to a virtual RS-Core running the firmware (paced as the air would:
BLE_RATE_BYTES_S, BLE_LATENCY_MS), the logger's Wi-Fi uploads and the page's own
requests over a link shaped like a phone hotspot (link.py), and `racesense serve`
behind it, analysing what arrives. The harness switches the hotspot on at once, so no
human reaction time is counted, and the pairing code is remembered from an earlier
sync (a racer types it once per logger).

Per run it measures, in the page and from the logger's own report:
  BLE handshake  tap on Sync -> paired (chooser, connect, CPace)
  credentials    paired -> the logger acknowledged the sync request (incl. POST /api/syncs)
  hotspot join   the logger's scan and join (its `join` phase)
  first byte     joined -> the first byte of the upload sent (the logger's)
  upload         the files' bytes (the logger's)
  analysis       the logger's done -> every new session analysed (the page's list)
  on screen      tap on Sync -> the new session's lap table visible
  total          = on screen
and beside it, the same bytes over BLE alone at BLE_RATE_BYTES_S.

Compression (COMPRESS_MODES): "off" is a logger whose MicroPython cannot compress (the
ESP32 port's default build), "on" one that always sends gzip, "auto" one that chooses per
file from what it measured (firmware/gzip_body.py). A board's compressor is stood in for
by devicesim/deflate.py at DEFLATE_BYTES_PER_S. One logger's flash (its measured pace)
lasts a whole run of a preset and mode, as one logger's would over a track day.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from racesense.devicesim import CdpBleBridge, SimConfig, VirtualCore
from racesense.devicesim import deflate as deflate_standin
from racesense.devicesim.ble_bridge import CHROMIUM_ARGS as WEB_BLUETOOTH
from racesense.devicesim.sessions import synthetic_sessions
from racesense.devserver import stop
from racesense.fieldtest.link import Mode, ShapedLink
from racesense.fieldtest.presets import LinkPreset

# Web Bluetooth as published for phones: 20-byte writes with response, one or two per
# connection interval (7.5-30 ms): about 10 KB/s at best with a larger MTU, and each
# operation waits for its answer. The same figures pace the emulated link.
BLE_RATE_BYTES_S = 10_000
BLE_LATENCY_MS = 15.0
LAP_S = 93.0  # a lap of the synthetic circuit, for sessions of a given length
RATE_HZ = 25.0
TOKEN = "fieldtest-admin-token-0123456789"
PAIRING_CODE = "13572468"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
COMPRESS_MODES = ("off", "on", "auto")
DEFLATE_BYTES_PER_S = deflate_standin.DEFAULT_BYTES_PER_S
PHASES = (
    "ble_handshake",
    "credentials",
    "join",
    "first_byte",
    "upload",
    "analysis",
    "on_screen",
    "total",
)


@dataclass
class RunResult:
    preset: str
    minutes: float
    bytes: int
    phases_ms: dict[str, float] = field(default_factory=dict)
    ble_alone_ms: float = 0.0
    files_sent: int = 0
    lost_or_twice: int = 0  # files missing on the laptop or sent twice: must be 0
    failure: str | None = None  # the sync did not end in done: where and why
    compress: str = "off"  # the logger's mode (COMPRESS_MODES)
    encoding: str | None = None  # how it sent the files: identity, gzip, mixed
    wire_bytes: int | None = None  # the bodies as sent

    @property
    def link_bytes(self) -> int:
        return self.wire_bytes if self.wire_bytes is not None else self.bytes

    @property
    def label(self) -> str:
        """How the files went: the mode, and for auto what it chose."""
        if self.compress == "auto":
            return f"auto: {self.encoding or '?'}"
        return "gzip" if self.compress == "on" else "identity"


def ble_alone_ms(n_bytes: int, rate_bytes_s: float = BLE_RATE_BYTES_S) -> float:
    """The same bytes over BLE alone at the stated rate."""
    return n_bytes * 1000.0 / rate_bytes_s


def skip_reason() -> str | None:
    """Why the harness cannot run here, or None."""
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "playwright (Python) is not installed (make test installs it)"
    if not Path(CHROMIUM).exists():
        return "Debian's chromium is not installed (make chromium)"
    from racesense.web.ui import UI_DIR

    if not (UI_DIR / "index.html").is_file():
        return "the UI is not built (make ui)"
    return None


@contextmanager
def laptop(link: ShapedLink, data_dir: Path, port: int) -> Iterator[str]:
    """`racesense serve` behind the link (in its namespace when it has one); yields the
    origin the phone and the logger use (the relay's end of the link)."""
    env = {k: v for k, v in os.environ.items() if k != "RACESENSE_DATABASE_URL"}
    env.update(
        {
            "RACESENSE_API_TOKEN": TOKEN,
            "RACESENSE_MDNS": "off",
            # The logger dials the link's near end, as it would dial the laptop's
            # address on the hotspot.
            "RACESENSE_UPLOAD_HOST": link.client_url_host,
        }
    )
    command = [sys.executable, "-m", "racesense", "serve", "--tls", "off", "--workers", "2"]
    command += ["--port", str(port), "--data-dir", str(data_dir)]
    if link.server_ns:
        command = ["ip", "netns", "exec", link.server_ns, *command, "--host", "0.0.0.0"]
    else:
        command += ["--host", "127.0.0.1"]
    data_dir.mkdir(parents=True, exist_ok=True)
    log = data_dir.parent / "serve.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT)
    origin = f"http://{link.client_url_host}:{link.client_port}"
    try:
        deadline = time.monotonic() + 60
        while not _healthy(origin):
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"racesense serve did not start: {log.read_text()[-2000:]}")
            time.sleep(0.2)
        yield origin
    finally:
        stop(proc)


def _healthy(origin: str) -> bool:
    try:
        with urllib.request.urlopen(origin + "/api/health", timeout=2) as response:
            return bool(response.status == 200)
    except OSError:
        return False


def _api(origin: str, path: str) -> Any:
    import json

    request = urllib.request.Request(origin + path, headers={"Authorization": f"Bearer {TOKEN}"})
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.load(response)


def run_once(
    preset: LinkPreset,
    minutes: float,
    *,
    playwright: Any,
    seed: int,
    work_dir: Path,
    origin: str,
    compress: str = "off",
    flash_dir: Path | None = None,
) -> RunResult:
    """One sync of one session of `minutes` at 25 Hz, tap to lap table; the logger's
    flash (its pairing code, its measured pace) in `flash_dir`, kept between runs."""
    storage = work_dir / f"sd-{seed}-{compress}"
    laps = max(1, round(minutes * 60 / LAP_S))
    files = synthetic_sessions(storage, 1, laps=laps, seed=seed, rate_hz=RATE_HZ)
    config = SimConfig(
        storage_dir=storage,
        pairing_code=PAIRING_CODE,
        flash_dir=flash_dir,
        deflate_bytes_per_s=None if compress == "off" else DEFLATE_BYTES_PER_S,
        compress=compress,
    )
    try:
        result = _sync(preset, minutes, files, config, playwright=playwright, origin=origin)
    except SyncFailed as exc:
        size = sum(f.size_bytes for f in files)
        result = RunResult(
            preset.name, minutes, size, ble_alone_ms=ble_alone_ms(size), failure=str(exc)
        )
    result.compress = compress
    return result


def _sync(
    preset: LinkPreset,
    minutes: float,
    files: list[Any],
    config: SimConfig,
    *,
    playwright: Any,
    origin: str,
) -> RunResult:
    core = VirtualCore(config)
    core.start()
    args = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run"]
    args += ["--disable-background-networking", "--disable-component-update", *WEB_BLUETOOTH]
    args.append(f"--unsafely-treat-insecure-origin-as-secure={origin}")
    browser = playwright.chromium.launch(executable_path=CHROMIUM, args=args)
    try:
        page = browser.new_context(viewport={"width": 390, "height": 844}).new_page()
        page.set_default_timeout(600_000)
        bridge = CdpBleBridge(
            page, core, rate_bytes_s=BLE_RATE_BYTES_S, latency_ms=BLE_LATENCY_MS
        ).start()
        page.goto(f"{origin}/#token={TOKEN}")
        page.wait_for_selector("main h1")
        page.evaluate(
            "([id, code]) => localStorage.setItem('racesense.settings', JSON.stringify("
            "{hotspotSsid: 'Racesense-Pit', hotspotPassword: 'racesense',"
            " pairingCodes: {[id]: code}}))",
            [core.device_id, PAIRING_CODE],
        )
        page.get_by_role("button", name="Sync logger").click()
        # Done, or a step that ends the sync: a failed run is reported, never waited out.
        ends = ("failed", "refused", "backend", "pair-failed", "connect-failed", "cancelled")
        selector = ", ".join(
            ["dialog.sync[data-step='done'] ul.sync-files li"]
            + [f"dialog.sync[data-step='{step}']" for step in ends]
        )
        budget_ms = 120_000 + 8 * 1000 * sum(f.size_bytes for f in files) * 3 / preset.rate_bit_s
        try:
            page.wait_for_selector(selector, timeout=budget_ms)
        except Exception as exc:
            raise SyncFailed(f"no end after {budget_ms / 1000:.0f} s", _modal(page), core) from exc
        step = page.evaluate("() => document.querySelector('dialog.sync').dataset.step")
        if step != "done":
            raise SyncFailed(step, _modal(page), core)
        page.wait_for_function(
            "() => !document.querySelector('dialog.sync')"
            " || !/analysing/.test(document.querySelector('dialog.sync ul.sync-files').textContent)"
        )
        sync_id = page.evaluate("() => document.querySelector('dialog.sync').dataset.syncId")
        page.locator("dialog.sync ul.sync-files a").first.click()
        page.wait_for_selector("table tbody tr[data-lap]")
        timing = page.evaluate(
            """() => {
              const at = (n) => performance.getEntriesByName(`rs-sync-${n}`).at(-1)?.startTime;
              return {tap: at('tap'), paired: at('paired'), acked: at('acked'),
                      done: at('done'), analysed: at('analysed'), now: performance.now()};
            }"""
        )
        sync = _wait_report(origin, sync_id)
        bridge.close()
    finally:
        browser.close()
        core.stop()
    logger = _logger_phases(sync)
    phases: dict[str, float] = {}

    def span(a: str, b: str) -> float | None:
        if timing.get(a) is None or timing.get(b) is None:
            return None
        return float(timing[b] - timing[a])

    for name, value in (
        ("ble_handshake", span("tap", "paired")),
        ("credentials", span("paired", "acked")),
        ("analysis", span("done", "analysed")),
        ("on_screen", span("tap", "now")),
        ("total", span("tap", "now")),
    ):
        if value is not None:
            phases[name] = value
    for name in ("join", "first_byte", "upload"):
        if name in logger:
            phases[name] = float(logger[name])
    sent = [f["sha256"] for f in sync["files"]]
    expected = [f.sha256 for f in files]
    lost_or_twice = len(set(expected) ^ set(sent)) + (len(sent) - len(set(sent)))
    size = sum(f.size_bytes for f in files)
    sent_as = _logger_report(sync)
    wire = sent_as.get("wire_bytes")
    wire_bytes = int(wire) if isinstance(wire, int) else None
    return RunResult(
        preset=preset.name,
        minutes=minutes,
        bytes=size,
        phases_ms=phases,
        ble_alone_ms=ble_alone_ms(wire_bytes if wire_bytes is not None else size),
        files_sent=len(sent),
        lost_or_twice=lost_or_twice,
        encoding=sent_as.get("encoding"),
        wire_bytes=wire_bytes,
    )


class SyncFailed(RuntimeError):
    """A simulated sync that did not end in done: where it stopped and what it said."""

    def __init__(self, step: str, modal: str, core: VirtualCore) -> None:
        try:
            status = core.status()
        except Exception as exc:  # the firmware thread is gone
            status = {"error": repr(exc)}
        super().__init__(f"the sync stopped at {step!r}: {modal!r}; the logger: {status}")


def _modal(page: Any) -> str:
    text = page.evaluate(
        "() => document.querySelector('dialog.sync')?.innerText || '(no Sync dialog)'"
    )
    return " ".join(str(text).split())[:400]


def _wait_report(origin: str, sync_id: str, timeout_s: float = 30.0) -> dict[str, Any]:
    """The sync as the laptop has it, once the page's report (the logger's phases) is in."""
    deadline = time.monotonic() + timeout_s
    while True:
        sync: dict[str, Any] = _api(origin, f"/api/syncs/{sync_id}")
        if _logger_phases(sync) or time.monotonic() > deadline:
            return sync
        time.sleep(0.2)


def _logger_report(sync: dict[str, Any]) -> dict[str, Any]:
    """The logger's own report (its encoding and wire bytes), {} if it sent none."""
    report = sync.get("report") or {}
    logger = (report.get("sources") or {}).get("logger")
    return logger if isinstance(logger, dict) else {}


def _logger_phases(sync: dict[str, Any]) -> dict[str, Any]:
    """The logger's phases, from its own report or the page's (which relays them)."""
    report = sync.get("report") or {}
    sources = report.get("sources") or {}
    for part in (sources.get("logger"), sources.get("page"), report):
        phases = part.get("phases_ms") if isinstance(part, dict) else None
        if isinstance(phases, dict) and "join" in phases:
            return dict(phases)
    return {}


def run(
    preset: LinkPreset,
    minutes_list: list[float],
    runs: int,
    *,
    seed: int = 1,
    in_process: bool = False,
    progress: Any = None,
    compress_modes: tuple[str, ...] = ("off",),
) -> tuple[list[RunResult], str]:
    """`runs` syncs per session length and compression mode on one link; (results, the
    emulation used). Each mode is one logger, its flash kept across its runs."""
    from playwright.sync_api import sync_playwright

    from racesense.devserver import free_port
    from racesense.fieldtest.link import cleanup_stale

    cleanup_stale()  # namespaces of runs that were killed
    results: list[RunResult] = []
    with tempfile.TemporaryDirectory(prefix="rs-fieldtest-") as tmp:
        work = Path(tmp)
        port = free_port()
        mode: Mode = "inprocess" if in_process else "auto"
        with ShapedLink(preset, server_port=port, seed=seed, mode=mode) as link:
            with laptop(link, work / "laptop" / "data", port) as origin, sync_playwright() as p:
                for minutes in minutes_list:
                    for k in range(runs):
                        for m, compress in enumerate(compress_modes):
                            # Sessions differ per mode too: the laptop would take the
                            # same bytes again as a duplicate, with nothing to analyse.
                            result = run_once(
                                preset,
                                minutes,
                                playwright=p,
                                seed=seed * 100_000 + m * 10_000 + int(minutes) * 10 + k,
                                work_dir=work,
                                origin=origin,
                                compress=compress,
                                flash_dir=work / f"flash-{compress}",
                            )
                            results.append(result)
                            if progress:
                                progress(result)
            emulation = link.emulation
    return results, emulation
