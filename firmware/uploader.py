"""Stream session files to the pit laptop: one file per HTTP POST to /api/upload.

Portable: the network comes in as constructor arguments, so the same code runs on the
ESP32 and under CPython or the MicroPython unix port (real sockets or stand-ins):

    socket_mod   socket(family, type, proto), SOCK_STREAM (and optionally `timeout`, the
                 exception CPython raises on a socket timeout)
    ssl_mod      SSLContext(PROTOCOL_TLS_CLIENT), CERT_NONE; wrapped sockets answer
                 getpeercert(True) with the server's DER certificate. None: no https.
    getaddrinfo  getaddrinfo(host, port, 0, SOCK_STREAM) -> [(family, type, proto, _, addr)]
    clock        ticks_ms(), ticks_diff(new, old), sleep_ms(ms) -> awaitable
    open_file    open(path, "rb") -> object with readinto(buffer) and close()

The request is our multipart contract with the backend (tests/http_clients.py,
micropython_multipart): HTTP/1.0 and `Connection: close` (the logger never keeps a socket),
an exact Content-Length, the file's SHA-256 in X-Content-SHA256. The header goes before the
body, so each attempt reads the file twice: once to hash it, once to send it, both
through the same preallocated 4 KB buffer. A file is never read whole: 130 KB of heap on
an ESP32 with Wi-Fi and BLE up leaves no room for that.

A file counts as synced only when the server's reply echoes its SHA-256: the server
answers only after the file is on disk and its session committed.

Sockets run with short timeouts (`slice_ms`): every slice that passes without progress
goes back to the event loop, so a BLE cancel is heard mid-file, and a stall is measured
against `io_timeout_ms` on the injected clock.
"""

import binascii
import hashlib
import json

from rs_protocol import PROGRESS_INTERVAL_MS

try:
    from micropython import const
except ImportError:  # CPython

    def const(value):
        return value


BUF_BYTES = const(4096)
UPLOAD_PATH = "/api/upload"
_BOUNDARY_RANDOM_BYTES = const(12)  # rscore + 24 hex digits, as the backend's tests expect
# Timeouts surface as OSError with one of these (MicroPython: ETIMEDOUT 110, lwIP's 116,
# EAGAIN 11 from send/recv); CPython raises socket.timeout with no errno.
_TIMEOUT_ERRNOS = (11, 110, 116)
# Worth another attempt: the network, an overloaded or restarting server, a reply that
# did not echo our hash, a hash the server disagreed with (a changed or damaged file).
_RETRY_CODES = ("E_NETWORK", "E_SERVER_HASH")
_RETRY_STATUSES = (0, 408, 422, 429)
# How a connected socket is read (see Uploader._connect).
_READ_RECV_INTO = const(0)
_READ_RECV = const(1)
_READ_STREAM = const(2)


class UploadError(Exception):
    """A failed request: protocol.json error name (E_...), detail, HTTP status if any."""

    def __init__(self, code, detail="", status=None):
        super().__init__(code, detail)
        self.code = code
        self.detail = detail
        self.status = status
        self.peer_gone = False  # the connection broke while sending (not a stall)

    def retryable(self):
        if self.code in _RETRY_CODES:
            return True
        status = self.status or 0
        return self.code == "E_HTTP" and (status in _RETRY_STATUSES or status >= 500)


def parse_url(url):
    """(scheme, host, port, path) of an http(s) URL; UploadError E_URL otherwise."""
    if not isinstance(url, str):
        raise UploadError("E_URL", "the upload URL is not text")
    scheme, sep, rest = url.partition("://")
    scheme = scheme.lower()
    if not sep or scheme not in ("http", "https"):
        raise UploadError("E_URL", "the upload URL must start with http:// or https://")
    slash = rest.find("/")
    netloc = rest if slash < 0 else rest[:slash]
    path = "/" if slash < 0 else rest[slash:]
    port = 443 if scheme == "https" else 80
    if netloc.startswith("["):  # IPv6 literal
        end = netloc.find("]")
        host = netloc[1:end] if end > 0 else ""
        tail = netloc[end + 1 :] if end > 0 else ""
    else:
        host, _, port_text = netloc.partition(":")
        tail = ":" + port_text if port_text else ""
    if tail:
        digits = tail[1:]
        if not tail.startswith(":") or not digits.isdigit() or not 0 < int(digits) < 65536:
            raise UploadError("E_URL", "the upload URL has a bad port")
        port = int(digits)
    if not host or "@" in netloc or _has_control(url):
        raise UploadError("E_URL", "the upload URL has no usable host")
    return scheme, host, port, path


