"""The virtual RS-Core: the firmware's own main.main() on this host, in a thread.

Threads and loops:
- the firmware thread ("rs-core") runs one asyncio loop, as the board does: main.main()
  with its watchdog feeder, its supervisor, the logger task (the real Logger, whose GNSS
  never has a fix: the car stands in the garage) and the link task (the real BLE service,
  polled every 20 ms, with the Wi-Fi sync behind it);
- the firmware's own helper threads: board.net.background runs each Wi-Fi scan and name
  lookup on a thread, as on the board;
- the caller's threads never touch firmware objects directly. They talk to the radio
  (radio.HostRadio: a lock, queues, stored values), switch the hotspot (plain values),
  or run a function on the firmware's loop with call().

What the board gives main.main() is _SimHardware: the device id from the config, a
watchdog that counts its feeds, the storage directory for the SD card, a silent GNSS, no
IMU, and start_link() with main.start_link's wiring (keep the two in step) on the
virtual radio, the virtual station and the real socket adapter behind GatedNet.

    core = VirtualCore(SimConfig(storage_dir=Path("sd")))
    with core:                      # start(): firmware up, BLE service registered
        print(core.device_id, core.pairing_code)
        core.hotspot.switch(True)
        link = core.link()          # a phone in this process (radio.LocalLink)
        ...
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar

from racesense.devicesim import deflate as deflate_standin
from racesense.devicesim import firmware
from racesense.devicesim.radio import HostRadio, LocalLink
from racesense.devicesim.wifi import GatedNet, SimWLAN, VirtualHotspot

T = TypeVar("T")
FLASH_DIR_NAME = ".rs-core-flash"  # the internal flash (pairing code), beside the sessions
PAIRING_CODE_FILE = "pairing_code.txt"
PACE_FILE = "link_pace.txt"  # main.PACE_PATH's: what the uploader measured (gzip_body)


@dataclass
class SimConfig:
    """What makes one virtual RS-Core. Timings in milliseconds; None: the firmware's own."""

    storage_dir: Path  # the SD card's sessions directory
    device_id: str = "RS-Core-51M0"
    pairing_code: str | None = None  # None: made on first start and kept, as on the board
    flash_dir: Path | None = None  # default: storage_dir / FLASH_DIR_NAME
    hotspot: VirtualHotspot = field(default_factory=VirtualHotspot)
    assoc_ms: float = 800
    dhcp_ms: float = 200
    attempt_ms: float = 1500  # one driver attempt that ends in a failure reason
    scan_ms: float = 1500  # an ESP32's active scan of every channel
    join_deadline_ms: int | None = None  # Sync's; protocol.json sync_join_deadline_ms
    join_stable_ms: int | None = None  # Sync's; the link must hold this long
    tls: bool = True  # BLE info's `tls`: uploads over https with a pin (CPython has it)
    # A build that can gzip (devicesim/deflate.py) and its compressor's rate; None: the
    # ESP32 port's default build, which cannot.
    deflate_bytes_per_s: float | None = None
    compress: str = "auto"  # the uploader's: auto, on, off
    echo: Callable[[str], None] | None = None  # also hand each console line here


class _Watchdog:
    """machine.WDT: counts feeds; nothing resets a host, a starved one is reported."""

    def __init__(self) -> None:
        self.feeds = 0
        self.last_feed_s = time.monotonic()

    def feed(self) -> None:
        self.feeds += 1
        self.last_feed_s = time.monotonic()


class _SilentGnss:
    """A GNSS UART with nothing to say."""

    def readinto(self, buf: bytearray) -> None:
        return None


