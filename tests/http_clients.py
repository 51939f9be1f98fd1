"""Raw-socket HTTP clients that send what real upload clients send, byte for byte.

The upload tests talk to a real `racesense serve` over a real socket. A friendly client
such as `http.client` would hide what matters there: header order and case, HTTP/1.0
without keep-alive, `Expect: 100-continue`, chunk framing written by hand, a
`Content-Type` that lies about the body. So each builder here reproduces one real client,
with the source we checked named beside every header, and `send` writes the bytes exactly
as built. Stdlib only.

Builders return a `Request`; nothing touches the network until `send` (or `send_cut_off`).
Every builder takes the same core arguments:

    builder(host, port, token, data, filename, *, sha256=None, device_id=None,
            sync_id=None, gzip=False, path=UPLOAD_PATH, ...)

Header text is encoded as UTF-8: MicroPython writes `str` that way, and the C clients send
the bytes of their (UTF-8) source strings. For ASCII it is the same as Latin-1.
"""

from __future__ import annotations

import contextlib
import dataclasses
import gzip as gzip_module
import hashlib
import itertools
import json as json_module
import os
import secrets
import select
import socket
import string
import struct
import time
import zlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

UPLOAD_PATH = "/api/upload"
GIB = 1 << 30
MIB = 1 << 20

# curl adds `Expect: 100-continue` when the body is larger than this (lib/http.h
# EXPECT_100_THRESHOLD (1024*1024); http.c addexpect() tests `client_len > threshold ||
# client_len < 0`). Older curl releases used 1024 bytes.
CURL_EXPECT_100_THRESHOLD = 1024 * 1024

CURL_VERSION = "8.5.0"  # Ubuntu 24.04's; only the User-Agent string depends on it
CHROME_MAJOR = "131"
CHROME_ANDROID_UA = (
    "Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) "
    f"Chrome/{CHROME_MAJOR}.0.0.0 Mobile Safari/537.36"
)

# The two names the brief asks for: POSIX and Windows directory climbing.
TRAVERSAL_FILENAMES = ("../../etc/passwd", "..\\..\\win.ini")

Body = bytes | Iterable[bytes]


# --------------------------------------------------------------------------------------
# Request / Response
# --------------------------------------------------------------------------------------


@dataclass
class Request:
    """One HTTP request, exactly as it will go on the wire.

    `headers` keeps order and case. `body` is bytes, or an iterable of byte chunks; with
    `Transfer-Encoding: chunked` each chunk is framed by `send` (empty chunks are skipped,
    since an empty chunk would end the body). Use a list, not a generator, if the request
    will be sent or inspected more than once.
    """

    method: str
    path: str
    headers: list[tuple[str, str]]
    body: Body = b""
    http_version: str = "HTTP/1.1"
    label: str = ""  # for test ids and failure messages
    cut_after: int | None = None  # see cut_off(): wire bytes to send before dropping
    bytes_per_second: float | None = None  # see slow()

    def header(self, name: str) -> str | None:
        """The first header called `name` (any case), or None."""
        wanted = name.lower()
        for key, value in self.headers:
            if key.lower() == wanted:
                return value
        return None

    @property
    def is_chunked(self) -> bool:
        return (self.header("Transfer-Encoding") or "").strip().lower() == "chunked"

    @property
    def expects_continue(self) -> bool:
        return (self.header("Expect") or "").strip().lower() == "100-continue"

    def head_bytes(self) -> bytes:
        """Request line, headers and the blank line."""
        lines = [f"{self.method} {self.path} {self.http_version}"]
        lines += [f"{name}: {value}" for name, value in self.headers]
        return ("\r\n".join(lines) + "\r\n\r\n").encode("utf-8")

    def body_bytes(self) -> bytes:
        """The body without chunk framing (consumes a one-shot iterator)."""
        if isinstance(self.body, bytes):
            return self.body
        return b"".join(self.body)

    def wire_body(self) -> Iterator[bytes]:
        """The body as written to the socket: chunk framing included when chunked."""
        chunks = [self.body] if isinstance(self.body, bytes) else self.body
        if not self.is_chunked:
            yield from (chunk for chunk in chunks if chunk)
            return
        for chunk in chunks:
            if chunk:
                # Lower-case hex size line, as micropython-lib requests (b"%x\r\n") and
                # ESP-IDF applications (printf "%x") write it.
                yield b"%x\r\n" % len(chunk) + chunk + b"\r\n"
        yield b"0\r\n\r\n"

    def wire_bytes(self) -> bytes:
        """Everything `send` writes for this request (when nothing answers early)."""
        return self.head_bytes() + b"".join(self.wire_body())


class Headers:
    """Response headers: ordered (name, value) pairs with case-insensitive lookup."""

    def __init__(self, items: list[tuple[str, str]]) -> None:
        self.items = items

    def get(self, name: str, default: str | None = None) -> str | None:
        wanted = name.lower()
        for key, value in self.items:
            if key.lower() == wanted:
                return value
        return default

    def get_all(self, name: str) -> list[str]:
        wanted = name.lower()
        return [value for key, value in self.items if key.lower() == wanted]

    def __getitem__(self, name: str) -> str:
        value = self.get(name)
        if value is None:
            raise KeyError(name)
        return value

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and self.get(name) is not None

    def __repr__(self) -> str:
        return f"Headers({self.items!r})"


