"""The uploader over real sockets to a real local HTTP server (http_test_server, a thread on
127.0.0.1), through the board's network adapter (board/net.py), under pytest and the
MicroPython unix port alike. Failures that need a misbehaving peer come from the server's
scripted modes; DNS comes from a stand-in resolver, so no name is ever looked up for
real."""

import asyncio
import socket

from http_test_server import LoopbackResolver, ScriptedServer
from sync_fakes import FakeClock, FakeTLS, RecordingSocketModule, sha256_file, write_file

from board.net import SocketNet
from clock import SystemClock
from uploader import Uploader, UploadError, ack_proof, parse_fallback, parse_url, sha256_hex

TOKEN = "upload-token-0123"
SYNC_ID = "9f86d081884c7d65"
DEVICE_ID = "RS-Core-7F3A"
ACK_KEY = bytes(range(32))


def _uploader(server, host="127.0.0.1", scheme="http", clock=None, **options):
    settings = {
        "connect_timeout_ms": 1000,
        "io_timeout_ms": 400,
        "backoff_ms": 20,
    }
    settings.update(options)
    configure = {}
    for name in ("ip_fallback", "cert_sha256", "ack_key"):
        if name in settings:
            configure[name] = settings.pop(name)
    resolver = settings.pop("getaddrinfo", None) or LoopbackResolver()
    net = SocketNet(
        settings.pop("socket_mod", socket),
        ssl_mod=settings.pop("ssl_mod", None),
        getaddrinfo=resolver,
    )
    up = Uploader(
        net,
        clock or SystemClock(),
        device_id=DEVICE_ID,
        log=lambda message: None,
        **settings,
    )
    url = scheme + "://" + host + ":" + str(server.port) + "/api/upload"
    up.configure(url, TOKEN, sync_id=SYNC_ID, **configure)
    return up


def _bare_uploader():
    return Uploader(SocketNet(socket), SystemClock())


def _upload(up, path, **kwargs):
    return asyncio.run(up.upload(path, **kwargs))


def _fails(up, path, code, **kwargs):
    try:
        _upload(up, path, **kwargs)
    except UploadError as exc:
        assert exc.code == code, (exc.code, exc.detail, exc.status)
        return exc
    raise AssertionError("uploaded, expected " + code)


def _ticks_ms():
    return SystemClock().ticks_ms()


# -- the request on the wire ---------------------------------------------------------------


def test_uploads_one_file_with_the_agreed_request():
    path = write_file("20260214-093000.csv", 100000)
    with ScriptedServer(ack_key=ACK_KEY) as server:
        result = _upload(_uploader(server, ack_key=ACK_KEY), path)
    sha256 = sha256_file(path)
    assert result == {
        "sha256": sha256,
        "bytes": 100000,
        "duplicate": False,
        "status": 201,
        "session_id": "s" + sha256[:8],
        "proven": True,
        "encoding": "identity",  # no compressor given: as the ESP32's default build
        "wire_bytes": result["wire_bytes"],
    }
    request = server.requests[0]
    assert request["method"] == "POST" and request["path"] == "/api/upload"
    assert request["version"] == "HTTP/1.0"
    headers = request["headers"]
    assert result["wire_bytes"] == int(headers["content-length"])
    assert headers["host"] == "127.0.0.1:" + str(server.port)
    assert headers["authorization"] == "Bearer " + TOKEN
    assert headers["x-content-sha256"] == sha256  # before the body: the first pass
    assert headers["x-device-id"] == DEVICE_ID
    assert headers["x-sync-id"] == SYNC_ID
    assert headers["connection"] == "close"
    assert headers["content-type"].startswith("multipart/form-data; boundary=rscore")
    # the exact length, computed before a byte of the body was read
    assert int(headers["content-length"]) == request["received"]
    assert request["complete"] and request["file_bytes"] == 100000
    assert request["file_sha256"] == sha256
    assert request["head_order"][0] == "Host"


def test_part_head_names_the_file():
    path = write_file('quote"d.csv', 10)
    with ScriptedServer() as server:
        _upload(_uploader(server), path)
    body = server.requests[0]["body"]
    assert b'name="file"; filename="quote%22d.csv"\r\nContent-Type: text/csv\r\n\r\n' in body
    assert body.endswith(b"--\r\n")


