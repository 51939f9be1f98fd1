"""The token is checked before a body is read, and JSON bodies are capped."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from racesense import devserver

from .conftest import AUTH

TOKEN = "gate-test-admin-token-77aa"


@pytest.fixture(scope="module")
def port(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    env = {"RACESENSE_API_TOKEN": TOKEN}
    with devserver.running(tmp_path_factory.mktemp("gate"), env, workers=1) as (_proc, port):
        yield port


def _head_only(port: int, head: bytes) -> bytes:
    """Send a request head announcing a large body, none of the body, and read the
    answer: it comes before the body, or not at all (timeout)."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(head)
        answer = b""
        while b"\r\n\r\n" not in answer:
            chunk = sock.recv(4096)
            if not chunk:
                break
            answer += chunk
    return answer


@pytest.mark.parametrize("path", ["/api/tracks", "/api/syncs", "/api/sessions/x/reanalyse"])
def test_no_token_is_refused_before_the_body(port: int, path: str) -> None:
    head = (
        f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        "Content-Length: 200000000\r\n\r\n"
    ).encode()
    assert _head_only(port, head).startswith(b"HTTP/1.1 401 ")


def test_a_json_body_over_the_cap_is_refused_before_it_is_read(port: int) -> None:
    head = (
        f"POST /api/tracks HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {TOKEN}\r\n"
        "Content-Type: application/json\r\nContent-Length: 200000000\r\n\r\n"
    ).encode()
    assert _head_only(port, head).startswith(b"HTTP/1.1 413 ")


def test_invalid_json_without_a_token_is_401_not_422(client: TestClient) -> None:
    response = client.post("/api/tracks", content=b"{not json", headers={"X": "y"})
    assert response.status_code == 401 and response.json()["error"] == "unauthorized"


def test_a_chunked_json_body_over_the_cap_is_413(client: TestClient) -> None:
    def chunks() -> Iterator[bytes]:
        yield b'{"name": "' + b"x" * (2 * 1024 * 1024) + b'"}'

    response = client.post("/api/tracks", content=chunks(), headers=AUTH)
    assert response.status_code == 413 and response.json()["error"] == "too_large"


def test_a_token_in_a_url_is_never_taken(client: TestClient) -> None:
    """Tokens in URLs end up in logs, history and Referer headers: the event stream
    too takes its token from the Authorization header only (the UI reads it with fetch)."""
    token = "test-admin-token-0123456789"
    assert client.get(f"/api/sessions?token={token}").status_code == 401
    assert client.get(f"/api/events?token={token}").status_code == 401
    client.cookies.set("racesense_token", token)
    try:
        assert client.get("/api/events").status_code == 401
    finally:
        client.cookies.clear()
