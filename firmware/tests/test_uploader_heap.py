"""THE HEAP TEST: the uploader streams a 5 MB file over a real socket to a real local server
under the real MicroPython unix port, and the heap grows by at most 16 KB.

How it is measured (MicroPython's own accounting, gc.mem_free()):
- the file is written first; then gc.collect() and the free heap is noted;
- the Uploader is built (its one 4 KB buffer counts against the limit) and uploads the
  file: both passes (hash, then send) read through the same buffer;
- on every 4 KB read the test samples the heap twice: before a collection (what was
  allocated since the last sample: garbage per chunk) and after one (live growth, whose
  maximum is the peak);
- after the upload, gc.collect() again: the growth left over.

Two ways it runs, both printing a `HEAP ...` line with the figures:
- pytest (CPython): the server is CPython's (http_test_server in a thread, so the
  measured interpreter holds only the client), and `micropython` runs this file as a
  script with the port in RS_HEAP_PORT:
      .venv/bin/python -m pytest -s firmware/tests/test_uploader_heap.py
- under MicroPython through mpy_run.py: the server runs in a thread of that interpreter
  and the measurement in a child `micropython` (sys.executable) started with os.system,
  so again the measured heap holds only the client:
      cd $(mktemp -d) && MICROPYPATH=<repo>/firmware:<repo>/firmware/tests:\
<repo>/firmware/tests/stubs <repo>/.venv/bin/micropython \
<repo>/firmware/tests/mpy_run.py test_uploader_heap
"""

import asyncio
import gc
import os
import socket
import sys

from http_test_server import LoopbackResolver, ScriptedServer
from sync_fakes import write_file

from board.net import SocketNet
from clock import SystemClock
from uploader import Uploader

FILE_BYTES = 5 * 1024 * 1024
LIMIT_BYTES = 16 * 1024
PORT_ENV = "RS_HEAP_PORT"
ACK_KEY = bytes(range(32))  # the answer's proof is checked too
_MPY = sys.implementation.name == "micropython"


class _SampledFile:
    """The real file, with a heap sample on every read (both passes of the upload)."""

    def __init__(self, path, mode, stats):
        self._f = open(path, mode)  # noqa: SIM115 (closed by the uploader via close())
        self._stats = stats

    def readinto(self, buf):
        stats = self._stats
        between = gc.mem_alloc() - stats[3]  # allocated since the last collection
        if between > stats[2]:
            stats[2] = between
        gc.collect()
        live = stats[0] - gc.mem_free()
        if live > stats[1]:
            stats[1] = live
        stats[3] = gc.mem_alloc()
        return self._f.readinto(buf)

    def close(self):
        self._f.close()


def measure(port, path="heap-5mb.csv"):
    """Upload FILE_BYTES to 127.0.0.1:port; (grew, peak_live, max_between, seconds, result)."""
    write_file(path, FILE_BYTES)
    clock = SystemClock()
    gc.collect()
    # [free before, peak live growth, max allocated between samples, alloc after collect]
    stats = [gc.mem_free(), 0, 0, gc.mem_alloc()]
    start_ms = clock.ticks_ms()
    uploader = Uploader(
        SocketNet(socket, getaddrinfo=LoopbackResolver()),
        clock,
        device_id="RS-Core-7F3A",
        open_file=lambda name, mode: _SampledFile(name, mode, stats),
        io_timeout_ms=10000,
        log=lambda message: None,
    )
    uploader.configure(
        "http://127.0.0.1:" + str(port) + "/api/upload", "heap-token", ack_key=ACK_KEY
    )
    result = asyncio.run(uploader.upload(path))
    seconds = clock.ticks_diff(clock.ticks_ms(), start_ms) / 1000
    gc.collect()
    grew = stats[0] - gc.mem_free()
    return grew, stats[1], stats[2], seconds, result


def report(grew, peak, between, seconds):
    line = (
        "HEAP file_bytes="
        + str(FILE_BYTES)
        + " grew_bytes="
        + str(grew)
        + " peak_live_bytes="
        + str(peak)
        + " max_alloc_between_reads_bytes="
        + str(between)
        + " limit_bytes="
        + str(LIMIT_BYTES)
        + " seconds="
        + str(seconds)
    )
    print(line)
    return line


def test_heap_growth_streaming_5mb_under_micropython():
    if _MPY:
        _child_micropython_from_micropython()
    else:
        _micropython_subprocess()


def _child_micropython_from_micropython():
    # A server thread in this interpreter would put its own objects on the heap being
    # measured, so the measurement runs in a child interpreter and the server here.
    server = ScriptedServer(ack_key=ACK_KEY)
    port = server.start()
    try:
        os.putenv(PORT_ENV, str(port))
        os.putenv("MICROPYPATH", (os.getenv("MICROPYPATH") or "") + ":.frozen")
        status = os.system("'" + sys.executable + "' '" + __file__ + "'")
    finally:
        server.stop()
    assert status == 0, "the measured interpreter failed (its HEAP line is above)"
    assert server.requests[0]["file_bytes"] == FILE_BYTES


def _micropython_subprocess():
    import hashlib
    from pathlib import Path

    import mpy_subprocess

    tests = Path(__file__).resolve().parent
    with ScriptedServer(ack_key=ACK_KEY) as server:
        done = mpy_subprocess.run(
            [str(tests / "test_uploader_heap.py")],
            Path.cwd(),  # the test's own empty directory (conftest.py): the file goes there
            timeout_s=300,
            env={PORT_ENV: str(server.port)},
        )
    output = done.stdout + done.stderr
    print(output)
    assert done.returncode == 0, output
    line = [x for x in done.stdout.splitlines() if x.startswith("HEAP ")][-1]
    figures = dict(item.split("=") for item in line.split()[1:])
    assert int(figures["grew_bytes"]) <= LIMIT_BYTES, line
    assert int(figures["peak_live_bytes"]) <= LIMIT_BYTES, line
    sent = Path("heap-5mb.csv").read_bytes()  # the script ran in this test's directory
    assert len(sent) == FILE_BYTES
    assert server.requests[0]["file_sha256"] == hashlib.sha256(sent).hexdigest()


if __name__ == "__main__":  # `micropython test_uploader_heap.py`, port from RS_HEAP_PORT
    grew, peak, between, seconds, result = measure(int(os.getenv(PORT_ENV)))
    report(grew, peak, between, seconds)
    ok = result["bytes"] == FILE_BYTES and result["proven"]
    ok = ok and grew <= LIMIT_BYTES and peak <= LIMIT_BYTES
    sys.exit(0 if ok else 1)
