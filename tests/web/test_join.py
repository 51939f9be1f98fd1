"""Joining from a phone: one-time join codes (store/tokens.exchange, web/join.py), their
QR codes (web/qr.py), and the tokens table's migration 0007."""

from __future__ import annotations

import json
import os
import re
import struct
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import numpy as np
import pytest
import zxingcpp
from alembic import command
from alembic.config import Config
from fastapi.testclient import TestClient
from sqlalchemy import Engine, inspect, text

from racesense import devserver
from racesense.settings import Settings
from racesense.store import tokens
from racesense.store.db import MIGRATIONS, make_engine, migrate
from racesense.web import qr
from racesense.web.join import USED_OR_EXPIRED

from .conftest import AUTH


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def new_join(client: TestClient, **body: Any) -> dict[str, Any]:
    response = client.post("/api/join-tokens", headers=AUTH, json=body or None)
    assert response.status_code == 201, response.text
    doc: dict[str, Any] = response.json()
    return doc


def code_of(join_url: str) -> str:
    fragment = urlsplit(join_url).fragment
    assert fragment.startswith("join=")
    return fragment.removeprefix("join=")


def assert_error_shape(response: Any, status: int) -> None:
    assert response.status_code == status
    body = response.json()
    assert body["ok"] is False and body["status"] == status
    assert isinstance(body["error"], str) and isinstance(body["message"], str)


# --- The API ---------------------------------------------------------------------------


def test_a_join_code_is_exchanged_once_for_a_user_token(client: TestClient) -> None:
    doc = new_join(client)
    code = code_of(doc["join_url"])
    first = client.post("/api/join", headers=bearer(code))
    assert first.status_code == 200, first.text
    phone = first.json()
    assert phone["name"].startswith("phone ")
    assert phone["token"] != code and phone["token"].startswith(tokens.PREFIX)
    # The new token is a user token: it reads, and it makes join codes for the next phone.
    assert client.get("/api/sessions", headers=bearer(phone["token"])).status_code == 200
    assert client.post("/api/join-tokens", headers=bearer(phone["token"])).status_code == 201
    again = client.post("/api/join", headers=bearer(code))
    assert_error_shape(again, 401)
    assert again.headers["www-authenticate"] == "Bearer"
    # The phone's token is a lasting one: listed, revocable; the join code is not listed.
    names = [row.name for row in tokens.list_tokens(client.app.state.engine)]  # type: ignore[attr-defined]
    assert phone["name"] in names and "join code" not in names


def test_an_expired_or_unknown_join_code_is_refused(client: TestClient) -> None:
    engine = client.app.state.engine  # type: ignore[attr-defined]
    expired, _ = tokens.create(engine, "join code", "join", ttl_s=-1)
    assert_error_shape(client.post("/api/join", headers=bearer(expired)), 401)
    assert tokens.exchange(engine, expired, "phone") is None
    unknown = tokens.PREFIX + "x" * 32
    assert_error_shape(client.post("/api/join", headers=bearer(unknown)), 401)
    assert_error_shape(client.post("/api/join"), 401)
    revoked, info = tokens.create(engine, "join code", "join", ttl_s=600)
    assert info.id is not None and tokens.revoke(engine, info.id)
    assert tokens.exchange(engine, revoked, "phone") is None


def test_the_route_sentence_for_a_code_used_a_moment_ago(client: TestClient) -> None:
    """The gate lets the code through; the exchange finds it used by a concurrent one."""
    engine = client.app.state.engine  # type: ignore[attr-defined]
    code = code_of(new_join(client)["join_url"])
    real = tokens.verify

    def verify_then_lose_the_race(*args: Any) -> Any:
        info = real(*args)
        tokens.exchange(engine, code, "the other phone")
        return info

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(tokens, "verify", verify_then_lose_the_race)
        response = client.post("/api/join", headers=bearer(code))
    assert_error_shape(response, 401)
    assert response.json()["message"] == USED_OR_EXPIRED