def test_content_length_is_exact_at_buffer_edges():
    sizes = (0, 1, 4095, 4096, 4097, 3 * 4096)
    with ScriptedServer() as server:
        up = _uploader(server)
        for i, size in enumerate(sizes):
            path = write_file("f" + str(i) + ".csv", size, seed=i)
            assert _upload(up, path)["bytes"] == size
    for i, size in enumerate(sizes):
        request = server.requests[i]
        assert request["complete"], request
        assert request["file_bytes"] == size
        assert int(request["headers"]["content-length"]) == request["received"]


def test_same_bytes_again_are_a_duplicate():
    path = write_file("a.csv", 5000)
    with ScriptedServer() as server:
        up = _uploader(server)
        first = _upload(up, path)
        again = _upload(up, path)
    assert not first["duplicate"] and first["status"] == 201
    assert again["duplicate"] and again["status"] == 200


def test_reply_read_by_its_length_when_the_server_keeps_the_socket():
    path = write_file("a.csv", 2000)
    with ScriptedServer(["keepalive"]) as server:
        up = _uploader(server, io_timeout_ms=3000)
        start = _ticks_ms()
        assert _upload(up, path)["bytes"] == 2000
        assert _ticks_ms() - start < 1500  # did not wait for the server to close


def test_progress_is_rate_limited_and_ends_at_the_total():
    path = write_file("a.csv", 40 * 4096)
    clock = FakeClock()
    seen = []

    class SlowCard:  # each 4 KB read takes 100 ms of virtual time
        def __init__(self, name, mode):
            self._f = open(name, mode)  # noqa: SIM115 (closed by the uploader via close())

        def readinto(self, buf):
            clock.advance(100)
            return self._f.readinto(buf)

        def close(self):
            self._f.close()

    def progress(*args):
        seen.append((clock.now_ms,) + args)

    with ScriptedServer() as server:
        # Virtual time runs as fast as the loop turns: no network deadline on it.
        up = _uploader(
            server,
            clock=clock,
            open_file=SlowCard,
            progress_interval_ms=500,
            connect_timeout_ms=10**9,
            io_timeout_ms=10**9,
        )
        _upload(up, path, index=2, count=3, progress=progress)
    assert seen[0][1:] == (2, 3, 0, 40 * 4096)
    assert seen[-1][1:] == (2, 3, 40 * 4096, 40 * 4096)
    assert 8 <= len(seen) <= 11, len(seen)  # 4 s of sending, about twice a second
    for i in range(1, len(seen) - 1):  # the last one comes at the end, whenever that is
        before, after = seen[i - 1], seen[i]
        assert after[0] - before[0] >= 500
        assert after[3] > before[3]


def test_report_posts_json_with_the_same_token():
    with ScriptedServer() as server:
        up = _uploader(server)
        status, reply = asyncio.run(up.post_json(up.endpoint("/api/syncs/abc/report"), {"a": 1}))
    assert status == 200 and reply == {"ok": True}
    request = server.requests[0]
    assert request["path"] == "/api/syncs/abc/report"
    assert request["headers"]["authorization"] == "Bearer " + TOKEN
    assert request["headers"]["content-type"] == "application/json"
    assert request["body"] == b'{"a": 1}'


# -- server errors, retries and backoff -----------------------------------------------------


def test_server_error_is_retried_with_backoff_then_e_http():
    path = write_file("a.csv", 1000)
    with ScriptedServer(["status:500"] * 3) as server:
        up = _uploader(server, backoff_ms=100)
        start = _ticks_ms()
        exc = _fails(up, path, "E_HTTP")
        elapsed_ms = _ticks_ms() - start
    assert exc.status == 500
    assert server.connections == 3
    assert elapsed_ms >= 100 + 200  # backoff doubles: 100 ms, then 200 ms


def test_server_error_then_success():
    path = write_file("a.csv", 1000)
    with ScriptedServer(["status:503", "ok"]) as server:
        result = _upload(_uploader(server), path)
    assert result["status"] == 201
    assert server.connections == 2


def test_auth_errors_are_not_retried():
    path = write_file("a.csv", 1000)
    for status in (401, 403):
        with ScriptedServer(["status:" + str(status)]) as server:
            exc = _fails(_uploader(server), path, "E_HTTP")
        assert exc.status == status
        assert server.connections == 1


