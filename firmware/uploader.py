"""Stream session files to the pit laptop: one file per HTTP POST to /api/upload.

The upload policy: the multipart request, hashing, the server's acknowledgement and its
proof, retries with backoff. Connections (resolve, connect, TLS, I/O with deadlines) are
net_conn's, over a board network adapter (board/net.py), so the same code runs on the
ESP32 and under CPython or the MicroPython unix port:

    net          board.net.SocketNet(socket, ssl) or a stand-in (see net_conn)
    clock        ticks_ms(), ticks_diff(new, old), sleep_ms(ms) -> awaitable (clock.py)
    open_file    open(path, "rb") -> object with readinto(buffer) and close()

The request is our multipart contract with the backend (tests/http_clients.py,
micropython_multipart): HTTP/1.0 and `Connection: close` (the logger never keeps a socket),
an exact Content-Length, the file's SHA-256 in X-Content-SHA256. The header goes before the
body, so each attempt reads the file twice: once to hash it, once to send it, both
through the same preallocated 4 KB buffer. Where the board can compress (gzip_body), a
file may go gzip-compressed instead: HTTP/1.1 chunks, `Content-Encoding: gzip`, the same
X-Content-SHA256 of the file as it is on the card; `compress` ("auto", "on", "off") and
gzip_body.Pace decide. A file is never read whole: 130 KB of heap on
an ESP32 with Wi-Fi and BLE up leaves no room for that.

A file counts as acknowledged only when the server's reply echoes its SHA-256 and, for a
sync (configure(ack_key=...)), proves it with the sync's secret: proof = hex of
HMAC-SHA256(ack_key, "<sha256 hex>:<size>") (docs/api.md). Any host on the hotspot can
echo a hash; only the laptop that made the sync knows the key. The server answers only
after the file is on disk and its session committed.

Every wait goes back to the event loop (net_conn), so a BLE cancel is heard mid-file and
the logger keeps reading its GNSS; a stall is measured against `io_timeout_ms`.
"""

import binascii
import hashlib
import io
import json

from gzip_body import GZIP, IDENTITY, MODES, Gzipper, Pace, compressor, frame_bytes
from net_conn import Connection, UploadError, describe
from rs_protocol import (
    E_CANCELLED,
    E_HTTP,
    E_MESSAGE,
    E_NETWORK,
    E_SERVER_HASH,
    E_STORAGE,
    E_TLS_PIN,
    PROGRESS_INTERVAL_MS,
)
from upload_proof import ack_proof, sha256_hex  # noqa: F401 (re-exported: the API)
from upload_reply import check_reply, content_length, parse_reply
from upload_url import has_control, parse_fallback, parse_url

try:
    from micropython import const
except ImportError:  # CPython

    def const(value):
        return value


BUF_BYTES = const(4096)
ACK_KEY_BYTES = const(32)
UPLOAD_PATH = "/api/upload"
_BOUNDARY_RANDOM_BYTES = const(12)  # rscore + 24 hex digits, as the backend's tests expect
# Worth another attempt: the network, an overloaded or restarting server, a reply that
# did not echo our hash, a hash the server disagreed with (a changed or damaged file).
# Not a missing proof: a server without the sync's key will not have it next time either.
_RETRY_CODES = (E_NETWORK, E_SERVER_HASH)
_RETRY_STATUSES = (0, 408, 422, 429)


def retryable(exc):
    if exc.final:
        return False
    if exc.code in _RETRY_CODES:
        return True
    status = exc.status or 0
    return exc.code == E_HTTP and (status in _RETRY_STATUSES or status >= 500)


# Extra time for the reply per byte of the file just sent (2 s per MB): the laptop writes,
# syncs and commits the whole file before it answers, and on a slow hotspot the last of
# the bytes may still be queued there when the logger has sent them all.
REPLY_BYTES_PER_MS = const(500)