def test_a_join_code_can_do_nothing_else(client: TestClient) -> None:
    code = code_of(new_join(client)["join_url"])
    for method, path in [
        ("GET", "/api/sessions"),
        ("GET", "/api/tracks"),
        ("POST", "/api/join-tokens"),
        ("POST", "/api/syncs"),
        ("POST", "/api/upload"),
        ("GET", "/api/events"),
    ]:
        response = client.request(method, path, headers=bearer(code))
        assert_error_shape(response, 403)
    # and it still works once after all that
    assert client.post("/api/join", headers=bearer(code)).status_code == 200


def test_only_a_join_code_is_exchanged(client: TestClient) -> None:
    engine = client.app.state.engine  # type: ignore[attr-defined]
    user, _ = tokens.create(engine, "browser", "user")
    for token in (user, AUTH["Authorization"].split()[1]):
        assert_error_shape(client.post("/api/join", headers=bearer(token)), 403)
    assert tokens.exchange(engine, user, "phone") is None
    upload, _ = tokens.create(engine, "sync", "upload", ttl_s=60)
    assert_error_shape(client.post("/api/join-tokens", headers=bearer(upload)), 403)


def test_the_code_is_in_the_fragment_only(client: TestClient) -> None:
    doc = new_join(client)
    parts = urlsplit(doc["join_url"])
    code = code_of(doc["join_url"])
    assert f"{parts.scheme}://{parts.netloc}" == "http://testserver"
    assert parts.path == "/" and parts.query == ""
    assert code not in doc["join_url"].split("#", 1)[0]
    assert doc["expires_at"].endswith("Z") and doc["ttl_s"] == 600
    given = new_join(client, origin="http://192.168.43.10:8765/")
    assert given["join_url"].startswith("http://192.168.43.10:8765/#join=rs_")
    assert new_join(client, origin="HTTPS://Pit.Local")["join_url"].startswith(
        "https://pit.local/#join="
    )
    assert new_join(client, origin="http://[fe80::1]:8765")["join_url"].startswith(
        "http://[fe80::1]:8765/#join="
    )


@pytest.mark.parametrize(
    "origin",
    [
        "ftp://pit.local",
        "javascript:alert(1)",
        "http://pit.local/x",
        "http://pit.local/?a=1",
        "http://pit.local/#x",
        "http://user:pw@pit.local",
        "http://pit.local:99999",
        "http://",
        "pit.local:8765",
    ],
)
def test_a_bad_origin_is_refused(client: TestClient, origin: str) -> None:
    response = client.post("/api/join-tokens", headers=AUTH, json={"origin": origin})
    assert_error_shape(response, 422)


def test_the_join_code_lives_as_long_as_the_setting(
    app_factory: Callable[..., TestClient], monkeypatch: pytest.MonkeyPatch
) -> None:
    client = app_factory(join_ttl_s=120)
    assert new_join(client)["ttl_s"] == 120
    monkeypatch.setenv("RACESENSE_JOIN_TTL_S", "90")
    assert Settings.from_env().join_ttl_s == 90
    monkeypatch.delenv("RACESENSE_JOIN_TTL_S")
    assert Settings.from_env().join_ttl_s == 600


