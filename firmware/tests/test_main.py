"""firmware/main.py on fake hardware, in virtual time (pytest and MicroPython): the watchdog
comes first, a missing SD card is waited for instead of ending at the REPL, failing tasks
are restarted with backoff, and the watchdog is fed only while every task is healthy."""

import asyncio
import os

from sync_fakes import FakeClock

import main


class FakeWDT:
    def __init__(self, clock):
        self.clock = clock
        self.feeds = []

    def feed(self):
        self.feeds.append(self.clock.now_ms)


class FakeHardware:
    """main.Hardware's surface: records the order of start-up steps."""

    def __init__(self, clock, card_after=0, link=None):
        self.clock = clock
        self.steps = []
        self.card_after = card_after  # mount attempts that fail first (no card yet)
        self.mounts = []
        self.wdt = FakeWDT(clock)
        self.link = link  # the BLE service's poll function (None: no BLE modules)
        self.device = None

    def device_id(self):
        return "RS-Core-7F3A"

    def watchdog(self):
        self.steps.append("watchdog")
        return self.wdt

    def mount_sd(self):
        self.steps.append("mount_sd")
        self.mounts.append(self.clock.now_ms)
        if len(self.mounts) <= self.card_after:
            raise OSError(19, "no SD card")  # what machine.SDCard raises without one
        try:
            os.mkdir("sd")
        except OSError:
            pass
        return "sd"

    def gnss(self):
        self.steps.append("gnss")
        return _Quiet()

    def imu(self):
        self.steps.append("imu")
        return None

    def start_link(self, device):
        self.steps.append("link")
        self.device = device
        return None if self.link is None else _Service(self.link)


class _Service:
    """What start_link returns: the BLE service's poll() and working."""

    def __init__(self, poll):
        self.poll = poll
        self.working = False


class _Quiet:
    """A GNSS UART with nothing to say (the car stands in the garage)."""

    def readinto(self, buf):
        return None


async def _run_main(hardware, clock, until, limit_ms=600000):
    logs = []
    task = asyncio.create_task(main.main(hardware, clock, log=logs.append))
    start = clock.now_ms
    while not until() and clock.now_ms - start < limit_ms:
        await asyncio.sleep(0)
    task.cancel()
    try:
        await task
    except asyncio.CancelledError:
        pass
    return logs


async def test_watchdog_first_and_a_missing_card_is_waited_for():
    clock = FakeClock()
    polls = []
    hardware = FakeHardware(clock, card_after=3, link=lambda: polls.append(clock.now_ms))

    def logging():
        return hardware.device is not None and hardware.device.logger is not None

    logs = await _run_main(hardware, clock, logging)
    assert logging(), hardware.steps
    assert hardware.steps[0] == "watchdog"  # before anything that can hang
    assert hardware.steps.count("mount_sd") == 4
    mounts = hardware.mounts
    gaps = [mounts[i + 1] - mounts[i] for i in range(len(mounts) - 1)]
    assert gaps[0] >= 1000 and gaps[1] >= 2000 and gaps[2] >= 4000, gaps  # backoff
    assert any("logger failed" in line and "no SD card" in line for line in logs), logs
    assert polls  # BLE ran all along, card or not
    assert hardware.wdt.feeds  # waiting for a card is healthy: no reset loop


async def test_the_info_says_recording_and_storage_error_without_a_card():
    clock = FakeClock()
    hardware = FakeHardware(clock, card_after=10**6, link=lambda: None)
    await _run_main(hardware, clock, lambda: hardware.device is not None)
    device = hardware.device
    try:
        device.info()
    except OSError:
        pass  # the BLE service publishes storage_error
    else:
        raise AssertionError("info without a card")
    assert device.recording is False


async def test_a_failing_ble_poll_is_restarted_and_the_watchdog_kept_fed():
    clock = FakeClock()
    calls = []

    def poll():
        calls.append(clock.now_ms)
        if len(calls) in (3, 4):
            raise ValueError("a bad message")  # a bug in the BLE code

    hardware = FakeHardware(clock, link=poll)
    logs = await _run_main(hardware, clock, lambda: len(calls) >= 50)
    assert len(calls) >= 50  # BLE carried on after the failures
    failures = [line for line in logs if "link failed" in line]
    assert len(failures) == 2 and "a bad message" in failures[0]
    assert "again in 1000 ms" in failures[0] and "again in 2000 ms" in failures[1]
    assert calls[3] - calls[2] >= 1000 and calls[4] - calls[3] >= 2000
    assert hardware.steps.count("link") == 1  # the service is kept, only its loop restarts
    feeds = hardware.wdt.feeds
    # Fed on through the backoffs (a failure is handled, not a hang) and after them.
    assert [t for t in feeds if calls[2] < t < calls[4]] and feeds[-1] > calls[4]


async def test_no_ble_modules_means_logging_alone():
    clock = FakeClock()
    hardware = FakeHardware(clock, link=None)
    await _run_main(hardware, clock, lambda: len(hardware.wdt.feeds) >= 5)
    assert len(hardware.wdt.feeds) >= 5  # the retired link does not stop the feeding
    assert hardware.device.logger is not None


async def test_a_failing_logger_is_replaced_with_a_fresh_one():
    clock = FakeClock()
    hardware = FakeHardware(clock, link=lambda: None)
    loggers = []

    class Flaky(_Quiet):
        reads = 0

        def readinto(self, buf):
            Flaky.reads += 1
            if Flaky.reads == 10:
                raise ValueError("UART glitch")
            return None

    hardware.gnss = lambda: Flaky()

    def two_loggers():
        device = hardware.device
        if device is not None and device.logger is not None and device.logger not in loggers:
            loggers.append(device.logger)
        return len(loggers) >= 2

    logs = await _run_main(hardware, clock, two_loggers)
    assert len(loggers) == 2
    assert any("logger failed" in line and "UART glitch" in line for line in logs)


