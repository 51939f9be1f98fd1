"""Gzip for an upload body, on boards whose MicroPython can compress, and the choice of
when it pays.

Compression needs `deflate.DeflateIO(...).write`, which MicroPython builds only with
MICROPY_PY_DEFLATE_COMPRESS (its FULL_FEATURES level; the ESP32 port's default,
EXTRA_FEATURES, can only decompress). The board passes its `deflate` module to the
uploader; without `write` every upload is identity, as before.

The compressor is uzlib's: LZ77 with a brute-force search of the whole window for every
symbol, then fixed Huffman codes. Its time grows with the window, so the window is small
(WBITS). On an ESP32 it is slow enough (tens to a few hundred KB/s) that on a good hotspot
sending the bytes as they are is faster, and on a poor one gzip is: hence `Pace`, which
decides per file from what this logger has measured.

The body then goes out in HTTP/1.1 chunks (the compressed length is not known before the
end, and there is no room on the heap to hold it, nor time to write it to the card first);
the backend reads `Transfer-Encoding: chunked` with `Content-Encoding: gzip`. Each chunk is
framed in one buffer (size line, data, CRLF) so it goes to the socket in one piece.
"""

try:
    from micropython import const
except ImportError:  # CPython

    def const(value):
        return value


# 2**9 = 512 bytes of window (uzlib's default is 256): on RS-Core CSV it gains 7% in ratio
# (2.53 against 2.37) for 1.7 times the search; each further bit doubles the search for
# 2-5% (docs/fieldtest.md).
WBITS = const(9)
_FRAME_HEAD_BYTES = const(8)  # "ffffff\r\n": a chunk below 16 MB
# A body shorter than this says more about the round trip than the link's rate.
_MIN_MEASURED_BYTES = const(32768)
GZIP = "gzip"
IDENTITY = "identity"
MODES = ("auto", "on", "off")


def compressor(deflate):
    """`deflate` if this build can compress with it, else None."""
    if deflate is None:
        return None
    io_class = getattr(deflate, "DeflateIO", None)
    if io_class is None or not hasattr(io_class, "write") or not hasattr(deflate, "GZIP"):
        return None
    return deflate


class Gzipper:
    """One gzip stream, fed a chunk at a time; each call returns the framed HTTP chunk of
    what came out (a memoryview valid until the next call), possibly empty.

    DeflateIO writes every output byte to its stream, so the stream is an io.BytesIO
    (a C stream on MicroPython, not a Python method call per byte), rewound after each
    chunk so its storage is reused; `out` is the preallocated frame buffer."""

    def __init__(self, deflate, io_module, out, wbits=WBITS):
        self._sink = io_module.BytesIO()
        self._stream = deflate.DeflateIO(self._sink, deflate.GZIP, wbits)
        self._out = out
        self._out_mv = memoryview(out)
        self.in_bytes = 0
        self.out_bytes = 0

    def feed(self, data):
        if len(data):
            self._stream.write(data)
            self.in_bytes += len(data)
        return self._frame()

    def finish(self, data=b""):
        """The last data, the gzip trailer, and the chunk that ends the body."""
        if len(data):
            self._stream.write(data)
            self.in_bytes += len(data)
        self._stream.close()
        last = bytes(self._frame())
        return last + b"0\r\n\r\n"

    def _frame(self):
        sink = self._sink
        n = sink.tell()
        if not n:
            return self._out_mv[:0]
        self.out_bytes += n
        size_line = f"{n:x}\r\n".encode()
        start = _FRAME_HEAD_BYTES - len(size_line)
        end = _FRAME_HEAD_BYTES + n
        if end + 2 > len(self._out):
            # More out than in plus an eighth: not on text, but never a wrong body.
            sink.seek(0)
            data = sink.read(n)
            sink.seek(0)
            return memoryview(size_line + data + b"\r\n")
        mv = self._out_mv
        mv[start:_FRAME_HEAD_BYTES] = size_line
        sink.seek(0)
        got = sink.readinto(mv[_FRAME_HEAD_BYTES:end])
        sink.seek(0)
        if got != n:
            raise OSError("gzip sink returned " + str(got) + " of " + str(n) + " bytes")
        mv[end : end + 2] = b"\r\n"
        return mv[start : end + 2]


def frame_bytes(buf_bytes):
    """The frame buffer for input chunks of `buf_bytes`: fixed Huffman codes spend at most
    9 bits on a byte, plus the block and gzip framing."""
    return buf_bytes + buf_bytes // 8 + 64


# Gzip only when it is predicted this much faster: a misjudged gzip costs more (a slow
# CPU-bound send) than a missed one.
GAIN = 0.85
# Gzip uploads paced by the compressor in a row before one goes as it is, to measure
# the link again: one file in nine at most sent the slower way on a slow link.
EXPLORE_EVERY = 8


