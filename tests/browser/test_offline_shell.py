"""The installable shell: the service worker caches it, and the server can switch a
broken one off for every phone that has it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from racesense import devserver

from .conftest import TOKEN


def test_the_service_worker_serves_the_shell_offline_and_can_be_switched_off(
    browser: Any, tmp_path: Path
) -> None:
    port = devserver.free_port()
    data_dir = tmp_path / "data"
    context = browser.new_context(viewport={"width": 390, "height": 844})
    try:
        page = context.new_page()
        with devserver.running(data_dir, {"RACESENSE_API_TOKEN": TOKEN}, port=port):
            page.goto(f"http://127.0.0.1:{port}/#token={TOKEN}")
            page.wait_for_selector("text=No sessions yet")
            page.wait_for_function(
                "async () => (await navigator.serviceWorker.ready).active !== null"
            )
            page.reload()
            page.wait_for_function("() => navigator.serviceWorker.controller !== null")
            cached = page.evaluate(
                "async () => (await caches.keys()).filter(k => k.startsWith('racesense-'))"
            )
            assert len(cached) == 1
        # The server is gone: the shell still opens, and says the laptop is out of reach.
        page.reload()
        page.wait_for_selector("text=cannot be reached")
        manifest = page.evaluate(
            "() => document.querySelector('link[rel=manifest]').getAttribute('href')"
        )
        assert manifest.startswith("/assets/manifest-")
        # Back, with the service worker switched off: every phone that opens the app
        # loses the worker and its caches, and the page comes from the network.
        env = {"RACESENSE_API_TOKEN": TOKEN, "RACESENSE_SERVICE_WORKER": "off"}
        with devserver.running(data_dir, env, port=port):
            page.reload()
            page.wait_for_function(
                "async () => (await navigator.serviceWorker.getRegistrations()).length === 0",
                timeout=20_000,
            )
            page.wait_for_function("async () => (await caches.keys()).length === 0", timeout=20_000)
            page.reload()
            page.wait_for_selector("text=No sessions yet")
            assert page.evaluate("() => navigator.serviceWorker.controller") is None
    finally:
        context.close()