def test_refusal_before_the_body_is_reported_as_the_servers_answer():
    # A server may answer 401 after the head and close without reading the body; the
    # reset that follows must not hide its answer.
    # (On a loaded host the reset can still beat the answer to the socket and the kernel
    # drops it; the uploader then retries a network error, so every connection answers
    # early: the test is that a 401 is never taken for a success or lost for good.)
    path = write_file("big.csv", 2 * 1024 * 1024)
    with ScriptedServer(["early:401"] * 4) as server:
        exc = _fails(_uploader(server, io_timeout_ms=2000), path, "E_HTTP")
    assert exc.status == 401


def test_garbage_reply_is_e_http():
    path = write_file("a.csv", 1000)
    with ScriptedServer(["garbage"] * 3) as server:
        exc = _fails(_uploader(server), path, "E_HTTP")
    assert exc.status == 0
    assert server.connections == 3


def test_reply_without_the_files_hash_is_e_server_hash():
    path = write_file("a.csv", 1000)
    for mode in ("wrong_hash", "no_hash"):
        with ScriptedServer([mode] * 3) as server:
            exc = _fails(_uploader(server), path, "E_SERVER_HASH")
        assert sha256_file(path) in exc.detail
        assert server.connections == 3


def test_hash_mismatch_once_then_echoed():
    path = write_file("a.csv", 1000)
    with ScriptedServer(["wrong_hash", "ok"]) as server:
        assert _upload(_uploader(server), path)["sha256"] == sha256_file(path)


# -- the network ------------------------------------------------------------------------


def test_server_that_never_answers_is_a_read_timeout():
    path = write_file("a.csv", 1000)
    with ScriptedServer(["stall"] * 3) as server:
        up = _uploader(server, io_timeout_ms=300)
        start = _ticks_ms()
        exc = _fails(up, path, "E_NETWORK")
        elapsed_ms = _ticks_ms() - start
    assert "stalled waiting for the reply" in exc.detail
    assert server.connections == 3
    assert 3 * 300 <= elapsed_ms < 3 * 300 + 2000


def test_a_large_file_gets_more_time_for_the_reply():
    # io_timeout 300 ms; 600 KB earn 1200 ms more (the laptop commits the whole file
    # before it answers): a reply after 800 ms is waited for, for a small file it is not.
    big = write_file("big.csv", 600 * 1000)
    with ScriptedServer(["delay:800"]) as server:
        result = _upload(_uploader(server, io_timeout_ms=300), big)
    assert result["status"] == 201
    small = write_file("small.csv", 1000)
    with ScriptedServer(["delay:800"] * 3) as server:
        exc = _fails(_uploader(server, io_timeout_ms=300), small, "E_NETWORK")
    assert "stalled waiting for the reply" in exc.detail


def test_server_closing_without_an_answer_is_e_network():
    path = write_file("a.csv", 1000)
    with ScriptedServer(["close"] * 3) as server:
        _fails(_uploader(server), path, "E_NETWORK")
    assert server.connections == 3


def test_refused_connection_is_e_network():
    path = write_file("a.csv", 1000)
    server = ScriptedServer()
    server.start()
    server.stop()  # nothing listens on that port any more
    exc = _fails(_uploader(server), path, "E_NETWORK")
    assert "could not connect" in exc.detail


def test_host_name_that_does_not_resolve_falls_back_to_the_ip():
    path = write_file("a.csv", 1000)
    resolver = LoopbackResolver(fail=("pit-laptop.local",))
    with ScriptedServer() as server:
        up = _uploader(
            server, host="pit-laptop.local", getaddrinfo=resolver, ip_fallback="127.0.0.1"
        )
        _upload(up, path)
        _upload(up, path)
    assert resolver.calls == ["pit-laptop.local", "127.0.0.1"]  # then the address is kept
    for request in server.requests:
        assert request["headers"]["host"] == "pit-laptop.local:" + str(server.port)


def test_host_name_that_resolves_is_used():
    path = write_file("a.csv", 1000)
    resolver = LoopbackResolver(names={"pit-laptop.local": "127.0.0.1"})
    with ScriptedServer() as server:
        _upload(_uploader(server, host="pit-laptop.local", getaddrinfo=resolver), path)
    assert resolver.calls == ["pit-laptop.local"]


