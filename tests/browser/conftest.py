"""Browser tests: Debian's Chromium, driven by Playwright for Python, against a real
`racesense serve` with real analysed sessions (the demo, and the real recordings in
../shared/data where present). Never `playwright install`: the browser is the system's.

Screenshots are kept in build/test-artifacts/screenshots (one per view and viewport).
"""

from __future__ import annotations

import json
import shutil
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from racesense import devserver
from racesense.demo import demo_session_csv, demo_track
from racesense.web.ui import UI_DIR

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
TOKEN = "test-browser-admin-token-0123456789"
ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "build" / "test-artifacts" / "screenshots"
AXE = ROOT / "ui" / "node_modules" / "axe-core" / "axe.min.js"
SHARED = ROOT.parent / "shared" / "data"
# Chromium on a machine with no internet: no background calls home, no sandbox as root.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
VIEWPORTS = [(360, 740), (390, 844), (412, 915), (1280, 800)]
# Real recordings uploaded beside the demo, where ../shared/data has them.
REAL_FILES = [
    "racechrono_tianma/session_20251231_111318_tianma_lap9_v3.csv",
    "aim_mychron_sskc/aim_format_example_SSKC_2022-06-19.csv",
    "racecapture_sonoma/sonoma.log",
]


@dataclass
class Server:
    port: int
    sessions: dict[str, str]  # file name -> session id

    @property
    def origin(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def api(
        self, path: str, data: bytes | None = None, method: str | None = None, **headers: str
    ) -> Any:
        request = urllib.request.Request(
            self.origin + path,
            data=data,
            method=method,
            headers={"Authorization": f"Bearer {TOKEN}", **headers},
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            return json.load(response)

    def upload(self, name: str, data: bytes) -> str:
        files = self.api("/api/upload", data, "POST", **{"X-Filename": name})["files"]
        return str(files[0]["session_id"])

    def wait_analysed(self, session_id: str, timeout_s: float = 120.0) -> dict[str, Any]:
        deadline = time.monotonic() + timeout_s
        while True:
            doc: dict[str, Any] = self.api(f"/api/sessions/{session_id}")
            if doc["status"] in ("ready", "failed") or time.monotonic() > deadline:
                return doc
            time.sleep(0.2)


def _skip_reason() -> str | None:
    try:
        import playwright  # noqa: F401
    except ImportError:
        return "playwright (Python) is not installed: make test installs it"
    if not Path(CHROMIUM).exists():
        return "Debian's chromium is not installed (make test installs it when root)"
    if not (UI_DIR / "index.html").is_file():
        return "the UI is not built (make ui)"
    return None


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    reason = _skip_reason()
    if reason:
        pytest.skip(reason)
    data_dir = tmp_path_factory.mktemp("browser-data")
    with devserver.running(data_dir, {"RACESENSE_API_TOKEN": TOKEN}, workers=2) as (_p, port):
        srv = Server(port, {})
        line = demo_track().start_finish
        assert line is not None
        srv.api(
            "/api/tracks",
            json.dumps(
                {"name": demo_track().name, "start_finish_line": [list(line.p1), list(line.p2)]}
            ).encode(),
            "POST",
            **{"Content-Type": "application/json"},
        )
        name, data = demo_session_csv()
        srv.sessions[name] = srv.upload(name, data)
        for relative in REAL_FILES:
            path = SHARED / relative
            if path.is_file():
                srv.sessions[path.name] = srv.upload(path.name, path.read_bytes())
        for session_id in srv.sessions.values():
            srv.wait_analysed(session_id)
        yield srv


@pytest.fixture
def browser(server: Server) -> Iterator[Any]:
    """A browser for one test. Not kept for the session: Playwright's sync API runs an
    asyncio loop on this thread while it is open, and the other tests that share this
    xdist worker call asyncio.run(), which refuses to start inside a running loop."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def new_page(browser: Any, server: Server) -> Iterator[Callable[..., Any]]:
    """new_page(width=390, height=844, token=TOKEN): a fresh browser context (its own
    storage), opened at the app with the token link; collects page errors and every
    request URL (page.errors, page.urls)."""
    contexts: list[Any] = []

    def make(
        width: int = 390,
        height: int = 844,
        token: str | None = TOKEN,
        path: str = "/",
        bypass_csp: bool = False,  # axe-core is injected as an inline script
    ) -> Any:
        context = browser.new_context(
            viewport={"width": width, "height": height}, bypass_csp=bypass_csp
        )
        contexts.append(context)
        page = context.new_page()
        page.errors = []
        page.urls = []
        page.on("pageerror", lambda error: page.errors.append(str(error)))
        page.on("request", lambda request: page.urls.append(request.url))
        page.goto(server.origin + path + (f"#token={token}" if token else ""))
        return page

    yield make
    for context in contexts:
        context.close()


def lap_time(seconds: float | None) -> str:
    """The UI's lap time format (ui/src/lib/format.js), for comparing with the API."""
    if seconds is None:
        return "–"
    ms = round(abs(seconds) * 1000)
    minutes, ms = divmod(ms, 60000)
    secs = f"{ms / 1000:.3f}"
    return f"{minutes}:{secs.zfill(6)}" if minutes else secs


def no_horizontal_overflow(page: Any) -> int:
    """How far the page is wider than its viewport (0 when nothing overflows)."""
    return int(
        page.evaluate(
            "() => document.documentElement.scrollWidth - document.documentElement.clientWidth"
        )
    )


def screenshot(page: Any, name: str) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def axe_violations(page: Any) -> list[dict[str, Any]]:
    """axe-core's serious and critical violations on the page as it is now, once its
    running transitions have ended (a button half-way through a theme's colour change
    is a contrast its user never reads)."""
    page.add_script_tag(path=str(AXE))
    result = page.evaluate(
        "async () => { await Promise.all(document.getAnimations()"
        ".filter(a => isFinite(a.effect?.getComputedTiming().endTime))"
        ".map(a => a.finished.catch(() => null)));"
        " return (await axe.run(document, {resultTypes: ['violations']})).violations"
        ".filter(v => v.impact === 'serious' || v.impact === 'critical')"
        ".map(v => ({id: v.id, impact: v.impact, help: v.help,"
        " nodes: v.nodes.slice(0, 3).map(n => n.target.join(' '))})); }"
    )
    return list(result)


def http_error(url: str) -> int:
    try:
        urllib.request.urlopen(url, timeout=10)
    except urllib.error.HTTPError as exc:
        return exc.code
    return 200
