"""A `deflate` module that can "compress", for tests under the MicroPython unix port,
whose `deflate` cannot (no MICROPY_PY_DEFLATE_COMPRESS), and under CPython.

It writes a real gzip stream of stored (uncompressed) deflate blocks: ratio 1, but every
byte of the framing the firmware adds around it (HTTP chunks, gzip header and trailer)
is exercised by a real interpreter against a real reader. The compressing stand-in is
racesense/devicesim/deflate.py (CPython's zlib).
"""

import binascii
import struct

AUTO = 0
RAW = 1
ZLIB = 2
GZIP = 3
_GZIP_HEADER = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\x03"
_STORED_MAX = 65535


class DeflateIO:
    def __init__(self, stream, format=AUTO, wbits=0, close=False):
        if format != GZIP:
            raise ValueError("this stand-in writes gzip only")
        self._stream = stream
        self._close = close
        self._crc = 0
        self._length = 0
        self._started = False
        self.writes = 0

    def write(self, data):
        self._start()
        data = bytes(data)
        self.writes += 1
        i = 0
        while i < len(data):
            piece = data[i : i + _STORED_MAX]
            n = len(piece)
            # BFINAL 0, BTYPE 00 (stored), padded to a byte; LEN and its complement.
            self._stream.write(struct.pack("<BHH", 0, n, n ^ 0xFFFF))
            self._stream.write(piece)
            i += n
        self._crc = binascii.crc32(data, self._crc)
        self._length += len(data)
        return len(data)

    def close(self):
        if self._stream is None:
            return
        self._start()
        self._stream.write(struct.pack("<BHH", 1, 0, 0xFFFF))  # the final, empty block
        self._stream.write(struct.pack("<II", self._crc & 0xFFFFFFFF, self._length & 0xFFFFFFFF))
        if self._close:
            self._stream.close()
        self._stream = None

    def _start(self):
        if not self._started:
            self._started = True
            self._stream.write(_GZIP_HEADER)