@dataclass
class Response:
    """What came back. `raw` is every byte received, interim 100 responses included."""

    status: int
    reason: str
    http_version: str
    headers: Headers
    body: bytes
    raw: bytes
    interim: list[int] = field(default_factory=list)  # 1xx statuses seen before the final one
    body_bytes_sent: int = 0  # request body bytes written (chunk framing counted)
    complete: bool = True  # False when the connection ended before the announced body did

    def json(self) -> Any:
        return json_module.loads(self.body)


class NoResponse(ConnectionError):
    """The server closed (or reset) the connection without a complete status line."""

    def __init__(self, message: str, raw: bytes, body_bytes_sent: int) -> None:
        super().__init__(message)
        self.raw = raw
        self.body_bytes_sent = body_bytes_sent


# --------------------------------------------------------------------------------------
# Shared pieces of the builders
# --------------------------------------------------------------------------------------


def sha256_hex(data: bytes) -> str:
    """Lower-case hex SHA-256, the form the `X-Content-SHA256` header carries."""
    return hashlib.sha256(data).hexdigest()


def _host_header(host: str, port: int, *, omit_ports: tuple[int, ...] = (80,)) -> str:
    """`host:port`, without the port when it is a default one; IPv6 literals bracketed."""
    if ":" in host and not host.startswith("["):
        host = f"[{host}]"
    return host if port in omit_ports else f"{host}:{port}"


def _app_headers(
    token: str,
    *,
    filename: str | None,
    sha256: str | None,
    device_id: str | None,
    sync_id: str | None,
    gzip: bool,
) -> list[tuple[str, str]]:
    """Headers the uploading application chooses itself (not its HTTP library).

    Their relative order is ours to define; each builder places the block where its
    library puts caller-supplied headers.
    """
    headers = [("Authorization", f"Bearer {token}")]
    if filename is not None:
        # Raw-body clients have nowhere else to put the file name.
        headers.append(("X-Filename", filename))
    if sha256 is not None:
        headers.append(("X-Content-SHA256", sha256))
    if device_id is not None:
        headers.append(("X-Device-Id", device_id))
    if sync_id is not None:
        headers.append(("X-Sync-Id", sync_id))
    if gzip:
        headers.append(("Content-Encoding", "gzip"))
    return headers


def _gzip(data: bytes, gzip: bool) -> bytes:
    # mtime=0 keeps the bytes reproducible between runs.
    return gzip_module.compress(data, compresslevel=6, mtime=0) if gzip else data


def _quote_form_value(value: str) -> str:
    """Quote a multipart parameter the way Chrome and curl `-F` do.

    Both follow the WHATWG form encoding (curl: lib/mime.c escape_string, `formtable`):
    `"` -> %22, CR -> %0D, LF -> %0A, nothing else, so a backslash (Windows path) goes
    through untouched.
    """
    return value.replace('"', "%22").replace("\r", "%0D").replace("\n", "%0A")


def _multipart_file_body(
    boundary: str, filename: str, content_type: str, data: bytes, field_name: str = "file"
) -> bytes:
    """One file part, the layout curl, Chrome and the RS-Core firmware all produce."""
    head = (
        f"--{boundary}\r\n"
        f'Content-Disposition: form-data; name="{field_name}"; '
        f'filename="{_quote_form_value(filename)}"\r\n'
        f"Content-Type: {content_type}\r\n"
        "\r\n"
    ).encode()
    return head + data + f"\r\n--{boundary}--\r\n".encode()


_ALNUM = string.ascii_letters + string.digits


def curl_boundary() -> str:
    """curl 8.x: 24 dashes + 22 random alphanumerics (lib/mime.c curl_mime_init,
    MIME_BOUNDARY_DASHES 24, MIME_RAND_BOUNDARY_CHARS 22, Curl_rand_alnum).
    curl 7.x used 16 hex digits instead."""
    return "-" * 24 + "".join(secrets.choice(_ALNUM) for _ in range(22))


def webkit_boundary() -> str:
    """Chrome/Safari: `----WebKitFormBoundary` + 16 random alphanumerics."""
    return "----WebKitFormBoundary" + "".join(secrets.choice(_ALNUM) for _ in range(16))


def rscore_boundary() -> str:
    """The RS-Core firmware's own: `rscore` + 24 hex digits from os.urandom(12)."""
    return "rscore" + os.urandom(12).hex()


# --------------------------------------------------------------------------------------
# 1. micropython-lib `requests`
# --------------------------------------------------------------------------------------


