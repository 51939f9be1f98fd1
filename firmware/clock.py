"""The one clock of the firmware: logger, sync, Wi-Fi join, uploader and main all take the
same object, so every deadline, stall and backoff is measured on it (and tests swap it
for a virtual one: sync_fakes.FakeClock).

    ticks_ms()              milliseconds, wrapping on MicroPython: compare with ticks_diff
    ticks_diff(new, old)    new - old, correct across the wrap
    sleep_ms(ms)            an awaitable: give the event loop `ms` milliseconds
"""

import time

try:
    import asyncio
except ImportError:  # MicroPython before 1.21
    import uasyncio as asyncio


class SystemClock:
    """The interpreter's own clock: wrapping ticks on MicroPython, monotonic on CPython."""

    def __init__(self):
        ticks_ms = getattr(time, "ticks_ms", None)
        if ticks_ms is not None:
            # MicroPython ticks wrap (after about 12 days at 30 bits): always ticks_diff.
            self.ticks_ms = ticks_ms
            self.ticks_diff = time.ticks_diff
        sleep_ms = getattr(asyncio, "sleep_ms", None)
        if sleep_ms is not None:
            self.sleep_ms = sleep_ms  # allocates nothing per call, unlike a coroutine

    def ticks_ms(self):
        return int(time.monotonic() * 1000)

    def ticks_diff(self, new, old):
        return new - old

    def sleep_ms(self, ms):
        return asyncio.sleep(ms / 1000)
