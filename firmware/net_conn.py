"""The connection layer of the uploader: resolve, connect, TLS with a pinned certificate,
and I/O with deadlines, all on the injected clock and never blocking the event loop.

Portable: the network comes in as an adapter (board/net.py's SocketNet on the ESP32 and
in the tests; its docstring lists the interface), so this module imports no socket,
select or ssl. Each call to the adapter returns at once; waiting is done here, in short
sleeps on the clock that grow while nothing moves (0 to `poll_ms` ms) and shrink again
when bytes flow, so a BLE poll, the GNSS UART and a cancel all get their turns.

Where it dials: the upload URL's host, then the phone's `ip_fallback` (mDNS is unreliable
on Android hotspots); the address that worked is dialled first on the next attempt. A
name lookup runs off the loop and is given up after `resolve_timeout_ms` (the lookup may
still finish on its own; nothing waits for it).
"""

import binascii
import hashlib

from rs_protocol import E_CANCELLED, E_NETWORK, E_TLS_PIN

try:
    from micropython import const
except ImportError:  # CPython

    def const(value):
        return value


_ETIMEDOUT = const(110)
# Sleeps while nothing moves, in ms: the first retries come quickly (a send buffer drains
# in a millisecond or two), a long wait costs a wake-up every poll_ms at most.
_WAITS_MS = (0, 1, 2, 5, 10, 20, 50)


class UploadError(Exception):
    """A failed request: protocol.json error name (E_...), detail, HTTP status if any."""

    def __init__(self, code, detail="", status=None):
        super().__init__(code, detail)
        self.code = code
        self.detail = detail
        self.status = status
        self.peer_gone = False  # the connection broke while sending (not a stall)
        self.final = False  # another attempt cannot help (set by the upload policy)