def test_unresolvable_host_without_fallback_is_e_network():
    path = write_file("a.csv", 1000)
    resolver = LoopbackResolver(fail=("pit-laptop.local",))
    with ScriptedServer() as server:
        up = _uploader(server, host="pit-laptop.local", getaddrinfo=resolver)
        exc = _fails(up, path, "E_NETWORK")
    assert "cannot resolve" in exc.detail
    assert server.connections == 0


# -- cancel ---------------------------------------------------------------------------------


def test_cancel_mid_file_closes_the_socket_and_is_not_retried():
    path = write_file("big.csv", 1024 * 1024)
    flag = []

    def progress(index, count, done, total):
        if done > 0:
            flag.append(done)

    with ScriptedServer() as server:
        up = _uploader(server, progress_interval_ms=0)
        _fails(up, path, "E_CANCELLED", progress=progress, cancelled=lambda: bool(flag))
        assert server.wait_requests(1)  # the server has seen the hang-up too
    assert server.connections == 1
    request = server.requests[0]
    assert not request["complete"]
    assert request["received"] < 1024 * 1024


def test_cancel_during_backoff():
    path = write_file("a.csv", 1000)
    with ScriptedServer(["status:500"] * 3) as server:
        up = _uploader(server, backoff_ms=5000)
        stop_at = _ticks_ms() + 300
        start = _ticks_ms()
        _fails(up, path, "E_CANCELLED", cancelled=lambda: _ticks_ms() > stop_at)
        assert _ticks_ms() - start < 2000
    assert server.connections == 1


# -- the file -------------------------------------------------------------------------------


def test_missing_file_is_e_storage():
    with ScriptedServer() as server:
        _fails(_uploader(server), "no-such.csv", "E_STORAGE")
    assert server.connections == 0


def test_read_error_is_e_storage():
    class Broken:
        def readinto(self, buf):
            raise OSError(5)

        def close(self):
            pass

    with ScriptedServer() as server:
        up = _uploader(server, open_file=lambda path, mode: Broken())
        _fails(up, "a.csv", "E_STORAGE")


def test_file_growing_between_the_passes_is_e_storage():
    path = write_file("a.csv", 5000)
    opened = []

    def open_file(name, mode):
        opened.append(name)
        if len(opened) % 2 == 0:  # the sending pass: the file grew meanwhile
            with open(name, "ab") as f:
                f.write(b"0,1,2\n")
        return open(name, mode)

    with ScriptedServer() as server:
        exc = _fails(_uploader(server, open_file=open_file, attempts=1), path, "E_STORAGE")
    assert "changed" in exc.detail


# -- URLs and TLS pinning -------------------------------------------------------------------


def test_parse_url():
    assert parse_url("http://pit-laptop.local:8765/api/upload") == (
        "http",
        "pit-laptop.local",
        8765,
        "/api/upload",
    )
    assert parse_url("HTTPS://pit.example/api/upload") == (
        "https",
        "pit.example",
        443,
        "/api/upload",
    )
    assert parse_url("http://192.168.43.10") == ("http", "192.168.43.10", 80, "/")
    assert parse_url("http://[fe80::1]:8765/x") == ("http", "fe80::1", 8765, "/x")


def test_bad_urls_are_e_url():
    bad = (
        "ftp://pit/api/upload",
        "pit-laptop.local:8765/api/upload",
        "http://",
        "http://:8765/api/upload",
        "http://pit:99999/api/upload",
        "http://pit:80x/api/upload",
        "http://user@pit/api/upload",
        "http://pit/api/upload\r\nX-Evil: 1",
        None,
    )
    for url in bad:
        up = _bare_uploader()
        try:
            up.configure(url, TOKEN)
        except UploadError as exc:
            assert exc.code == "E_URL", (url, exc.code)
            continue
        raise AssertionError("accepted " + repr(url))


def test_bad_token_or_pin_is_e_message():
    up = _bare_uploader()
    for kwargs in ({"token": "a\r\nb"}, {"token": ""}, {"cert_sha256": "abc"}):
        args = {"token": TOKEN}
        args.update(kwargs)
        try:
            up.configure("http://pit/api/upload", **args)
        except UploadError as exc:
            assert exc.code == "E_MESSAGE"
            continue
        raise AssertionError("accepted " + repr(kwargs))


