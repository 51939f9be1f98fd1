"""The authenticated upload acknowledgement: a sync's key, handed out once, and the proof
each answer to that sync's token carries (docs/api.md, store/syncs.py)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging

import pytest
from fastapi.testclient import TestClient

from racesense.store import syncs

from .conftest import AUTH

CSV = b"time_ms,lat_deg,lon_deg\n0,52.0,-1.0\n"


def _key(text: str) -> bytes:
    assert "=" not in text and "+" not in text and "/" not in text  # base64url, no padding
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _proof(key: bytes, data: bytes) -> str:
    message = f"{hashlib.sha256(data).hexdigest()}:{len(data)}".encode()
    return hmac.new(key, message, hashlib.sha256).hexdigest()


def test_each_sync_gets_its_own_32_byte_key(client: TestClient) -> None:
    first = client.post("/api/syncs", headers=AUTH).json()
    second = client.post("/api/syncs", headers=AUTH).json()
    assert len(_key(first["ack_key"])) == 32 and len(first["ack_key"]) == 43
    assert first["ack_key"] != second["ack_key"]
    # Handed out once: reading the sync back never shows it.
    again = client.get(f"/api/syncs/{first['sync_id']}", headers=AUTH)
    assert first["ack_key"] not in again.text and "ack_key" not in again.json()


def test_upload_with_the_syncs_token_proves_the_bytes(client: TestClient) -> None:
    sync = client.post("/api/syncs", headers=AUTH).json()
    device = {"Authorization": f"Bearer {sync['token']}"}
    key = _key(sync["ack_key"])
    first = client.post("/api/upload", content=CSV, headers=device)
    assert first.status_code == 201
    (item,) = first.json()["files"]
    assert item["sha256"] == hashlib.sha256(CSV).hexdigest()
    assert item["proof"] == _proof(key, CSV)
    assert item["proof"] == syncs.ack_proof(key, item["sha256"], len(CSV))
    # The same bytes again: a duplicate, and still proven (they are safely stored).
    again = client.post("/api/upload", content=CSV, headers=device)
    assert again.status_code == 200
    (dup,) = again.json()["files"]
    assert dup["duplicate"] is True and dup["proof"] == item["proof"]


def test_a_proof_binds_the_size_and_the_sync(client: TestClient) -> None:
    one = client.post("/api/syncs", headers=AUTH).json()
    two = client.post("/api/syncs", headers=AUTH).json()
    proofs = []
    for sync in (one, two):
        reply = client.post(
            "/api/upload", content=CSV, headers={"Authorization": f"Bearer {sync['token']}"}
        )
        proofs.append(reply.json()["files"][0]["proof"])
    assert proofs[0] != proofs[1]  # another sync's key: another proof
    key = _key(one["ack_key"])
    sha = hashlib.sha256(CSV).hexdigest()
    assert syncs.ack_proof(key, sha, len(CSV) + 1) != proofs[0]


def test_tokens_without_a_sync_get_a_null_proof(client: TestClient) -> None:
    sync = client.post("/api/syncs", headers=AUTH).json()
    # Even naming the sync in the header: an admin token does not act for the logger.
    reply = client.post("/api/upload", content=CSV, headers=AUTH | {"X-Sync-Id": sync["sync_id"]})
    assert reply.status_code == 201
    assert reply.json()["files"][0]["proof"] is None


def test_a_refused_upload_has_no_proof(client: TestClient) -> None:
    sync = client.post("/api/syncs", headers=AUTH).json()
    device = {"Authorization": f"Bearer {sync['token']}", "X-Content-SHA256": "0" * 64}
    reply = client.post("/api/upload", content=CSV, headers=device)
    assert reply.status_code == 422
    assert "proof" not in reply.text and sync["ack_key"] not in reply.text


def test_the_key_is_never_logged(client: TestClient, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.DEBUG):
        sync = client.post("/api/syncs", headers=AUTH).json()
        client.post(
            "/api/upload", content=CSV, headers={"Authorization": f"Bearer {sync['token']}"}
        )
    key = _key(sync["ack_key"])
    for record in caplog.records:
        text = record.getMessage()
        assert sync["ack_key"] not in text and key.hex() not in text
