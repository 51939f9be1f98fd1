"""The sync state machine, under pytest and MicroPython: first in virtual time with a
scripted uploader, then for real (real uploader, real sockets, the local test server, the
real storage module on a temporary directory)."""

import asyncio
import socket

from http_test_server import LoopbackResolver, ScriptedServer
from sync_fakes import (
    FakeClock,
    FakeStorage,
    FakeTLS,
    FakeWLAN,
    Network,
    Notes,
    sha256_file,
    write_file,
)

import rs_protocol
from board.net import SocketNet
from storage import Storage
from sync import STATES, Sync, SystemClock
from uploader import Uploader, UploadError, parse_fallback, parse_url

REQUEST = {
    "ssid": "pit",
    "password": "secret",
    "url": "http://pit-laptop.local:8765/api/upload",
    "ip_fallback": "192.168.43.10",
    "token": "upload-token-0123",
    "sync_id": "9f86d081884c7d65",
    "cert_sha256": None,
    "time_utc": 1771061400,
    # 32 bytes (0..31) as the laptop hands them out: base64url, no padding
    "ack_key": "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8",
}
ACK_KEY = bytes(range(32))
FILES = [("/sd/a.csv", 3000), ("/sd/b.csv", 5000), ("/sd/c.csv", 7000)]


def _sha(path):
    return (path.replace("/", "").replace(".", "") * 64)[:64]


