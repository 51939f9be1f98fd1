"""RS-Core's entry point (MicroPython runs main.py after boot): the logger, and the BLE
sync request service with the Wi-Fi sync behind it, on one asyncio loop.

Logging comes first: it starts before anything else, and if the BLE or sync modules are
missing or fail to start, the device still logs (and says so on the console).

First boot: a pairing code is made (rs_crypto.new_pairing_code), kept in PAIRING_CODE_PATH
on the internal flash (not on the SD card, which can be swapped), and printed on the
console to be written on the device's label. Every boot prints it again, so a label can
be reprinted from a serial console.
"""

import asyncio
import os
import time

import machine

import logger
import storage
from board import gnss as board_gnss
from board import imu as board_imu
from board import storage as board_storage

FIRMWARE_VERSION = "0.1.0"
DEVICE_ID_PREFIX = "RS-Core-"
PAIRING_CODE_PATH = "/pairing_code.txt"
BLE_POLL_MS = 20
WATCHDOG_MS = 30000  # longer than the slowest step (deriving the pairing keys at boot)
RESTART_DELAY_MS = 5000


class Clock:
    """The interface logger, sync and uploader take: wrapping ticks, always ticks_diff."""

    def ticks_ms(self):
        return time.ticks_ms()

    def ticks_diff(self, new, old):
        return time.ticks_diff(new, old)

    def sleep_ms(self, ms):
        return asyncio.sleep_ms(ms)


def device_id():
    """RS-Core-XXXX from the chip's unique id (its last two bytes, in hex)."""
    uid = machine.unique_id()
    return DEVICE_ID_PREFIX + f"{uid[-2]:02X}{uid[-1]:02X}"


def pairing_code():
    """The stored pairing code, made on first boot. Returns (code, made_now)."""
    try:
        with open(PAIRING_CODE_PATH) as f:
            code = f.read().strip()
        if code:
            return code, False
    except OSError:
        pass
    import rs_crypto

    code = rs_crypto.new_pairing_code(os.urandom)
    with open(PAIRING_CODE_PATH, "w") as f:
        f.write(code + "\n")
    return code, True


def announce(ident):
    """The pairing code (first boot: make it and show it once, for the label; it is a
    secret, so later boots do not print it). None, logged, if rs_crypto is not there:
    no BLE sync then, but logging goes on."""
    try:
        import rs_crypto

        code, first_boot = pairing_code()
        label = rs_crypto.format_pairing_code(code)
    except (ImportError, OSError, ValueError) as exc:
        print("main: no pairing code (" + repr(exc) + "): BLE sync disabled")
        return None
    if first_boot:
        print("First boot: write this pairing code on the device's label.")
        print(ident + " pairing code: " + label)
    return code


def start_link(ident, code, store, clock):
    """BLE sync requests and the Wi-Fi sync (the teammates' modules), as a task; None,
    logged, when they cannot start: the logger goes on alone."""
    try:
        import socket
        import ssl

        import network

        import ble_provisioning
        import rs_crypto
        import sync as sync_module
        import uploader
        from board.ble_radio import BleRadio
    except ImportError as exc:
        print("main: no BLE/sync (" + repr(exc) + "): logging only")
        return None

    def device_info():
        count, total = store.pending_summary()
        return {
            "device_id": ident,
            "firmware": FIRMWARE_VERSION,
            "pending_files": count,
            "pending_bytes": total,
            "free_bytes": store.free_bytes(),
        }

    keys = rs_crypto.derive_keys(code, ident)  # PBKDF2: seconds on an ESP32, once per boot
    radio = BleRadio(ble_provisioning.device_name(ident))
    up = uploader.Uploader(socket, clock, ssl_mod=ssl, device_id=ident)
    prov = None

    def relay(status):
        if prov is not None:
            prov.relay(status)

    sync = sync_module.Sync(network.WLAN(network.STA_IF), up, store, clock, notify=relay)
    prov = ble_provisioning.Provisioning(
        radio,
        device_info,
        keys,
        start_sync=sync.start,
        cancel_sync=sync.cancel,
        sync_busy=sync.busy,
        sync_status=sync.status,
        on_disconnect=sync.ble_disconnected,
    )

    async def serve():
        while True:  # polled, not woken: progress notifications are due on a timer too
            prov.poll()
            await asyncio.sleep_ms(BLE_POLL_MS)

    return asyncio.create_task(serve())


async def feed_watchdog(wdt):
    # If any task blocks the loop, this stops running and the watchdog resets the chip.
    while True:
        wdt.feed()
        await asyncio.sleep_ms(1000)


async def main():
    ident = device_id()
    code = announce(ident)
    store = storage.Storage(board_storage.mount_sd())
    clock = Clock()
    log = logger.Logger(
        board_gnss.Gnss(), board_imu.open_imu(), clock, store, ident, FIRMWARE_VERSION
    )
    logging = asyncio.create_task(log.run())
    background = []  # the tasks besides logging, referenced for as long as main runs
    await asyncio.sleep_ms(0)  # the logger's first poll before the slow key derivation
    if code is not None:
        try:
            background.append(start_link(ident, code, store, clock))
        except Exception as exc:  # a BLE/sync bug must not stop the logging
            print("main: BLE/sync failed to start: " + repr(exc))
    background.append(asyncio.create_task(feed_watchdog(machine.WDT(timeout=WATCHDOG_MS))))
    try:
        await logging
    except Exception as exc:  # a logger bug: start clean (the open session stays pending)
        print("main: logger stopped: " + repr(exc) + "; restarting")
        await asyncio.sleep_ms(RESTART_DELAY_MS)
        machine.reset()


if __name__ == "__main__":
    asyncio.run(main())