def micropython_requests(
    host: str,
    port: int,
    token: str,
    data: bytes,
    filename: str,
    *,
    sha256: str | None = None,
    device_id: str | None = None,
    sync_id: str | None = None,
    gzip: bool = False,
    path: str = UPLOAD_PATH,
    content_type: str | None = None,
) -> Request:
    """`requests.post(url, data=data, headers={...})` from micropython-lib `requests`.

    Checked against micropython/micropython-lib python-ecosys/requests/requests/__init__.py
    (package 0.10.x, commit 84ba452):
    - request line `b"%s /%s HTTP/1.0\\r\\n"`: HTTP/1.0 (an unreleased rework switches to
      HTTP/1.1; released builds send 1.0);
    - the caller's `headers` dict is written first, in insertion order;
    - then `Host` if absent, set to the host *with the port stripped* (`host, port =
      host.split(":", 1)` happens before `headers["Host"] = host`);
    - then `Content-Length: len(data)` only `if data:` (an empty upload has none);
    - then `Connection: close`;
    - no multipart support: the body is the raw file, the name travels in `X-Filename`.
    """
    body = _gzip(data, gzip)
    headers = _app_headers(
        token, filename=filename, sha256=sha256, device_id=device_id, sync_id=sync_id, gzip=gzip
    )
    if content_type is not None:
        headers.append(("Content-Type", content_type))
    headers.append(("Host", host))
    if body:
        headers.append(("Content-Length", str(len(body))))
    headers.append(("Connection", "close"))
    return Request("POST", path, headers, body, "HTTP/1.0", label="micropython_requests")


# --------------------------------------------------------------------------------------
# 2. The RS-Core firmware's own multipart client (MicroPython, raw socket)
# --------------------------------------------------------------------------------------


def micropython_multipart(
    host: str,
    port: int,
    token: str,
    data: bytes,
    filename: str,
    *,
    sha256: str | None = None,
    device_id: str | None = None,
    sync_id: str | None = None,
    gzip: bool = False,
    path: str = UPLOAD_PATH,
    boundary: str | None = None,
    part_content_type: str = "text/csv",
) -> Request:
    """The RS-Core firmware's uploader: HTTP/1.0 over a raw MicroPython socket.

    This is our own contract (the firmware writes its head with one `write` per line and
    streams the file through a 4 KB buffer, so it must know the exact Content-Length
    beforehand: part head + file size + closing delimiter):
    - HTTP/1.0 and `Connection: close`, like micropython-lib `requests`, so the server
      never keeps a socket open for a logger that is about to sleep;
    - `Host` with the port (unlike `requests`), then the application headers;
    - `Content-Type: multipart/form-data; boundary=rscore<24 hex>`, exact `Content-Length`;
    - one part, `name="file"`, the file name, `Content-Type: text/csv`.
    """
    boundary = boundary or rscore_boundary()
    body = _gzip(_multipart_file_body(boundary, filename, part_content_type, data), gzip)
    headers = [("Host", _host_header(host, port))]
    headers += _app_headers(
        token, filename=None, sha256=sha256, device_id=device_id, sync_id=sync_id, gzip=gzip
    )
    headers += [
        ("Content-Type", f"multipart/form-data; boundary={boundary}"),
        ("Content-Length", str(len(body))),
        ("Connection", "close"),
    ]
    return Request("POST", path, headers, body, "HTTP/1.0", label="micropython_multipart")


# --------------------------------------------------------------------------------------
# 3. ESP-IDF esp_http_client
# --------------------------------------------------------------------------------------


def esp_idf(
    host: str,
    port: int,
    token: str,
    data: bytes,
    filename: str,
    *,
    sha256: str | None = None,
    device_id: str | None = None,
    sync_id: str | None = None,
    gzip: bool = False,
    path: str = UPLOAD_PATH,
    chunked: bool = False,
    chunk_size: int = 1024,
    content_type: str | None = None,
) -> Request:
    """ESP-IDF `esp_http_client`, raw file body, name in `X-Filename`.

    Checked against components/esp_http_client/esp_http_client.c (v5.5) and
    lib/http_header.c (espressif/esp-idf 1929b27):
    - `DEFAULT_HTTP_PROTOCOL "HTTP/1.1"`; no `Connection` header is ever added;
    - `esp_http_client_init` sets `User-Agent: ESP32 HTTP Client/1.0`
      (DEFAULT_HTTP_USER_AGENT) and then `Host` (`_get_host_header`: `host:port` unless
      the port is 80 or 443);
    - headers live in a tail queue: `esp_http_client_set_header` appends a new name and
      replaces an existing one in place, and they are written as `"%s: %s\\r\\n"`;
    - default (`chunked=False`) is the `esp_http_client_set_post_field` + `perform` path:
      `set_post_field` adds `Content-Type: application/x-www-form-urlencoded` when the
      application set none (even for a CSV file), and `http_client_prepare_first_line`
      appends `Content-Length` (always for POST, even 0);
    - `chunked=True` is `esp_http_client_open(client, -1)` + `esp_http_client_write`:
      `Transfer-Encoding: chunked` is appended instead, no default Content-Type (that only
      comes from `set_post_field`), and the application writes the chunk framing itself
      (`send` does it here), `chunk_size` bytes at a time.
    The application is assumed to call `set_header` for its own headers before
    `set_post_field`, as the ESP-IDF examples do.
    """
    body = _gzip(data, gzip)
    headers = [
        ("User-Agent", "ESP32 HTTP Client/1.0"),
        ("Host", _host_header(host, port, omit_ports=(80, 443))),
    ]
    headers += _app_headers(
        token, filename=filename, sha256=sha256, device_id=device_id, sync_id=sync_id, gzip=gzip
    )
    if content_type is not None:
        headers.append(("Content-Type", content_type))
    if chunked:
        headers.append(("Transfer-Encoding", "chunked"))
        chunks = [body[i : i + chunk_size] for i in range(0, len(body), chunk_size)]
        return Request("POST", path, headers, chunks, "HTTP/1.1", label="esp_idf_chunked")
    if content_type is None:
        headers.append(("Content-Type", "application/x-www-form-urlencoded"))
    headers.append(("Content-Length", str(len(body))))
    return Request("POST", path, headers, body, "HTTP/1.1", label="esp_idf")