class _SimHardware:
    """main.Hardware's surface for main.main()."""

    def __init__(self, core: VirtualCore) -> None:
        self._core = core

    def device_id(self) -> str:
        return self._core.config.device_id

    def watchdog(self) -> _Watchdog:
        return self._core.watchdog

    def mount_sd(self) -> str:
        return str(self._core.config.storage_dir)

    def gnss(self) -> _SilentGnss:
        return _SilentGnss()

    def imu(self) -> None:
        return None

    def start_link(self, device: Any) -> Any:
        """main.start_link's wiring, on the virtual radio and station."""
        core = self._core
        fw = core.fw
        cfg = core.config
        ident = device.ident
        clock = device.clock
        log = core.log
        net = GatedNet(fw.net.SocketNet(_socket(), ssl_mod=_ssl()), core.wlan, fw.net.inline)
        device.tls = cfg.tls and fw.net.tls_capable(_ssl())
        deflate = None
        if cfg.deflate_bytes_per_s is not None:
            deflate = deflate_standin.module(cfg.deflate_bytes_per_s)
        pace = fw.gzip_body.Pace(str(core.flash_dir / PACE_FILE), log=log)
        up = fw.uploader.Uploader(
            net, clock, device_id=ident, log=log, deflate=deflate, compress=cfg.compress, pace=pace
        )
        prov = None

        def relay(status: dict[str, Any]) -> None:
            if prov is not None:
                prov.relay(status)

        extra: dict[str, Any] = {}
        if cfg.join_deadline_ms is not None:
            extra["join_deadline_ms"] = cfg.join_deadline_ms
        if cfg.join_stable_ms is not None:
            extra["join_stable_ms"] = cfg.join_stable_ms
        sync = fw.sync.Sync(
            core.wlan,
            up,
            device,
            clock,
            notify=relay,
            logger=device,
            background=fw.net.background,
            log=log,
            **extra,
        )
        code_path = str(core.flash_dir / PAIRING_CODE_FILE)
        prov = fw.ble_provisioning.Provisioning(
            core.radio,
            device.info,
            lambda: fw.rs_pairing.load_or_create(code_path, ident, log=log),
            start_sync=sync.start,
            cancel_sync=sync.cancel,
            sync_busy=sync.busy,
            sync_status=sync.status,
            on_disconnect=sync.ble_disconnected,
            clock_ms=clock.ticks_ms,
            log=log,
        )
        core.device, core.sync, core.service, core.net = device, sync, prov, net
        core.linked.set()
        return prov


# ESP-IDF's lwIP default TCP send buffer (CONFIG_LWIP_TCP_SND_BUF_DEFAULT): a logger's
# send returns once its bytes fit there, so what it has "sent" is at most this much ahead
# of the link. A host socket's buffer grows to megabytes, which on a slow link would let
# the uploader finish "sending" long before the bytes arrive, and time out waiting for
# the reply the board would long have had.
LWIP_TCP_SND_BUF = 5744


class _LwipSockets:
    """The socket module, with the board's small send buffer on every TCP socket."""

    def __init__(self) -> None:
        import socket

        self._socket = socket

    def __getattr__(self, name: str) -> Any:
        return getattr(self._socket, name)

    def socket(self, *args: Any, **kwargs: Any) -> Any:
        sock = self._socket.socket(*args, **kwargs)
        if sock.type == self._socket.SOCK_STREAM:
            sock.setsockopt(self._socket.SOL_SOCKET, self._socket.SO_SNDBUF, LWIP_TCP_SND_BUF)
        return sock


def _socket() -> Any:
    return _LwipSockets()


def _ssl() -> Any:
    import ssl

    return ssl


