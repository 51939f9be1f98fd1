"""RS-Core's entry point (MicroPython runs main.py after boot): the logger, and the BLE sync
request service with the Wi-Fi sync behind it, on one asyncio loop, each supervised.

Start-up, in this order:
1. the watchdog, first: every later step talks to hardware that can hang (the SD card,
   the I2C bus, the radio), and a hang there must end in a reset, not a dead logger;
2. the watchdog's feeder and the supervisor;
3. the logger: mounts the card and starts logging. Without a card (none, or one that
   does not mount) it tries again with backoff instead of stopping at the REPL: the
   device stays up and reachable over BLE, whose info says the card is missing;
4. the link: BLE sync requests and the Wi-Fi sync. If its modules are missing or it
   cannot start, logging goes on alone (and says so on the console).

Supervision (Supervisor): each long-running task runs under supervise(). An exception
is logged and the task starts again after a backoff (1 s, doubling to a minute; back to
1 s after a minute of health), so one bad BLE message does not end BLE for the day. The
watchdog is fed only from a healthy loop: the feeder runs only while the loop turns,
and feeds only while every task is beating (its heartbeat younger than stale_ms) or
waiting out a backoff. A task stuck without raising stops the feeding: the chip resets.

The pairing code (rs_pairing) is made on first boot once the radio is on (the ESP32's
RNG needs RF entropy), kept on the internal flash, and printed then, for the label.
"""

import asyncio

import machine

import logger
import storage
from board import gnss as board_gnss
from board import imu as board_imu
from board import storage as board_storage
from clock import SystemClock

FIRMWARE_VERSION = "0.1.0"
DEVICE_ID_PREFIX = "RS-Core-"
PAIRING_CODE_PATH = "/pairing_code.txt"
PACE_PATH = "/link_pace.txt"  # the uploader's measured link and gzip rates (gzip_body)
BLE_POLL_MS = 20
WATCHDOG_MS = 30000  # longer than the slowest start-up step (mounting a slow card)
FEED_MS = 1000
STALE_MS = 10000  # a task that has not beaten for this long is stuck
FIRST_BACKOFF_MS = 1000
MAX_BACKOFF_MS = 60000
HEALTHY_RESET_MS = 60000  # a task that ran this long before failing starts over at 1 s

_RUNNING = "running"
_BACKOFF = "backoff"
_RETIRED = "retired"


class Supervisor:
    """Runs tasks, restarts the ones that fail, and says whether all are healthy."""

    def __init__(
        self,
        clock,
        log=print,
        first_backoff_ms=FIRST_BACKOFF_MS,
        max_backoff_ms=MAX_BACKOFF_MS,
        stale_ms=STALE_MS,
    ):
        self._clock = clock
        self._log = log
        self.first_backoff_ms = first_backoff_ms
        self.max_backoff_ms = max_backoff_ms
        self.stale_ms = stale_ms
        self.tasks = {}  # name -> [state, last beat ms, failures, last error]

    def supervise(self, name, factory):
        """Run `await factory()` as a task, again and again if it fails."""
        self.tasks[name] = [_RUNNING, self._clock.ticks_ms(), 0, None]
        return asyncio.create_task(self._run(name, factory))

    def beat(self, name):
        """A task says it is making progress."""
        self.tasks[name][1] = self._clock.ticks_ms()

    def retire(self, name):
        """A task that cannot run on this device (no BLE): no longer supervised."""
        self.tasks[name][0] = _RETIRED

    def healthy(self):
        now = self._clock.ticks_ms()
        for entry in self.tasks.values():
            if entry[0] == _RUNNING and self._clock.ticks_diff(now, entry[1]) > self.stale_ms:
                return False
        return True

    async def _run(self, name, factory):
        clock = self._clock
        entry = self.tasks[name]
        backoff_ms = self.first_backoff_ms
        while True:
            entry[0] = _RUNNING
            entry[1] = started = clock.ticks_ms()
            try:
                await factory()
                if entry[0] == _RETIRED:
                    return
                error = "it returned"  # a task meant to run forever that ended
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # any bug: logged, and the task starts again
                error = repr(exc)
            entry[2] += 1
            entry[3] = error
            if clock.ticks_diff(clock.ticks_ms(), started) >= HEALTHY_RESET_MS:
                backoff_ms = self.first_backoff_ms
            self._log(
                "main: "
                + name
                + " failed ("
                + error
                + "), failure "
                + str(entry[2])
                + ", again in "
                + str(backoff_ms)
                + " ms"
            )
            entry[0] = _BACKOFF
            await clock.sleep_ms(backoff_ms)
            backoff_ms = min(backoff_ms * 2, self.max_backoff_ms)


async def feed_watchdog(wdt, supervisor, clock, period_ms=FEED_MS):
    # If any task blocks the loop, this stops running; if one is stuck, it stops feeding:
    # either way the watchdog resets the chip.
    while True:
        if supervisor.healthy():
            wdt.feed()
        await clock.sleep_ms(period_ms)


class Hardware:
    """What main needs of the board; tests hand in stand-ins (tests/test_main.py)."""

    def device_id(self):
        """RS-Core-XXXX from the chip's unique id (its last two bytes, in hex)."""
        uid = machine.unique_id()
        return DEVICE_ID_PREFIX + f"{uid[-2]:02X}{uid[-1]:02X}"

    def watchdog(self):
        return machine.WDT(timeout=WATCHDOG_MS)

    def mount_sd(self):
        return board_storage.mount_sd()

    def gnss(self):
        return board_gnss.Gnss()

    def imu(self):
        return board_imu.open_imu()

    def start_link(self, device):
        return start_link(device)