class ScriptedUploader:
    """uploader.Uploader's surface, in virtual time. `outcomes[path]` lists what each
    call gives: a result dict, an UploadError, or "hang" (until cancelled)."""

    def __init__(self, clock, outcomes=None, upload_ms=800, report_error=None):
        self.clock = clock
        self.outcomes = outcomes or {}
        self.upload_ms = upload_ms
        self.report_error = report_error
        self.uploads = []
        self.reports = []
        self.configured = None
        self.closed = 0
        self.first_sent_ms = None
        self.on_upload = None

    def configure(self, url, token, sync_id=None, ip_fallback=None, cert_sha256=None, ack_key=None):
        scheme, _host, port, _path = parse_url(url)  # E_URL as the real one
        if ip_fallback:
            parse_fallback(ip_fallback, scheme, port)
        self.configured = (url, token, sync_id, ip_fallback, cert_sha256)
        self.ack_key = ack_key
        self.first_sent_ms = None

    def endpoint(self, path):
        return path

    async def upload(self, path, index=1, count=1, progress=None, cancelled=None):
        self.uploads.append(path)
        if self.on_upload:
            self.on_upload(path)
        await self.clock.sleep_ms(100)  # hash pass, connect
        if self.first_sent_ms is None:
            self.first_sent_ms = self.clock.ticks_ms()
        outcome = self.outcomes.get(path, [None])
        outcome = outcome.pop(0) if len(outcome) > 1 else outcome[0]
        size = dict(FILES).get(path, 1000)
        steps = 4
        for step in range(steps + 1):
            if cancelled and cancelled():
                raise UploadError("E_CANCELLED", "cancelled during the upload")
            if progress:
                progress(index, count, size * step // steps, size)
            if outcome == "hang" or step < steps:
                await self.clock.sleep_ms(self.upload_ms // steps)
        if isinstance(outcome, UploadError):
            raise outcome
        if isinstance(outcome, dict):
            return outcome
        return {
            "sha256": _sha(path),
            "bytes": size,
            "duplicate": False,
            "status": 201,
            "proven": True,
        }

    async def post_json(self, path, payload, cancelled=None):
        self.reports.append((path, payload))
        if self.report_error:
            raise self.report_error
        return 200, {"ok": True}

    def close(self):
        self.closed += 1


class _Rig:
    """A Sync with its stand-ins, in virtual time."""

    def __init__(self, networks, files, notes, uploader_options):
        self.clock = FakeClock()
        self.wlan = FakeWLAN(self.clock, networks)
        self.storage = FakeStorage(files)
        self.uploader = ScriptedUploader(self.clock, **uploader_options)
        self.notes = notes or Notes()
        self.logs = []
        self.sync = Sync(
            self.wlan, self.uploader, self.storage, self.clock, self.notes, log=self.logs.append
        )


def _sync(networks=None, files=FILES, notes=None, **uploader_options):
    return _Rig(networks or [Network("pit")], files, notes, uploader_options)


def _run(sync, request=None):
    return asyncio.run(sync.run(dict(request or REQUEST)))


def _radio_off(wlan):
    return wlan.calls[-1] == ("active", False) and not wlan.is_active


# -- the happy path -------------------------------------------------------------------------


def test_states_in_order_then_done_with_phase_timings():
    rig = _sync()
    start_ms = rig.clock.now_ms
    final = _run(rig.sync)
    assert rig.notes.states() == [
        "request_received",
        "scanning",
        "joining",
        "joined",
        "uploading",
        "done",
    ]
    assert final["type"] == "done" and final["state"] == "done"
    assert final["files_sent"] == 3
    assert final["bytes"] == 15000
    assert final["duplicates"] == 0
    phases = final["phases_ms"]
    # scan 1200 + association 400 + DHCP 300 + stable 1000 (+ polling granularity)
    assert 2900 <= phases["join"] < 3200
    assert phases["first_byte"] == 100
    assert phases["upload"] == 3 * 900 - 100
    assert phases["total"] == phases["join"] + phases["first_byte"] + phases["upload"]
    assert phases["total"] == rig.clock.now_ms - start_ms
    assert rig.storage.synced == {p: _sha(p) for p, _ in FILES}
    assert rig.uploader.configured == (
        REQUEST["url"],
        REQUEST["token"],
        REQUEST["sync_id"],
        "192.168.43.10",
        None,
    )
    assert rig.sync.status() == final
    assert rig.sync.state == "done"
    assert not rig.sync.busy()


def test_every_state_is_a_protocol_state():
    rig = _sync()
    _run(rig.sync)
    for status in rig.notes.seen:
        assert status["state"] in STATES
    assert tuple(STATES) == tuple(getattr(rs_protocol, "STATE_" + s.upper()) for s in STATES)


def test_wifi_is_off_before_done_is_announced():
    seen_radio = []
    rig = _sync()
    rig.sync._notify = lambda status: seen_radio.append((status["state"], rig.wlan.is_active))
    _run(rig.sync)
    assert seen_radio[-1] == ("done", False)
    assert ("uploading", True) in seen_radio
    assert _radio_off(rig.wlan)


def test_report_posts_phase_timings_after_success():
    rig = _sync()
    final = _run(rig.sync)
    assert rig.uploader.reports == [
        (
            "/api/syncs/9f86d081884c7d65/report",
            {
                "phases_ms": final["phases_ms"],
                "files_sent": 3,
                "bytes_sent": 15000,
                "duplicates": 0,
                "wire_bytes": 15000,  # the fake uploader's results carry none: the files'
                "encoding": "identity",
            },
        )
    ]


def test_a_failed_report_is_logged_not_fatal():
    rig = _sync(report_error=UploadError("E_HTTP", "HTTP 500", 500))
    assert _run(rig.sync)["state"] == "done"


def test_duplicates_are_counted_and_still_marked():
    duplicate = {"sha256": _sha("/sd/b.csv"), "bytes": 5000, "duplicate": True, "proven": True}
    outcomes = {"/sd/b.csv": [duplicate]}
    rig = _sync(outcomes=outcomes)
    final = _run(rig.sync)
    assert final["duplicates"] == 1 and final["files_sent"] == 3
    assert "/sd/b.csv" in rig.storage.synced


def test_progress_covers_the_whole_sync():
    rig = _sync()
    _run(rig.sync)
    progress = [s for s in rig.notes.seen if s["type"] == "progress"]
    assert progress[0]["file"] == 1 and progress[0]["files"] == 3
    assert progress[-1]["sync_bytes"] == progress[-1]["sync_total"] == 15000
    sync_bytes = [p["sync_bytes"] for p in progress]
    assert sync_bytes == sorted(sync_bytes)


def test_nothing_pending_is_done_without_wifi():
    rig = _sync(files=[])
    final = _run(rig.sync)
    assert final["state"] == "done" and final["files_sent"] == 0
    assert rig.wlan.calls == []
    assert rig.uploader.reports == []


# -- the request ------------------------------------------------------------------------


def test_incomplete_or_bad_requests_fail_before_wifi():
    cases = (
        ({"ssid": ""}, "E_MESSAGE"),
        ({"token": None}, "E_MESSAGE"),
        ({"sync_id": "../admin"}, "E_MESSAGE"),
        ({"sync_id": "x" * 33}, "E_MESSAGE"),
        ({"url": "ftp://pit/api/upload"}, "E_URL"),
        ({"url": "pit-laptop.local:8765/api/upload"}, "E_URL"),
        ({"ip_fallback": "ftp://192.168.43.10/api/upload"}, "E_URL"),
        ({"ack_key": None}, "E_MESSAGE"),
        ({"ack_key": REQUEST["ack_key"][:-1]}, "E_MESSAGE"),  # 31 bytes and a bit
        ({"ack_key": REQUEST["ack_key"] + "="}, "E_MESSAGE"),  # padded
        ({"ack_key": "+" + REQUEST["ack_key"][1:]}, "E_MESSAGE"),  # not base64url
        ({"ssid": "ü" * 17}, "E_MESSAGE"),  # 17 characters, 34 bytes
    )
    for change, code in cases:
        rig = _sync()
        request = dict(REQUEST)
        request.update(change)
        final = _run(rig.sync, request)
        assert final["state"] == "failed" and final["error"] == code, (change, final)
        assert final["type"] == "error"
        assert rig.wlan.calls == []
    rig = _sync()
    assert asyncio.run(rig.sync.run("not a dict"))["error"] == "E_MESSAGE"


def test_ack_key_reaches_the_uploader_as_its_32_bytes():
    rig = _sync()
    assert _run(rig.sync)["state"] == "done"
    assert rig.uploader.ack_key == ACK_KEY


def test_ssid_of_32_bytes_is_accepted():
    rig = _sync(networks=(Network("ü" * 16),))
    request = dict(REQUEST)
    request["ssid"] = "ü" * 16
    assert _run(rig.sync, request)["state"] == "done"


def test_an_unproven_acknowledgement_marks_nothing():
    # Last line of defence: whatever the uploader says, no proof, no mark.
    unproven = {"sha256": _sha("/sd/a.csv"), "bytes": 3000, "duplicate": False, "proven": False}
    rig = _sync(outcomes={"/sd/a.csv": [unproven]})
    final = _run(rig.sync)
    assert final["state"] == "failed" and final["error"] == "E_SERVER_PROOF"
    assert rig.storage.synced == {}
    assert final["files_left"] == 3


def test_open_hotspot_without_password():
    rig = _sync(networks=(Network("pit", password=""),))
    request = dict(REQUEST)
    del request["password"]
    assert _run(rig.sync, request)["state"] == "done"


# -- failures -------------------------------------------------------------------------------


def test_join_failures_end_failed_with_the_reason_and_wifi_off():
    cases = (
        ((Network("elsewhere"),), "E_AP_NOT_FOUND"),
        ((Network("pit", band_ghz=5),), "E_AP_NOT_FOUND"),
        ((Network("pit", password="other"),), "E_WRONG_PASSWORD"),
        ((Network("pit", mode="no_dhcp"),), "E_NO_IP"),
        ((Network("pit", mode="silent"),), "E_JOIN_TIMEOUT"),
    )
    for networks, code in cases:
        rig = _sync(networks=networks)
        final = _run(rig.sync)
        assert final["state"] == "failed" and final["error"] == code, (code, final)
        assert final["detail"]
        assert _radio_off(rig.wlan)
        assert rig.uploader.uploads == [] and rig.storage.synced == {}
        assert rig.notes.states()[-1] == "failed"
        assert rig.sync.status() == final


def test_upload_failure_keeps_only_acknowledged_files():
    outcomes = {"/sd/b.csv": [UploadError("E_HTTP", "HTTP 500", 500)]}
    rig = _sync(outcomes=outcomes)
    final = _run(rig.sync)
    assert final["state"] == "failed" and final["error"] == "E_HTTP"
    assert final["files_sent"] == 1
    assert list(rig.storage.synced) == ["/sd/a.csv"]
    assert rig.uploader.uploads == ["/sd/a.csv", "/sd/b.csv"]  # stops at the first failure
    assert rig.uploader.reports == []
    assert _radio_off(rig.wlan)


def test_server_hash_mismatch_marks_nothing():
    outcomes = {"/sd/a.csv": [UploadError("E_SERVER_HASH", "sent x, answered y")]}
    rig = _sync(outcomes=outcomes)
    assert _run(rig.sync)["error"] == "E_SERVER_HASH"
    assert rig.storage.synced == {}


def test_storage_errors_are_e_storage():
    rig = _sync()
    rig.storage.fail_pending = True
    assert _run(rig.sync)["error"] == "E_STORAGE"
    assert rig.wlan.calls == []
    rig = _sync()
    rig.storage.fail_mark = True
    final = _run(rig.sync)
    assert final["error"] == "E_STORAGE" and final["files_sent"] == 0
    assert _radio_off(rig.wlan)


def test_an_unexpected_error_still_ends_failed_with_wifi_off():
    rig = _sync()
    rig.storage.mark_synced = lambda path, sha256: {}["boom"]
    final = _run(rig.sync)
    assert final["state"] == "failed" and final["error"] == "E_INTERNAL"
    assert _radio_off(rig.wlan)
    assert not rig.sync.busy()


# -- cancel, BLE, busy ------------------------------------------------------------------


def test_cancel_mid_file_marks_nothing_unacknowledged():
    outcomes = {"/sd/b.csv": ["hang"]}
    rig = _sync(outcomes=outcomes)

    def cancel_during_b(status):
        if status["type"] == "progress" and status["file"] == 2 and status["bytes"] > 0:
            assert rig.sync.cancel()

    notes_then_cancel = Notes()
    rig.sync._notify = lambda s: (notes_then_cancel(s), cancel_during_b(s))
    final = _run(rig.sync)
    assert final["state"] == "cancelled" and final["error"] == "E_CANCELLED"
    assert final["type"] == "state"
    assert final["files_sent"] == 1
    assert list(rig.storage.synced) == ["/sd/a.csv"]
    assert rig.uploader.closed >= 1
    assert rig.uploader.reports == []
    assert _radio_off(rig.wlan)
    assert not rig.sync.cancel()  # nothing running any more


def test_cancel_between_files():
    rig = _sync()

    def on_upload(path):
        if path == "/sd/b.csv":
            rig.sync.cancel()

    rig.uploader.on_upload = on_upload
    final = _run(rig.sync)
    assert final["state"] == "cancelled"
    # b was already under way: it stops inside; c is never started
    assert rig.uploader.uploads == ["/sd/a.csv", "/sd/b.csv"]
    assert list(rig.storage.synced) == ["/sd/a.csv"]


def test_cancel_while_joining():
    rig = _sync(networks=(Network("pit", mode="silent"),))

    async def scenario():
        task = asyncio.create_task(rig.sync.run(dict(REQUEST)))
        while rig.sync.state != "joining":
            await asyncio.sleep(0)
        await rig.clock.sleep_ms(2000)
        assert rig.sync.busy()
        assert rig.sync.cancel()
        return await task

    final = asyncio.run(scenario())
    assert final["state"] == "cancelled"
    assert rig.uploader.uploads == []
    assert _radio_off(rig.wlan)


def test_cancelling_the_task_itself_still_ends_readable_with_wifi_off():
    rig = _sync(outcomes={"/sd/b.csv": ["hang"]})

    async def scenario():
        task = asyncio.create_task(rig.sync.run(dict(REQUEST)))
        while rig.uploader.uploads != ["/sd/a.csv", "/sd/b.csv"]:
            await asyncio.sleep(0)
        task.cancel()
        try:
            await task
        except asyncio.CancelledError:
            return "cancelled"
        return "finished"

    assert asyncio.run(scenario()) == "cancelled"
    assert rig.sync.status()["state"] == "cancelled"
    assert not rig.sync.busy()
    assert list(rig.storage.synced) == ["/sd/a.csv"]
    assert rig.uploader.closed >= 1
    assert _radio_off(rig.wlan)


def test_cancel_when_idle_does_nothing():
    rig = _sync()
    assert not rig.sync.cancel()
    assert rig.sync.status() == {"type": "state", "state": "idle"}


def test_ble_disconnect_does_not_stop_the_sync():
    broken = Notes(fail=True)  # every notification fails: the phone is gone
    rig = _sync(notes=broken)
    rig.uploader.on_upload = lambda path: rig.sync.ble_disconnected()
    final = _run(rig.sync)
    assert final["state"] == "done" and final["files_sent"] == 3
    assert len(rig.storage.synced) == 3
    assert rig.sync.status() == final  # what the phone reads when it comes back


def test_second_request_while_running_is_busy():
    rig = _sync()

    async def scenario():
        task = asyncio.create_task(rig.sync.run(dict(REQUEST)))
        while rig.sync.state != "uploading":
            await asyncio.sleep(0)
        assert await rig.sync.run(dict(REQUEST)) is None
        return await task

    final = asyncio.run(scenario())
    assert final["state"] == "done"
    busy = [s for s in rig.notes.seen if s.get("error") == "E_BUSY"]
    assert len(busy) == 1 and busy[0]["type"] == "error"
    assert rig.uploader.uploads == [p for p, _ in FILES]


def test_a_second_sync_after_the_first_ended():
    rig = _sync()
    assert _run(rig.sync)["files_sent"] == 3
    rig.storage.files.append(("/sd/d.csv", 100))
    assert _run(rig.sync)["files_sent"] == 1


def test_start_runs_in_the_background():
    rig = _sync()

    async def scenario():
        task = rig.sync.start(dict(REQUEST))
        await asyncio.sleep(0)
        assert rig.sync.busy()
        return await task

    assert asyncio.run(scenario())["state"] == "done"


def test_error_names_are_protocol_json_names():
    import net_conn as net_module
    import sync as sync_module
    import uploader as uploader_module
    import wifi_join as wifi_module

    for module in (sync_module, uploader_module, wifi_module, net_module):
        with open(module.__file__) as f:
            text = f.read()
        i = text.find('"E_')
        while i >= 0:
            end = text.find('"', i + 1)
            name = text[i + 1 : end]
            assert getattr(rs_protocol, name, None) == name, (module.__name__, name)
            i = text.find('"E_', end + 1)


# -- for real: sockets, the local server, the SD-card bookkeeping -----------------------


def _real_sync(server, root, notes, storage=None, logger=None, **options):
    clock = SystemClock()
    wlan = FakeWLAN(clock, [Network("pit")], assoc_ms=10, dhcp_ms=10, scan_ms=0)
    uploader = Uploader(
        SocketNet(socket, getaddrinfo=LoopbackResolver(fail=("pit-laptop.local",))),
        clock,
        device_id="RS-Core-7F3A",
        connect_timeout_ms=1000,
        io_timeout_ms=2000,
        backoff_ms=20,
        log=lambda message: None,
        **options,
    )
    storage = storage or Storage(root)
    sync = Sync(
        wlan, uploader, storage, clock, notes, logger=logger, join_stable_ms=50, log=lambda m: None
    )
    request = dict(REQUEST)
    request["url"] = "http://pit-laptop.local:" + str(server.port) + "/api/upload"
    # As the BLE request carries it: the same URL with the laptop's IP (the name does not
    # resolve here, so every upload goes by this address).
    request["ip_fallback"] = "http://127.0.0.1:" + str(server.port) + "/api/upload"
    return sync, wlan, storage, request


def _session_files(root, sizes):
    import os

    os.mkdir(root)
    paths = []
    for i, size in enumerate(sizes):
        paths.append(write_file(root + "/20260214-09300" + str(i) + ".csv", size, seed=i))
    return paths


def test_real_sync_uploads_marks_and_reports():
    paths = _session_files("sd", [20000, 50000])
    notes = Notes()
    with ScriptedServer(ack_key=ACK_KEY) as server:
        sync, wlan, storage, request = _real_sync(server, "sd", notes)
        final = asyncio.run(sync.run(request))
    assert final["state"] == "done", final
    assert final["files_sent"] == 2 and final["bytes"] == 70000
    assert storage.pending() == []
    for path in paths:
        assert storage.is_synced(path)
    uploads = [r for r in server.requests if r.get("path") == "/api/upload"]
    assert [r["file_sha256"] for r in uploads] == [sha256_file(p) for p in paths]
    report = server.requests[-1]
    assert report["path"] == "/api/syncs/9f86d081884c7d65/report"
    assert b'"phases_ms"' in report["body"] and b'"bytes_sent": 70000' in report["body"]
    assert _radio_off(wlan)


def test_real_sync_cancel_mid_file_keeps_it_pending():
    paths = _session_files("sd", [10000, 1024 * 1024])
    notes = Notes()
    box = []

    def notify(status):
        notes(status)
        if status["type"] == "progress" and status["file"] == 2 and status["bytes"] > 0:
            box[0].cancel()

    with ScriptedServer(ack_key=ACK_KEY) as server:
        sync, wlan, storage, request = _real_sync(server, "sd", notify, progress_interval_ms=0)
        box.append(sync)
        final = asyncio.run(sync.run(request))
        assert server.wait_requests(2)  # the server has seen the hang-up too
    assert final["state"] == "cancelled", final
    assert storage.is_synced(paths[0])
    assert storage.pending() == [(paths[1], 1024 * 1024)]
    second = [r for r in server.requests if r.get("path") == "/api/upload"][1]
    assert not second["complete"]
    assert _radio_off(wlan)


def test_real_sync_server_failure_is_failed_and_nothing_marked():
    _session_files("sd", [1000])
    with ScriptedServer(["status:401"], ack_key=ACK_KEY) as server:
        sync, _wlan, storage, request = _real_sync(server, "sd", Notes())
        final = asyncio.run(sync.run(request))
    assert final["state"] == "failed" and final["error"] == "E_HTTP", final
    assert final["http_status"] == 401 and "fresh token" in final["detail"]
    assert len(storage.pending()) == 1


def test_real_sync_a_host_echoing_the_hash_without_the_proof_marks_nothing():
    # Any host on the hotspot can echo a file's SHA-256; only the laptop that made the
    # sync can prove it. The file stays pending (make_room may never delete it).
    paths = _session_files("sd", [3000, 4000])
    for mode in ("no_proof", "bad_proof"):
        with ScriptedServer([mode], ack_key=ACK_KEY) as server:
            sync, wlan, storage, request = _real_sync(server, "sd", Notes())
            final = asyncio.run(sync.run(request))
        assert final["state"] == "failed" and final["error"] == "E_SERVER_PROOF", final
        assert final["files_sent"] == 0 and final["files_left"] == 2
        assert storage.pending() == [(paths[0], 3000), (paths[1], 4000)]
        assert not storage.is_synced(paths[0])
        assert server.requests[0]["file_sha256"] == sha256_file(paths[0])  # it was sent
        assert _radio_off(wlan)


def test_real_sync_token_expiring_mid_backlog_asks_for_a_fresh_one():
    paths = _session_files("sd", [1000, 2000, 3000])
    with ScriptedServer(["ok", "status:401"], ack_key=ACK_KEY) as server:
        sync, _wlan, storage, request = _real_sync(server, "sd", Notes())
        final = asyncio.run(sync.run(request))
    assert final["state"] == "failed" and final["error"] == "E_HTTP", final
    assert final["http_status"] == 401 and "fresh token" in final["detail"]
    assert final["files_sent"] == 1 and final["files_left"] == 2
    assert storage.is_synced(paths[0])
    assert storage.pending() == [(paths[1], 2000), (paths[2], 3000)]
    uploads = [r for r in server.requests if r.get("path") == "/api/upload"]
    assert len(uploads) == 2  # the 401 was not retried, nor the third file tried


def test_https_without_a_pin_is_refused_before_wifi():
    rig = _sync()
    rig.sync._uploader = Uploader(SocketNet(socket, ssl_mod=FakeTLS()), rig.clock)
    request = dict(REQUEST)
    request["url"] = "https://pit-laptop.local:8443/api/upload"
    final = _run(rig.sync, request)
    assert final["state"] == "failed" and final["error"] == "E_TLS_PIN", final
    assert rig.wlan.calls == []


# -- the logger shares the loop -------------------------------------------------------------


class FakeLogger:
    """logger.Logger's surface for a sync: `recording`, end_if_standing(min_ms)."""

    def __init__(self, recording=False, standing_ms=None):
        self.recording = recording
        self.standing_ms = standing_ms
        self.ended = []

    def end_if_standing(self, min_ms):
        if self.recording and self.standing_ms is not None and self.standing_ms >= min_ms:
            self.recording = False
            self.ended.append(min_ms)
            return True
        return False


def _sync_with_logger(fake_logger, **options):
    rig = _sync(**options)
    rig.sync = Sync(
        rig.wlan,
        rig.uploader,
        rig.storage,
        rig.clock,
        rig.notes,
        logger=fake_logger,
        log=rig.logs.append,
    )
    return rig


def test_a_sync_while_the_car_moves_is_refused():
    rig = _sync_with_logger(FakeLogger(recording=True, standing_ms=0))
    final = _run(rig.sync)
    assert final["state"] == "failed" and final["error"] == "E_RECORDING", final
    assert "recording" in final["detail"]
    assert rig.wlan.calls == [] and rig.storage.synced == {}
    assert rig.sync.recording()


def test_a_sync_after_a_standstill_closes_the_session_first():
    fake = FakeLogger(recording=True, standing_ms=8000)
    rig = _sync_with_logger(fake)
    assert rig.sync.recording()
    final = _run(rig.sync)
    assert final["state"] == "done", final
    assert fake.ended == [5000]
    assert not rig.sync.recording()


def test_a_car_moving_off_mid_sync_stops_it_with_files_pending():
    fake = FakeLogger()
    rig = _sync_with_logger(fake)

    def on_upload(path):
        if path == "/sd/b.csv":
            fake.recording = True  # the car pulls away: the loop is the logger's

    rig.uploader.on_upload = on_upload
    final = _run(rig.sync)
    assert final["state"] == "failed" and final["error"] == "E_RECORDING", final
    assert "moved off" in final["detail"]
    assert list(rig.storage.synced) == ["/sd/a.csv"]
    assert final["files_left"] == 2
    assert _radio_off(rig.wlan)


def test_real_sync_sends_the_session_just_driven():
    # The car came in and stopped 6 s ago: its session is still open (the logger ends one
    # after 60 s standing). The sync closes it and sends it; "done" means it is there.
    from test_logger import Car

    car = Car(root="sd")
    car.run(10, 80.0)
    car.run(6, 0.0)
    assert car.logger.recording and car.storage.pending() == []
    notes = Notes()
    with ScriptedServer(ack_key=ACK_KEY) as server:
        sync, wlan, _storage, request = _real_sync(
            server, "sd", notes, storage=car.storage, logger=car.logger
        )
        assert sync.recording()
        final = asyncio.run(sync.run(request))
    assert final["state"] == "done" and final["files_sent"] == 1, final
    (name,) = car.files()
    assert car.storage.is_synced("sd/" + name) and car.storage.pending() == []
    assert not sync.recording()
    assert _radio_off(wlan)