# --------------------------------------------------------------------------------------
# 4. Arduino-ESP32 HTTPClient
# --------------------------------------------------------------------------------------


def arduino(
    host: str,
    port: int,
    token: str,
    data: bytes,
    filename: str,
    *,
    sha256: str | None = None,
    device_id: str | None = None,
    sync_id: str | None = None,
    gzip: bool = False,
    path: str = UPLOAD_PATH,
    content_type: str | None = "text/csv",
) -> Request:
    """Arduino-ESP32 `HTTPClient`: `http.addHeader(...)` calls, then `http.POST(buf, len)`.

    Checked against espressif/arduino-esp32 libraries/HTTPClient/src/HTTPClient.cpp
    (79928f9) and HTTPClient.h (605db20):
    - `sendHeader`: `POST <uri> HTTP/1.1`, then `Host` (`:port` unless 80 or 443),
      `User-Agent: ESP32HTTPClient` (`_userAgent`), `Connection: keep-alive` (`_reuse`
      defaults to true), `Accept-Encoding: identity;q=1,chunked;q=0.1,*;q=0` (only when
      not `useHTTP10`), then the `_headers` string built by `addHeader`;
    - `sendRequest` calls `addHeader("Content-Length", size)` only `if (payload && size
      > 0)`, after the sketch's own `addHeader` calls, so it comes last;
    - no `Expect`, no chunked upload. The sketch sets `Content-Type` itself (none is
      sent by default; pass `content_type=None` for that).
    """
    body = _gzip(data, gzip)
    headers = [
        ("Host", _host_header(host, port, omit_ports=(80, 443))),
        ("User-Agent", "ESP32HTTPClient"),
        ("Connection", "keep-alive"),
        ("Accept-Encoding", "identity;q=1,chunked;q=0.1,*;q=0"),
    ]
    if content_type is not None:
        headers.append(("Content-Type", content_type))
    headers += _app_headers(
        token, filename=filename, sha256=sha256, device_id=device_id, sync_id=sync_id, gzip=gzip
    )
    if body:
        headers.append(("Content-Length", str(len(body))))
    return Request("POST", path, headers, body, "HTTP/1.1", label="arduino")


# --------------------------------------------------------------------------------------
# 5. curl -F
# --------------------------------------------------------------------------------------


def curl(
    host: str,
    port: int,
    token: str,
    data: bytes,
    filename: str,
    *,
    sha256: str | None = None,
    device_id: str | None = None,
    sync_id: str | None = None,
    gzip: bool = False,
    path: str = UPLOAD_PATH,
    boundary: str | None = None,
    part_content_type: str = "application/octet-stream",
    version: str = CURL_VERSION,
) -> Request:
    """`curl -H 'Authorization: Bearer ...' -F 'file=@<name>' http://host:port/api/upload`.

    Checked against curl lib/http.c (8.x: the `http_hd_t` enum fixes the order, and
    `http_add_content_hds`) and lib/mime.c:
    - `Host`, `User-Agent: curl/<version>`, `Accept: */*`, then every `-H` header in
      command-line order, then `Content-Length`, the mime `Content-Type:
      multipart/form-data; boundary=...`, then `Expect: 100-continue` when the body is
      larger than 1 MiB (EXPECT_100_THRESHOLD); no `Connection` header on HTTP/1.1;
    - `-F file=@x.csv` part type comes from a short extension table (gif, jpg, png, svg,
      txt, html, pdf, xml); `.csv` is not in it, so `application/octet-stream`
      (use `;type=text/csv` on the command line, or `part_content_type`).
    - curl itself would send only the basename of `@path`; a traversal name needs
      `;filename=...`, which this builder's `filename` stands for.
    """
    boundary = boundary or curl_boundary()
    body = _gzip(_multipart_file_body(boundary, filename, part_content_type, data), gzip)
    headers = [
        ("Host", _host_header(host, port)),
        ("User-Agent", f"curl/{version}"),
        ("Accept", "*/*"),
    ]
    headers += _app_headers(
        token, filename=None, sha256=sha256, device_id=device_id, sync_id=sync_id, gzip=gzip
    )
    headers += [
        ("Content-Length", str(len(body))),
        ("Content-Type", f"multipart/form-data; boundary={boundary}"),
    ]
    if len(body) > CURL_EXPECT_100_THRESHOLD:
        headers.append(("Expect", "100-continue"))
    return Request("POST", path, headers, body, "HTTP/1.1", label="curl")


# --------------------------------------------------------------------------------------
# 6. Chrome fetch() with FormData
# --------------------------------------------------------------------------------------


def _is_secure_origin(origin: str) -> bool:
    """Chrome's "potentially trustworthy" origins: https, localhost and loopback."""
    scheme, _, rest = origin.partition("://")
    hostname = rest.rsplit(":", 1)[0] if not rest.startswith("[") else rest.split("]")[0] + "]"
    return (
        scheme == "https"
        or hostname in ("localhost", "[::1]")
        or hostname.endswith(".localhost")
        or hostname.startswith("127.")
    )


