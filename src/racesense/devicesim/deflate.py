"""A stand-in for a MicroPython `deflate` module that can compress, for the virtual RS-Core.

The MicroPython here (the unix port from PyPI) and the ESP32 port's default build have
`deflate` without compression (no `DeflateIO.write`); a board built with
MICROPY_PY_DEFLATE_COMPRESS has it. This stand-in gives the firmware that API
(`DeflateIO(stream, GZIP, wbits)`, `write`, `close`) under CPython:

- the bytes: zlib, framed as MicroPython frames them (a gzip header and trailer, a
  2**wbits window, fixed Huffman codes as uzlib uses), so the backend reads a real gzip
  body. At level 6 and a 512-byte window its ratio on RS-Core CSV (2.46) is within 3%
  of uzlib's (2.53), measured side by side (bench/bench_uzlib.py);
- the time: each write takes as long as `bytes_per_s` says, the compressor's rate on the
  board. The firmware thread is blocked meanwhile, as MicroPython is on the board (the
  host's TCP stack goes on sending what the socket holds, as the ESP32's Wi-Fi core does).
  The default, DEFAULT_BYTES_PER_S, is an estimate (docs/fieldtest.md), not a
  measurement on an ESP32: the firmware measures its own rate and decides by that.
"""

from __future__ import annotations

import time
import zlib
from types import SimpleNamespace
from typing import Any

AUTO, RAW, ZLIB, GZIP = 0, 1, 2, 3
# uzlib's LZ77 on an ESP32 at 240 MHz over a 512-byte window, on RS-Core CSV rows: an
# estimate from its 135 byte comparisons per input byte, measured (docs/fieldtest.md).
DEFAULT_BYTES_PER_S = 120_000
ZLIB_LEVEL = 6  # closest to uzlib's ratio at the same window (level 1: 2.05)


class _DeflateIO:
    bytes_per_s: float | None = None
    sleep = staticmethod(time.sleep)

    def __init__(self, stream: Any, format: int = AUTO, wbits: int = 0, close: bool = False):
        if format not in (RAW, ZLIB, GZIP):
            raise ValueError("format")  # AUTO means RAW for writing on a board; unused here
        # zlib's smallest window is 2**9; uzlib's default is 2**8.
        bits = max(9, wbits or 8)
        window = {RAW: -bits, ZLIB: bits, GZIP: 16 + bits}[format]
        self._z: Any = zlib.compressobj(ZLIB_LEVEL, zlib.DEFLATED, window, 8, zlib.Z_FIXED)
        self._stream = stream
        self._close_stream = close
        self.busy_s = 0.0  # time this compressor held the firmware thread

    def write(self, data: Any) -> int:
        started = time.perf_counter()
        out = self._z.compress(bytes(data))
        if out:
            self._stream.write(out)
        self._pace(len(data), started)
        return len(data)

    def close(self) -> None:
        if self._z is None:
            return
        self._stream.write(self._z.flush())
        self._z = None
        if self._close_stream:
            self._stream.close()

    def _pace(self, n: int, started: float) -> None:
        rate = type(self).bytes_per_s
        spent = time.perf_counter() - started
        if rate:
            wait = n / rate - spent
            if wait > 0:
                type(self).sleep(wait)
                spent += wait
        self.busy_s += spent


def module(bytes_per_s: float | None = DEFAULT_BYTES_PER_S) -> SimpleNamespace:
    """A `deflate` module whose compressor runs at `bytes_per_s` (None: as fast as zlib)."""
    writer = type("DeflateIO", (_DeflateIO,), {"bytes_per_s": bytes_per_s})
    return SimpleNamespace(DeflateIO=writer, AUTO=AUTO, RAW=RAW, ZLIB=ZLIB, GZIP=GZIP)