class Connection:
    """One socket at a time to the sync's server: open(), send_some()/receive(), close()."""

    def __init__(
        self,
        net,
        clock,
        connect_timeout_ms=5000,
        resolve_timeout_ms=6000,
        handshake_timeout_ms=10000,
        io_timeout_ms=10000,
        poll_ms=20,
        log=None,
    ):
        self._net = net
        self._clock = clock
        self.connect_timeout_ms = connect_timeout_ms
        self.resolve_timeout_ms = resolve_timeout_ms
        self.handshake_timeout_ms = handshake_timeout_ms
        self.io_timeout_ms = io_timeout_ms
        self._waits = tuple(w for w in _WAITS_MS if w < poll_ms) + (poll_ms,)
        self._log = log or _print
        self._link = None
        self._endpoints = ()
        self._tls = False
        self._server_name = ""
        self._pin = None
        self._good = None  # (host, port, addrinfo) that connected last

    def target(self, endpoints, tls, server_name, pin):
        """Where the next connections go: [(host, port), ...] in order of preference."""
        self._endpoints = tuple(endpoints)
        self._tls = tls
        self._server_name = server_name
        self._pin = pin
        self._good = None

    # -- opening ------------------------------------------------------------------------

    async def open(self, cancelled, label):
        """Connect (and for https, handshake and check the pin); UploadError otherwise."""
        self.close()
        _check(cancelled)
        failures = []
        tried = []
        candidates = self._endpoints
        if self._good is not None:
            candidates = ((self._good[0], self._good[1]),) + tuple(
                e for e in candidates if e != (self._good[0], self._good[1])
            )
        for host, port in candidates:
            info = None
            if self._good is not None and (host, port) == (self._good[0], self._good[1]):
                info = self._good[2]
            else:
                try:
                    info = await self._resolve(host, port, cancelled)
                except OSError as exc:
                    self._log("upload: cannot resolve " + host + ": " + describe(exc))
                    failures.append("cannot resolve " + host)
                    continue
            if info[-1] in tried:
                continue  # the fallback is the address that just failed
            tried.append(info[-1])
            try:
                await self._connect(info, cancelled)
            except OSError as exc:  # an UploadError (the pin, a cancel) passes through
                self.close()
                failures.append(host + ": " + describe(exc))
                continue
            self._good = (host, port, info)
            return
        self._good = None  # look the names up again on the next attempt
        raise UploadError(E_NETWORK, "could not connect to " + label + ": " + ", ".join(failures))

    async def _resolve(self, host, port, cancelled):
        job = self._net.resolve(host, port)
        start = self._clock.ticks_ms()
        turns = 0
        while not job.done:
            _check(cancelled)
            if self._elapsed_ms(start) >= self.resolve_timeout_ms:
                raise OSError(_ETIMEDOUT, "no answer in " + str(self.resolve_timeout_ms) + " ms")
            await self.wait(turns)
            turns += 1
        if job.error is not None:
            raise job.error
        return job.value

    async def _connect(self, info, cancelled):
        net = self._net
        self._link = link = net.open(info)
        start = self._clock.ticks_ms()
        turns = 0
        while not net.connected(link):
            _check(cancelled)
            if self._elapsed_ms(start) >= self.connect_timeout_ms:
                raise OSError(_ETIMEDOUT, "connect timed out")
            await self.wait(turns)
            turns += 1
        if self._tls:
            await self._start_tls(link, cancelled)

    async def _start_tls(self, link, cancelled):
        net = self._net
        if not net.tls_available:
            raise UploadError(E_TLS_PIN, "this build has no TLS: use an http:// URL")
        if self._pin is None:
            # No CA store on the logger: without a pin nothing would vouch for the server
            # the token is about to be sent to.
            raise UploadError(E_TLS_PIN, "an https URL needs cert_sha256 to pin the server")
        net.start_tls(link, self._server_name)
        if not net.can_show_cert(link):
            raise UploadError(E_TLS_PIN, "this build cannot read the server certificate")
        start = self._clock.ticks_ms()
        turns = 0
        while not net.handshake(link):
            _check(cancelled)
            if self._elapsed_ms(start) >= self.handshake_timeout_ms:
                raise OSError(_ETIMEDOUT, "TLS handshake timed out")
            await self.wait(turns)
            turns += 1
        der = net.peer_cert(link)
        seen = binascii.hexlify(hashlib.sha256(der).digest()).decode() if der else None
        if seen != self._pin:
            raise UploadError(
                E_TLS_PIN,
                "the server certificate is not the pinned one"
                + (" (sha256 " + seen + ")" if seen else " (none)"),
            )

    # -- data ---------------------------------------------------------------------------

    def send_some(self, view):
        """How many bytes the socket took; 0 when it would block."""
        try:
            return self._net.send(self._link, view)
        except OSError as exc:
            error = UploadError(E_NETWORK, "send failed: " + describe(exc))
            error.peer_gone = True
            raise error from None

    def receive(self, view):
        """Bytes read into view; None when nothing has arrived; 0 at the end."""
        try:
            return self._net.recv_into(self._link, view)
        except OSError as exc:
            raise UploadError(E_NETWORK, "receive failed: " + describe(exc)) from None

    async def send_all(self, data, cancelled):
        view = data if isinstance(data, memoryview) else memoryview(data)
        total = len(view)
        sent = 0
        idle_since_ms = self._clock.ticks_ms()
        turns = 0
        while sent < total:
            _check(cancelled)
            n = self.send_some(view if sent == 0 else view[sent:])
            if n:
                sent += n
                idle_since_ms = self._clock.ticks_ms()
                turns = 0
            else:
                self.check_stall(idle_since_ms, "sending")
                await self.wait(turns)
                turns += 1
        await self._clock.sleep_ms(0)  # a turn for the event loop (BLE, a cancel)

    def wait(self, turns):
        """The sleep after `turns` tries in a row that moved nothing: an awaitable."""
        waits = self._waits
        return self._clock.sleep_ms(waits[turns] if turns < len(waits) else waits[-1])

    def check_stall(self, idle_since_ms, doing, grace_ms=0):
        idle_ms = self._elapsed_ms(idle_since_ms)
        if idle_ms >= self.io_timeout_ms + grace_ms:
            raise UploadError(E_NETWORK, "stalled " + doing + " for " + str(idle_ms) + " ms")

    def close(self):
        link = self._link
        self._link = None
        if link is not None:
            try:
                self._net.close(link)
            except OSError as exc:
                self._log("upload: close failed: " + repr(exc))

    def _elapsed_ms(self, since_ms):
        return self._clock.ticks_diff(self._clock.ticks_ms(), since_ms)


def _check(cancelled):
    if cancelled():
        raise UploadError(E_CANCELLED, "cancelled during the upload")


def describe(exc):
    if exc.args and isinstance(exc.args[0], int):
        text = "errno " + str(exc.args[0])
        if len(exc.args) > 1:
            text += " " + str(exc.args[1])
        return text
    return repr(exc)


def _print(message):
    print(message)