def test_endpoint_keeps_a_path_prefix():
    up = _bare_uploader()
    up.configure("http://pit/racesense/api/upload", TOKEN)
    assert up.endpoint("/api/syncs/x/report") == "/racesense/api/syncs/x/report"


def test_https_pinned_certificate_is_accepted():
    path = write_file("a.csv", 3000)
    tls = FakeTLS()
    pin = sha256_hex(tls.der).upper()  # case and colons as browsers show it
    pin = ":".join(pin[i : i + 2] for i in range(0, 64, 2))
    with ScriptedServer() as server:
        up = _uploader(server, host="127.0.0.1", scheme="https", ssl_mod=tls, cert_sha256=pin)
        assert _upload(up, path)["bytes"] == 3000
    assert tls.wrapped == ["127.0.0.1"]
    assert server.requests[0]["headers"]["host"] == "127.0.0.1:" + str(server.port)


def test_https_wrong_certificate_is_e_tls_pin_and_nothing_is_sent():
    path = write_file("a.csv", 3000)
    with ScriptedServer() as server:
        up = _uploader(server, scheme="https", ssl_mod=FakeTLS(), cert_sha256="ab" * 32)
        exc = _fails(up, path, "E_TLS_PIN")
        assert "not the pinned one" in exc.detail
        assert server.wait_requests(1)
    assert server.connections == 1  # not retried
    assert server.requests[0].get("headers") is None  # the token never left


def test_https_without_a_pin_or_tls_is_refused_at_configure():
    # At request time, before Wi-Fi is joined: no CA store, so without a pin nothing would
    # vouch for the server; a build without ssl cannot do https at all.
    with ScriptedServer() as server:
        for options in ({"ssl_mod": FakeTLS()}, {"cert_sha256": "ab" * 32}):
            try:
                _uploader(server, scheme="https", **options)
            except UploadError as exc:
                assert exc.code == "E_TLS_PIN", exc.code
                continue
            raise AssertionError("configured https with " + repr(options))
    assert server.connections == 0


def test_https_on_a_build_that_cannot_show_the_certificate_is_refused():
    path = write_file("a.csv", 10)
    with ScriptedServer() as server:
        up = _uploader(server, scheme="https", ssl_mod=FakeTLS(der=None), cert_sha256="ab" * 32)
        exc = _fails(up, path, "E_TLS_PIN")
    assert "cannot read" in exc.detail


def test_server_that_stops_reading_is_a_send_stall():
    # The server never reads: once the socket buffers on both sides are full (a few MB on
    # loopback), send makes no progress and the stall deadline ends the attempt.
    path = write_file("big.csv", 8 * 1024 * 1024)
    with ScriptedServer(["hang"]) as server:
        up = _uploader(server, io_timeout_ms=300, attempts=1)
        start = _ticks_ms()
        exc = _fails(up, path, "E_NETWORK")
        elapsed_ms = _ticks_ms() - start
    assert "stalled sending" in exc.detail
    assert elapsed_ms < 10000


# -- the acknowledgement's proof ------------------------------------------------------------


def test_ack_proof_is_the_backends_hmac():
    # HMAC-SHA256(ack_key, "<sha256>:<size>") as src/racesense/store/syncs.py makes it
    # (this vector from CPython's hmac module).
    expected = "272a320b90d1c3a9b6bdf58727e5bd44aa9c71d2704489e783cc60d59914c10f"
    assert ack_proof(ACK_KEY, "ab" * 32, 123456) == expected
    try:
        import hashlib
        import hmac
    except ImportError:  # MicroPython: the vector above is the check
        return
    for size in (0, 1, 10**9):
        message = ("cd" * 32 + ":" + str(size)).encode()
        reference = hmac.new(ACK_KEY, message, hashlib.sha256).hexdigest()
        assert ack_proof(ACK_KEY, "cd" * 32, size) == reference


