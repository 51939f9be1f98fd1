"""The raw-socket upload clients, checked against a tiny echo server on a real socket.

The echo server records every byte it receives on a connection and answers a fixed JSON,
so each test can compare what went over the wire with what the client library claims to
send, and check the library's response reading and 100-continue handling both ways.
"""

from __future__ import annotations

import email.message
import email.parser
import email.policy
import gzip
import queue
import re
import socket
import socketserver
import threading
import time
import zlib
from collections.abc import Iterator
from typing import Any

import pytest

import http_clients as hc

TOKEN = "t0ken"
CSV = b"t,lat,lon,speed\n0.00,51.5000,-1.0000,12.5\n0.10,51.5001,-1.0001,12.7\n"
ECHO_JSON = b'{"ok": true, "server": "echo"}'
MULTIPART_BUILDERS = ("micropython_multipart", "curl", "browser_formdata")


# --------------------------------------------------------------------------------------
# Echo server
# --------------------------------------------------------------------------------------


class EchoServer(socketserver.ThreadingTCPServer):
    """Records the raw bytes of each connection, then answers a fixed JSON.

    expect_mode: what to do with `Expect: 100-continue`: "continue" (send 100),
    "reject" (answer 401 at once, never read the body) or "ignore" (say nothing).
    early_reject: answer 413 right after the head of any request, discard the body.
    response_mode: frame the answer by "length", "chunked" or connection "close".
    """

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), EchoHandler)
        self.received: queue.Queue[bytes] = queue.Queue()
        self.expect_mode = "continue"
        self.early_reject = False
        self.response_mode = "length"
        self.body_timeout = 2.0

    @property
    def port(self) -> int:
        return int(self.server_address[1])

    def next_request(self, timeout: float = 10.0) -> bytes:
        return self.received.get(timeout=timeout)


