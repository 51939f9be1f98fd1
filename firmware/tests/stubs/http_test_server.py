"""A tiny HTTP server on 127.0.0.1, in a thread, for the uploader tests.

The same code runs under CPython and the MicroPython unix port (`_thread`, `socket`), so
the uploader meets a real socket in both. It plays the backend's upload contract: it
streams the multipart body through a fixed buffer, hashes the file part and echoes its
SHA-256 (201, or 200 and duplicate for bytes it saw before). Each connection takes the
next behaviour from `modes` ("ok" once the list is empty):

    ok            read everything, answer like /api/upload (or {"ok": true} for JSON)
    status:NNN    read everything, answer NNN with the backend's error shape
    early:NNN     answer NNN after the request head, without reading the body, and close
    garbage       read everything, answer bytes that are not HTTP
    wrong_hash    read everything, answer 201 echoing a different SHA-256
    no_hash       read everything, answer 201 without files
    stall         read everything, then never answer (until the client hangs up)
    hang          accept, never read, never answer
    close         accept and close at once
    keepalive     answer ok but leave the socket open (the client must stop at the length)
    delay:MS      read everything, wait MS, answer ok
    no_proof      answer ok, echoing the hash but with no proof (a host without the key)
    bad_proof     answer ok, echoing the hash with a proof made with another key

With `ack_key` (the sync's 32 bytes) each file's answer carries the backend's proof,
HMAC-SHA256(ack_key, "<sha256>:<bytes>") in hex (docs/api.md), made here independently
of the firmware's code; without it, no proof field (a token without a sync).

Only 127.0.0.1 is ever bound.
"""

import _thread
import binascii
import hashlib
import json
import os
import socket
import time

_MPY = hasattr(time, "sleep_ms")


def _sleep_ms(ms):
    if _MPY:
        time.sleep_ms(ms)
    else:
        time.sleep(ms / 1000)


def _is_timeout(exc):
    if not _MPY and isinstance(exc, socket.timeout):
        return True
    return bool(exc.args) and exc.args[0] in (11, 110)


class _Body:
    """Counts a request body and hashes its file part, chunk by chunk."""

    def __init__(self, length, boundary):
        self.length = length
        self.pos = 0
        self.hasher = hashlib.sha256()
        self.file_bytes = 0
        if boundary is None:
            self.start = 0
            self.end = length
        else:
            self.start = None
            self.end = length - len(b"\r\n--" + boundary + b"--\r\n")
        self.prefix = b""
        self.kept = bytearray() if length <= 65536 else None

    def feed(self, view):
        n = len(view)
        if self.kept is not None:
            self.kept.extend(bytes(view))
        if self.start is None and len(self.prefix) < 2048:
            before = len(self.prefix)
            self.prefix += bytes(view[: 2048 - before])
            i = self.prefix.find(b"\r\n\r\n")
            if i >= 0:
                self.start = i + 4
        if self.start is not None:
            lo = max(self.start, self.pos)
            hi = min(self.end, self.pos + n)
            if hi > lo:
                self.hasher.update(view[lo - self.pos : hi - self.pos])
                self.file_bytes += hi - lo
        self.pos += n


def _hmac_sha256_hex(key, message):
    block = 64
    if len(key) > block:
        key = hashlib.sha256(key).digest()
    padded = bytearray(block)
    padded[: len(key)] = key
    ipad = bytes([b ^ 0x36 for b in padded])
    opad = bytes([b ^ 0x5C for b in padded])
    inner = hashlib.sha256(ipad + message).digest()
    return binascii.hexlify(hashlib.sha256(opad + inner).digest()).decode()