def test_an_echoed_hash_without_a_valid_proof_is_not_an_acknowledgement():
    # Any host on the hotspot can echo a hash: without the sync's key it cannot prove it.
    path = write_file("a.csv", 3000)
    for mode in ("no_proof", "bad_proof"):
        with ScriptedServer([mode], ack_key=ACK_KEY) as server:
            exc = _fails(_uploader(server, ack_key=ACK_KEY), path, "E_SERVER_PROOF")
        assert ("no proof" if mode == "no_proof" else "wrong proof") in exc.detail
        assert server.connections == 1  # the same server will not know the key next time
        assert server.requests[0]["complete"]  # it did get the bytes: they stay pending


def test_a_server_that_does_not_know_the_key_cannot_prove_it():
    path = write_file("a.csv", 3000)
    with ScriptedServer(ack_key=bytes(32)) as server:
        _fails(_uploader(server, ack_key=ACK_KEY), path, "E_SERVER_PROOF")


def test_a_duplicate_is_proven_too():
    path = write_file("a.csv", 3000)
    with ScriptedServer(ack_key=ACK_KEY) as server:
        up = _uploader(server, ack_key=ACK_KEY)
        _upload(up, path)
        again = _upload(up, path)
    assert again["duplicate"] and again["proven"]


def test_ack_key_must_be_32_bytes():
    up = _bare_uploader()
    for key in (b"", bytes(31), bytes(33), "0" * 32):
        try:
            up.configure("http://pit/api/upload", TOKEN, ack_key=key)
        except UploadError as exc:
            assert exc.code == "E_MESSAGE"
            continue
        raise AssertionError("accepted ack_key " + repr(key))


def test_an_expired_token_asks_for_a_fresh_one_and_is_not_retried():
    path = write_file("a.csv", 1000)
    with ScriptedServer(["status:401"] * 3) as server:
        exc = _fails(_uploader(server), path, "E_HTTP")
    assert exc.status == 401 and "fresh token" in exc.detail
    assert server.connections == 1


# -- the IP fallback ------------------------------------------------------------------------


def test_parse_fallback_takes_a_url_or_a_bare_address():
    assert parse_fallback("http://192.168.43.10:8765/api/upload", "http", 80) == (
        "192.168.43.10",
        8765,
    )
    assert parse_fallback("https://192.168.43.10/api/upload", "https", 8443) == (
        "192.168.43.10",
        443,
    )
    assert parse_fallback("192.168.43.10", "http", 8765) == ("192.168.43.10", 8765)
    assert parse_fallback("192.168.43.10:9000", "http", 8765) == ("192.168.43.10", 9000)
    assert parse_fallback("[fe80::1]:9000", "http", 80) == ("fe80::1", 9000)
    assert parse_fallback("fe80::1", "http", 8765) == ("fe80::1", 8765)
    for bad in ("https://192.168.43.10/api/upload", "192.168.43.10:99999", "", "a/b", None):
        try:
            parse_fallback(bad, "http", 80)
        except UploadError as exc:
            assert exc.code == "E_URL", (bad, exc.code)
            continue
        raise AssertionError("accepted " + repr(bad))


def test_fallback_given_as_a_full_url_is_dialled_by_its_ip():
    # What the BLE request carries: the upload URL with the laptop's IP in it. Its host
    # and port are dialled, never handed to getaddrinfo whole.
    path = write_file("a.csv", 1000)
    resolver = LoopbackResolver(fail=("pit-laptop.local",))
    with ScriptedServer() as server:
        fallback = "http://127.0.0.1:" + str(server.port) + "/api/upload"
        up = _uploader(server, host="pit-laptop.local", getaddrinfo=resolver, ip_fallback=fallback)
        assert _upload(up, path)["bytes"] == 1000
    assert resolver.calls == ["pit-laptop.local", "127.0.0.1"]
    assert server.requests[0]["headers"]["host"] == "pit-laptop.local:" + str(server.port)


def test_a_fallback_url_with_another_scheme_is_refused():
    up = _bare_uploader()
    try:
        up.configure(
            "http://pit:8765/api/upload", TOKEN, ip_fallback="https://10.0.0.2:8765/api/upload"
        )
    except UploadError as exc:
        assert exc.code == "E_URL"
        return
    raise AssertionError("accepted a fallback with another scheme")


# -- TLS on non-blocking sockets ------------------------------------------------------------