class EchoHandler(socketserver.BaseRequestHandler):
    server: EchoServer

    def handle(self) -> None:
        sock: socket.socket = self.request
        sock.settimeout(self.server.body_timeout)
        raw = bytearray()
        try:
            status = self.receive(sock, raw)
        except TimeoutError:
            status = 408  # the announced body never came
        except OSError:
            status = 0  # reset: nobody to answer
        try:
            if status:
                self.reply(sock, status)
                sock.shutdown(socket.SHUT_WR)
            # Drain until the client closes, so a body sent after our answer is seen
            # (and our close never turns into a reset over unread data).
            sock.settimeout(1.0)
            while data := sock.recv(65536):
                raw += data
        except OSError:
            pass
        self.server.received.put(bytes(raw))

    def receive(self, sock: socket.socket, raw: bytearray) -> int:
        def need(size: int) -> bool:
            while len(raw) < size:
                data = sock.recv(65536)
                if not data:
                    return False
                raw.extend(data)
            return True

        def need_line(start: int) -> int:
            while (end := raw.find(b"\r\n", start)) < 0:
                if not need(len(raw) + 1):
                    return -1
            return end

        while (head_end := raw.find(b"\r\n\r\n")) < 0:
            if not need(len(raw) + 1):
                return 400
        headers = {}
        for line in raw[:head_end].decode("utf-8").split("\r\n")[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        position = head_end + 4
        if self.server.early_reject:
            return 413
        if headers.get("expect", "").lower() == "100-continue":
            if self.server.expect_mode == "reject":
                return 401
            if self.server.expect_mode == "continue":
                sock.sendall(b"HTTP/1.1 100 Continue\r\n\r\n")
        if headers.get("transfer-encoding", "").lower() == "chunked":
            while True:
                end = need_line(position)
                if end < 0:
                    return 400
                size = int(raw[position:end].split(b";")[0], 16)
                position = end + 2 + size + 2  # data, then its CRLF (or the final CRLF)
                if not need(position):
                    return 400
                if size == 0:
                    return 200
        if "content-length" in headers:
            return 200 if need(position + int(headers["content-length"])) else 400
        return 200

    def reply(self, sock: socket.socket, status: int) -> None:
        reason = {200: "OK", 400: "Bad Request", 401: "Unauthorized"}.get(status, "Error")
        body = ECHO_JSON if status == 200 else b'{"ok": false}'
        head = f"HTTP/1.1 {status} {reason}\r\nContent-Type: application/json\r\n"
        mode = self.server.response_mode
        if mode == "length":
            head += f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
            sock.sendall(head.encode() + body)
        elif mode == "chunked":
            head += "Transfer-Encoding: chunked\r\n\r\n"
            half = len(body) // 2
            framed = b"".join(b"%x\r\n%s\r\n" % (len(c), c) for c in (body[:half], body[half:]))
            sock.sendall(head.encode() + framed + b"0\r\n\r\n")
        else:
            sock.sendall((head + "Connection: close\r\n\r\n").encode() + body)


@pytest.fixture
def server() -> Iterator[EchoServer]:
    srv = EchoServer()
    thread = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        yield srv
    finally:
        srv.shutdown()
        srv.server_close()
        thread.join(5)


def build(name: str, server: EchoServer, data: bytes = CSV, **kwargs: Any) -> hc.Request:
    return hc.BUILDERS[name]("127.0.0.1", server.port, TOKEN, data, "run1.csv", **kwargs)


def head(*lines: str) -> bytes:
    """A request head from its lines: CRLF after each, then the blank line."""
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def split_head(raw: bytes) -> tuple[list[str], bytes]:
    head, _, body = raw.partition(b"\r\n\r\n")
    return head.decode("utf-8").split("\r\n"), body


def file_parts(content_type: str, body: bytes) -> list[tuple[str | None, str | None, bytes]]:
    """(field name, filename, payload) of each part, parsed by the stdlib email parser."""
    parser = email.parser.BytesParser(email.message.EmailMessage, policy=email.policy.HTTP)
    message = parser.parsebytes(f"Content-Type: {content_type}\r\n\r\n".encode() + body)
    parts: list[tuple[str | None, str | None, bytes]] = []
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        payload = part.get_payload(decode=True)
        parts.append(
            (
                name if isinstance(name, str) else None,
                part.get_filename(),
                payload if isinstance(payload, bytes) else b"",
            )
        )
    return parts


# --------------------------------------------------------------------------------------
# Each client, byte for byte
# --------------------------------------------------------------------------------------


def test_micropython_requests_exact_bytes(server: EchoServer) -> None:
    req = build("micropython_requests", server, sha256=hc.sha256_hex(CSV), sync_id="s-7")
    expected = (
        head(
            "POST /api/upload HTTP/1.0",
            "Authorization: Bearer t0ken",
            "X-Filename: run1.csv",
            f"X-Content-SHA256: {hc.sha256_hex(CSV)}",
            "X-Sync-Id: s-7",
            "Host: 127.0.0.1",  # requests strips the port from Host
            f"Content-Length: {len(CSV)}",
            "Connection: close",
        )
        + CSV
    )
    assert req.wire_bytes() == expected
    response = hc.send(req, "127.0.0.1", server.port)
    assert server.next_request() == expected
    assert response.status == 200
    assert response.json() == {"ok": True, "server": "echo"}
    assert response.headers.get("content-type") == "application/json"
    assert response.body_bytes_sent == len(CSV)


def test_micropython_requests_empty_upload_has_no_content_length(server: EchoServer) -> None:
    req = build("micropython_requests", server, data=b"")
    assert req.header("Content-Length") is None  # `if data:` in requests
    assert hc.send(req, "127.0.0.1", server.port).status == 200
    assert server.next_request().endswith(b"Host: 127.0.0.1\r\nConnection: close\r\n\r\n")


def test_micropython_multipart_head_and_part(server: EchoServer) -> None:
    req = build("micropython_multipart", server, device_id="rs-core-01")
    response = hc.send(req, "127.0.0.1", server.port)
    raw = server.next_request()
    assert raw == req.wire_bytes() and response.status == 200
    lines, body = split_head(raw)
    match = re.fullmatch(
        r"Content-Type: multipart/form-data; boundary=(rscore[0-9a-f]{24})", lines[4]
    )
    assert match is not None
    assert lines == [
        "POST /api/upload HTTP/1.0",
        f"Host: 127.0.0.1:{server.port}",
        f"Authorization: Bearer {TOKEN}",
        "X-Device-Id: rs-core-01",
        f"Content-Type: multipart/form-data; boundary={match[1]}",
        f"Content-Length: {len(body)}",
        "Connection: close",
    ]
    part_head = head(
        f"--{match[1]}",
        'Content-Disposition: form-data; name="file"; filename="run1.csv"',
        "Content-Type: text/csv",
    )
    assert body == part_head + CSV + f"\r\n--{match[1]}--\r\n".encode()


def test_esp_idf_exact_bytes(server: EchoServer) -> None:
    req = build("esp_idf", server)
    expected = (
        head(
            "POST /api/upload HTTP/1.1",
            "User-Agent: ESP32 HTTP Client/1.0",
            f"Host: 127.0.0.1:{server.port}",
            "Authorization: Bearer t0ken",
            "X-Filename: run1.csv",
            "Content-Type: application/x-www-form-urlencoded",  # the default, even for CSV
            f"Content-Length: {len(CSV)}",
        )
        + CSV
    )
    assert req.wire_bytes() == expected
    assert hc.send(req, "127.0.0.1", server.port).status == 200
    assert server.next_request() == expected


def test_esp_idf_chunked_framing(server: EchoServer) -> None:
    data = bytes(range(256)) * 10  # 2560 bytes: chunks of 1024, 1024, 512
    req = build("esp_idf", server, data=data, chunked=True)
    assert req.header("Content-Length") is None and req.header("Content-Type") is None
    response = hc.send(req, "127.0.0.1", server.port)
    raw = server.next_request()
    assert response.status == 200 and raw == req.wire_bytes()
    lines, body = split_head(raw)
    assert lines[-1] == "Transfer-Encoding: chunked"
    sizes, payload, position = [], b"", 0
    while True:
        end = body.index(b"\r\n", position)
        size = int(body[position:end], 16)
        sizes.append(size)
        payload += body[end + 2 : end + 2 + size]
        assert body[end + 2 + size : end + 4 + size] == b"\r\n"
        position = end + 4 + size
        if size == 0:
            break
    assert sizes == [1024, 1024, 512, 0] and payload == data and position == len(body)
    assert body.startswith(b"400\r\n")  # lower-case hex, no padding


def test_arduino_exact_bytes(server: EchoServer) -> None:
    req = build("arduino", server)
    expected = (
        head(
            "POST /api/upload HTTP/1.1",
            f"Host: 127.0.0.1:{server.port}",
            "User-Agent: ESP32HTTPClient",
            "Connection: keep-alive",
            "Accept-Encoding: identity;q=1,chunked;q=0.1,*;q=0",
            "Content-Type: text/csv",
            "Authorization: Bearer t0ken",
            "X-Filename: run1.csv",
            f"Content-Length: {len(CSV)}",
        )
        + CSV
    )
    assert req.wire_bytes() == expected
    assert b"Expect" not in expected
    assert hc.send(req, "127.0.0.1", server.port).status == 200
    assert server.next_request() == expected
    assert build("arduino", server, data=b"").header("Content-Length") is None


def test_curl_head_and_boundary(server: EchoServer) -> None:
    req = build("curl", server, sync_id="sync-42")
    response = hc.send(req, "127.0.0.1", server.port)
    raw = server.next_request()
    assert raw == req.wire_bytes() and response.status == 200
    lines, body = split_head(raw)
    boundary = lines[-1].removeprefix("Content-Type: multipart/form-data; boundary=")
    assert re.fullmatch(r"-{24}[A-Za-z0-9]{22}", boundary)
    assert lines == [
        "POST /api/upload HTTP/1.1",
        f"Host: 127.0.0.1:{server.port}",
        f"User-Agent: curl/{hc.CURL_VERSION}",
        "Accept: */*",
        f"Authorization: Bearer {TOKEN}",
        "X-Sync-Id: sync-42",
        f"Content-Length: {len(body)}",
        f"Content-Type: multipart/form-data; boundary={boundary}",
    ]
    assert body.startswith(f"--{boundary}\r\n".encode())
    assert b"Content-Type: application/octet-stream\r\n\r\n" in body  # .csv is not in curl's table


def test_curl_expect_only_above_one_mib() -> None:
    overhead = len(hc.curl("h", 80, TOKEN, b"", "a.csv").body_bytes())
    at_threshold = hc.curl("h", 80, TOKEN, bytes(hc.MIB - overhead), "a.csv")
    above = hc.curl("h", 80, TOKEN, bytes(hc.MIB - overhead + 1), "a.csv")
    assert len(at_threshold.body_bytes()) == hc.CURL_EXPECT_100_THRESHOLD
    assert at_threshold.header("Expect") is None
    assert above.header("Expect") == "100-continue"
    assert above.headers[-1] == ("Expect", "100-continue")
    assert above.header("Host") == "h"  # port 80 is left out


def test_browser_formdata_secure_context_headers(server: EchoServer) -> None:
    req = build("browser_formdata", server)
    response = hc.send(req, "127.0.0.1", server.port)
    raw = server.next_request()
    assert raw == req.wire_bytes() and response.status == 200
    lines, body = split_head(raw)
    names = [line.split(":", 1)[0] for line in lines[1:]]
    assert names == [
        "Host", "Connection", "Content-Length", "sec-ch-ua-platform", "Authorization",
        "User-Agent", "sec-ch-ua", "Content-Type", "sec-ch-ua-mobile", "Accept", "Origin",
        "Sec-Fetch-Site", "Sec-Fetch-Mode", "Sec-Fetch-Dest", "Referer", "Accept-Encoding",
        "Accept-Language",
    ]  # fmt: skip
    assert req.header("Origin") == f"http://127.0.0.1:{server.port}"
    assert req.header("Sec-Fetch-Site") == "same-origin"
    assert req.header("Content-Length") == str(len(body))
    assert re.fullmatch(
        r"multipart/form-data; boundary=----WebKitFormBoundary[A-Za-z0-9]{16}",
        req.header("Content-Type") or "",
    )


def test_browser_formdata_plain_http_lan_has_no_client_hints() -> None:
    req = hc.browser_formdata("192.168.4.1", 8000, TOKEN, CSV, "run1.csv")
    names = [name for name, _ in req.headers]
    assert names == [
        "Host", "Connection", "Content-Length", "Authorization", "User-Agent", "Content-Type",
        "Accept", "Origin", "Referer", "Accept-Encoding", "Accept-Language",
    ]  # fmt: skip
    assert req.header("Accept-Encoding") == "gzip, deflate"
    assert req.header("Referer") == "http://192.168.4.1:8000/"


@pytest.mark.parametrize("name", MULTIPART_BUILDERS)
def test_multipart_bodies_parse(name: str, server: EchoServer) -> None:
    req = build(name, server)
    hc.send(req, "127.0.0.1", server.port)
    _, body = split_head(server.next_request())
    content_type = req.header("Content-Type") or ""
    assert int(req.header("Content-Length") or -1) == len(body)
    assert file_parts(content_type, body) == [("file", "run1.csv", CSV)]


@pytest.mark.parametrize("name", MULTIPART_BUILDERS)
def test_multipart_bodies_parse_with_python_multipart(name: str) -> None:
    python_multipart = pytest.importorskip("python_multipart")
    req = hc.BUILDERS[name]("h", 8000, TOKEN, CSV, "run1.csv")
    boundary = (req.header("Content-Type") or "").split("boundary=", 1)[1]
    parts: list[dict[str, Any]] = []
    current: dict[str, Any] = {}

    def on_part_begin() -> None:
        current.clear()
        current.update(headers=[], field=b"", value=b"", data=b"")

    def on_header_field(data: bytes, start: int, end: int) -> None:
        current["field"] += data[start:end]

    def on_header_value(data: bytes, start: int, end: int) -> None:
        current["value"] += data[start:end]

    def on_header_end() -> None:
        current["headers"].append((current["field"], current["value"]))
        current.update(field=b"", value=b"")

    def on_part_data(data: bytes, start: int, end: int) -> None:
        current["data"] += data[start:end]

    def on_part_end() -> None:
        parts.append(dict(current))

    parser = python_multipart.MultipartParser(
        boundary,
        {
            "on_part_begin": on_part_begin,
            "on_header_field": on_header_field,
            "on_header_value": on_header_value,
            "on_header_end": on_header_end,
            "on_part_data": on_part_data,
            "on_part_end": on_part_end,
        },
    )
    parser.write(req.body_bytes())
    parser.finalize()
    assert len(parts) == 1 and parts[0]["data"] == CSV
    headers = dict(parts[0]["headers"])
    assert headers[b"Content-Disposition"] == b'form-data; name="file"; filename="run1.csv"'


# --------------------------------------------------------------------------------------
# gzip and the gzip bomb
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", list(hc.BUILDERS))
def test_gzip_round_trip(name: str, server: EchoServer) -> None:
    kwargs: dict[str, Any] = {"boundary": "fixedboundary42"} if name in MULTIPART_BUILDERS else {}
    plain = build(name, server, **kwargs)
    req = build(name, server, gzip=True, **kwargs)
    assert req.header("Content-Encoding") == "gzip"
    response = hc.send(req, "127.0.0.1", server.port)
    assert response.status == 200
    _, body = split_head(server.next_request())
    assert int(req.header("Content-Length") or -1) == len(body)
    assert gzip.decompress(body) == plain.body_bytes()


def test_gzip_round_trip_chunked(server: EchoServer) -> None:
    data = CSV * 200
    req = build("esp_idf", server, data=data, gzip=True, chunked=True)
    hc.send(req, "127.0.0.1", server.port)
    assert server.next_request() == req.wire_bytes()
    assert gzip.decompress(req.body_bytes()) == data


def count_zeros_streaming(compressed: bytes, layers: int, cap: int = 2 * hc.GIB) -> tuple[int, int]:
    """Decompress `layers` nested gzip layers, 1 MiB at a time; (zeros, other bytes).

    Stops at `cap`, like a careful server would, so a broken bomb cannot hang the test.
    """

    def inflate(chunks: Iterator[bytes]) -> Iterator[bytes]:
        decompressor = zlib.decompressobj(31)
        for chunk in chunks:
            pending = chunk
            while pending:
                out = decompressor.decompress(pending, hc.MIB)
                pending = decompressor.unconsumed_tail
                if out:
                    yield out
        if tail := decompressor.flush():
            yield tail

    stream: Iterator[bytes] = iter([compressed])
    for _ in range(layers):
        stream = inflate(stream)
    zeros = other = 0
    for out in stream:
        count = out.count(0)
        zeros += count
        other += len(out) - count
        if zeros + other > cap:
            break
    return zeros, other


def test_gzip_bomb_one_layer(server: EchoServer) -> None:
    started = time.monotonic()
    req = hc.gzip_bomb("127.0.0.1", server.port, TOKEN)
    body = req.body_bytes()
    assert req.header("Content-Encoding") == "gzip"
    assert req.header("Content-Length") == str(len(body))
    assert req.header("X-Filename") == "bomb.csv"
    assert len(body) < 1_200_000  # deflate tops out near 1030:1
    zeros, other = count_zeros_streaming(body, layers=1)
    assert zeros == hc.GIB + hc.MIB > 10**9 and other == 0
    hc.send(req, "127.0.0.1", server.port)
    assert server.next_request() == req.wire_bytes()
    assert time.monotonic() - started < 60


def test_gzip_bomb_two_layers_multipart() -> None:
    req = hc.gzip_bomb("h", 8000, TOKEN, builder=hc.curl, layers=2)
    body = req.body_bytes()
    assert req.header("Content-Encoding") == "gzip, gzip"
    assert req.header("Content-Length") == str(len(body))
    assert len(body) < 4096  # a few KB on the wire
    zeros, other = count_zeros_streaming(body, layers=2)
    assert zeros >= hc.GIB + hc.MIB and 0 < other < 1000  # the multipart framing


# --------------------------------------------------------------------------------------
# 100-continue, early answers, response framing
# --------------------------------------------------------------------------------------


def big_curl_upload(server: EchoServer) -> hc.Request:
    req = build("curl", server, data=b"x" * (hc.MIB + 10))
    assert req.expects_continue
    return req


def test_expect_100_continue_then_200(server: EchoServer) -> None:
    req = big_curl_upload(server)
    response = hc.send(req, "127.0.0.1", server.port)
    assert response.status == 200 and response.interim == [100]
    assert response.raw.startswith(b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\n")
    assert response.body_bytes_sent == len(req.body_bytes())
    assert server.next_request() == req.wire_bytes()


def test_expect_100_continue_rejected_body_never_sent(server: EchoServer) -> None:
    server.expect_mode = "reject"
    req = big_curl_upload(server)
    started = time.monotonic()
    response = hc.send(req, "127.0.0.1", server.port, expect_continue_wait=5.0)
    assert time.monotonic() - started < 4  # answered, not waited out
    assert response.status == 401 and response.json() == {"ok": False}
    assert response.body_bytes_sent == 0
    # Everything the server ever received on that connection, drained until our close:
    assert server.next_request() == req.head_bytes()


def test_expect_100_continue_silent_server_body_sent_after_wait(server: EchoServer) -> None:
    server.expect_mode = "ignore"
    req = big_curl_upload(server)
    started = time.monotonic()
    response = hc.send(req, "127.0.0.1", server.port, expect_continue_wait=0.3)
    assert time.monotonic() - started >= 0.3
    assert response.status == 200 and response.interim == []
    assert server.next_request() == req.wire_bytes()


def test_early_final_response_stops_the_upload(server: EchoServer) -> None:
    server.early_reject = True
    req = build("micropython_requests", server, data=bytes(32 * hc.MIB))
    response = hc.send(req, "127.0.0.1", server.port)
    assert response.status == 413
    assert response.body_bytes_sent < 32 * hc.MIB


@pytest.mark.parametrize("mode", ["length", "chunked", "close"])
def test_response_framings(mode: str, server: EchoServer) -> None:
    server.response_mode = mode
    response = hc.send(build("arduino", server), "127.0.0.1", server.port)
    assert response.status == 200 and response.reason == "OK" and response.complete
    assert response.body == ECHO_JSON and response.json()["ok"] is True
    assert response.headers["CONTENT-TYPE"] == "application/json"
    assert ("Transfer-Encoding" in response.headers) == (mode == "chunked")


# --------------------------------------------------------------------------------------
# Hostile helpers
# --------------------------------------------------------------------------------------


def test_lying_content_length_longer_than_body(server: EchoServer) -> None:
    server.body_timeout = 0.5
    req = hc.lying_content_length(build("micropython_requests", server), len(CSV) + 100)
    assert req.header("Content-Length") == str(len(CSV) + 100) and req.body == CSV
    response = hc.send(req, "127.0.0.1", server.port, timeout=10)
    assert response.status == 408  # the echo server gave up waiting
    assert server.next_request() == req.wire_bytes()


def test_lying_content_length_shorter_than_body(server: EchoServer) -> None:
    req = hc.lying_content_length(build("esp_idf", server), 5)
    lines, _ = split_head(req.wire_bytes())
    assert lines[-1] == "Content-Length: 5"  # replaced in place, order kept
    assert hc.send(req, "127.0.0.1", server.port).status == 200
    assert server.next_request() == req.wire_bytes()  # the rest was drained, unread


def test_cut_off_half_close_returns_the_answer(server: EchoServer) -> None:
    full = build("micropython_multipart", server)
    cut = len(full.head_bytes()) + 20
    req = hc.cut_off(full, cut)
    with pytest.raises(ValueError, match="send_cut_off"):
        hc.send(req, "127.0.0.1", server.port)
    raw = hc.send_cut_off(req, "127.0.0.1", server.port)
    assert server.next_request() == full.wire_bytes()[:cut]
    response = hc.parse_response(raw)
    assert response is not None and response.status == 400  # the echo server saw EOF


def test_cut_off_reset_tolerated(server: EchoServer) -> None:
    full = build("curl", server)
    req = hc.cut_off(full, 50)  # inside the head
    assert hc.send_cut_off(req, "127.0.0.1", server.port, reset=True) == b""
    assert server.next_request() == full.wire_bytes()[:50]
    assert hc.parse_response(b"") is None


def test_slow_request_is_paced(server: EchoServer) -> None:
    req = hc.slow(build("micropython_requests", server), bytes_per_second=2000)
    size = len(req.wire_bytes())
    started = time.monotonic()
    assert hc.send(req, "127.0.0.1", server.port).status == 200
    elapsed = time.monotonic() - started
    assert elapsed >= 0.8 * (size - 100) / 2000
    assert server.next_request() == req.wire_bytes()


@pytest.mark.parametrize("kind", hc.MULTIPART_GARBAGE_KINDS)
def test_multipart_garbage(kind: str, server: EchoServer) -> None:
    req = hc.multipart_garbage("127.0.0.1", server.port, TOKEN, kind=kind)
    body = req.body_bytes()
    assert req.header("Content-Length") == str(len(body))
    good = hc.curl("127.0.0.1", server.port, TOKEN, CSV, "garbage.csv")
    assert body != good.body_bytes()
    hc.send(req, "127.0.0.1", server.port)
    assert server.next_request() == req.wire_bytes()
    if kind in ("boundary_mismatch", "no_file_part", "no_content_disposition", "two_file_parts"):
        files = [p for p in file_parts(req.header("Content-Type") or "", body) if p[1]]
        assert len(files) != 1


def test_path_traversal_filenames(server: EchoServer) -> None:
    requests = hc.path_traversal_filename("127.0.0.1", server.port, TOKEN)
    assert len(requests) == len(hc.TRAVERSAL_FILENAMES) * len(hc.BUILDERS)
    for req in requests:
        name = req.label.split(":", 1)[1]
        assert name in hc.TRAVERSAL_FILENAMES
        if req.header("X-Filename") is not None:
            assert req.header("X-Filename") == name
        else:
            disposition = f'filename="{name}"'.encode()  # backslashes untouched
            assert disposition in req.body_bytes()
        hc.send(req, "127.0.0.1", server.port)
        assert server.next_request() == req.wire_bytes()


def test_request_helpers_do_not_mutate_the_original() -> None:
    req = hc.curl("h", 8000, TOKEN, CSV, "a.csv")
    before = req.wire_bytes()
    hc.lying_content_length(req, 1)
    hc.slow(hc.cut_off(req, 3), 10)
    assert req.wire_bytes() == before and req.cut_after is None


def test_no_response_raises(server: EchoServer) -> None:
    # A server that reads the request and closes without a word.
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]

    def accept_and_close() -> None:
        conn, _ = listener.accept()
        conn.recv(65536)
        conn.close()

    thread = threading.Thread(target=accept_and_close)
    thread.start()
    try:
        with pytest.raises(hc.NoResponse):
            hc.send(
                hc.micropython_requests("127.0.0.1", port, TOKEN, CSV, "a.csv"), "127.0.0.1", port
            )
    finally:
        thread.join(5)
        listener.close()