class Device:
    """The running device's parts, shared by its tasks: whichever logger and card are
    current (a failed logger is replaced; a card may come later)."""

    def __init__(self, ident, clock, supervisor, log=print):
        self.ident = ident
        self.clock = clock
        self.supervisor = supervisor
        self.log = log
        self.store = None
        self.logger = None
        self.gnss = None
        self.imu = None
        self.tls = False  # https with a pinned certificate (board.net.tls_capable)

    # -- what the sync and the BLE info read (the current logger and card) ---------------

    @property
    def recording(self):
        return self.logger is not None and self.logger.recording

    def end_if_standing(self, min_standing_ms):
        return self.logger is not None and self.logger.end_if_standing(min_standing_ms)

    def card(self):
        if self.store is None:
            raise OSError(19, "no SD card mounted")  # ENODEV: info shows storage_error
        return self.store

    def pending(self):
        return self.card().pending()

    def mark_synced(self, path, sha256_hex):
        return self.card().mark_synced(path, sha256_hex)

    def info(self):
        """The device info the BLE service publishes (before pairing)."""
        out = {"firmware": FIRMWARE_VERSION, "recording": self.recording, "tls": self.tls}
        count, total = self.card().pending_summary()
        out["pending_files"] = count
        out["pending_bytes"] = total
        out["free_bytes"] = self.card().free_bytes()
        return out


async def run_logger(device, hardware):
    """Mount the card (OSError: no card yet, tried again), then log for ever."""
    if device.store is None:
        device.store = storage.Storage(hardware.mount_sd())
    if device.gnss is None:
        device.gnss = hardware.gnss()
        device.imu = hardware.imu()
    old = device.logger
    if old is not None:  # the last one failed: end its session (it stays pending)
        device.logger = None
        try:
            old.close()
        except Exception as exc:
            device.log("main: closing the failed logger: " + repr(exc))
    clock = device.clock
    device.logger = log = logger.Logger(
        device.gnss, device.imu, clock, device.store, device.ident, FIRMWARE_VERSION
    )
    beat = device.supervisor.beat
    while True:
        log.poll()
        beat("logger")
        await clock.sleep_ms(logger.POLL_MS)


async def run_link(device, hardware, state):
    """Start the BLE service and the Wi-Fi sync once, then poll it for ever."""
    if state.get("service") is None:
        service = hardware.start_link(device)
        if service is None:
            device.supervisor.retire("link")
            return
        state["service"] = service
    service = state["service"]
    beat = device.supervisor.beat
    sleep_ms = device.clock.sleep_ms
    while True:  # polled, not woken: progress notifications are due on a timer too
        service.poll()
        beat("link")
        # A pairing handshake computes in slices: the next one at once, so the phone
        # waits only for the arithmetic (each slice is short: the GNSS loop runs between).
        await sleep_ms(0 if service.working else BLE_POLL_MS)


def start_link(device):
    """BLE sync requests (protocol v2) and the Wi-Fi sync; returns the BLE service (its
    poll() and working), or None, logged, when their modules are missing: the logger
    goes on alone."""
    try:
        import socket
        import ssl

        import network

        import ble_provisioning
        import gzip_body
        import rs_pairing
        import sync as sync_module
        import uploader
        from board.ble_radio import BleRadio
        from board.net import SocketNet, background, tls_capable
    except ImportError as exc:
        print("main: no BLE/sync (" + repr(exc) + "): logging only")
        return None
    ident = device.ident
    clock = device.clock
    device.tls = tls_capable(ssl)
    radio = BleRadio(ble_provisioning.device_name(ident))
    try:
        import deflate  # compresses only in a build with MICROPY_PY_DEFLATE_COMPRESS
    except ImportError:
        deflate = None
    up = uploader.Uploader(
        SocketNet(socket, ssl_mod=ssl),
        clock,
        device_id=ident,
        deflate=deflate,
        pace=gzip_body.Pace(PACE_PATH),
    )
    prov = None

    def relay(status):
        if prov is not None:
            prov.relay(status)

    sync = sync_module.Sync(
        network.WLAN(network.STA_IF),
        up,
        device,  # pending/mark_synced on whichever card is mounted
        clock,
        notify=relay,
        logger=device,  # recording/end_if_standing of whichever logger runs
        background=background,
    )
    prov = ble_provisioning.Provisioning(
        radio,
        device.info,
        # Called once the radio is registered: a first boot's code needs RF entropy.
        lambda: rs_pairing.load_or_create(PAIRING_CODE_PATH, ident),
        start_sync=sync.start,
        cancel_sync=sync.cancel,
        sync_busy=sync.busy,
        sync_status=sync.status,
        on_disconnect=sync.ble_disconnected,
        clock_ms=clock.ticks_ms,  # the one clock
    )
    return prov


async def main(hardware=None, clock=None, log=print):
    hardware = hardware or Hardware()
    clock = clock or SystemClock()
    wdt = hardware.watchdog()  # before anything that can hang
    supervisor = Supervisor(clock, log=log)
    tasks = [asyncio.create_task(feed_watchdog(wdt, supervisor, clock))]
    device = Device(hardware.device_id(), clock, supervisor, log=log)
    tasks.append(supervisor.supervise("logger", lambda: run_logger(device, hardware)))
    await clock.sleep_ms(0)  # the logger's first poll before the link's start-up
    link_state = {}
    tasks.append(supervisor.supervise("link", lambda: run_link(device, hardware, link_state)))
    try:
        await asyncio.Event().wait()  # for ever: the tasks do the work, main holds them
    finally:
        for task in tasks:
            task.cancel()


if __name__ == "__main__":
    asyncio.run(main())