def browser_formdata(
    host: str,
    port: int,
    token: str,
    data: bytes,
    filename: str,
    *,
    sha256: str | None = None,
    device_id: str | None = None,
    sync_id: str | None = None,
    gzip: bool = False,
    path: str = UPLOAD_PATH,
    boundary: str | None = None,
    part_content_type: str = "text/csv",
    origin: str | None = None,
    user_agent: str = CHROME_ANDROID_UA,
    accept_language: str = "en-US,en;q=0.9",
) -> Request:
    """Chrome (Android) `fetch(url, {method: "POST", headers: {...}, body: formData})`.

    Body: Blink's FormData encoder, `----WebKitFormBoundary` + 16 alphanumerics, part
    `Content-Disposition: form-data; name="file"; filename="..."` and the File's type
    (`text/csv` on Android and macOS; empty types become application/octet-stream).

    Header order is Chromium's network stack: `Host`, `Connection: keep-alive`,
    `Content-Length`, then the page's own headers, then `User-Agent`, `Content-Type`,
    `Accept: */*`, `Origin`, `Referer`, `Accept-Encoding`, `Accept-Language`. In a secure
    context (https page, or localhost/127.x) Chrome adds the `sec-ch-ua*` client hints and
    `Sec-Fetch-*`, and `br, zstd` to Accept-Encoding; over plain http to a LAN address it
    sends none of them. This order comes from published DevTools captures, not from the
    Chromium source; a server must not depend on it (nor on any header order).

    `origin` is the page that runs the script; by default the backend itself
    (`http://host:port`), which makes the request same-origin.
    """
    boundary = boundary or webkit_boundary()
    body = _gzip(_multipart_file_body(boundary, filename, part_content_type, data), gzip)
    target_origin = f"http://{_host_header(host, port)}"
    origin = origin or target_origin
    secure = _is_secure_origin(origin)
    headers = [
        ("Host", _host_header(host, port)),
        ("Connection", "keep-alive"),
        ("Content-Length", str(len(body))),
    ]
    if secure:
        headers.append(("sec-ch-ua-platform", '"Android"'))
    headers += _app_headers(
        token, filename=None, sha256=sha256, device_id=device_id, sync_id=sync_id, gzip=gzip
    )
    headers.append(("User-Agent", user_agent))
    if secure:
        brands = (
            f'"Google Chrome";v="{CHROME_MAJOR}", "Chromium";v="{CHROME_MAJOR}", '
            '"Not_A Brand";v="24"'
        )
        headers.append(("sec-ch-ua", brands))
    headers.append(("Content-Type", f"multipart/form-data; boundary={boundary}"))
    if secure:
        headers.append(("sec-ch-ua-mobile", "?1"))
    headers += [("Accept", "*/*"), ("Origin", origin)]
    if secure:
        site = "same-origin" if origin == target_origin else "cross-site"
        headers += [
            ("Sec-Fetch-Site", site),
            ("Sec-Fetch-Mode", "cors"),
            ("Sec-Fetch-Dest", "empty"),
        ]
    headers += [
        ("Referer", origin + "/"),
        ("Accept-Encoding", "gzip, deflate, br, zstd" if secure else "gzip, deflate"),
        ("Accept-Language", accept_language),
    ]
    return Request("POST", path, headers, body, "HTTP/1.1", label="browser_formdata")


BUILDERS: dict[str, Callable[..., Request]] = {
    "micropython_requests": micropython_requests,
    "micropython_multipart": micropython_multipart,
    "esp_idf": esp_idf,
    "arduino": arduino,
    "curl": curl,
    "browser_formdata": browser_formdata,
}


# --------------------------------------------------------------------------------------
# Hostile requests
# --------------------------------------------------------------------------------------


def _with_header(headers: list[tuple[str, str]], name: str, value: str) -> list[tuple[str, str]]:
    """A copy of `headers` with `name` replaced in place (order kept), or appended."""
    headers = list(headers)
    for i, (key, _) in enumerate(headers):
        if key.lower() == name.lower():
            headers[i] = (key, value)
            return headers
    headers.append((name, value))
    return headers


def lying_content_length(req: Request, claimed: int) -> Request:
    """The same request, but `Content-Length` says `claimed` whatever the body is.

    Claim more than the body and the server waits for bytes that never come (it must
    time out); claim less and the rest of the body looks like the next request.
    """
    return dataclasses.replace(
        req,
        headers=_with_header(req.headers, "Content-Length", str(claimed)),
        label=f"{req.label}+content_length={claimed}",
    )


def cut_off(req: Request, after_bytes: int) -> Request:
    """Send only the first `after_bytes` bytes of the wire stream (head included), then
    drop the connection: a logger losing power or Wi-Fi mid-upload. Use `send_cut_off`.
    To cut inside the body: `cut_off(req, len(req.head_bytes()) + n)`."""
    return dataclasses.replace(req, cut_after=after_bytes, label=f"{req.label}+cut@{after_bytes}")


def slow(req: Request, bytes_per_second: float) -> Request:
    """Trickle the whole request (head too) at `bytes_per_second`: a weak link, or a
    slowloris. `send` paces it in 50 ms steps."""
    return dataclasses.replace(
        req, bytes_per_second=bytes_per_second, label=f"{req.label}+slow{bytes_per_second:g}"
    )