class ScriptedServer:
    def __init__(self, modes=None, tls_context=None, buf_bytes=4096, ack_key=None):
        self.modes = list(modes or [])
        self.ack_key = ack_key
        self.requests = []
        self.errors = []
        self.connections = 0
        self.seen_sha256 = []
        self.port = None
        self._tls = tls_context
        self._buf = bytearray(buf_bytes)
        self._mv = memoryview(self._buf)
        self._stop = False
        self._running = False
        self._sock = None

    # -- life cycle -----------------------------------------------------------------------

    def start(self):
        s = socket.socket()
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.port = _bind_loopback(s)
        s.listen(8)
        s.settimeout(0.05)
        self._sock = s
        self._running = True
        _thread.start_new_thread(self._serve, ())
        return self.port

    def stop(self):
        self._stop = True
        for _ in range(200):
            if not self._running:
                break
            _sleep_ms(10)
        self._sock.close()

    def wait_requests(self, count, timeout_ms=3000):
        """Wait until `count` requests are fully seen (read to their end, or cut off):
        the client may be done long before this thread is."""
        for _ in range(timeout_ms // 10):
            seen = [r for r in self.requests if "received" in r or "error" in r]
            if len(seen) >= count:
                return True
            _sleep_ms(10)
        return False

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc):
        self.stop()

    # -- serving --------------------------------------------------------------------------

    def _serve(self):
        try:
            while not self._stop:
                try:
                    conn, _ = self._sock.accept()
                except OSError:
                    continue  # a timeout slice: look at the stop flag
                self.connections += 1
                mode = self.modes.pop(0) if self.modes else "ok"
                try:
                    self._handle(conn, mode)
                except Exception as exc:
                    self.errors.append(repr(exc))
                finally:
                    conn.close()
        finally:
            self._running = False

    def _handle(self, conn, mode):
        if self._tls is None:
            self._exchange(conn, mode)
            return
        conn.settimeout(5)
        tls = self._tls.wrap_socket(conn, server_side=True)
        try:
            self._exchange(tls, mode)
        finally:
            tls.close()

    def _exchange(self, conn, mode):
        conn.settimeout(0.05)
        if mode == "close":
            return
        if mode == "hang":
            self._wait_for_hangup(conn, read=False)
            return
        record = {"mode": mode, "complete": False}
        self.requests.append(record)
        got, head_end = self._read_head(conn)
        if head_end < 0:
            record["error"] = "no request head"
            return
        head = bytes(self._mv[:head_end]).decode()
        lines = head.split("\r\n")
        parts = lines[0].split(" ")
        record["method"], record["path"], record["version"] = parts[0], parts[1], parts[2]
        headers = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        record["headers"] = headers
        record["head_order"] = [line.partition(":")[0] for line in lines[1:]]
        if mode.startswith("early:"):
            self._answer(conn, int(mode[6:]), {"ok": False, "error": "early"})
            return
        length = int(headers.get("content-length", "0"))
        boundary = None
        ctype = headers.get("content-type", "")
        if ctype.startswith("multipart/form-data"):
            boundary = ctype.split("boundary=", 1)[1].encode()
        body = _Body(length, boundary)
        leftover = got - head_end - 4
        if leftover > 0:
            body.feed(self._mv[head_end + 4 : got])
        if not self._read_body(conn, body):
            record["received"] = body.pos
            return
        record["received"] = body.pos
        record["complete"] = True
        record["file_bytes"] = body.file_bytes
        sha256 = binascii.hexlify(body.hasher.digest()).decode()
        record["file_sha256"] = sha256
        if body.kept is not None:
            record["body"] = bytes(body.kept)
        self._reply(conn, mode, boundary is not None, sha256, body.file_bytes)

    def _reply(self, conn, mode, is_upload, sha256, nbytes):
        if mode == "stall":
            self._wait_for_hangup(conn, read=True)
            return
        if mode.startswith("status:"):
            self._answer(conn, int(mode[7:]), {"ok": False, "error": "scripted"})
            return
        if mode == "garbage":
            conn.sendall(b"220 smtp.example ESMTP ready\r\n\r\nhello")
            return
        if mode.startswith("delay:"):
            _sleep_ms(int(mode[6:]))
        if not is_upload:
            self._answer(conn, 200, {"ok": True})
            return
        echoed = sha256
        if mode == "wrong_hash":
            echoed = "0" * 64
        duplicate = sha256 in self.seen_sha256
        self.seen_sha256.append(sha256)
        entry = {
            "filename": "x.csv",
            "sha256": echoed,
            "bytes": nbytes,
            "session_id": "s" + sha256[:8],
            "status": "queued",
            "duplicate": duplicate,
        }
        if self.ack_key is not None and mode != "no_proof":
            key = b"\x00" * 32 if mode == "bad_proof" else self.ack_key
            entry["proof"] = _hmac_sha256_hex(key, (echoed + ":" + str(nbytes)).encode())
        files = [entry]
        self._answer(conn, 200 if duplicate else 201, {"files": [] if mode == "no_hash" else files})
        if mode == "keepalive":
            self._wait_for_hangup(conn, read=True)

    # -- socket helpers -------------------------------------------------------------------

    def _recv(self, conn, view):
        """Bytes read into view; None for a timeout slice; 0 at the end."""
        try:
            if hasattr(conn, "recv_into"):
                return conn.recv_into(view)
            # MicroPython: readinto would loop to fill the view and drop what it read
            # when a timeout cuts in; recv makes one attempt.
            data = conn.recv(len(view))
            view[: len(data)] = data
            return len(data)
        except OSError as exc:
            if _is_timeout(exc):
                return None
            raise

    def _read_head(self, conn):
        got = 0
        for _ in range(200):  # 10 s at most
            if self._stop:
                break
            n = self._recv(conn, self._mv[got:])
            if n is None:
                continue
            if n == 0:
                break
            got += n
            end = bytes(self._mv[:got]).find(b"\r\n\r\n")
            if end >= 0:
                return got, end
            if got == len(self._buf):
                break
        return got, -1

    def _read_body(self, conn, body):
        idle = 0
        while body.pos < body.length:
            if self._stop or idle > 200:
                return False
            want = min(len(self._buf), body.length - body.pos)
            n = self._recv(conn, self._mv[:want])
            if n is None:
                idle += 1
                continue
            if n == 0:
                return False
            idle = 0
            body.feed(self._mv[:n])
        return True

    def _wait_for_hangup(self, conn, read):
        while not self._stop:
            if not read:
                _sleep_ms(20)
                continue
            try:
                n = self._recv(conn, self._mv)
            except OSError:
                return
            if n == 0:
                return

    def _answer(self, conn, status, payload):
        body = json.dumps(payload).encode()
        head = (
            "HTTP/1.1 "
            + str(status)
            + " Scripted\r\nContent-Type: application/json\r\nContent-Length: "
            + str(len(body))
            + "\r\nConnection: close\r\n\r\n"
        ).encode()
        conn.sendall(head + body)


def _bind_loopback(sock):
    if hasattr(sock, "getsockname"):  # CPython: let the kernel choose
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]
    # MicroPython has no getsockname: try ports from a random start.
    seed = os.urandom(2)
    base = 20000 + ((seed[0] << 8) | seed[1]) % 30000
    for port in range(base, base + 500):
        try:
            sock.bind(socket.getaddrinfo("127.0.0.1", port)[0][-1])
        except OSError:
            continue
        return port
    raise OSError("no free port on 127.0.0.1")


class LoopbackResolver:
    """A getaddrinfo for tests that never asks a real resolver: `names` maps made-up host
    names to 127.0.0.1; names in `fail` raise like an unresolvable name; anything else
    but 127.0.0.1 raises too. `calls` lists the names asked for."""

    def __init__(self, names=None, fail=()):
        self.names = names or {}
        self.fail = fail
        self.calls = []

    def __call__(self, host, port, *rest):
        self.calls.append(host)
        if host in self.fail:
            raise OSError(-2)  # EAI_NONAME
        ip = self.names.get(host, host)
        if ip != "127.0.0.1":
            raise OSError(-2)
        return socket.getaddrinfo(ip, port, 0, socket.SOCK_STREAM)
