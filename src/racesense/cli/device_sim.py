"""`racesense device-sim`: a virtual RS-Core (the logger's real firmware on this host).

Two ways to meet it:
- the browser (default): Chromium opens the backend's UI (or --url) with the virtual
  logger as its Bluetooth device (CDP emulation); commands on stdin switch the hotspot
  on and off, drop the BLE link, show the sync's state;
- the phone on the command line (--phone): POST /api/syncs on the backend, pair with the
  pairing code, send the sync request, follow the states to the end, print the timings.

This module imports nothing heavy at the top: the parser entry adds its arguments on
every `racesense` start.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from racesense.devicesim.core import VirtualCore
    from racesense.devicesim.sessions import SessionFile

DEFAULT_BACKEND = "http://127.0.0.1:8765"
EXIT_SYNC_FAILED = 1
EXIT_SETUP = 2


def add_arguments(p: argparse.ArgumentParser) -> None:
    card = p.add_argument_group("the logger and its card")
    card.add_argument(
        "--storage",
        type=Path,
        metavar="DIR",
        help="the card's sessions folder (default: a temp one)",
    )
    card.add_argument("--sessions", type=int, default=3, help="synthetic sessions to generate")
    card.add_argument("--laps", type=int, default=3, help="laps in each synthetic session")
    card.add_argument("--seed", type=int, default=1, help="seed of the first synthetic session")
    card.add_argument(
        "--synced", type=int, default=0, metavar="K", help="mark the oldest K files synced"
    )
    card.add_argument(
        "--file", type=Path, action="append", default=[], help="also put this file on the card"
    )
    card.add_argument("--device-id", default="RS-Core-51M0")
    card.add_argument(
        "--pairing-code", help="8 digits (default: made on first start, kept with the card)"
    )
    card.add_argument(
        "--gzip-kbps",
        type=float,
        metavar="KB_S",
        help="a build that can gzip, its compressor at KB_S kB/s (an ESP32's: about 120);"
        " default: the ESP32 port's default build, which cannot",
    )
    card.add_argument(
        "--compress",
        default="auto",
        choices=("auto", "on", "off"),
        help="with --gzip-kbps: gzip by the logger's own choice (auto), always, or never",
    )
    wifi = p.add_argument_group("the hotspot it joins")
    wifi.add_argument("--ssid", default="Racesense-Pit")
    wifi.add_argument("--password", default="racesense")
    wifi.add_argument("--hotspot-off", action="store_true", help="start with the hotspot off")
    wifi.add_argument(
        "--hotspot-on-after", type=float, metavar="S", help="switch the hotspot on after S s"
    )
    wifi.add_argument(
        "--security",
        default="wpa2",
        choices=("open", "wep", "wpa", "wpa2", "wpa2/wpa3", "wpa3"),
    )
    wifi.add_argument("--band", type=float, default=2.4, choices=(2.4, 5.0), help="GHz")
    wifi.add_argument("--no-dhcp", action="store_true", help="joined, but no address")
    wifi.add_argument("--uplink-kbps", type=float, help="throughput to the laptop, kB/s")
    wifi.add_argument("--assoc-ms", type=float, default=800)
    wifi.add_argument("--scan-ms", type=float, default=1500)
    wifi.add_argument("--attempt-ms", type=float, default=1500, help="one driver attempt")
    wifi.add_argument("--join-deadline-ms", type=int, help="the sync's (default: the firmware's)")
    p.add_argument("--backend", default=DEFAULT_BACKEND, help="the racesense server")
    p.add_argument("--token", help="API token (default: $RACESENSE_TOKEN)")
    phone = p.add_argument_group("--phone: the phone's part, from the command line")
    phone.add_argument("--phone", action="store_true", help="sync once and exit (no browser)")
    phone.add_argument("--code", help="the pairing code the phone types (default: the right one)")
    phone.add_argument("--phone-ssid", help="the SSID the phone sends (default: --ssid)")
    phone.add_argument("--phone-password", help="the password it sends (default: --password)")
    phone.add_argument("--upload-url", help="the URL it sends (default: the backend's)")
    phone.add_argument("--poll", action="store_true", help="read status, no notifications")
    phone.add_argument("--mtu", type=int, help="the ATT MTU the phone negotiates")
    phone.add_argument("--timeout", type=float, default=120.0, help="for the whole sync, s")
    phone.add_argument("--json", action="store_true", help="print one JSON document")
    browser = p.add_argument_group("the browser (without --phone)")
    browser.add_argument("--url", help="the page to open (default: the backend's UI)")
    browser.add_argument("--headless", action="store_true")
    browser.add_argument("--chromium", default="/usr/bin/chromium")
    p.add_argument("-v", "--verbose", action="store_true", help="show the firmware's console")


def run(args: argparse.Namespace) -> int:
    from racesense.devicesim.firmware import FirmwareUnavailable

    out = _Output(args.json)
    try:
        with _virtual_core(args, out) as (core, files):
            if args.phone:
                return _phone(args, core, files, out)
            return _browser(args, core, out)
    except FirmwareUnavailable as exc:
        print(f"racesense device-sim: {exc}", file=sys.stderr)
        return EXIT_SETUP


class _Output:
    """Human lines on stdout, or (--json) on stderr with one document on stdout."""

    def __init__(self, as_json: bool) -> None:
        self.as_json = as_json

    def say(self, text: str) -> None:
        print(text, file=sys.stderr if self.as_json else sys.stdout, flush=True)


@contextlib.contextmanager
def _virtual_core(
    args: argparse.Namespace, out: _Output
) -> Iterator[tuple[VirtualCore, list[SessionFile]]]:
    from racesense.devicesim.core import SimConfig, VirtualCore
    from racesense.devicesim.sessions import copy_file, synthetic_sessions
    from racesense.devicesim.wifi import VirtualHotspot

    with contextlib.ExitStack() as stack:
        storage = args.storage
        if storage is None:
            storage = Path(stack.enter_context(tempfile.TemporaryDirectory())) / "sd"
        hotspot = VirtualHotspot(
            ssid=args.ssid,
            password=args.password,
            on=not args.hotspot_off,
            band_ghz=args.band,
            security=args.security,
            dhcp=not args.no_dhcp,
            uplink_bytes_s=None if args.uplink_kbps is None else args.uplink_kbps * 1000,
        )
        config = SimConfig(
            storage_dir=storage,
            device_id=args.device_id,
            pairing_code=args.pairing_code,
            hotspot=hotspot,
            assoc_ms=args.assoc_ms,
            scan_ms=args.scan_ms,
            attempt_ms=args.attempt_ms,
            join_deadline_ms=args.join_deadline_ms,
            deflate_bytes_per_s=None if args.gzip_kbps is None else args.gzip_kbps * 1000,
            compress=args.compress,
            echo=(lambda line: out.say("  [rs-core] " + line)) if args.verbose else None,
        )
        core = VirtualCore(config)  # FirmwareUnavailable before any file is written
        files = synthetic_sessions(
            config.storage_dir,
            args.sessions,
            laps=args.laps,
            seed=args.seed,
            device_id=args.device_id,
        )
        files += [copy_file(config.storage_dir, path) for path in args.file]
        if args.synced:
            mark = core.fw.storage.Storage(str(config.storage_dir))
            for f in files[: args.synced]:
                mark.mark_synced(str(f.path), f.sha256)
        core.start()
        stack.callback(core.stop)
        if args.hotspot_on_after is not None:
            timer = threading.Timer(args.hotspot_on_after, hotspot.switch, (True,))
            timer.daemon = True
            timer.start()
            stack.callback(timer.cancel)
        pending = core.pending()
        out.say(f"Virtual RS-Core {core.device_id} (BLE name {core.ble_name})")
        out.say(f"  pairing code {core.fw.rs_pairing.format_code(core.pairing_code)}")
        out.say(f"  QR payload   {core.qr_payload}")
        out.say(
            f"  card {config.storage_dir}: {len(pending)} sessions pending"
            f" ({sum(s for _p, s in pending) / 1e6:.1f} MB), {len(files) - len(pending)} synced"
        )
        state = "on" if hotspot.on else "off"
        after = f", on after {args.hotspot_on_after:g} s" if args.hotspot_on_after else ""
        out.say(
            f'  hotspot "{hotspot.ssid}" ({hotspot.security}, {args.band:g} GHz): {state}{after}'
        )
        yield core, files


def _token(args: argparse.Namespace) -> str | None:
    return args.token or os.environ.get("RACESENSE_TOKEN") or os.environ.get("RACESENSE_API_TOKEN")


def _phone(
    args: argparse.Namespace, core: VirtualCore, files: list[SessionFile], out: _Output
) -> int:
    from racesense.devicesim.phone import BackendError, PhoneClient, create_sync
    from racesense.devicesim.phone import sync_request as make_request
    from racesense.devicesim.phone_session import PhoneError

    token = _token(args)
    if not token:
        out.say("racesense device-sim: --phone needs --token, or $RACESENSE_TOKEN")
        return EXIT_SETUP
    try:
        sync = create_sync(args.backend, token, core.device_id)
    except BackendError as exc:
        out.say(f"racesense device-sim: {exc}")
        return EXIT_SETUP
    out.say(f"Phone: sync {sync['sync_id']} created on {args.backend}")
    report: dict[str, Any] = {
        "device_id": core.device_id,
        "pairing_code": core.pairing_code,
        "storage_dir": str(core.config.storage_dir),
        "sync_id": sync["sync_id"],
        "files": [
            {
                "name": f.path.name,
                "sha256": f.sha256,
                "bytes": f.size_bytes,
                "lap_times_s": f.lap_times_s,
            }
            for f in files
        ],
        "pending_before": [Path(p).name for p, _s in core.pending()],
    }

    def show(status: dict[str, Any]) -> None:
        if status.get("sync_id") != sync["sync_id"]:
            return
        if status.get("state") == "uploading" and "file" in status:
            out.say(
                f"  uploading file {status['file']}/{status['files']}:"
                f" {status['sync_bytes'] / 1e6:.2f}/{status['sync_total'] / 1e6:.2f} MB"
            )
        elif status.get("state"):
            out.say(f"  {status['state']}")

    link = core.link()
    link.connect(mtu=args.mtu, notifications=not args.poll)
    phone = PhoneClient(
        link, args.code or core.pairing_code, notifications=not args.poll, on_status=show
    )
    if args.upload_url is None and sync.get("upload_url") is None:
        out.say(f"  the backend says: {sync.get('unreachable')}")
        out.say("  (the virtual logger runs on this host: it uploads to the backend's address)")
    request = make_request(
        sync,
        args.phone_ssid or args.ssid,
        args.password if args.phone_password is None else args.phone_password,
        backend=args.backend,
        url=args.upload_url,
    )
    final: dict[str, Any] | None = None
    try:
        info = phone.read_info()
        out.say(
            f"  info: {info.get('pending_files')} files pending, protocol {info.get('protocol')}"
        )
        phone.pair()
        out.say(
            f"  paired in {phone.timeline.marks['paired'] - phone.timeline.marks['info']:.2f} s"
        )
        phone.request_sync(request)
        final = phone.follow(args.timeout)
        outcome = str(final["state"])
    except PhoneError as exc:
        outcome = "refused" if exc.code not in ("timeout", "link") else exc.code
        report["error"] = {"code": exc.code, "detail": exc.detail}
        out.say(f"  {_plain(exc.code, exc.detail)}")
    finally:
        link.disconnect()
    report["outcome"] = outcome
    report["final"] = final
    report["timeline_s"] = phone.timeline.marks
    # Reading the card after the sync: the sync's own storage object, on its loop.
    report["pending_after"] = [Path(p).name for p, _s in core.pending()]
    if final is not None:
        if final.get("error"):
            out.say(f"  {_plain(final['error'], final.get('detail', ''))}")
        if final["state"] == "done":
            out.say(
                f"Done: {final['files_sent']} files, {final['bytes'] / 1e6:.2f} MB,"
                f" {final['duplicates']} duplicates"
            )
        out.say("Phases (logger): " + _phases(final.get("phases_ms") or {}))
    out.say(
        "Timeline (phone): " + ", ".join(f"{k} {v:.2f} s" for k, v in phone.timeline.marks.items())
    )
    out.say(f"Still pending on the logger: {len(report['pending_after'])} files")
    if args.json:
        print(json.dumps(report))
    return 0 if outcome == "done" else EXIT_SYNC_FAILED


def _phases(phases_ms: dict[str, Any]) -> str:
    names = ("join", "first_byte", "upload", "total")
    return ", ".join(f"{n} {phases_ms[n] / 1000:.2f} s" for n in names if n in phases_ms) or "-"


# What a person is told, per error (docs/ble-protocol.md, "What the client does").
_PLAIN = {
    "E_AUTH": "wrong pairing code, or not this logger",
    "E_AP_NOT_FOUND": "the hotspot was not found: switch it on, on 2.4 GHz",
    "E_WRONG_PASSWORD": "the hotspot refused the password",
    "E_WIFI_SECURITY": "the hotspot's security is not one the logger can join (use WPA2)",
    "E_NO_IP": "joined the hotspot but got no address",
    "E_JOIN_TIMEOUT": "could not join the hotspot in time",
    "E_NETWORK": "the logger could not reach the backend over the hotspot",
    "E_RATE_LIMIT": "too many pairing attempts: wait and try again",
    "E_BUSY": "a sync is already running",
    "E_RECORDING": "the logger is recording: sync once the car has stopped",
}


def _plain(code: str, detail: str) -> str:
    text = _PLAIN.get(code, "failed")
    return f"{code}: {text} ({detail})" if detail else f"{code}: {text}"


def _browser(args: argparse.Namespace, core: VirtualCore, out: _Output) -> int:
    try:
        from playwright.sync_api import Error as PlaywrightError
        from playwright.sync_api import sync_playwright
    except ImportError:
        out.say("racesense device-sim: the browser needs Playwright (pip install -e '.[dev]')")
        return EXIT_SETUP
    if not Path(args.chromium).exists():
        out.say(f"racesense device-sim: no Chromium at {args.chromium} (apt-get install chromium)")
        return EXIT_SETUP
    from racesense.devicesim.ble_bridge import CHROMIUM_ARGS, CdpBleBridge

    url = args.url or args.backend.rstrip("/") + "/"
    token = _token(args)
    if token and not args.url:
        url += f"#token={token}"
    commands = _stdin_commands()
    with sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=args.chromium,
            headless=args.headless,
            args=["--no-sandbox", "--disable-gpu", *CHROMIUM_ARGS],
        )
        page = browser.new_page()
        bridge = CdpBleBridge(page, core, mtu=args.mtu).start()
        try:
            page.goto(url)
        except PlaywrightError as exc:
            out.say(f"racesense device-sim: cannot open {url}: {exc.message.splitlines()[0]}")
            out.say("  (is `racesense serve` running there? --backend or --url)")
            browser.close()
            return EXIT_SETUP
        out.say(f"Chromium at {url}: the virtual RS-Core is its Bluetooth device.")
        out.say("Commands: on, off (the hotspot), drop (the BLE link), status, quit")
        try:
            while not page.is_closed():
                bridge.pump(0.1)
                command = commands.pop(0) if commands else None
                if command is None:
                    continue
                if command in ("quit", "exit", "q"):
                    break
                if command in ("on", "off"):
                    core.hotspot.switch(command == "on")
                    out.say(f"  hotspot {command}")
                elif command == "drop":
                    bridge.drop()
                    out.say("  BLE link dropped")
                elif command == "status":
                    out.say(f"  {core.status()}; pending {len(core.pending())} files")
                else:
                    out.say(f"  unknown command {command!r}")
        except KeyboardInterrupt:
            pass
        bridge.close()
        browser.close()
    return 0


def _stdin_commands() -> list[str]:
    """Lines typed on stdin, appended by a thread (the Playwright thread only pops). The
    end of stdin is not a quit: started with no terminal, it runs until Ctrl-C."""
    lines: list[str] = []

    def read() -> None:
        for line in sys.stdin:
            lines.append(line.strip().lower())

    threading.Thread(target=read, name="device-sim-stdin", daemon=True).start()
    return lines