MULTIPART_GARBAGE_KINDS = (
    "no_boundary_param",  # Content-Type multipart/form-data without boundary=
    "boundary_mismatch",  # header names one boundary, the body uses another
    "missing_final_boundary",  # the closing --boundary-- never comes
    "truncated_part_headers",  # body ends inside the part headers
    "no_file_part",  # a text field only, no filename anywhere
    "no_content_disposition",  # a part without Content-Disposition
    "two_file_parts",  # two files in one upload: which one wins?
    "huge_part_header",  # a 100 KB part header line
    "empty_body",  # multipart Content-Type, Content-Length: 0
    "random_bytes",  # not multipart at all
)


def multipart_garbage(
    host: str,
    port: int,
    token: str,
    *,
    kind: str,
    filename: str = "garbage.csv",
    data: bytes = b"t,lat,lon\n0.0,51.0,-1.0\n",
) -> Request:
    """A curl-shaped upload (exact Content-Length) whose multipart body is broken as
    `kind` says (see MULTIPART_GARBAGE_KINDS). Only the multipart layer is wrong, so a
    test isolates the server's multipart parser."""
    boundary = curl_boundary()
    good = _multipart_file_body(boundary, filename, "text/csv", data)
    content_type = f"multipart/form-data; boundary={boundary}"
    disposition = f'Content-Disposition: form-data; name="file"; filename="{filename}"'
    if kind == "no_boundary_param":
        body, content_type = good, "multipart/form-data"
    elif kind == "boundary_mismatch":
        body = _multipart_file_body(curl_boundary(), filename, "text/csv", data)
    elif kind == "missing_final_boundary":
        body = good[: good.rindex(b"\r\n--")]
    elif kind == "truncated_part_headers":
        body = f"--{boundary}\r\n{disposition}\r\nContent-Ty".encode()
    elif kind == "no_file_part":
        body = (
            f'--{boundary}\r\nContent-Disposition: form-data; name="note"\r\n\r\n'
            f"hello\r\n--{boundary}--\r\n"
        ).encode()
    elif kind == "no_content_disposition":
        body = (f"--{boundary}\r\nContent-Type: text/csv\r\n\r\n").encode() + data
        body += f"\r\n--{boundary}--\r\n".encode()
    elif kind == "two_file_parts":
        # The first part's closing delimiter becomes the second part's opening one.
        second = _multipart_file_body(boundary, "second.csv", "text/csv", data[::-1])
        body = good[: good.rindex(f"--{boundary}--".encode())] + second
    elif kind == "huge_part_header":
        body = (
            f"--{boundary}\r\n{disposition}\r\nX-Padding: {'a' * 100_000}\r\n"
            "Content-Type: text/csv\r\n\r\n"
        ).encode() + data
        body += f"\r\n--{boundary}--\r\n".encode()
    elif kind == "empty_body":
        body = b""
    elif kind == "random_bytes":
        body = bytes((i * 7919 + 13) % 256 for i in range(4096))  # fixed, not random
    else:
        raise ValueError(f"unknown multipart garbage kind {kind!r}")
    headers = [
        ("Host", _host_header(host, port)),
        ("User-Agent", f"curl/{CURL_VERSION}"),
        ("Accept", "*/*"),
        ("Authorization", f"Bearer {token}"),
        ("Content-Length", str(len(body))),
        ("Content-Type", content_type),
    ]
    return Request("POST", UPLOAD_PATH, headers, body, "HTTP/1.1", label=f"garbage:{kind}")


def path_traversal_filename(
    host: str, port: int, token: str, data: bytes = b"t,lat,lon\n0.0,51.0,-1.0\n"
) -> list[Request]:
    """Every builder once per TRAVERSAL_FILENAMES name: in the multipart
    `filename="..."` (curl, browser, RS-Core) and in `X-Filename` (the raw-body clients)."""
    requests = []
    for name in TRAVERSAL_FILENAMES:
        for label, builder in BUILDERS.items():
            req = builder(host, port, token, data, name)
            req.label = f"{label}:{name}"
            requests.append(req)
    return requests


def _zeros(count: int, chunk: int = MIB) -> Iterator[bytes]:
    """`count` zero bytes, one reused 1 MiB buffer at a time."""
    block = bytes(chunk)
    while count > 0:
        n = min(chunk, count)
        yield block if n == chunk else block[:n]
        count -= n


def gzip_stream(pieces: Iterable[bytes], level: int = 9) -> Iterator[bytes]:
    """Gzip-compress an iterable of byte strings, holding one piece at a time."""
    compressor = zlib.compressobj(level, zlib.DEFLATED, 31)  # wbits 31: gzip container
    for piece in pieces:
        out = compressor.compress(piece)
        if out:
            yield out
    yield compressor.flush()


_BOMB_MARK = b"\x00<racesense-bomb-marker>\x00"


def _bomb_body(prefix: bytes, expanded_bytes: int, suffix: bytes, layers: int) -> bytes:
    def plain() -> Iterator[bytes]:
        yield prefix
        yield from _zeros(expanded_bytes)
        yield suffix

    stream: Iterable[bytes] = plain()
    for _ in range(layers):
        stream = gzip_stream(stream)  # each layer pulls from the one below, lazily
    return b"".join(stream)