def test_tls_send_stall_is_not_fatal_on_a_non_blocking_socket():
    # MicroPython's TLS over a socket with a timeout turns the first send stall into a
    # permanent ETIMEDOUT on that socket (FakeTLS plays it, sticky); the adapter gives
    # TLS a non-blocking socket, where the same stall is "want write" and passes.
    path = write_file("a.csv", 20000)
    tls = FakeTLS(stall_once=True)
    sockets = RecordingSocketModule(socket)
    pin = sha256_hex(tls.der)
    with ScriptedServer() as server:
        up = _uploader(
            server, scheme="https", ssl_mod=tls, socket_mod=sockets, cert_sha256=pin, attempts=1
        )
        result = _upload(up, path)
    assert result["bytes"] == 20000 and result["sha256"] == sha256_file(path)
    assert tls.stalls == ["would_block"]
    assert [s.timeout_s for s in sockets.made] == [0]  # non-blocking, never a timeout


def test_tls_handshake_is_driven_without_blocking_and_the_pin_checked_after_it():
    path = write_file("a.csv", 5000)
    tls = FakeTLS(handshake_turns=5)
    with ScriptedServer() as server:
        up = _uploader(server, scheme="https", ssl_mod=tls, cert_sha256=sha256_hex(tls.der))
        assert _upload(up, path)["bytes"] == 5000


# -- nothing blocks the loop ----------------------------------------------------------------


class _SlowResolver(LoopbackResolver):
    """A getaddrinfo that takes `delay_ms` for names, like an mDNS lookup that fails."""

    def __init__(self, delay_ms, **kwargs):
        super().__init__(**kwargs)
        self.delay_ms = delay_ms

    def __call__(self, host, port, *rest):
        if host != "127.0.0.1":
            _sleep_blocking(self.delay_ms)
        return super().__call__(host, port, *rest)


def _sleep_blocking(ms):
    import time

    if hasattr(time, "sleep_ms"):
        time.sleep_ms(ms)
    else:
        time.sleep(ms / 1000)


async def _largest_gap_ms(work):
    """Run `work` while another task ticks; the longest the loop went without a turn."""
    clock = SystemClock()
    gaps = [0]
    done = []

    async def ticker():
        last = clock.ticks_ms()
        while not done:
            await asyncio.sleep(0)
            now = clock.ticks_ms()
            gaps[0] = max(gaps[0], clock.ticks_diff(now, last))
            last = now

    task = asyncio.create_task(ticker())
    try:
        result = await work
    finally:
        done.append(True)
        await task
    return result, gaps[0]


async def test_a_slow_name_lookup_runs_off_the_loop():
    path = write_file("a.csv", 1000)
    resolver = _SlowResolver(1000, names={"pit-laptop.local": "127.0.0.1"})
    with ScriptedServer() as server:
        up = _uploader(server, host="pit-laptop.local", getaddrinfo=resolver)
        result, gap_ms = await _largest_gap_ms(up.upload(path))
    assert result["bytes"] == 1000
    # The 1 s lookup did not hold the loop (unloaded, the largest gap is a few ms; the
    # margin is for a busy test machine's scheduling).
    assert gap_ms < 600, gap_ms


async def test_a_lookup_that_takes_too_long_is_given_up_for_the_fallback():
    path = write_file("a.csv", 1000)
    resolver = _SlowResolver(2500, names={"pit-laptop.local": "127.0.0.1"})
    with ScriptedServer() as server:
        up = _uploader(
            server,
            host="pit-laptop.local",
            getaddrinfo=resolver,
            ip_fallback="127.0.0.1",
            resolve_timeout_ms=200,
        )
        start = _ticks_ms()
        result, gap_ms = await _largest_gap_ms(up.upload(path))
        elapsed_ms = _ticks_ms() - start
    assert result["bytes"] == 1000
    assert elapsed_ms < 1500, elapsed_ms  # not the 2.5 s the lookup takes
    assert gap_ms < 600, gap_ms


def test_tls_capable_needs_ssl_and_the_heap_for_it():
    from board.net import TLS_HEAP_BYTES, tls_capable

    class Ssl:
        SSLContext = object

    assert tls_capable(None) is False
    assert tls_capable(object()) is False  # an ssl module without SSLContext (old ports)
    assert tls_capable(Ssl, mem_free=lambda: TLS_HEAP_BYTES) is True
    assert tls_capable(Ssl, mem_free=lambda: TLS_HEAP_BYTES - 1) is False
