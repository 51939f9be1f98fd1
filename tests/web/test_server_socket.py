"""A real `racesense serve` subprocess, spoken to over a real socket by raw clients that
send what ESP32 loggers, curl and browsers send, byte for byte (tests/http_clients.py)."""

from __future__ import annotations

import json
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

import http_clients as hc
from racesense import devserver

TOKEN = "socket-test-admin-token-5f1c"
CSV = b"# racesense-csv 1\ntime_ms,lat_deg,lon_deg\n0,52.0,-1.0\n"


class Server:
    def __init__(self, port: int, data_dir: Path, proc: subprocess.Popen[bytes]) -> None:
        self.host = "127.0.0.1"
        self.port = port
        self.data_dir = data_dir
        self.proc = proc

    def send(self, request: hc.Request, **kwargs: float) -> hc.Response:
        return hc.send(request, self.host, self.port, **kwargs)

    def get(self, path: str) -> hc.Response:
        req = hc.Request(
            "GET",
            path,
            [
                ("Host", f"{self.host}:{self.port}"),
                ("Authorization", f"Bearer {TOKEN}"),
                ("Connection", "close"),
            ],
        )
        return self.send(req)

    def stored(self) -> list[Path]:
        raw = self.data_dir / "raw"
        return sorted(p for p in raw.rglob("*") if p.is_file()) if raw.exists() else []

    def session_count(self) -> int:
        return int(self.get("/api/sessions?limit=1").json()["total"])

    def alive(self) -> bool:
        return self.get("/api/health").status == 200


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    data_dir = tmp_path_factory.mktemp("serve")
    env = {
        "RACESENSE_API_TOKEN": TOKEN,
        "RACESENSE_MAX_UPLOAD_MB": "16",
        "RACESENSE_BODY_TIMEOUT_S": "2",
    }
    with devserver.running(data_dir, env) as (proc, port):
        yield Server(port, data_dir, proc)


def _unique(label: str) -> bytes:
    return CSV + f"# {label} {time.monotonic_ns()}\n".encode()


@pytest.mark.parametrize("name", sorted(hc.BUILDERS))
@pytest.mark.parametrize("gzip", [False, True])
def test_every_client_style_uploads(server: Server, name: str, gzip: bool) -> None:
    data = _unique(name)
    request = hc.BUILDERS[name](
        server.host,
        server.port,
        TOKEN,
        data,
        f"{name}.csv",
        sha256=hc.sha256_hex(data),
        device_id="RS-Core-7F3A",
        gzip=gzip,
    )
    response = server.send(request)
    assert response.status == 201, response.body
    (item,) = response.json()["files"]
    assert item["sha256"] == hc.sha256_hex(data) and item["bytes"] == len(data)
    assert len(response.body) < 1024  # an ESP32 reads at most 1 KB


def test_esp_idf_chunked_upload(server: Server) -> None:
    data = _unique("chunked") * 50
    request = hc.esp_idf(server.host, server.port, TOKEN, data, "c.csv", chunked=True)
    assert request.is_chunked
    response = server.send(request)
    assert response.status == 201 and response.json()["files"][0]["bytes"] == len(data)


def test_expect_100_continue_both_ways(server: Server) -> None:
    data = _unique("big") + b"0" * (hc.MIB + 10)
    good = hc.curl(server.host, server.port, TOKEN, data, "big.csv")
    assert good.expects_continue
    response = server.send(good)
    assert response.status == 201 and 100 in response.interim
    bad = hc.curl(server.host, server.port, "wrong-token", _unique("x") + data, "big.csv")
    refused = server.send(bad)
    assert refused.status == 401 and refused.body_bytes_sent == 0
    assert refused.json()["error"] == "unauthorized"


def test_path_traversal_filenames(server: Server) -> None:
    before = server.stored()
    for request in hc.path_traversal_filename(server.host, server.port, TOKEN):
        response = server.send(request)
        assert response.status == 400, (request.label, response.body)
        assert response.json()["error"] == "bad_filename"
    assert server.stored() == before


@pytest.mark.parametrize("kind", hc.MULTIPART_GARBAGE_KINDS)
def test_garbage_multipart(server: Server, kind: str) -> None:
    request = hc.multipart_garbage(server.host, server.port, TOKEN, kind=kind, data=_unique(kind))
    before = server.stored()
    response = server.send(request)
    # A part without filename, type or disposition is still a file (loggers send such).
    if kind in ("no_file_part", "no_content_disposition", "two_file_parts"):
        assert response.status == 201, response.body
    else:
        assert 400 <= response.status < 500, response.body
        assert response.json()["ok"] is False
        assert server.stored() == before
    assert server.alive()


def test_gzip_bomb_stops_at_the_cap(server: Server) -> None:
    before = server.stored()
    request = hc.gzip_bomb(server.host, server.port, TOKEN, expanded_bytes=64 * hc.MIB)
    response = server.send(request)
    assert response.status == 413 and response.json()["error"] == "too_large"
    assert server.stored() == before and server.alive()


