"""The Sync button, end to end: page → Web Bluetooth → firmware → Wi-Fi → backend →
analysis → page. Screenshots of every step of the modal at 390×844 are kept in
build/test-artifacts/screenshots (sync-*.png)."""

from __future__ import annotations

from typing import Any

from racesense.devicesim.sessions import synthetic_sessions
from tests.browser.conftest import axe_violations, lap_time

from .conftest import PAIRING_CODE, Phone

# The estimator's worst lap at 25 Hz in bench/bench_accuracy.py is ~11 ms; a generated
# lap read back 30 ms off means the chain changed the data or the timing.
LAP_TOLERANCE_S = 0.030


def _complete_laps(doc: dict[str, Any]) -> list[dict[str, Any]]:
    return [lap for lap in doc["laps"] if lap["kind"] == "timed" and lap["complete"]]


def test_tap_sync_to_analysed_laps_on_screen(make_core: Any, phone: Any) -> None:
    core = make_core()
    files = synthetic_sessions(core.config.storage_dir, 2, laps=3, seed=7001)
    p: Phone = phone(core)
    p.tap_sync()
    # Pairing: asked once for this device.
    p.wait_step("code", shot="sync-1-pairing-code")
    assert core.device_id in p.dialog.inner_text()
    assert axe_violations(p.page) == []
    p.page.fill("#pairing-code", PAIRING_CODE[:4] + " " + PAIRING_CODE[4:])
    p.page.get_by_role("button", name="Pair").click()
    # The prompt: as the logger acknowledges, and while it lists files and scans.
    p.wait_step("hotspot", "request_received", "scanning", shot="sync-2-hotspot-prompt")
    prompt = p.dialog.locator(".hotspot-prompt").inner_text()
    assert prompt == (
        "Handshake successful. Please enable your hotspot [SSID: Racesense-Pit] now to start"
        " the high-speed transfer."
    )
    assert axe_violations(p.page) == []
    # The racer switches the hotspot on a moment later.
    core.hotspot.switch(True)
    p.wait_step("uploading", "done", shot="sync-3-progress")
    p.wait_step("done", timeout_s=60, shot="sync-4-done")
    assert axe_violations(p.page) == []
    text = p.dialog.inner_text()
    assert "Sync complete" in text and "2 files" in text
    assert "Joining the hotspot" in text and "Total" in text
    links = p.dialog.locator("ul a")
    assert links.count() == 2
    # The pairing code is remembered for this logger.
    stored = p.page.evaluate("() => JSON.parse(localStorage.getItem('racesense.settings'))")
    assert stored["pairingCodes"][core.device_id] == PAIRING_CODE
    # The sync on the laptop: both files, their timings reported by the page.
    sync_id = p.page.evaluate("() => document.querySelector('dialog.sync').dataset.syncId")
    sync = p.server.api(f"/api/syncs/{sync_id}")
    assert sorted(f["sha256"] for f in sync["files"]) == sorted(f.sha256 for f in files)
    assert sync["report"]["phases_ms"]["total"] > 0
    assert core.pending() == []
    # The new sessions are already analysed: open the first, its laps match the truth.
    by_sha = {f["sha256"]: f for f in sync["files"]}
    links.first.click()
    p.page.wait_for_selector("table tbody tr[data-lap]")
    shown_id = p.page.url.rsplit("/", 1)[-1]
    doc = p.server.api(f"/api/sessions/{shown_id}")
    assert doc["status"] == "ready"
    truth = next(f for f in files if by_sha[f.sha256]["id"] == shown_id)
    assert truth.lap_times_s is not None
    laps = _complete_laps(doc)
    assert len(laps) == len(truth.lap_times_s)
    for lap, expected_s in zip(laps, truth.lap_times_s, strict=True):
        assert abs(lap["time_s"] - expected_s) < LAP_TOLERANCE_S, (lap, expected_s)
        row = p.page.locator(f'tbody tr[data-lap="{lap["number"]}"]')
        assert row.locator("td.lap-time").inner_text() == lap_time(lap["time_s"])
    assert p.page.errors == []