class Uploader:
    """One sync's uploads; configure() per sync, then upload() per file."""

    def __init__(
        self,
        net,
        clock,
        device_id="",
        open_file=open,
        urandom=None,
        buf_bytes=BUF_BYTES,
        connect_timeout_ms=5000,
        resolve_timeout_ms=6000,
        handshake_timeout_ms=10000,
        io_timeout_ms=10000,
        poll_ms=20,
        attempts=3,
        backoff_ms=500,
        progress_interval_ms=PROGRESS_INTERVAL_MS,
        log=None,
        deflate=None,
        compress="auto",
        pace=None,
    ):
        if compress not in MODES:
            raise ValueError("compress must be one of " + ", ".join(MODES))
        self._net = net
        self._clock = clock
        self._device_id = device_id
        self._open = open_file
        self._urandom = urandom or _default_urandom()
        self._log = log or _print
        self._conn = Connection(
            net,
            clock,
            connect_timeout_ms=connect_timeout_ms,
            resolve_timeout_ms=resolve_timeout_ms,
            handshake_timeout_ms=handshake_timeout_ms,
            io_timeout_ms=io_timeout_ms,
            poll_ms=poll_ms,
            log=self._log,
        )
        # The only buffer the body ever goes through, allocated once for the device's life.
        self._buf = bytearray(buf_bytes)
        self._mv = memoryview(self._buf)
        self.attempts = attempts
        self.backoff_ms = backoff_ms
        self.progress_interval_ms = progress_interval_ms
        self._last_progress_ms = None
        self._ack_key = None
        self.first_sent_ms = None
        # Gzip (gzip_body): the board's deflate module if it can compress, the mode, what
        # was measured, and the frame buffer, allocated only where gzip can happen.
        self._deflate = compressor(deflate)
        self.compress = compress if self._deflate is not None else "off"
        self.pace = pace or Pace(log=self._log)
        self._frame = bytearray(frame_bytes(buf_bytes)) if self._deflate is not None else None

    @property
    def io_timeout_ms(self):
        return self._conn.io_timeout_ms

    @io_timeout_ms.setter
    def io_timeout_ms(self, value):
        self._conn.io_timeout_ms = value

    # -- configuration ------------------------------------------------------------------

    def configure(self, url, token, sync_id=None, ip_fallback=None, cert_sha256=None, ack_key=None):
        """Take one sync's details; raises UploadError (E_URL, E_MESSAGE, E_TLS_PIN)
        before any I/O. With `ack_key` (32 bytes) every acknowledgement must be proven."""
        scheme, host, port, path = parse_url(url)
        for name, value in (("token", token), ("sync_id", sync_id)):
            if value is not None and (not isinstance(value, str) or has_control(value)):
                raise UploadError(E_MESSAGE, name + " is not a clean string")
        if not token:
            raise UploadError(E_MESSAGE, "the sync request has no token")
        pin = None
        if cert_sha256:
            pin = str(cert_sha256).lower().replace(":", "").replace(" ", "")
            if len(pin) != 64 or not _is_hex(pin):
                raise UploadError(E_MESSAGE, "cert_sha256 is not 64 hex digits")
        tls = scheme == "https"
        if tls and not self._net.tls_available:
            raise UploadError(E_TLS_PIN, "this build has no TLS: use an http:// URL")
        if tls and pin is None:
            # Refused now, not after joining Wi-Fi: no CA store on the logger, so only a
            # pin can vouch for the server the token would be sent to.
            raise UploadError(E_TLS_PIN, "an https URL needs cert_sha256 to pin the server")
        if ack_key is not None and (not isinstance(ack_key, bytes) or len(ack_key) != 32):
            raise UploadError(E_MESSAGE, "ack_key is not 32 bytes")
        endpoints = [(host, port)]
        if ip_fallback:
            fallback = parse_fallback(ip_fallback, scheme, port)
            if fallback not in endpoints:
                endpoints.append(fallback)
        self._conn.target(endpoints, tls, host, pin)
        self._path = path
        default_port = 443 if tls else 80
        shown = "[" + host + "]" if ":" in host else host
        # The Host header names what the phone gave us, even when we dial the fallback IP.
        self._host_header = shown if port == default_port else shown + ":" + str(port)
        # Where the backend's other endpoints live (a reverse proxy may add a prefix).
        self._base_path = path[: -len(UPLOAD_PATH)] if path.endswith(UPLOAD_PATH) else ""
        self._token = token
        self._sync_id = sync_id
        self._ack_key = ack_key
        self.first_sent_ms = None

    def endpoint(self, path):
        """The path of another backend endpoint beside the upload URL."""
        return self._base_path + path

    # -- public operations --------------------------------------------------------------

    async def upload(self, path, index=1, count=1, progress=None, cancelled=None):
        """POST one file, retrying with backoff; the server's record of it on success.

        Returns {"sha256", "bytes", "duplicate", "status", "session_id", "proven",
        "encoding", "wire_bytes"} ("proven": the proof verified under the sync's ack_key;
        "wire_bytes": the body as sent, compressed or not). Raises UploadError;
        never marks anything itself (the caller does, on success only).
        `progress(index, count, bytes_done, bytes_total)` is called about twice a second
        and once at the end of each attempt's body.
        """
        cancelled = cancelled or _never
        attempt = 1
        while True:
            try:
                return await self._upload_once(path, index, count, progress, cancelled)
            except UploadError as exc:
                if attempt >= self.attempts or not retryable(exc):
                    raise
                wait_ms = self.backoff_ms * (1 << (attempt - 1))
                self._log(
                    f"upload: {_base_name(path)} attempt {attempt} failed"
                    f" ({exc.code} {exc.detail}), next in {wait_ms} ms"
                )
                await self._pause(wait_ms, cancelled)
                attempt += 1

    async def post_json(self, path, payload, cancelled=None):
        """One JSON POST to `path` on the same server, same token: (status, reply)."""
        cancelled = cancelled or _never
        body = json.dumps(payload).encode()
        head = self._head(path, "application/json", len(body), None)
        conn = self._conn
        try:
            await conn.open(cancelled, self._host_header)
            await conn.send_all(head, cancelled)
            await conn.send_all(body, cancelled)
            return await self._read_reply(cancelled)
        finally:
            conn.close()

    def close(self):
        """Close the socket in use, if any (also how a cancel ends a transfer)."""
        self._conn.close()

    # -- one attempt --------------------------------------------------------------------

    async def _upload_once(self, path, index, count, progress, cancelled):
        sha256, size = await self._hash_file(path, cancelled)
        encoding = await self._choose(path, size)
        name = _base_name(path)
        boundary = "rscore" + binascii.hexlify(self._urandom(_BOUNDARY_RANDOM_BYTES)).decode()
        part_type = "text/csv" if name.lower().endswith(".csv") else "application/octet-stream"
        quoted = _quote_form_value(name)
        part_head = (
            f"--{boundary}\r\n"
            f'Content-Disposition: form-data; name="file"; filename="{quoted}"\r\n'
            f"Content-Type: {part_type}\r\n\r\n"
        ).encode()
        part_tail = ("\r\n--" + boundary + "--\r\n").encode()
        body_bytes = len(part_head) + size + len(part_tail)
        head = self._head(
            self._path,
            "multipart/form-data; boundary=" + boundary,
            None if encoding == GZIP else body_bytes,
            sha256,
        )
        clock = self._clock
        conn = self._conn
        wire_bytes = body_bytes
        deflate_ms = 0
        try:
            await conn.open(cancelled, self._host_header)
            try:
                await conn.send_all(head, cancelled)
                t_body_ms = clock.ticks_ms()
                if self.first_sent_ms is None:
                    self.first_sent_ms = t_body_ms
                if encoding == GZIP:
                    wire_bytes, deflate_ms = await self._send_gzip(
                        path, size, part_head, part_tail, index, count, progress, cancelled
                    )
                else:
                    await conn.send_all(part_head, cancelled)
                    await self._send_file(path, size, index, count, progress, cancelled)
                    await conn.send_all(part_tail, cancelled)
            except UploadError as exc:
                if not exc.peer_gone:
                    raise
                # A server refusing the request (401 for a wrong token, 413) may answer
                # and close before reading the body: its answer says more than the reset.
                status, reply = await self._early_reply(exc, cancelled)
            else:
                # The laptop answers once the file is on its disk and committed, and the
                # last bytes may still sit in the hotspot's queue: more time for more bytes.
                grace_ms = size // REPLY_BYTES_PER_MS
                status, reply = await self._read_reply(cancelled, grace_ms)
                if status in (200, 201):
                    # To the answer, not to the last send: a hotspot (or lwIP) may hold
                    # many of the bytes "sent"; the answer waits for all of them.
                    elapsed_ms = clock.ticks_diff(clock.ticks_ms(), t_body_ms)
                    self.pace.note_upload(wire_bytes, elapsed_ms, deflate_ms, size)
        finally:
            conn.close()
        result = check_reply(status, reply, sha256, size, self._ack_key)
        result["encoding"] = encoding
        result["wire_bytes"] = wire_bytes
        return result

    async def _choose(self, path, size):
        """GZIP or IDENTITY for this file: the mode, and in auto what Pace predicts (after
        a probe of the compressor on the file's first buffer, if it has none yet)."""
        if self.compress == "off" or not size:
            return IDENTITY
        if self.compress == "on":
            return GZIP
        pace = self.pace
        if pace.wants_probe():
            f = self._open_or_fail(path)
            try:
                n = self._read_chunk(f, path)
            finally:
                f.close()
            clock = self._clock
            started_ms = clock.ticks_ms()
            probe = Gzipper(self._deflate, io, self._frame)
            probe.feed(self._mv[:n])
            probe.finish()
            pace.note_probe(n, probe.out_bytes, clock.ticks_diff(clock.ticks_ms(), started_ms))
            await clock.sleep_ms(0)
        encoding = pace.choose(size)
        self._log(
            "upload: "
            + _base_name(path)
            + " "
            + encoding
            + " (link "
            + _rate(pace.link_bytes_per_ms)
            + ", gzip "
            + _rate(pace.deflate_bytes_per_ms)
            + ")"
        )
        return encoding

    async def _send_gzip(self, path, size, part_head, part_tail, index, count, progress, cancelled):
        """The multipart body through gzip in HTTP chunks: (wire bytes, ms compressing)."""
        clock = self._clock
        conn = self._conn
        mv = self._mv
        full = len(mv)
        gz = Gzipper(self._deflate, io, self._frame)
        deflate_ms = 0
        done = 0
        await conn.send_all(gz.feed(part_head), cancelled)
        f = self._open_or_fail(path)
        try:
            self._report(progress, index, count, 0, size, True)
            while True:
                _check(cancelled)
                n = self._read_chunk(f, path)
                if not n:
                    break
                if done + n > size:
                    break  # grew since hashed: caught just below
                started_ms = clock.ticks_ms()
                frame = gz.feed(mv if n == full else mv[:n])
                deflate_ms += clock.ticks_diff(clock.ticks_ms(), started_ms)
                await conn.send_all(frame, cancelled)
                done += n
                self._report(progress, index, count, done, size, done == size)
        finally:
            f.close()
        _check_unchanged(path, done, size)  # the hash is already on the wire
        await conn.send_all(gz.finish(part_tail), cancelled)
        # The wire bytes: the gzip stream itself, what Content-Encoding names.
        return gz.out_bytes, deflate_ms

    async def _early_reply(self, send_error, cancelled):
        try:
            status, reply = await self._read_reply(cancelled)
        except UploadError:
            raise send_error from None
        if status == 0:
            raise send_error
        return status, reply

    async def _hash_file(self, path, cancelled):
        hasher = hashlib.sha256()
        size = 0
        mv = self._mv
        full = len(mv)
        f = self._open_or_fail(path)
        try:
            while True:
                _check(cancelled)
                n = self._read_chunk(f, path)
                if not n:
                    break
                hasher.update(mv if n == full else mv[:n])
                size += n
                await self._clock.sleep_ms(0)  # reading an SD card takes a while: stay polite
        finally:
            f.close()
        return binascii.hexlify(hasher.digest()).decode(), size

    async def _send_file(self, path, size, index, count, progress, cancelled):
        clock = self._clock
        conn = self._conn
        mv = self._mv
        full = len(mv)
        done = 0
        f = self._open_or_fail(path)
        try:
            self._report(progress, index, count, 0, size, True)
            while True:
                n = self._read_chunk(f, path)
                if not n:
                    break
                if done + n > size:
                    break  # grew since hashed: caught just below
                # The send loop is written out here rather than awaiting send_all: on
                # MicroPython every coroutine call allocates, and this runs per 4 KB.
                view = mv if n == full else mv[:n]
                sent = 0
                turns = 0
                idle_since_ms = clock.ticks_ms()
                while sent < n:
                    _check(cancelled)
                    k = conn.send_some(view if sent == 0 else view[sent:])
                    if k:
                        sent += k
                        turns = 0
                        idle_since_ms = clock.ticks_ms()
                    else:
                        conn.check_stall(idle_since_ms, "sending")
                        await conn.wait(turns)
                        turns += 1
                await clock.sleep_ms(0)  # a turn for the event loop (BLE, GNSS, a cancel)
                done += n
                self._report(progress, index, count, done, size, done == size)
        finally:
            f.close()
        _check_unchanged(path, done, size)  # Content-Length is already on the wire

    async def _read_reply(self, cancelled, grace_ms=0):
        """Read the answer into the shared buffer: (status, parsed JSON or None). The
        first byte may take io_timeout_ms + grace_ms."""
        conn = self._conn
        mv = self._mv
        got = 0
        header_end = -1
        body_bytes = None
        turns = 0
        idle_since_ms = self._clock.ticks_ms()
        while got < len(mv):
            _check(cancelled)
            n = conn.receive(mv[got:])
            if n is None:
                conn.check_stall(idle_since_ms, "waiting for the reply", 0 if got else grace_ms)
                await conn.wait(turns)
                turns += 1
                continue
            if n == 0:
                break  # the server closed: the reply is complete
            got += n
            turns = 0
            idle_since_ms = self._clock.ticks_ms()
            if header_end < 0:
                header_end = bytes(mv[:got]).find(b"\r\n\r\n")
                if header_end >= 0:
                    body_bytes = content_length(bytes(mv[:header_end]))
            if body_bytes is not None and got >= header_end + 4 + body_bytes:
                break  # the whole reply, even if the server keeps the socket open
        if got == 0:
            raise UploadError(E_NETWORK, "the server closed without answering")
        return parse_reply(bytes(mv[:got]))

    async def _pause(self, wait_ms, cancelled):
        clock = self._clock
        start = clock.ticks_ms()
        while True:
            _check(cancelled)
            left = wait_ms - clock.ticks_diff(clock.ticks_ms(), start)
            if left <= 0:
                return
            await clock.sleep_ms(min(left, 100))  # short naps: a cancel is heard quickly

    # -- helpers ------------------------------------------------------------------------

    def _head(self, path, content_type, length, sha256):
        """The request head; `length` None: a gzip body in chunks (HTTP/1.1 for those)."""
        lines = [
            "POST " + path + (" HTTP/1.0" if length is not None else " HTTP/1.1"),
            "Host: " + self._host_header,
            "Authorization: Bearer " + self._token,
        ]
        if sha256 is not None:
            lines.append("X-Content-SHA256: " + sha256)
        if self._device_id:
            lines.append("X-Device-Id: " + self._device_id)
        if self._sync_id:
            lines.append("X-Sync-Id: " + self._sync_id)
        lines.append("Content-Type: " + content_type)
        if length is None:
            lines.append("Content-Encoding: gzip")
            lines.append("Transfer-Encoding: chunked")
        else:
            lines.append("Content-Length: " + str(length))
        lines.append("Connection: close")
        return ("\r\n".join(lines) + "\r\n\r\n").encode()

    def _open_or_fail(self, path):
        try:
            return self._open(path, "rb")
        except OSError as exc:
            raise UploadError(E_STORAGE, "cannot open " + path + ": " + describe(exc)) from None

    def _read_chunk(self, f, path):
        try:
            return f.readinto(self._buf)
        except OSError as exc:
            raise UploadError(E_STORAGE, "cannot read " + path + ": " + describe(exc)) from None

    def _report(self, progress, index, count, done, total, force):
        if progress is None:
            return
        now = self._clock.ticks_ms()
        last = self._last_progress_ms
        if force or last is None or self._clock.ticks_diff(now, last) >= self.progress_interval_ms:
            self._last_progress_ms = now
            progress(index, count, done, total)


def _rate(bytes_per_ms):
    return "?" if bytes_per_ms is None else str(int(bytes_per_ms)) + " KB/s"


def _check_unchanged(path, done, size):
    """A file that changed under us cannot be sent truthfully in this request."""
    if done != size:
        raise UploadError(
            E_STORAGE,
            _base_name(path) + " changed while it was sent (" + str(done) + " bytes)",
        )


def _check(cancelled):
    if cancelled():
        raise UploadError(E_CANCELLED, "cancelled during the upload")


def _never():
    return False


def _base_name(path):
    return path.rsplit("/", 1)[-1]


def _quote_form_value(value):
    # As browsers and curl do (WHATWG form encoding): only ", CR and LF are escaped.
    return value.replace('"', "%22").replace("\r", "%0D").replace("\n", "%0A")


def _is_hex(text):
    return all(c in "0123456789abcdef" for c in text)


def _default_urandom():
    import os

    return os.urandom


def _print(message):
    print(message)