def test_declared_length_over_the_cap_is_refused_before_the_body(server: Server) -> None:
    request = hc.lying_content_length(
        hc.micropython_requests(server.host, server.port, TOKEN, _unique("cap"), "c.csv"),
        claimed=64 * hc.MIB,
    )
    response = server.send(request, timeout=10)
    assert response.status == 413


def test_content_length_that_lies(server: Server) -> None:
    before, count = server.stored(), server.session_count()
    data = _unique("liar")
    longer_claim = hc.lying_content_length(
        hc.micropython_requests(server.host, server.port, TOKEN, data, "l.csv"),
        claimed=len(data) + 1000,
    )
    response = server.send(longer_claim, timeout=15)  # the server gives up after 2 s
    assert response.status == 408 and response.json()["error"] == "timeout"
    shorter_claim = hc.lying_content_length(
        hc.micropython_requests(
            server.host, server.port, TOKEN, data, "l.csv", sha256=hc.sha256_hex(data)
        ),
        claimed=len(data) - 5,
    )
    response = server.send(shorter_claim, timeout=15)
    assert response.status == 422 and response.json()["error"] == "sha256_mismatch"
    assert server.stored() == before and server.session_count() == count


@pytest.mark.parametrize("reset", [False, True])
def test_client_disconnect_mid_body_keeps_nothing(server: Server, reset: bool) -> None:
    before, count = server.stored(), server.session_count()
    data = _unique("cut") * 2000
    request = hc.micropython_multipart(server.host, server.port, TOKEN, data, "cut.csv")
    hc.send_cut_off(
        hc.cut_off(request, len(request.head_bytes()) + len(data) // 2),
        server.host,
        server.port,
        reset=reset,
    )
    time.sleep(0.5)
    assert server.stored() == before and server.session_count() == count
    assert not list((server.data_dir / "raw" / "tmp").glob("*.part"))
    assert server.alive()


def test_slow_client_is_dropped_and_the_server_keeps_serving(server: Server) -> None:
    before = server.stored()
    data = _unique("slow") * 200  # about 15 KB: 50 s at 300 bytes a second
    request = hc.slow(
        hc.micropython_requests(server.host, server.port, TOKEN, data, "s.csv"), 300.0
    )
    started = time.monotonic()
    try:
        response = server.send(request, timeout=20)
        assert response.status == 408
    except (hc.NoResponse, OSError):
        pass  # dropped while still sending: also a freed worker
    assert time.monotonic() - started < 15
    assert server.alive() and server.stored() == before


def test_sync_tokens_over_the_wire(server: Server) -> None:
    create = hc.Request(
        "POST",
        "/api/syncs",
        [
            ("Host", "x"),
            ("Authorization", f"Bearer {TOKEN}"),
            ("Content-Type", "application/json"),
            ("Content-Length", "2"),
            ("Connection", "close"),
        ],
        b"{}",
    )
    sync = server.send(create).json()
    other = server.send(create).json()
    data = _unique("sync")
    ok = server.send(
        hc.micropython_multipart(
            server.host, server.port, sync["token"], data, "s.csv", sync_id=sync["sync_id"]
        )
    )
    assert ok.status == 201
    wrong = server.send(
        hc.micropython_multipart(
            server.host, server.port, sync["token"], _unique("w"), "s.csv", sync_id=other["sync_id"]
        )
    )
    assert wrong.status == 403
    status = server.get(f"/api/syncs/{sync['sync_id']}").json()
    assert [f["sha256"] for f in status["files"]] == [hc.sha256_hex(data)]


def test_events_stream_reports_an_upload(server: Server) -> None:
    with socket.create_connection((server.host, server.port), timeout=20) as sock:
        sock.sendall(
            f"GET /api/events HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {TOKEN}\r\n\r\n".encode()
        )
        received = b""
        while b"retry:" not in received:
            received += sock.recv(4096)
        assert b"text/event-stream" in received
        data = _unique("events")
        item = server.send(
            hc.micropython_requests(server.host, server.port, TOKEN, data, "e.csv")
        ).json()["files"][0]
        deadline = time.monotonic() + 30
        statuses = []
        while time.monotonic() < deadline and "failed" not in statuses and "ready" not in statuses:
            received += sock.recv(4096)
            for line in received.split(b"\n"):
                if line.startswith(b"data: "):
                    event = json.loads(line[6:])
                    if event.get("id") == item["session_id"]:
                        statuses.append(event["status"])
            received = received[received.rfind(b"\n") + 1 :] if b"\n" in received else received
        # The upload's own "queued" and the worker's "processing" race each other: the
        # worker may claim the job the moment it commits. Both precede the outcome.
        assert statuses and statuses[-1] in ("ready", "failed"), statuses
        assert {"queued", "processing"} & set(statuses[:-1]), statuses