async def test_a_stuck_task_stops_the_feeding():
    clock = FakeClock()
    supervisor = main.Supervisor(clock, log=lambda m: None, stale_ms=5000)
    wdt = FakeWDT(clock)
    stuck = asyncio.Event()

    async def beating():
        while True:
            supervisor.beat("beating")
            await clock.sleep_ms(100)

    async def hangs():
        await stuck.wait()  # never set: no beat, no exception

    tasks = [
        supervisor.supervise("beating", beating),
        supervisor.supervise("hangs", hangs),
        asyncio.create_task(main.feed_watchdog(wdt, supervisor, clock)),
    ]
    start = clock.now_ms
    while clock.now_ms - start < 20000:
        await asyncio.sleep(0)
    for task in tasks:
        task.cancel()
    for task in tasks:
        try:
            await task
        except asyncio.CancelledError:
            pass
    assert wdt.feeds and wdt.feeds[0] - start < 1000  # healthy at first
    assert wdt.feeds[-1] - start <= 5000 + main.FEED_MS  # then never again: a reset
    assert not supervisor.healthy()


def test_the_real_hardware_wiring_on_a_board_without_radio_imu_or_card():
    """main.Hardware against the `machine` stand-in (tests/stubs): no radio, no IMU
    answering, no card."""
    hardware = main.Hardware()
    assert hardware.device_id() == "RS-Core-7F3A"
    assert hardware.watchdog().timeout == main.WATCHDOG_MS
    assert hardware.gnss().readinto(bytearray(8)) is None
    assert hardware.imu() is None  # no IMU answering: logging goes on without it
    try:
        hardware.mount_sd()
    except OSError:
        pass  # no card: run_logger tries again later
    else:
        raise AssertionError("mounted a card that is not there")
    device = main.Device("RS-Core-7F3A", FakeClock(), main.Supervisor(FakeClock()))
    # No bluetooth module here: the link does not start, and says so instead of raising.
    assert hardware.start_link(device) is None


class _FakeBLE:
    """bluetooth.BLE as board/ble_radio.py uses it: records what the service writes."""

    def __init__(self):
        self.values = {}
        self.advertising = 0

    def active(self, *args):
        return True

    def config(self, **kwargs):
        pass

    def irq(self, handler):
        self.handler = handler

    def gatts_register_services(self, services):
        handles = []
        n = 0
        for _uuid, chars in services:
            row = []
            for _char in chars:
                n += 1
                row.append(n)
            handles.append(tuple(row))
        return tuple(handles)

    def gatts_set_buffer(self, handle, size, append=False):
        pass

    def gatts_write(self, handle, data):
        self.values[handle] = bytes(data)

    def gatts_read(self, handle):
        return self.values.get(handle, b"")

    def gatts_notify(self, conn, handle, data):
        pass

    def gap_advertise(self, interval_us, adv_data=None, resp_data=None, connectable=True):
        self.advertising += 1

    def gap_disconnect(self, conn):
        pass


class _Module:
    def __init__(self, **attrs):
        for name, value in attrs.items():
            setattr(self, name, value)


def _uuid(text):
    import binascii

    return binascii.unhexlify(text.replace("-", ""))


def test_start_link_wires_the_real_ble_service_and_sync():
    """start_link through the real ble_provisioning, board/ble_radio, sync and uploader,
    with `bluetooth` and `network` stand-ins in sys.modules (as micropython-lib's tests
    put a fake socket there): the constructors' signatures and the info it publishes."""
    import json
    import sys

    from sync_fakes import FakeWLAN, Network

    ble = _FakeBLE()
    clock = FakeClock()
    fakes = {
        "bluetooth": _Module(BLE=lambda: ble, UUID=_uuid),
        "network": _Module(STA_IF=0, WLAN=lambda iface: FakeWLAN(clock, [Network("pit")])),
    }
    if sys.implementation.name != "micropython":
        fakes["micropython"] = _Module(const=lambda value: value)
    saved = {}
    for name, module in fakes.items():
        saved[name] = sys.modules.get(name)
        sys.modules[name] = module
    main.PAIRING_CODE_PATH = "pairing_code.txt"  # not the root of the test machine
    try:
        os.mkdir("sd")
        device = main.Device("RS-Core-7F3A", clock, main.Supervisor(clock))
        device.store = main.storage.Storage(
            "sd", statvfs=lambda p: (512, 512, 8, 8, 8, 0, 0, 0, 0, 255)
        )
        service = main.start_link(device)
        assert service is not None and not service.working
        for _ in range(3):
            service.poll()
    finally:
        for name, module in saved.items():
            if module is None:
                del sys.modules[name]
            else:
                sys.modules[name] = module
        sys.modules.pop("board.ble_radio", None)
        # The package keeps its submodule as an attribute too: without this, a later
        # `from board import ble_radio` in the same process gets the one built on the
        # stand-in `bluetooth` above (its UUIDs in another byte order).
        package = sys.modules.get("board")
        if package is not None and "ble_radio" in dir(package):
            try:
                delattr(package, "ble_radio")
            except (AttributeError, TypeError):
                pass
    assert ble.advertising >= 1
    with open("pairing_code.txt") as f:
        assert len(f.read().strip()) == 8  # made once the radio was on
    infos = [v for v in ble.values.values() if v.startswith(b"{") and b"device_id" in v]
    info = json.loads(infos[-1])
    assert info["device_id"] == "RS-Core-7F3A" and info["recording"] is False
    assert info["pending_files"] == 0