def gzip_bomb(
    host: str,
    port: int,
    token: str,
    *,
    builder: Callable[..., Request] = micropython_requests,
    filename: str = "bomb.csv",
    expanded_bytes: int = GIB + MIB,
    layers: int = 1,
    **builder_kwargs: Any,
) -> Request:
    """An upload whose gzip body expands to `expanded_bytes` of zeros (plus the multipart
    framing, for multipart builders), built in a streaming way: at most 1 MiB of zeros
    exists at any time.

    Deflate cannot do better than about 1030:1, so one layer (`Content-Encoding: gzip`)
    of 1 GiB is about 1 MB on the wire and takes ~2 s to build. `layers=2` gzips that
    again (`Content-Encoding: gzip, gzip`): under 2 KB on the wire, but only a server that
    decodes both codings ever sees the gigabyte.
    """
    req = builder(host, port, token, _BOMB_MARK, filename, gzip=True, **builder_kwargs)
    plain = gzip_module.decompress(req.body_bytes())
    prefix, suffix = plain.split(_BOMB_MARK)
    body = _bomb_body(prefix, expanded_bytes, suffix, layers)
    headers = _with_header(req.headers, "Content-Encoding", ", ".join(["gzip"] * layers))
    if req.is_chunked:
        new_body: Body = [body[i : i + 4096] for i in range(0, len(body), 4096)]
    else:
        new_body = body
        headers = _with_header(headers, "Content-Length", str(len(body)))
    return dataclasses.replace(
        req, headers=headers, body=new_body, label=f"{req.label}+gzip_bomb{layers}"
    )


# --------------------------------------------------------------------------------------
# Sending and reading
# --------------------------------------------------------------------------------------


class _Reader:
    """Buffered reads from the socket; keeps every byte received in `raw`.

    A reset is treated as the end of the stream: whatever arrived before it stays
    readable (Linux hands out queued data before reporting ECONNRESET).
    """

    def __init__(self, recv: Callable[[int], bytes]) -> None:
        self.recv = recv
        self.buf = bytearray()
        self.raw = bytearray()
        self.eof = False
        self.interim: list[int] = []

    def fill(self) -> bool:
        if self.eof:
            return False
        try:
            data = self.recv(65536)
        except (ConnectionResetError, ConnectionAbortedError):
            data = b""
        if not data:
            self.eof = True
            return False
        self.buf += data
        self.raw += data
        return True

    def readline(self) -> bytes:
        while b"\n" not in self.buf:
            if not self.fill():
                line = bytes(self.buf)
                self.buf.clear()
                return line
        end = self.buf.index(b"\n") + 1
        line = bytes(self.buf[:end])
        del self.buf[:end]
        return line

    def read(self, n: int) -> bytes:
        while len(self.buf) < n and self.fill():
            pass
        data = bytes(self.buf[:n])
        del self.buf[:n]
        return data

    def read_to_end(self) -> bytes:
        while self.fill():
            pass
        data = bytes(self.buf)
        self.buf.clear()
        return data

    def final_response_pending(self) -> bool:
        """Called when the socket is readable while we are still sending: swallow any
        interim 1xx responses; True if a final response (or the end) has begun."""
        if not self.fill() and not self.buf:
            return True
        while True:
            end = self.buf.find(b"\r\n\r\n")
            if end < 0:
                if not self.fill():
                    return True
                continue
            status = _parse_status_line(bytes(self.buf[: self.buf.find(b"\r\n")]))[1]
            if not (100 <= status < 200 and status != 101):
                return True
            self.interim.append(status)
            del self.buf[: end + 4]
            if not self.buf:
                return False


def _parse_status_line(line: bytes) -> tuple[str, int, str]:
    parts = line.decode("latin-1").rstrip("\r\n").split(" ", 2)
    if len(parts) < 2 or not parts[0].startswith("HTTP/") or not parts[1].isdigit():
        return "", -1, ""
    return parts[0], int(parts[1]), parts[2] if len(parts) > 2 else ""


def _read_head(reader: _Reader) -> tuple[str, int, str, list[tuple[str, str]]] | None:
    line = reader.readline()
    version, status, reason = _parse_status_line(line)
    if status < 0:
        return None
    headers: list[tuple[str, str]] = []
    while True:
        line = reader.readline()
        if line in (b"\r\n", b"\n", b""):
            break
        name, _, value = line.decode("latin-1").partition(":")
        headers.append((name.strip(), value.strip()))
    return version, status, reason, headers


def _read_body(reader: _Reader, status: int, headers: Headers) -> tuple[bytes, bool]:
    """The response body by its framing: chunked, Content-Length, or until close."""
    if status in (204, 304):
        return b"", True
    if "chunked" in (headers.get("Transfer-Encoding") or "").lower():
        body = bytearray()
        while True:
            size_line = reader.readline()
            try:
                size = int(size_line.split(b";")[0].strip(), 16)
            except ValueError:
                return bytes(body), False
            if size == 0:
                while reader.readline() not in (b"\r\n", b"\n", b""):
                    pass  # trailers
                return bytes(body), True
            chunk = reader.read(size)
            body += chunk
            if len(chunk) < size or reader.readline() not in (b"\r\n", b"\n"):
                return bytes(body), False
    length = headers.get("Content-Length")
    if length is not None and length.strip().isdigit():
        data = reader.read(int(length))
        return data, len(data) == int(length)
    return reader.read_to_end(), True


