"""Slow and idle clients against a real `racesense serve` (web/guard.py): deadlines for
request heads and bodies, and caps on connections in total and per client address.

On Linux every address in 127.0.0.0/8 reaches the server, so a test can be many clients;
elsewhere the tests that need a second address skip.
"""

from __future__ import annotations

import contextlib
import itertools
import socket
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

import http_clients as hc
from racesense import devserver
from racesense.web.guard import ConnectionGuard, Limits, address_key, raise_open_file_limit

TOKEN = "slow-clients-admin-token-93be"
HEAD_S = 2  # the deadlines server's RACESENSE_HEAD_TIMEOUT_S
BODY_S = 1  # its RACESENSE_BODY_TIMEOUT_S: JSON bodies get BODY_S + 2 s of silence
BODY_SILENCE_S = BODY_S + 2
PER_ADDRESS, TOTAL = 4, 6  # the caps server's caps
SLACK_S = 1.5  # a deadline may fire this late on a busy test machine
MANY_ADDRESSES = sys.platform.startswith("linux")
needs_addresses = pytest.mark.skipif(not MANY_ADDRESSES, reason="only Linux routes 127.0.0.0/8")


# -- the servers ---------------------------------------------------------------------


def _serve(tmp: pytest.TempPathFactory, name: str, env: dict[str, str]) -> Iterator[int]:
    with devserver.running(tmp.mktemp(name), {"RACESENSE_API_TOKEN": TOKEN, **env}) as (_, port):
        yield port


