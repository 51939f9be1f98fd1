"""The userspace stage of a shaped link: a TCP relay with a delay line each way.

Each connection accepted on the relay's address is joined to a connection of its own to
the upstream server. Bytes read from one side are stamped `now + delay` and queued in
that direction's delay line (FIFO, so order is kept; bounded in bytes: a full line stops
the relay reading, and TCP pushes back on the sender). A writer releases them at their
time, but not while the link is down (`OutageSchedule`): bytes due in an outage wait for
its end, in both directions. For the in-process fallback a token bucket per direction
also limits the rate.

Connection set-up: the relay accepts at once (loopback), so the first bytes of a
connection are held until one round trip after the accept plus the one-way delay, as if
the TCP handshake had crossed the link (``max(read, accept + 2d) + d``).

Runs an asyncio loop in its own daemon thread, so sync and async harnesses alike can
use it; `start()`/`stop()` are thread-safe and idempotent.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
import time
from collections import deque
from dataclasses import dataclass, replace

from racesense.fieldtest.schedule import OutageSchedule

CHUNK = 16 * 1024  # bytes read at a time
MIN_LINE_BYTES = 256 * 1024
# The kernel's receive buffer of each accepted connection (it doubles it). A TCP relay
# acknowledges what it has not yet passed on: left to grow (Linux autotunes to MBs), it
# lets a sender "finish" long before its bytes cross the link, which end-to-end TCP
# through a phone hotspot does not (the logger's lwIP holds 5.7 KB unacknowledged).
CLIENT_RCVBUF = 16 * 1024


@dataclass(frozen=True)
class RelayCounters:
    """What crossed the relay so far."""

    connections: int = 0
    bytes_up: int = 0  # client -> server (the logger's upload direction)
    bytes_down: int = 0  # server -> client
    stalls: int = 0  # outages that held back data in either direction
    stalled_s: float = 0.0  # time those outages held data (from the first held byte)
    failed_connects: int = 0  # upstream refused or unreachable


class TokenBucket:
    """Bytes at `rate` per second with `burst` bytes of credit; may run into debt."""

    def __init__(self, rate_bytes_s: float, burst_bytes: int, now: float) -> None:
        self._rate, self._burst = rate_bytes_s, float(burst_bytes)
        self._tokens, self._t = float(burst_bytes), now

    def reserve(self, n: int, now: float) -> float:
        """Takes `n` bytes; returns the time they may go (`now` or later)."""
        self._tokens = min(self._burst, self._tokens + (now - self._t) * self._rate)
        self._t = now
        self._tokens -= n
        return now if self._tokens >= 0 else now + -self._tokens / self._rate


class _DelayLine:
    """FIFO of (due time, bytes), one producer and one consumer, at most ~`limit` bytes."""

    def __init__(self, limit: int) -> None:
        self._items: deque[tuple[float, bytes] | None] = deque()
        self._bytes, self._limit = 0, limit
        self._space, self._ready = asyncio.Event(), asyncio.Event()

    async def put(self, item: tuple[float, bytes] | None) -> None:
        while self._bytes >= self._limit:
            self._space.clear()
            await self._space.wait()
        self._items.append(item)
        self._bytes += len(item[1]) if item else 0
        self._ready.set()

    def close(self) -> None:
        """Ends the line (no wait for space: the reader may be cancelled or broken)."""
        self._items.append(None)
        self._ready.set()

    async def get(self) -> tuple[float, bytes] | None:
        while not self._items:
            self._ready.clear()
            await self._ready.wait()
        item = self._items.popleft()
        self._bytes -= len(item[1]) if item else 0
        self._space.set()
        return item


async def _sleep_until(t: float) -> None:
    delay = t - time.monotonic()
    if delay > 0:
        await asyncio.sleep(delay)


def _nodelay(writer: asyncio.StreamWriter, sndbuf: int | None = None) -> None:
    sock = writer.get_extra_info("socket")
    if sock is None:
        return
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if sndbuf:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, sndbuf)


class Relay:
    """Listens on `listen_host:listen_port` (0: any free port) and relays to upstream.

    `rate_bit_s` set: a token bucket per direction (the in-process fallback); None: the
    kernel limits the rate. `upstream_sndbuf` caps the kernel's send buffer towards the
    upstream, so that little upload hides below the relay when an outage starts.
    """

    def __init__(
        self,
        upstream_host: str,
        upstream_port: int,
        *,
        delay_s: float,
        schedule: OutageSchedule | None = None,
        rate_bit_s: int | None = None,
        burst_bytes: int = 16 * 1024,
        line_bytes: int = MIN_LINE_BYTES,
        listen_host: str = "127.0.0.1",
        listen_port: int = 0,
        upstream_sndbuf: int | None = None,
    ) -> None:
        self.upstream = (upstream_host, upstream_port)
        self.delay_s = delay_s
        self.schedule = schedule if schedule is not None and not schedule.empty else None
        self.rate_bit_s = rate_bit_s
        self._burst = burst_bytes
        self._line_bytes = max(line_bytes, CHUNK)
        self._listen = (listen_host, listen_port)
        self._sndbuf = upstream_sndbuf
        self._address: tuple[str, int] | None = None
        self._counters = RelayCounters()
        self._held: deque[float] = deque(maxlen=256)  # ends of outages already counted
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopping: asyncio.Event | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    # --- control, from any thread ---------------------------------------------------

    @property
    def address(self) -> tuple[str, int]:
        if self._address is None:
            raise RuntimeError("the relay is not running")
        return self._address

    def start(self, timeout: float = 10.0) -> tuple[str, int]:
        if self._thread is not None:
            return self.address
        self._thread = threading.Thread(target=self._run, name="fieldtest-relay", daemon=True)
        self._thread.start()
        if not self._ready.wait(timeout):
            self.stop()
            raise RuntimeError("the relay did not start listening")
        if self._error is not None:
            self.stop()
            raise RuntimeError(f"the relay could not start: {self._error}") from self._error
        return self.address

    def stop(self, timeout: float = 10.0) -> None:
        thread, loop, stopping = self._thread, self._loop, self._stopping
        if thread is None:
            return
        if loop is not None and stopping is not None and not loop.is_closed():
            with contextlib.suppress(RuntimeError):  # the loop ended meanwhile
                loop.call_soon_threadsafe(stopping.set)
        thread.join(timeout)
        self._thread = None

    def counters(self) -> RelayCounters:
        with self._lock:
            return replace(self._counters)

    def _count(self, **add: float) -> None:
        with self._lock:
            values = {k: getattr(self._counters, k) + v for k, v in add.items()}
            self._counters = replace(self._counters, **values)

    def _note_stall(self, back: float, now: float) -> None:
        with self._lock:
            if back in self._held:
                return
            self._held.append(back)
        self._count(stalls=1, stalled_s=back - now)

    # --- the loop ----------------------------------------------------------------------

    def _run(self) -> None:
        try:
            asyncio.run(self._main())
        except BaseException as exc:  # reported by start(); the thread must not die loudly
            self._error = exc
            self._ready.set()

    async def _main(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stopping = asyncio.Event()
        host, port = self._listen
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        listener = socket.socket(family, socket.SOCK_STREAM)
        try:
            listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            # Set before listen(): accepted sockets inherit it, and the window they offer
            # is sized from it at the handshake.
            listener.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, CLIENT_RCVBUF)
            listener.bind((host, port))
            listener.listen(64)
            listener.setblocking(False)
        except BaseException:
            listener.close()
            raise
        server = await asyncio.start_server(self._accept, sock=listener)
        host, port = server.sockets[0].getsockname()[:2]
        self._address = (str(host), int(port))
        self._ready.set()
        try:
            await self._stopping.wait()
        finally:
            server.close()
            for task in list(self._tasks):
                task.cancel()
            await asyncio.gather(*self._tasks, return_exceptions=True)
            await server.wait_closed()

    async def _accept(self, creader: asyncio.StreamReader, cwriter: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        accepted = time.monotonic()
        self._count(connections=1)
        uwriter: asyncio.StreamWriter | None = None
        try:
            _nodelay(cwriter)
            try:
                ureader, uwriter = await asyncio.open_connection(*self.upstream)
            except OSError:
                self._count(failed_connects=1)
                return
            _nodelay(uwriter, self._sndbuf)
            uwriter.transport.set_write_buffer_limits(high=CHUNK, low=CHUNK // 4)
            cwriter.transport.set_write_buffer_limits(high=CHUNK, low=CHUNK // 4)
            not_before = accepted + 2 * self.delay_s
            pumps = [
                asyncio.create_task(self._direction(creader, uwriter, "bytes_up", not_before)),
                asyncio.create_task(self._direction(ureader, cwriter, "bytes_down", 0.0)),
            ]
            try:
                done, _ = await asyncio.wait(pumps, return_when=asyncio.FIRST_EXCEPTION)
                for finished in done:
                    finished.result()  # an error ends the connection both ways
                if len(done) < 2:
                    await asyncio.gather(*pumps)
            finally:
                for pump in pumps:
                    pump.cancel()
                await asyncio.gather(*pumps, return_exceptions=True)
        except (OSError, asyncio.IncompleteReadError):
            pass  # a side went away: close both
        except asyncio.CancelledError:
            pass  # the relay stops (asyncio's stream callback must not see a cancelled task)
        finally:
            for writer in (cwriter, uwriter):
                if writer is not None:
                    writer.close()
            self._tasks.discard(task)

    async def _direction(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        counter: str,
        not_before: float,
    ) -> None:
        line = _DelayLine(self._line_bytes)

        async def read() -> None:
            try:
                while data := await reader.read(CHUNK):
                    await line.put((max(time.monotonic(), not_before) + self.delay_s, data))
            finally:
                line.close()

        reading = asyncio.create_task(read())
        try:
            await self._release(line, writer, counter)
            await reading
        finally:
            reading.cancel()
            await asyncio.gather(reading, return_exceptions=True)

    async def _release(self, line: _DelayLine, writer: asyncio.StreamWriter, counter: str) -> None:
        bucket = None
        if self.rate_bit_s is not None:
            bucket = TokenBucket(self.rate_bit_s / 8, self._burst, time.monotonic())
        piece_size = min(CHUNK, self._burst)
        while (item := await line.get()) is not None:
            due, data = item
            await _sleep_until(due)
            for at in range(0, len(data), piece_size):
                piece = data[at : at + piece_size]
                while self.schedule is not None:
                    now = time.monotonic()
                    back = self.schedule.outage_at(now)
                    if back is None:
                        break
                    self._note_stall(back, now)
                    await _sleep_until(back)
                if bucket is not None:
                    await _sleep_until(bucket.reserve(len(piece), time.monotonic()))
                writer.write(piece)
                await writer.drain()
                self._count(**{counter: len(piece)})
        if writer.can_write_eof():
            writer.write_eof()  # half-close: the other direction may still be talking