def sha256_hex(data):
    return binascii.hexlify(hashlib.sha256(data).digest()).decode()


class Uploader:
    """One sync's uploads; configure() per sync, then upload() per file."""

    def __init__(
        self,
        socket_mod,
        clock,
        ssl_mod=None,
        getaddrinfo=None,
        device_id="",
        open_file=open,
        urandom=None,
        buf_bytes=BUF_BYTES,
        connect_timeout_ms=5000,
        io_timeout_ms=10000,
        slice_ms=200,
        attempts=3,
        backoff_ms=500,
        progress_interval_ms=PROGRESS_INTERVAL_MS,
        log=None,
    ):
        self._socket = socket_mod
        self._ssl = ssl_mod
        self._getaddrinfo = getaddrinfo or socket_mod.getaddrinfo
        self._clock = clock
        self._device_id = device_id
        self._open = open_file
        self._urandom = urandom or _default_urandom()
        # The only buffer the body ever goes through, allocated once for the device's life.
        self._buf = bytearray(buf_bytes)
        self._mv = memoryview(self._buf)
        self._connect_timeout_ms = connect_timeout_ms
        self.io_timeout_ms = io_timeout_ms
        self._slice_ms = slice_ms
        self.attempts = attempts
        self.backoff_ms = backoff_ms
        self.progress_interval_ms = progress_interval_ms
        self._log = log or _print
        self._timeout_exc = getattr(socket_mod, "timeout", None)
        self._sock = None
        self._timed_sock = None
        self._send = None
        self._read_mode = _READ_RECV_INTO
        self._last_progress_ms = None
        self.first_sent_ms = None

    # -- configuration ------------------------------------------------------------------

    def configure(self, url, token, sync_id=None, ip_fallback=None, cert_sha256=None):
        """Take one sync's details; raises UploadError (E_URL, E_MESSAGE) before any I/O."""
        scheme, host, port, path = parse_url(url)
        for name, value in (("token", token), ("sync_id", sync_id), ("ip_fallback", ip_fallback)):
            if value is not None and (not isinstance(value, str) or _has_control(value)):
                raise UploadError("E_MESSAGE", name + " is not a clean string")
        if not token:
            raise UploadError("E_MESSAGE", "the sync request has no token")
        pin = None
        if cert_sha256:
            pin = str(cert_sha256).lower().replace(":", "").replace(" ", "")
            if len(pin) != 64 or not _is_hex(pin):
                raise UploadError("E_MESSAGE", "cert_sha256 is not 64 hex digits")
        self._tls = scheme == "https"
        self._host = host
        self._port = port
        self._path = path
        default_port = 443 if self._tls else 80
        shown = "[" + host + "]" if ":" in host else host
        # The Host header names what the phone gave us, even when we dial the fallback IP.
        self._host_header = shown if port == default_port else shown + ":" + str(port)
        # Where the backend's other endpoints live (a reverse proxy may add a prefix).
        self._base_path = path[: -len(UPLOAD_PATH)] if path.endswith(UPLOAD_PATH) else ""
        self._token = token
        self._sync_id = sync_id
        self._ip_fallback = ip_fallback or None
        self._pin = pin
        self._addr_info = None
        self.first_sent_ms = None

    def endpoint(self, path):
        """The path of another backend endpoint beside the upload URL."""
        return self._base_path + path

    # -- public operations --------------------------------------------------------------

    async def upload(self, path, index=1, count=1, progress=None, cancelled=None):
        """POST one file, retrying with backoff; the server's record of it on success.

        Returns {"sha256", "bytes", "duplicate", "status", "session_id"}. Raises
        UploadError; never marks anything itself (the caller does, on success only).
        `progress(index, count, bytes_done, bytes_total)` is called about twice a second
        and once at the end of each attempt's body.
        """
        cancelled = cancelled or _never
        attempt = 1
        while True:
            try:
                return await self._upload_once(path, index, count, progress, cancelled)
            except UploadError as exc:
                if attempt >= self.attempts or not exc.retryable():
                    raise
                wait_ms = self.backoff_ms * (1 << (attempt - 1))
                name = _base_name(path)
                self._log(
                    f"upload: {name} attempt {attempt} failed ({exc.code} {exc.detail}),"
                    f" next in {wait_ms} ms"
                )
                await self._pause(wait_ms, cancelled)
                attempt += 1

    async def post_json(self, path, payload, cancelled=None):
        """One JSON POST to `path` on the same server, same token: (status, reply)."""
        cancelled = cancelled or _never
        body = json.dumps(payload).encode()
        head = self._head(path, "application/json", len(body), None)
        try:
            await self._open_connection(cancelled)
            await self._send_all(head, cancelled)
            await self._send_all(body, cancelled)
            return await self._read_reply(cancelled)
        finally:
            self.close()

    def close(self):
        """Close the socket in use, if any (also how a cancel ends a transfer)."""
        sock = self._sock
        self._sock = None
        self._timed_sock = None
        self._send = None
        if sock is not None:
            try:
                sock.close()
            except OSError as exc:
                self._log("upload: close failed: " + repr(exc))

    # -- one attempt --------------------------------------------------------------------

    async def _upload_once(self, path, index, count, progress, cancelled):
        sha256, size = await self._hash_file(path, cancelled)
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
        head = self._head(
            self._path,
            "multipart/form-data; boundary=" + boundary,
            len(part_head) + size + len(part_tail),
            sha256,
        )
        try:
            await self._open_connection(cancelled)
            try:
                await self._send_all(head, cancelled)
                if self.first_sent_ms is None:
                    self.first_sent_ms = self._clock.ticks_ms()
                await self._send_all(part_head, cancelled)
                await self._send_file(path, size, index, count, progress, cancelled)
                await self._send_all(part_tail, cancelled)
            except UploadError as exc:
                if not exc.peer_gone:
                    raise
                # A server refusing the request (401 for a wrong token, 413) may answer
                # and close before reading the body: its answer says more than the reset.
                status, reply = await self._early_reply(exc, cancelled)
            else:
                status, reply = await self._read_reply(cancelled)
        finally:
            self.close()
        return _check_reply(status, reply, sha256, size)

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
                # The send loop is written out here rather than awaiting _send_all: on
                # MicroPython every coroutine call allocates, and this runs per 4 KB.
                view = mv if n == full else mv[:n]
                sent = 0
                idle_since_ms = clock.ticks_ms()
                while sent < n:
                    _check(cancelled)
                    k = self._send_some(view if sent == 0 else view[sent:])
                    if k:
                        sent += k
                        idle_since_ms = clock.ticks_ms()
                    else:
                        self._check_stall(idle_since_ms, "sending")
                        await clock.sleep_ms(0)
                await clock.sleep_ms(0)  # a turn for the event loop (BLE, a cancel)
                done += n
                self._report(progress, index, count, done, size, done == size)
        finally:
            f.close()
        if done != size:
            # Content-Length is already on the wire: a file that changed under us cannot be
            # sent truthfully in this request.
            raise UploadError(
                "E_STORAGE",
                _base_name(path) + " changed while it was sent (" + str(done) + " bytes)",
            )

    # -- connection ---------------------------------------------------------------------

    async def _open_connection(self, cancelled):
        _check(cancelled)
        self.close()
        failures = []
        for info in self._candidates():
            try:
                self._connect(info)
                self._addr_info = info  # dial what worked first next time
                return
            except OSError as exc:  # an UploadError (TLS pin) is final and passes through
                self.close()
                failures.append(_describe(exc))
            _check(cancelled)
            await self._clock.sleep_ms(0)
        self._addr_info = None  # resolve again on the next attempt
        raise UploadError(
            "E_NETWORK", "could not connect to " + self._host_header + ": " + ", ".join(failures)
        )

    def _candidates(self):
        if self._addr_info is not None:
            return [self._addr_info]
        found = []
        try:
            infos = self._getaddrinfo(self._host, self._port, 0, self._socket.SOCK_STREAM)
            if infos:
                found.append(infos[0])
        except OSError as exc:
            self._log("upload: cannot resolve " + self._host + ": " + _describe(exc))
        fallback = self._ip_fallback
        if fallback and fallback != self._host:
            # mDNS on a phone hotspot is unreliable; the phone also gave us the laptop's IP.
            try:
                infos = self._getaddrinfo(fallback, self._port, 0, self._socket.SOCK_STREAM)
                if infos and (not found or infos[0][-1] != found[0][-1]):
                    found.append(infos[0])
            except OSError as exc:
                self._log("upload: bad ip_fallback " + fallback + ": " + _describe(exc))
        if not found:
            raise UploadError(
                "E_NETWORK", "cannot resolve " + self._host + " and no usable ip_fallback"
            )
        return found

    def _connect(self, info):
        raw = self._socket.socket(info[0], info[1], info[2])
        self._sock = raw
        raw.settimeout(self._connect_timeout_ms / 1000)
        raw.connect(info[-1])
        sock = raw
        if self._tls:
            sock = self._wrap_tls(raw)
        # CPython's TLS socket takes over the raw one (which is then detached);
        # MicroPython's has no settimeout and reads through the raw socket.
        timed = sock if hasattr(sock, "settimeout") else raw
        timed.settimeout(self._slice_ms / 1000)
        self._timed_sock = timed
        # Only calls that make ONE attempt may meet a timeout slice: MicroPython's stream
        # methods (write, readinto) loop to fill the request and, on a timeout midway,
        # raise and drop the count of what they moved. send/recv/recv_into do not.
        if hasattr(sock, "recv_into"):  # CPython, plain or TLS
            self._send = sock.send
            self._read_mode = _READ_RECV_INTO
        elif hasattr(sock, "recv"):  # MicroPython plain socket
            self._send = sock.send
            self._read_mode = _READ_RECV
        else:
            # MicroPython TLS has only the stream methods. A 4 KB write is one TLS record:
            # it goes whole or not at all. The reply is read with the full io timeout
            # instead of slices (see _read_reply).
            self._send = sock.write
            self._read_mode = _READ_STREAM

    def _wrap_tls(self, sock):
        ssl = self._ssl
        if ssl is None:
            raise UploadError("E_TLS_PIN", "this build has no TLS: use an http:// URL")
        if self._pin is None:
            # No CA store on the logger: without a pin nothing would vouch for the server
            # the token is about to be sent to.
            raise UploadError("E_TLS_PIN", "an https URL needs cert_sha256 to pin the server")
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        if hasattr(ctx, "check_hostname"):
            ctx.check_hostname = False  # CPython wants this before CERT_NONE
        # Trust comes from the pin checked below, not from a chain.
        ctx.verify_mode = ssl.CERT_NONE
        tls = ctx.wrap_socket(sock, server_hostname=self._host)
        self._sock = tls
        if not hasattr(tls, "getpeercert"):
            # MicroPython builds without MBEDTLS_SSL_KEEP_PEER_CERTIFICATE (the unix port
            # among them) cannot show the certificate: refuse rather than trust blindly.
            raise UploadError("E_TLS_PIN", "this build cannot read the server certificate")
        der = tls.getpeercert(True)
        if not der or sha256_hex(der) != self._pin:
            raise UploadError(
                "E_TLS_PIN",
                "the server certificate is not the pinned one"
                + (" (sha256 " + sha256_hex(der) + ")" if der else " (none)"),
            )
        return tls

    # -- I/O with deadlines -------------------------------------------------------------

    async def _send_all(self, data, cancelled):
        view = data if isinstance(data, memoryview) else memoryview(data)
        total = len(view)
        sent = 0
        idle_since_ms = self._clock.ticks_ms()
        while sent < total:
            _check(cancelled)
            n = self._send_some(view if sent == 0 else view[sent:])
            if n:
                sent += n
                idle_since_ms = self._clock.ticks_ms()
            else:
                self._check_stall(idle_since_ms, "sending")
                await self._clock.sleep_ms(0)
        await self._clock.sleep_ms(0)  # a turn for the event loop (BLE, a cancel)

    def _send_some(self, view):
        """How many bytes the socket took; 0 when a timeout slice passed first."""
        try:
            n = self._send(view)
        except OSError as exc:
            if not self._is_timeout(exc):
                error = UploadError("E_NETWORK", "send failed: " + _describe(exc))
                error.peer_gone = True
                raise error from None
            return 0
        return n or 0  # MicroPython streams answer None instead of blocking

    async def _read_reply(self, cancelled):
        """Read the answer into the shared buffer: (status, parsed JSON or None)."""
        mv = self._mv
        got = 0
        header_end = -1
        body_bytes = None
        if self._read_mode == _READ_STREAM:
            self._timed_sock.settimeout(self.io_timeout_ms / 1000)
        idle_since_ms = self._clock.ticks_ms()
        while got < len(mv):
            _check(cancelled)
            n = self._receive(mv[got:])
            if n is None:
                self._check_stall(idle_since_ms, "waiting for the reply")
                await self._clock.sleep_ms(0)
                continue
            if n == 0:
                break  # the server closed: the reply is complete
            got += n
            idle_since_ms = self._clock.ticks_ms()
            if header_end < 0:
                header_end = bytes(mv[:got]).find(b"\r\n\r\n")
                if header_end >= 0:
                    body_bytes = _content_length(bytes(mv[:header_end]))
            if body_bytes is not None and got >= header_end + 4 + body_bytes:
                break  # the whole reply, even if the server keeps the socket open
        if got == 0:
            raise UploadError("E_NETWORK", "the server closed without answering")
        return _parse_reply(bytes(mv[:got]))

    def _receive(self, view):
        """Bytes read into view; None when a timeout slice passed first; 0 at the end."""
        sock = self._sock
        try:
            if self._read_mode == _READ_RECV_INTO:
                return sock.recv_into(view)
            if self._read_mode == _READ_RECV:
                data = sock.recv(len(view))  # a small copy, once or twice per file
                view[: len(data)] = data
                return len(data)
            return sock.readinto(view)  # None: would block
        except OSError as exc:
            if self._is_timeout(exc):
                return None
            raise UploadError("E_NETWORK", "receive failed: " + _describe(exc)) from None

    def _check_stall(self, idle_since_ms, doing):
        idle_ms = self._clock.ticks_diff(self._clock.ticks_ms(), idle_since_ms)
        if idle_ms >= self.io_timeout_ms:
            raise UploadError("E_NETWORK", "stalled " + doing + " for " + str(idle_ms) + " ms")

    def _is_timeout(self, exc):
        if self._timeout_exc is not None and isinstance(exc, self._timeout_exc):
            return True
        code = exc.args[0] if exc.args else None
        return code in _TIMEOUT_ERRNOS

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
        lines = [
            "POST " + path + " HTTP/1.0",
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
        lines.append("Content-Length: " + str(length))
        lines.append("Connection: close")
        return ("\r\n".join(lines) + "\r\n\r\n").encode()

    def _open_or_fail(self, path):
        try:
            return self._open(path, "rb")
        except OSError as exc:
            raise UploadError("E_STORAGE", "cannot open " + path + ": " + _describe(exc)) from None

    def _read_chunk(self, f, path):
        try:
            return f.readinto(self._buf)
        except OSError as exc:
            raise UploadError("E_STORAGE", "cannot read " + path + ": " + _describe(exc)) from None

    def _report(self, progress, index, count, done, total, force):
        if progress is None:
            return
        now = self._clock.ticks_ms()
        last = self._last_progress_ms
        if force or last is None or self._clock.ticks_diff(now, last) >= self.progress_interval_ms:
            self._last_progress_ms = now
            progress(index, count, done, total)


def _check_reply(status, reply, sha256, size):
    if status not in (200, 201):
        detail = "HTTP " + str(status)
        if isinstance(reply, dict) and reply.get("error"):
            detail += " " + str(reply.get("error"))
        elif status == 0:
            detail = "not an HTTP reply"
        raise UploadError("E_HTTP", detail, status)
    first = None
    if isinstance(reply, dict) and isinstance(reply.get("files"), list) and reply["files"]:
        first = reply["files"][0]
    echoed = first.get("sha256") if isinstance(first, dict) else None
    if echoed != sha256:
        raise UploadError(
            "E_SERVER_HASH", "sent " + sha256 + ", the server answered " + str(echoed), status
        )
    return {
        "sha256": sha256,
        "bytes": size,
        "duplicate": bool(first.get("duplicate")),
        "status": status,
        "session_id": first.get("session_id"),
    }


def _parse_reply(raw):
    """(status, JSON body or None); status 0 when it is not HTTP at all."""
    end = raw.find(b"\r\n\r\n")
    head = raw if end < 0 else raw[:end]
    first_line = head.split(b"\r\n", 1)[0]
    parts = first_line.split(None, 2)
    if end < 0 or len(parts) < 2 or not parts[0].startswith(b"HTTP/") or not parts[1].isdigit():
        return 0, None
    status = int(parts[1])
    body = raw[end + 4 :]
    length = _content_length(head)
    if length is not None:
        body = body[:length]
    try:
        return status, json.loads(body) if body else None
    except ValueError:
        return status, None


def _content_length(head):
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            value = value.strip()
            return int(value) if value.isdigit() else None
    return None


def _check(cancelled):
    if cancelled():
        raise UploadError("E_CANCELLED", "cancelled during the upload")


def _never():
    return False


def _base_name(path):
    return path.rsplit("/", 1)[-1]


def _quote_form_value(value):
    # As browsers and curl do (WHATWG form encoding): only ", CR and LF are escaped.
    return value.replace('"', "%22").replace("\r", "%0D").replace("\n", "%0A")


def _has_control(text):
    return any(c < " " or c == "\x7f" for c in text)


def _is_hex(text):
    return all(c in "0123456789abcdef" for c in text)


def _describe(exc):
    if exc.args and isinstance(exc.args[0], int):
        return "errno " + str(exc.args[0])
    return repr(exc)


def _default_urandom():
    import os

    return os.urandom


def _print(message):
    print(message)