def race(runs: int, attempt: Callable[[int], Any]) -> list[Any]:
    """`attempt(n)` in `runs` threads let go at once; their results."""
    start = threading.Barrier(runs)
    results: list[Any] = []

    def run(n: int) -> None:
        start.wait()
        results.append(attempt(n))

    threads = [threading.Thread(target=run, args=(n,)) for n in range(runs)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(results) == runs
    return results


def test_two_phones_racing_with_one_code_exactly_one_wins(client: TestClient) -> None:
    engine: Engine = client.app.state.engine  # type: ignore[attr-defined]
    for _ in range(3):
        code = code_of(new_join(client)["join_url"])
        results = race(6, lambda n, code=code: tokens.exchange(engine, code, f"phone {n}"))
        won = [r for r in results if r is not None]
        assert len(won) == 1
        assert tokens.verify(engine, won[0][0], None) is not None


def test_two_phones_racing_over_http_exactly_one_wins(client: TestClient) -> None:
    code = code_of(new_join(client)["join_url"])
    statuses = race(4, lambda _n: client.post("/api/join", headers=bearer(code)).status_code)
    assert sorted(statuses) == [200, 401, 401, 401]


# --- The QR code -----------------------------------------------------------------------


def png_pixels(data: bytes) -> np.ndarray:
    """A greyscale PNG's pixels (0 black .. 255 white); the 1- and 8-bit ones segno
    writes, every PNG row filter."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, chunks, header = 8, b"", b""
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind, body = data[pos + 4 : pos + 8], data[pos + 8 : pos + 8 + length]
        if kind == b"IHDR":
            header = body
        elif kind == b"IDAT":
            chunks += body
        pos += 12 + length
    width, height, depth, colour = struct.unpack(">IIBB", header[:10])
    assert colour == 0 and depth in (1, 8), (colour, depth)
    stride = (width * depth + 7) // 8
    raw = zlib.decompress(chunks)
    rows: list[bytes] = []
    previous = bytearray(stride)
    for y in range(height):
        kind = raw[y * (stride + 1)]
        line = bytearray(raw[y * (stride + 1) + 1 : (y + 1) * (stride + 1)])
        for i in range(stride):
            left = line[i - 1] if i else 0
            up, corner = previous[i], previous[i - 1] if i else 0
            if kind == 1:
                line[i] = (line[i] + left) & 0xFF
            elif kind == 2:
                line[i] = (line[i] + up) & 0xFF
            elif kind == 3:
                line[i] = (line[i] + (left + up) // 2) & 0xFF
            elif kind == 4:
                p = left + up - corner
                pa, pb, pc = abs(p - left), abs(p - up), abs(p - corner)
                best = left if pa <= pb and pa <= pc else up if pb <= pc else corner
                line[i] = (line[i] + best) & 0xFF
        rows.append(bytes(line))
        previous = line
    flat = np.frombuffer(b"".join(rows), dtype=np.uint8).reshape(height, stride)
    if depth == 8:
        return flat[:, :width].copy()
    bits = np.unpackbits(flat, axis=1)[:, :width]
    return (bits * 255).astype(np.uint8)


def terminal_pixels(drawing: str, scale: int = 4) -> np.ndarray:
    """qr.terminal's half blocks back to pixels: a drawn half is a light module."""
    halves = {"█": (1, 1), "▀": (1, 0), "▄": (0, 1), " ": (0, 0)}
    lines = [line for line in drawing.splitlines() if line]
    grid = np.array(
        [[halves[ch][half] for ch in line] for line in lines for half in (0, 1)],
        dtype=np.uint8,
    )
    grid = np.pad(grid, 4, constant_values=1)  # a wider quiet zone for the decoder
    return (np.kron(grid, np.ones((scale, scale), dtype=np.uint8)) * 255).astype(np.uint8)


def decoded(pixels: np.ndarray) -> list[str]:
    return [b.text for b in zxingcpp.read_barcodes(pixels) if b.format == zxingcpp.QRCode]


def test_the_qr_code_decodes_to_the_link_and_its_code_works_once(client: TestClient) -> None:
    doc = new_join(client, origin="http://192.168.43.10:8765")
    assert decoded(png_pixels(qr.png(doc["join_url"]))) == [doc["join_url"]]
    svg = doc["qr_svg"]
    assert svg.startswith('<svg xmlns="http://www.w3.org/2000/svg"') and svg.endswith("</svg>")
    assert svg == qr.svg(doc["join_url"])  # the one the phone's laptop shows
    assert "<script" not in svg and "style=" not in svg
    code = code_of(decoded(png_pixels(qr.png(doc["join_url"])))[0])
    assert client.post("/api/join", headers=bearer(code)).status_code == 200
    assert client.post("/api/join", headers=bearer(code)).status_code == 401


def test_the_terminal_qr_code_decodes_to_the_link() -> None:
    url = "http://192.168.43.10:8765/#join=rs_" + "A" * 32
    drawing = qr.terminal(url)
    assert decoded(terminal_pixels(drawing)) == [url]
    assert len(drawing.splitlines()[0]) < 60  # fits a narrow terminal


def test_the_svg_is_the_same_code_as_the_png() -> None:
    url = "http://pit.local:8765/#join=rs_" + "b" * 32
    size = qr.make(url).symbol_size(border=4)[0]
    assert f'viewBox="0 0 {size} {size}"' in qr.svg(url)
    assert png_pixels(qr.png(url, scale=1)).shape == (size, size)


# --- Migration 0007 --------------------------------------------------------------------


def test_0007_adds_used_at_and_downgrades_again(database_url: str) -> None:
    engine = make_engine(database_url)
    try:
        config = Config()
        config.set_main_option("script_location", str(MIGRATIONS))
        with engine.begin() as connection:
            config.attributes["connection"] = connection
            command.upgrade(config, "0006")
        with engine.begin() as connection:
            connection.execute(
                text(
                    "INSERT INTO tokens (name, token_sha256, scope, created_at)"
                    " VALUES ('browser', :sha, 'user', CURRENT_TIMESTAMP)"
                ),
                {"sha": tokens.digest("rs_old")},
            )
        migrate(engine)
        assert "used_at" in {c["name"] for c in inspect(engine).get_columns("tokens")}
        old = tokens.verify(engine, "rs_old", None)
        assert old is not None and old.scope == "user"
        code, _ = tokens.create(engine, "join code", "join", ttl_s=600)
        assert tokens.exchange(engine, code, "phone") is not None
        with engine.begin() as connection:
            config.attributes["connection"] = connection
            command.downgrade(config, "0006")
        with engine.connect() as connection:
            scopes = connection.execute(text("SELECT scope FROM tokens ORDER BY id")).scalars()
            assert list(scopes) == ["user", "user"]  # the join code went, both users stay
        assert "used_at" not in {c["name"] for c in inspect(engine).get_columns("tokens")}
        migrate(engine)
        assert tokens.verify(engine, "rs_old", None) is not None
    finally:
        engine.dispose()


# --- racesense serve -------------------------------------------------------------------


def test_serve_prints_a_qr_code_whose_code_works_once(tmp_path: Path) -> None:
    port = devserver.free_port()
    env = os.environ | {"RACESENSE_API_TOKEN": "cli-test-admin-token", "PYTHONUTF8": "1"}
    env.pop("RACESENSE_DATABASE_URL", None)
    command = [sys.executable, "-m", "racesense", "serve", "--port", str(port)]
    command += ["--data-dir", str(tmp_path / "d"), "--workers", "1"]
    server = subprocess.Popen(
        command, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
    )
    try:
        assert server.stdout is not None
        lines = [server.stdout.readline() for _ in range(3)]
        assert re.search(rf"^Open the UI at http://localhost:{port}/#token=rs_", lines[1]), lines
        assert lines[2] == "Or scan this with the phone's camera (valid 10 minutes, once):\n"
        drawing = ""
        while (line := server.stdout.readline()).strip():
            drawing += line
        (url,) = decoded(terminal_pixels(drawing))
        assert url.startswith(f"http://localhost:{port}/#join=rs_")
        join = urllib.request.Request(
            f"http://127.0.0.1:{port}/api/join", method="POST", headers=bearer(code_of(url))
        )
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(join, timeout=10) as response:
                    assert json.load(response)["token"].startswith("rs_")
                break
            except urllib.error.URLError as exc:  # still starting
                if isinstance(exc, urllib.error.HTTPError) or time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
        with pytest.raises(urllib.error.HTTPError) as again:
            urllib.request.urlopen(join, timeout=10)
        assert again.value.code == 401
        again.value.close()
    finally:
        server.terminate()
        server.wait(timeout=30)
        if server.stdout is not None:
            server.stdout.close()
