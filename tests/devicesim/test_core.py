"""The virtual RS-Core in this process: its boot, and the sync paths a phone meets that
need the phone to do something mid-way (walk away, switch the hotspot on and retry)."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from racesense.devicesim import PhoneClient, PhoneError, SimConfig, VirtualCore, firmware
from racesense.devicesim.phone import create_sync, sync_request
from racesense.devicesim.sessions import synthetic_sessions

from .conftest import PAIRING_CODE, TOKEN, Backend

FAST = {"scan_ms": 200, "assoc_ms": 200, "attempt_ms": 200}


@pytest.fixture
def core(tmp_path: Path) -> Iterator[VirtualCore]:
    sim = VirtualCore(SimConfig(storage_dir=tmp_path / "sd", pairing_code=PAIRING_CODE, **FAST))
    yield sim
    sim.stop()


def _paired(core: VirtualCore, notifications: bool = True) -> PhoneClient:
    link = core.link()
    link.connect(notifications=notifications)
    phone = PhoneClient(link, PAIRING_CODE, notifications=notifications)
    phone.pair()
    return phone


def test_boot_publishes_info_and_keeps_its_pairing_code(tmp_path: Path) -> None:
    storage = tmp_path / "sd"
    synthetic_sessions(storage, 2, laps=1, seed=7)
    first = VirtualCore(SimConfig(storage_dir=storage)).start()
    try:
        code = first.pairing_code
        info = json.loads(first.radio.read_value(first.fw.rs_protocol.INFO_UUID))
        assert info["device_id"] == "RS-Core-51M0" and info["protocol"] == 2
        assert info["pending_files"] == 2 and info["recording"] is False
        assert first.ble_name == "RS-Core-51M0" and first.status()["state"] == "idle"
        assert first.wait_for(lambda: first.watchdog.feeds >= 1, 5)  # every task healthy
    finally:
        first.stop()
    assert not [line for line in first.console if "failed" in line], first.console
    again = VirtualCore(SimConfig(storage_dir=storage)).start()  # the same card and flash
    try:
        assert again.pairing_code == code and len(code) == 8
    finally:
        again.stop()


def test_the_firmware_stays_out_of_the_rest_of_the_process() -> None:
    """Its modules are loaded privately: whatever sys.modules held under their names
    before (nothing, or the firmware tests' own copies) it holds after; and `racesense`
    starts without them."""
    names = ("sync", "storage", "main", "board", "board.net", "cryptolib", "machine")
    before = {name: sys.modules.get(name) for name in names}
    fw = firmware._load(firmware.firmware_dir())  # a fresh private load, not the cached one
    assert {name: sys.modules.get(name) for name in names} == before
    assert fw.sync is not before["sync"] and fw.sync.__file__.endswith("firmware/sync.py")
    check = (
        "import sys; from racesense.cli import _parser; _parser();"
        "assert not [m for m in sys.modules if 'devicesim' in m or m == 'playwright'], 'loaded'"
    )
    subprocess.run([sys.executable, "-c", check], check=True, timeout=60)


def test_ble_drops_mid_upload_the_upload_completes_and_the_phone_reads_how_it_ended(
    backend: Backend, core: VirtualCore
) -> None:
    files = synthetic_sessions(core.config.storage_dir, 2, laps=2, seed=701)
    core.hotspot.uplink_bytes_s = 400_000  # a hotspot's few hundred kB/s: about 3 s
    core.start()
    phone = _paired(core)
    sync = create_sync(backend.origin, TOKEN, core.device_id)
    phone.request_sync(sync_request(sync, "Racesense-Pit", "racesense", backend=backend.origin))
    assert core.wait_for(lambda: core.status().get("file") == 1, 10), core.status()
    phone.link.disconnect()  # type: ignore[attr-defined]  # out of range, mid-file
    assert core.wait_for(lambda: core.status()["state"] == "done", 30), core.status()
    assert any("BLE disconnected during uploading" in line for line in core.console)
    # Back in range: a new handshake, then ask how it went.
    again = _paired(core)
    again.sync_id = sync["sync_id"]
    again.send_sealed("status_request", {})
    final = again.follow(5)
    assert final["state"] == "done" and final["files_sent"] == 2
    assert core.pending() == []
    sent = sorted(s["sha256"] for s in backend.sync_files(sync["sync_id"]))
    assert sent == sorted(f.sha256 for f in files)


def test_hotspot_off_the_logger_stays_on_ble_and_a_retry_works(
    backend: Backend, core: VirtualCore
) -> None:
    synthetic_sessions(core.config.storage_dir, 1, laps=1, seed=801)
    core.hotspot.switch(False)
    core.config.join_deadline_ms = 4000  # it scans until then (15 s on the board)
    core.start()
    phone = _paired(core, notifications=False)  # polling only, as on Bluefy
    first = create_sync(backend.origin, TOKEN, core.device_id)
    phone.request_sync(sync_request(first, "Racesense-Pit", "racesense", backend=backend.origin))
    failed = phone.follow(15)
    assert failed["error"] == "E_AP_NOT_FOUND" and failed["files_left"] == 1
    assert len(core.pending()) == 1 and not core.wlan.is_active  # Wi-Fi off, back on BLE
    core.hotspot.switch(True)
    second = create_sync(backend.origin, TOKEN, core.device_id)
    phone.request_sync(
        sync_request(second, "Racesense-Pit", "racesense", backend=backend.origin)
    )  # same pairing
    done = phone.follow(15)
    assert done["state"] == "done" and done["files_sent"] == 1
    assert core.pending() == [] and len(backend.sync_files(second["sync_id"])) == 1


def test_a_second_sync_request_while_one_runs_is_busy(backend: Backend, core: VirtualCore) -> None:
    synthetic_sessions(core.config.storage_dir, 1, laps=1, seed=901)
    core.hotspot.switch(False)  # the sync waits in its scans meanwhile
    core.config.join_deadline_ms = 4000
    core.start()
    phone = _paired(core)
    sync = create_sync(backend.origin, TOKEN, core.device_id)
    other = create_sync(backend.origin, TOKEN, core.device_id)
    phone.request_sync(sync_request(sync, "Racesense-Pit", "racesense", backend=backend.origin))
    with pytest.raises(PhoneError, match="E_BUSY"):
        phone.request_sync(
            sync_request(other, "Racesense-Pit", "racesense", backend=backend.origin)
        )
    phone.sync_id = sync["sync_id"]
    assert phone.follow(15)["error"] == "E_AP_NOT_FOUND"
