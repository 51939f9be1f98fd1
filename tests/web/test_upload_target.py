"""Where a logger on the phone's hotspot is told to upload."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from fastapi.testclient import TestClient

from racesense.web import addresses
from racesense.web.addresses import upload_target

from .conftest import AUTH


def test_a_page_reached_over_the_network_gives_that_address() -> None:
    target = upload_target("http", "192.168.43.10", "192.168.43.10", 8765, "0.0.0.0")
    assert target.url == "http://192.168.43.10:8765/api/upload"
    assert target.ip_fallback is None and target.problem is None
    named = upload_target("https", "laptop.local", "172.20.10.2", 8443, "0.0.0.0")
    assert named.url == "https://laptop.local:8443/api/upload"
    assert named.ip_fallback == "https://172.20.10.2:8443/api/upload"


def test_a_page_on_localhost_gives_the_laptops_lan_addresses(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(addresses, "lan_ipv4s", lambda: ["172.20.10.2", "10.0.0.5"])
    target = upload_target("http", "localhost", "127.0.0.1", 8765, "0.0.0.0")
    assert target.url == "http://172.20.10.2:8765/api/upload"
    assert target.ip_fallback == "http://10.0.0.5:8765/api/upload"
    monkeypatch.setattr(addresses, "lan_ipv4s", lambda: [])
    assert "no network address" in (
        upload_target("http", "localhost", None, 8765, None).problem or ""
    )


def test_a_server_listening_on_loopback_says_the_logger_cannot_reach_it() -> None:
    target = upload_target("http", "localhost", "127.0.0.1", 8765, "127.0.0.1")
    assert target.url is None and "--host 0.0.0.0" in (target.problem or "")


def test_lan_addresses_are_real_and_never_loopback() -> None:
    found = addresses.lan_ipv4s()
    assert all(not a.startswith("127.") and not a.startswith("169.254.") for a in found)


def test_post_syncs_answers_with_a_dialable_upload_url(client: TestClient) -> None:
    body = client.post("/api/syncs", json={}, headers=AUTH).json()
    # The test client's host is "testserver": a name the logger is given as it is.
    assert body["upload_url"] == "http://testserver:80/api/upload"
    assert set(body) >= {"sync_id", "token", "ack_key", "ip_fallback", "unreachable"}


def test_an_upload_host_set_by_the_operator_wins_even_on_loopback() -> None:
    target = upload_target("http", "localhost", "127.0.0.1", 8765, "127.0.0.1", "127.0.0.1")
    assert (target.url, target.problem) == ("http://127.0.0.1:8765/api/upload", None)
    assert upload_target("https", "x", None, 443, None, "fe80::1").url == (
        "https://[fe80::1]:443/api/upload"
    )


def test_post_syncs_uses_the_upload_host_setting(
    app_factory: Callable[..., TestClient],
) -> None:
    client = app_factory(upload_host="192.168.43.10")
    body = client.post("/api/syncs", json={}, headers=AUTH).json()
    assert body["upload_url"] == "http://192.168.43.10:80/api/upload"