class VirtualCore:
    """One virtual RS-Core (see the module docstring)."""

    def __init__(self, config: SimConfig) -> None:
        self.fw = firmware.load()  # FirmwareUnavailable without a source checkout
        self.config = config
        config.storage_dir = Path(config.storage_dir).resolve()
        self.flash_dir = (config.flash_dir or config.storage_dir / FLASH_DIR_NAME).resolve()
        self.hotspot = config.hotspot
        self.radio = HostRadio(self.fw.ble_provisioning.device_name(config.device_id))
        self.wlan = SimWLAN(
            config.hotspot,
            assoc_ms=config.assoc_ms,
            dhcp_ms=config.dhcp_ms,
            attempt_ms=config.attempt_ms,
            scan_ms=config.scan_ms,
        )
        self.watchdog = _Watchdog()
        self.console: list[str] = []
        # Set on the firmware's loop by _SimHardware.start_link:
        self.device: Any = None
        self.sync: Any = None
        self.service: Any = None
        self.net: GatedNet | None = None
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._error: BaseException | None = None
        self._done = threading.Event()
        self.linked = threading.Event()  # the BLE service and the sync are wired

    # -- life ------------------------------------------------------------------------------

    def start(self, timeout_s: float = 20.0) -> VirtualCore:
        """Boot the firmware; returns once its BLE service is registered."""
        if self._thread is not None:
            raise RuntimeError("this virtual RS-Core has already started")
        self.config.storage_dir.mkdir(parents=True, exist_ok=True)
        self.flash_dir.mkdir(parents=True, exist_ok=True)
        if self.config.pairing_code is not None:
            code = self.fw.rs_pairing.normalize(self.config.pairing_code)
            (self.flash_dir / PAIRING_CODE_FILE).write_text(code + "\n")
        loop_ready = threading.Event()
        self._thread = threading.Thread(
            target=self._run, args=(loop_ready,), name="rs-core", daemon=True
        )
        self._thread.start()
        loop_ready.wait(timeout_s)
        if not self.linked.wait(timeout_s):
            self.stop()
            tail = "\n".join(self.console[-10:])
            raise RuntimeError(f"the firmware's BLE service did not start:\n{tail}")
        return self

    def stop(self, timeout_s: float = 10.0) -> None:
        """Stop the firmware (its tasks are cancelled: a running sync ends, Wi-Fi off)."""
        loop, stop = self._loop, self._stop
        if loop is not None and stop is not None and not self._done.is_set():
            with contextlib.suppress(RuntimeError):  # the loop has ended already
                loop.call_soon_threadsafe(stop.set)
        if self._thread is not None:
            self._thread.join(timeout_s)
        if self._error is not None:
            error, self._error = self._error, None
            raise RuntimeError("the virtual RS-Core's loop failed") from error

    def __enter__(self) -> VirtualCore:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def _run(self, loop_ready: threading.Event) -> None:
        try:
            asyncio.run(self._main(loop_ready))
        except BaseException as exc:  # kept for stop() to raise on the caller's thread
            self._error = exc
        finally:
            self._done.set()

    async def _main(self, loop_ready: threading.Event) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        loop_ready.set()
        clock = self.fw.clock.SystemClock()
        main = asyncio.create_task(self.fw.main.main(_SimHardware(self), clock, log=self.log))
        stop = asyncio.create_task(self._stop.wait())
        await asyncio.wait((main, stop), return_when=asyncio.FIRST_COMPLETED)
        if main.done():
            stop.cancel()
            main.result()  # main.main never ends on its own: raise what ended it
            return
        main.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await main

    # -- what the caller uses --------------------------------------------------------------

    def log(self, line: str) -> None:
        """The firmware's console."""
        self.console.append(line)
        if self.config.echo is not None:
            self.config.echo(line)

    @property
    def running(self) -> bool:
        return self._thread is not None and not self._done.is_set()

    def call(self, fn: Callable[..., T], *args: Any, timeout_s: float = 10.0) -> T:
        """fn(*args) on the firmware's loop (its objects are the loop's alone)."""
        loop = self._loop
        if loop is None or self._done.is_set():
            raise RuntimeError("the virtual RS-Core is not running")
        result: concurrent.futures.Future[T] = concurrent.futures.Future()

        def run() -> None:
            try:
                result.set_result(fn(*args))
            except BaseException as exc:  # handed to the caller
                result.set_exception(exc)

        loop.call_soon_threadsafe(run)
        return result.result(timeout_s)

    @property
    def device_id(self) -> str:
        return self.config.device_id

    @property
    def ble_name(self) -> str:
        """The advertised name, RS-Core-XXXX."""
        return self.radio.name

    @property
    def pairing_code(self) -> str:
        """The 8 digits on the label (kept on the virtual internal flash)."""
        return (self.flash_dir / PAIRING_CODE_FILE).read_text().strip()

    @property
    def qr_payload(self) -> str:
        return str(self.fw.rs_pairing.qr_payload(self.device_id, self.pairing_code))

    def status(self) -> dict[str, Any]:
        """The sync's latest status (sync.Sync.status()), as a phone would read it."""
        return dict(self.call(lambda: self.sync.status()))

    def pending(self) -> list[tuple[str, int]]:
        """[(path, size_bytes)] not yet acknowledged by the laptop, oldest first."""
        return [(str(p), int(s)) for p, s in self.call(lambda: self.device.pending())]

    def added(self, path: Path) -> None:
        """A file was put on the card while running: the storage lists it from now on."""
        self.call(lambda: self.device.card().close_session(str(path)))

    def link(self) -> LocalLink:
        """A phone's BLE link in this process (no browser)."""
        rs = self.fw.rs_protocol
        return LocalLink(self.radio, rs.STATUS_UUID, rs.CONTROL_UUID)

    def wait_for(
        self, predicate: Callable[[], bool], timeout_s: float, poll_s: float = 0.05
    ) -> bool:
        deadline = time.monotonic() + timeout_s
        while not predicate():
            if time.monotonic() > deadline:
                return False
            time.sleep(poll_s)
        return True