@pytest.fixture(scope="module")
def deadlines(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    """Short deadlines, the default caps."""
    env = {"RACESENSE_HEAD_TIMEOUT_S": str(HEAD_S), "RACESENSE_BODY_TIMEOUT_S": str(BODY_S)}
    yield from _serve(tmp_path_factory, "deadlines", env)


@pytest.fixture(scope="module")
def caps(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    """Small caps, the default deadlines."""
    env = {
        "RACESENSE_MAX_CONNECTIONS": str(TOTAL),
        "RACESENSE_MAX_CONNECTIONS_PER_ADDRESS": str(PER_ADDRESS),
    }
    yield from _serve(tmp_path_factory, "caps", env)


@pytest.fixture(scope="module")
def defaults(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    """Every limit as shipped."""
    yield from _serve(tmp_path_factory, "defaults", {})


# -- raw clients ---------------------------------------------------------------------

_next_address = iter(range(2, 250))


def fresh_address() -> str:
    """A loopback address no other test uses, so per-address counts start at zero."""
    return f"127.0.3.{next(_next_address)}" if MANY_ADDRESSES else "127.0.0.1"


def connect(port: int, source: str = "127.0.0.1", timeout: float = 10) -> socket.socket:
    return socket.create_connection(("127.0.0.1", port), timeout, source_address=(source, 0))


def head(method: str, path: str, *lines: str) -> bytes:
    return "\r\n".join([f"{method} {path} HTTP/1.1", "Host: racesense", *lines, "", ""]).encode()


def read_until_closed(sock: socket.socket, limit_s: float) -> tuple[bytes, float]:
    """Everything the server sends until it closes (or resets) the connection, and
    the seconds that took; fails if it is still open after `limit_s`."""
    started = time.monotonic()
    received = b""
    sock.settimeout(limit_s)
    with contextlib.suppress(ConnectionResetError):
        while chunk := sock.recv(65536):
            received += chunk
    return received, time.monotonic() - started


def trickle_until_closed(sock: socket.socket, data: bytes, every_s: float) -> tuple[bytes, float]:
    """Send `data` a byte every `every_s` (round again if it runs out) until the server
    closes the connection: everything it sent, and the seconds that took."""
    started, received = time.monotonic(), b""
    sock.settimeout(every_s)
    for byte in itertools.cycle(data):
        assert time.monotonic() - started < 30, "the server never closed the connection"
        try:
            sock.sendall(bytes([byte]))
            chunk = sock.recv(65536)
        except TimeoutError:
            continue
        except (BrokenPipeError, ConnectionResetError):
            break
        if not chunk:
            break
        received += chunk
    return received, time.monotonic() - started


def health(port: int, source: str = "127.0.0.1", timeout: float = 10) -> hc.Response:
    with connect(port, source, timeout) as sock:
        sock.sendall(head("GET", "/api/health", "Connection: close"))
        received, _ = read_until_closed(sock, timeout)
    response = hc.parse_response(received)
    assert response is not None, received
    return response


@contextlib.contextmanager
def event_streams(port: int, source: str, count: int) -> Iterator[list[socket.socket]]:
    """`count` open `GET /api/events` streams from `source`: connections busy with a
    request for as long as they stay open."""
    with contextlib.ExitStack() as stack:
        streams = []
        for _ in range(count):
            sock = stack.enter_context(connect(port, source))
            sock.sendall(head("GET", "/api/events", f"Authorization: Bearer {TOKEN}"))
            received = b""
            while b"retry:" not in received:
                chunk = sock.recv(4096)
                assert chunk, received
                received += chunk
            streams.append(sock)
        yield streams


def is_closed(sock: socket.socket, wait_s: float = 2.0) -> bool:
    """True once the server has closed `sock` (within `wait_s`)."""
    sock.settimeout(wait_s)
    try:
        return sock.recv(1) == b""
    except ConnectionResetError:
        return True
    except TimeoutError:
        return False


# -- deadlines -----------------------------------------------------------------------


def test_trickled_head_is_closed_by_its_deadline(deadlines: int) -> None:
    with connect(deadlines) as sock:
        received, elapsed = trickle_until_closed(sock, head("GET", "/api/health"), 1.0)
    assert HEAD_S - 0.5 < elapsed < HEAD_S + SLACK_S
    response = hc.parse_response(received)
    assert response is None or (response.status == 408 and response.json()["error"] == "timeout")


def test_idle_connection_is_closed_silently_by_its_deadline(deadlines: int) -> None:
    with connect(deadlines) as sock:
        received, elapsed = read_until_closed(sock, HEAD_S + SLACK_S)
    assert received == b""  # nothing begun, nothing answered
    assert HEAD_S - 0.5 < elapsed < HEAD_S + SLACK_S


def test_keep_alive_deadline_runs_from_the_end_of_the_previous_response(deadlines: int) -> None:
    with connect(deadlines) as sock:
        time.sleep(HEAD_S / 2)
        sock.sendall(head("GET", "/api/health"))  # kept alive
        received = b""
        while b'"ok"' not in received:
            received += sock.recv(4096)
        sock.sendall(b"GET /api/he")  # and the next head never ends
        rest, elapsed = read_until_closed(sock, HEAD_S + SLACK_S)
    assert HEAD_S - 0.5 < elapsed < HEAD_S + SLACK_S
    assert hc.parse_response(rest) is None or b" 408 " in rest.split(b"\r\n")[0]


def test_stalled_json_bodies_are_closed_by_their_deadline(deadlines: int) -> None:
    """Headers with a Content-Length, part of the body, then nothing: a 408, no 5xx."""
    with connect(deadlines) as tracks, connect(deadlines) as syncs:
        for sock, path in ((tracks, "/api/tracks"), (syncs, "/api/syncs")):
            lines = [f"Authorization: Bearer {TOKEN}", "Content-Type: application/json"]
            sock.sendall(head("POST", path, *lines, "Content-Length: 100") + b'{"name": ')
        started = time.monotonic()
        for sock in (tracks, syncs):
            received = read_until_closed(sock, BODY_SILENCE_S + SLACK_S)[0]
            elapsed = time.monotonic() - started
            assert BODY_SILENCE_S - 0.5 < elapsed < BODY_SILENCE_S + SLACK_S
            response = hc.parse_response(received)
            assert response is not None and response.status == 408, received
            assert response.json() == {
                "ok": False,
                "status": 408,
                "error": "timeout",
                "message": f"The client sent nothing for {BODY_SILENCE_S} s.",
            }


def test_trickled_json_body_is_closed_by_its_rate(deadlines: int) -> None:
    with connect(deadlines) as sock:
        lines = [f"Authorization: Bearer {TOKEN}", "Content-Type: application/json"]
        sock.sendall(head("POST", "/api/tracks", *lines, "Content-Length: 1000"))
        # Never silent for long, but far too slow.
        received, elapsed = trickle_until_closed(sock, b" ", 0.5)
    assert BODY_SILENCE_S - 0.5 < elapsed < BODY_SILENCE_S + SLACK_S
    response = hc.parse_response(received)
    assert response is None or response.status == 408, received


def test_body_still_coming_after_an_early_answer_is_closed(deadlines: int) -> None:
    """A request refused before its body was read (no token) still owes its body, and
    a client trickling it may not hold the connection for ever."""
    with connect(deadlines) as sock:
        sock.sendall(head("POST", "/api/tracks", "Content-Length: 100000"))
        received, elapsed = trickle_until_closed(sock, b" ", 0.5)
    response = hc.parse_response(received)
    assert response is not None and response.status == 401
    assert BODY_SILENCE_S - 0.5 < elapsed < BODY_SILENCE_S + SLACK_S


def test_a_request_that_takes_its_time_is_not_cut(deadlines: int) -> None:
    """Deadlines bound waiting for the client, never the server's answer: an event
    stream outlives the head deadline, and a head sent in pieces in time is served."""
    source = fresh_address()
    with event_streams(deadlines, source, 1) as (stream,), connect(deadlines, source) as sock:
        for piece in (b"GET /api/hea", b"lth HTTP/1.1\r\nHost: x\r\n", b"\r\n"):
            sock.sendall(piece)
            time.sleep(HEAD_S / 4)
        received = b""
        while b'"ok"' not in received:
            received += sock.recv(4096)
        time.sleep(HEAD_S - HEAD_S / 4)
        assert not is_closed(stream, wait_s=0.1)
    assert b"HTTP/1.1 200 " in received


# -- caps ----------------------------------------------------------------------------


def test_per_address_cap_refuses_only_when_all_are_busy(caps: int) -> None:
    source = fresh_address()
    with event_streams(caps, source, PER_ADDRESS):
        with connect(caps, source) as refused:
            response = hc.parse_response(read_until_closed(refused, 5)[0])
        assert response is not None and response.status == 503
        assert response.json()["error"] == "busy" and response.headers["Retry-After"] == "5"
        if MANY_ADDRESSES:
            assert health(caps, fresh_address()).status == 200  # other addresses unaffected
    time.sleep(0.2)  # the server sees the streams close
    assert health(caps, source).status == 200


def test_waiting_connections_make_room_oldest_first(caps: int) -> None:
    source = fresh_address()
    with (
        event_streams(caps, source, PER_ADDRESS - 2),
        connect(caps, source) as oldest,
        connect(caps, source) as newer,
    ):
        time.sleep(0.2)
        assert health(caps, source).status == 200  # the cap was full: `oldest` made room
        assert is_closed(oldest)
        assert not is_closed(newer, wait_s=0.2)


@needs_addresses
def test_total_cap(caps: int) -> None:
    first, second, third = fresh_address(), fresh_address(), fresh_address()
    with event_streams(caps, first, PER_ADDRESS), event_streams(caps, second, TOTAL - PER_ADDRESS):
        with connect(caps, third) as refused:
            response = hc.parse_response(read_until_closed(refused, 5)[0])
        assert response is not None and response.status == 503
    with event_streams(caps, first, PER_ADDRESS - 1), connect(caps, second) as waiting:
        time.sleep(0.2)
        streams = TOTAL - PER_ADDRESS  # the total is now full, one connection waiting
        with event_streams(caps, third, streams):
            assert health(caps, third).status == 200
            assert is_closed(waiting)


def test_2000_idle_connections_do_not_stop_health(defaults: int) -> None:
    count = 2000
    wanted = count + 200
    if (raise_open_file_limit() or wanted) < wanted:
        pytest.skip(f"this process may not open {wanted} files")
    # Half from this address (over its cap), half from 20 others (over the total).
    sources = ["127.0.0.1"] * (count // 2)
    others = [f"127.0.4.{i}" for i in range(1, 21)] if MANY_ADDRESSES else ["127.0.0.1"]
    sources += [others[i % len(others)] for i in range(count - len(sources))]
    idle: list[socket.socket] = []
    try:
        for source in sources:
            idle.append(connect(defaults, source))
        started = time.monotonic()
        assert health(defaults, "127.0.0.1", timeout=5).status == 200
        assert health(defaults, others[-1], timeout=5).status == 200
        assert time.monotonic() - started < 2.0
        time.sleep(0.5)
        open_now = 0
        for sock in idle:
            sock.setblocking(False)
            try:
                open_now += sock.recv(1) != b""
            except BlockingIOError:
                open_now += 1
            except ConnectionResetError:
                pass
        assert open_now <= 512  # the default total cap
    finally:
        for sock in idle:
            sock.close()


# -- the guard alone -----------------------------------------------------------------


class _Conn:
    def __init__(self, name: str) -> None:
        self.name = name
        self.evicted = False

    def evict(self) -> None:
        self.evicted = True

    def __repr__(self) -> str:
        return self.name


def test_guard_evicts_the_longest_waiting_and_refuses_when_all_are_busy() -> None:
    guard = ConnectionGuard(max_total=3, max_per_address=2)
    a1, a2, a3, b1, b2 = (_Conn(n) for n in ("a1", "a2", "a3", "b1", "b2"))
    for conn, address in ((a1, "a"), (a2, "a")):
        assert guard.admit(conn, address)
        guard.waiting(conn)
    guard.busy(a1)
    guard.waiting(a1)  # a1 waits again (keep-alive): now the newest waiting
    assert guard.admit(a3, "a") and a2.evicted and not a1.evicted
    guard.busy(a1)
    guard.busy(a3)
    assert not guard.admit(_Conn("a4"), "a")  # a's cap full, all busy
    assert guard.admit(b1, "b")
    guard.waiting(b1)
    assert guard.admit(b2, "b") and b1.evicted  # the total was full
    guard.busy(b2)
    assert not guard.admit(_Conn("c1"), "c")
    guard.release(a1)
    guard.release(a1)
    assert guard.total == 2 and guard.count("a") == 1
    assert guard.admit(_Conn("c2"), "c")


def test_address_key() -> None:
    assert address_key(("192.0.2.7", 5000)) == "192.0.2.7"
    assert address_key(("::ffff:192.0.2.7", 5000)) == "192.0.2.7"
    assert address_key(("2001:db8:1:2:aaaa::1", 5000)) == "2001:db8:1:2::/64"
    assert address_key(None) == "local"


def test_total_cap_fits_the_open_file_limit() -> None:
    from racesense.settings import Settings

    settings = Settings(data_dir=Path("."), database_url="sqlite://")
    assert Limits.from_settings(settings, None).max_connections == 512
    assert Limits.from_settings(settings, 1024).max_connections == (1024 - 128) // 2
    assert Limits.from_settings(settings, 1024).max_per_address == 64
    assert Limits.from_settings(settings, 1024).body_silence_s == 32
