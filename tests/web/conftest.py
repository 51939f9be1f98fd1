"""An in-process app on each database, with a known admin token."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from racesense.settings import Settings
from racesense.web.app import create_app

ADMIN = "test-admin-token-0123456789"
AUTH = {"Authorization": f"Bearer {ADMIN}"}


def make_settings(tmp_path: Path, database_url: str, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "data_dir": tmp_path / "data",
        "database_url": database_url,
        "api_token": ADMIN,
        "workers": 1,
        "body_timeout_s": 5.0,
    }
    values.update(overrides)
    return Settings(**values)


@pytest.fixture
def app_factory(tmp_path: Path, database_url: str) -> Iterator[Callable[..., TestClient]]:
    """`app_factory(workers=False, **settings)` -> a started TestClient."""
    clients: list[TestClient] = []

    def make(*, workers: bool = False, **overrides: Any) -> TestClient:
        settings = make_settings(tmp_path, database_url, **overrides)
        client = TestClient(create_app(settings, start_workers=workers))
        client.__enter__()
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.__exit__(None, None, None)


@pytest.fixture
def client(app_factory: Callable[..., TestClient]) -> TestClient:
    return app_factory()


def wait_for_status(client: TestClient, session_id: str, timeout_s: float = 60.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        doc: dict[str, Any] = client.get(f"/api/sessions/{session_id}", headers=AUTH).json()
        if doc["status"] in ("ready", "failed"):
            return doc
        time.sleep(0.05)
    raise AssertionError(f"session {session_id} still {doc['status']} after {timeout_s} s")