def parse_response(raw: bytes) -> Response | None:
    """Parse bytes captured by `send_cut_off` (None if they hold no status line)."""
    reader = _Reader(lambda _size: b"")
    reader.buf += raw
    reader.raw += raw
    return _read_response(reader, body_bytes_sent=0, raise_if_none=False)


def _read_response(
    reader: _Reader, *, body_bytes_sent: int, raise_if_none: bool = True
) -> Response | None:
    while True:
        head = _read_head(reader)
        if head is None:
            if raise_if_none:
                raise NoResponse("no HTTP response", bytes(reader.raw), body_bytes_sent)
            return None
        version, status, reason, header_list = head
        if 100 <= status < 200 and status != 101:
            reader.interim.append(status)
            continue
        break
    headers = Headers(header_list)
    body, complete = _read_body(reader, status, headers)
    return Response(
        status=status,
        reason=reason,
        http_version=version,
        headers=headers,
        body=body,
        raw=bytes(reader.raw),
        interim=list(reader.interim),
        body_bytes_sent=body_bytes_sent,
        complete=complete,
    )


class _Writer:
    """Writes pieces to the socket, optionally paced, and stops as soon as the server
    answers with a final response (an early 401/413) or drops the connection."""

    def __init__(self, sock: socket.socket, reader: _Reader, rate: float | None) -> None:
        self.sock = sock
        self.reader = reader
        self.rate = rate
        self.written = 0
        self.stopped = False
        self.started = time.monotonic()

    def write(self, data: bytes) -> bool:
        view = memoryview(data)
        step = 65536 if self.rate is None else max(1, int(self.rate / 20))
        while view and not self.stopped:
            readable, _, _ = select.select([self.sock], [], [], 0)
            if readable and self.reader.final_response_pending():
                self.stopped = True
                break
            if self.rate is not None:
                # Wait until the byte budget allows the next step.
                due = self.started + (self.written + len(view[:step])) / self.rate
                delay = due - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
            try:
                sent = self.sock.send(view[:step])
            except (BrokenPipeError, ConnectionResetError, ConnectionAbortedError):
                self.stopped = True
                break
            self.written += sent
            view = view[sent:]
        return not self.stopped


def send(
    request: Request,
    host: str,
    port: int,
    *,
    timeout: float = 30.0,
    expect_continue_wait: float = 1.0,
) -> Response:
    """Send `request` exactly as built and read the response.

    - With `Expect: 100-continue`, after the head it waits up to `expect_continue_wait`
      seconds (curl's default is 1 s) for `100 Continue`. If a final response comes
      instead (401, 413, ...), the body is never sent and that response is returned; if
      nothing comes, the body is sent anyway, as curl does.
    - Chunked bodies get their chunk framing here.
    - While sending, if the server answers early or drops the connection, sending stops
      and whatever response arrived is returned (`Response.body_bytes_sent` tells how far
      it got); `NoResponse` if none did.
    - Responses framed by Content-Length, chunked, or connection close are all read.
    A `socket.timeout` (TimeoutError) propagates when the server stays silent.
    """
    if request.cut_after is not None:
        raise ValueError("a cut_off() request is sent with send_cut_off()")
    with socket.create_connection((host, port), timeout=timeout) as sock:
        reader = _Reader(sock.recv)
        writer = _Writer(sock, reader, request.bytes_per_second)
        head = request.head_bytes()
        go_on = writer.write(head)
        if go_on and request.expects_continue:
            readable, _, _ = select.select([sock], [], [], expect_continue_wait)
            if readable and reader.final_response_pending():
                go_on = False
        if go_on:
            for piece in request.wire_body():
                if not writer.write(piece):
                    break
        body_sent = max(0, writer.written - len(head))
        response = _read_response(reader, body_bytes_sent=body_sent)
        assert response is not None
        return response


def send_cut_off(
    request: Request,
    host: str,
    port: int,
    *,
    timeout: float = 5.0,
    reset: bool = False,
) -> bytes:
    """Send the first `request.cut_after` wire bytes, then drop the connection.

    `reset=False`: half-close (FIN) and return whatever the server sends back until it
    closes, resets, or `timeout` passes (b"" if nothing). `reset=True`: abortive close
    (RST, as when the logger's stack dies) and return b"" without reading.
    Resets and broken pipes are expected here and never raised.
    """
    if request.cut_after is None:
        raise ValueError("use cut_off(request, n) first")
    budget = request.cut_after
    with socket.create_connection((host, port), timeout=timeout) as sock:
        reader = _Reader(sock.recv)
        writer = _Writer(sock, reader, request.bytes_per_second)
        for piece in itertools.chain([request.head_bytes()], request.wire_body()):
            if budget <= 0 or not writer.write(piece[:budget]):
                break
            budget -= len(piece)
        if reset:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            return b""
        try:
            sock.shutdown(socket.SHUT_WR)
        except OSError:
            return bytes(reader.raw)
        with contextlib.suppress(TimeoutError):
            reader.read_to_end()
        return bytes(reader.raw)