def predict_ms(size_bytes, link_bytes_per_ms, deflate_bytes_per_ms=None, ratio=1.0):
    """Time to send `size_bytes`: as they are, or (with a deflate rate) compressed.

    The board's Wi-Fi stack runs on its other core and goes on sending what lwIP holds
    (5.7 KB, more than one compressed chunk) while MicroPython compresses the next
    chunk, so the two overlap and the slower sets the pace. The field test shows it: a
    gzip upload on "poor" took as long as compressing alone (docs/fieldtest.md)."""
    if deflate_bytes_per_ms is None:
        return size_bytes / link_bytes_per_ms
    return max(size_bytes / deflate_bytes_per_ms, size_bytes / ratio / link_bytes_per_ms)


class Pace:
    """What this logger measured of its links and its compressor, and the choice per file.

    - link_bytes_per_ms: an upload's bytes over the time from its first body byte to the
      laptop's answer (which waits for every byte, however many a hotspot buffers); kept
      on flash between syncs (`path`), since the next sync is usually the same phone at
      the same track;
    - deflate_bytes_per_ms and ratio: the compressor on this data, from a probe of the
      file's first buffer, then from each gzip upload.

    Nothing measured yet: identity (and the upload measures the link). A gzip upload
    bound by its compressor (the link kept up) says only that the link is at least that
    fast, so after EXPLORE_EVERY of those in a row one file goes as it is, to measure
    the link again: a faster phone at the next track is noticed."""

    def __init__(self, path=None, os_module=None, log=None):
        self.path = path
        self._os = os_module
        self._log = log
        self.link_bytes_per_ms = None
        self.deflate_bytes_per_ms = None
        self.ratio = None
        self.gzip_unmeasured = 0  # gzip uploads since the link's rate was last measured
        if path:
            self._load()

    def known(self):
        return self.link_bytes_per_ms is not None

    def wants_probe(self):
        return self.known() and self.deflate_bytes_per_ms is None

    def choose(self, size_bytes):
        """GZIP or IDENTITY for a file of `size_bytes` (auto mode)."""
        link = self.link_bytes_per_ms
        deflate = self.deflate_bytes_per_ms
        ratio = self.ratio
        if link is None or deflate is None or ratio is None or ratio <= 1.0:
            return IDENTITY
        if self.gzip_unmeasured >= EXPLORE_EVERY:
            return IDENTITY
        plain_ms = predict_ms(size_bytes, link)
        gzip_ms = predict_ms(size_bytes, link, deflate, ratio)
        return GZIP if gzip_ms < plain_ms * GAIN else IDENTITY

    def note_probe(self, in_bytes, out_bytes, elapsed_ms):
        if in_bytes and out_bytes:
            self.deflate_bytes_per_ms = in_bytes / max(elapsed_ms, 1)
            self.ratio = in_bytes / out_bytes

    def note_upload(self, wire_bytes, elapsed_ms, deflate_ms=0, raw_bytes=0):
        """One acknowledged upload: its body's bytes on the wire, the time from its first
        byte to the answer, and for gzip the time spent compressing its `raw_bytes`."""
        elapsed_ms = max(elapsed_ms, 1)
        link_measured = wire_bytes >= _MIN_MEASURED_BYTES
        if deflate_ms and raw_bytes and wire_bytes:
            self.deflate_bytes_per_ms = raw_bytes / max(deflate_ms, 1)
            self.ratio = raw_bytes / wire_bytes
            # Compressing and sending overlap: only an upload that took clearly longer
            # than its compressing was paced by the link.
            link_measured = link_measured and elapsed_ms * 4 >= deflate_ms * 5
        if link_measured:
            self.link_bytes_per_ms = wire_bytes / elapsed_ms
            self.gzip_unmeasured = 0
        elif deflate_ms:
            self.gzip_unmeasured += 1
        self._save()

    def _load(self):
        try:
            with open(self.path) as f:
                parts = f.read().split()
            values = [float(p) if p != "-" else None for p in parts]
        except (OSError, ValueError):
            return  # none yet, or cut while written: measured again
        if len(values) != 4 or any(v is not None and v <= 0 for v in values[:3]):
            return
        self.link_bytes_per_ms, self.deflate_bytes_per_ms, self.ratio = values[:3]
        self.gzip_unmeasured = int(values[3] or 0)

    def _save(self):
        if not self.path:
            return
        values = (self.link_bytes_per_ms, self.deflate_bytes_per_ms, self.ratio)
        text = " ".join("-" if v is None else str(v) for v in values)
        text += " " + str(self.gzip_unmeasured)
        tmp = self.path + ".tmp"
        try:
            with open(tmp, "w") as f:
                f.write(text)
            os_module = self._os or _os()
            try:
                os_module.remove(self.path)  # FAT cannot rename onto a file
            except OSError:
                pass
            os_module.rename(tmp, self.path)
        except OSError as exc:
            if self._log:
                self._log("upload: pace not kept: " + repr(exc))


def _os():
    import os

    return os
