"""The UI as the server delivers it: the page at every app route, revalidated on every
load; hashed assets cached for a year and precompressed; the service worker's off
switch; a plain page when the UI was never built."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from racesense.web import ui

pytestmark = pytest.mark.skipif(
    not (ui.UI_DIR / "index.html").is_file(), reason="the UI is not built (make ui)"
)


@pytest.fixture
def sqlite_client(app_factory: Callable[..., TestClient], database_url: str) -> TestClient:
    if not database_url.startswith("sqlite"):
        pytest.skip("serving files does not touch the database: SQLite is enough")
    return app_factory()


def test_every_app_route_is_the_page_and_never_cached_stale(sqlite_client: TestClient) -> None:
    for path in ("/", "/sessions/abc", "/tracks", "/settings", "/no/such/route"):
        response = sqlite_client.get(path)
        assert response.status_code == 200, path
        assert response.headers["content-type"].startswith("text/html")
        assert response.headers["cache-control"] == "no-cache"
        csp = response.headers["content-security-policy"]
        assert "default-src 'self'" in csp and "script-src 'self'" in csp
        assert response.headers["referrer-policy"] == "no-referrer"


def test_unknown_api_routes_stay_json_errors(sqlite_client: TestClient) -> None:
    response = sqlite_client.get("/api/nope", headers={"Authorization": "Bearer x"})
    assert response.status_code == 401 and response.json()["ok"] is False
    assert sqlite_client.get("/api/health").json()["ok"] is True


def test_assets_are_hashed_cached_for_a_year_and_precompressed(sqlite_client: TestClient) -> None:
    html = sqlite_client.get("/").text
    script = re.search(r'src="(/assets/app-[A-Z0-9]+\.js)"', html)
    style = re.search(r'href="(/assets/style-[A-Z0-9]+\.css)"', html)
    assert script and style
    for encoding in ("br", "gzip", "identity"):
        response = sqlite_client.get(script.group(1), headers={"Accept-Encoding": encoding})
        assert response.status_code == 200
        assert "immutable" in response.headers["cache-control"]
        assert response.headers.get("content-encoding", "identity") == encoding
        assert response.headers["vary"] == "Accept-Encoding"
        assert response.headers["content-type"].startswith("text/javascript")
    plain = (ui.UI_DIR / script.group(1).lstrip("/")).read_bytes()
    assert sqlite_client.get(script.group(1)).content == plain  # decoded: the same bytes
    for bad in ("/assets/nope.js", "/assets/.hidden", "/assets/app.js.gz"):
        assert sqlite_client.get(bad).status_code == 404, bad


def test_the_service_worker_is_revalidated_and_caches_the_shell(
    sqlite_client: TestClient,
) -> None:
    response = sqlite_client.get("/sw.js")
    assert response.headers["cache-control"] == "no-cache"
    assert response.headers["service-worker-allowed"] == "/"
    body = response.text
    precache = re.search(r"PRECACHE = (\[.*?\]);", body)
    assert precache and '"/"' in precache.group(1)
    for path in re.findall(r'"(/assets/[^"]+)"', precache.group(1)):
        assert sqlite_client.get(path).status_code == 200, path
    assert "/api/" in body  # and never caches the API
    assert sqlite_client.get("/ui-config.json").json() == {"service_worker": True}


def test_the_service_worker_can_be_switched_off_from_the_server(
    app_factory: Callable[..., TestClient], database_url: str
) -> None:
    if not database_url.startswith("sqlite"):
        pytest.skip("serving files does not touch the database: SQLite is enough")
    client = app_factory(service_worker=False)
    body = client.get("/sw.js").text
    assert "unregister()" in body and "caches.delete" in body
    assert "PRECACHE" not in body
    config = client.get("/ui-config.json")
    assert config.json() == {"service_worker": False}
    assert config.headers["cache-control"] == "no-store"


def test_an_unbuilt_ui_says_how_to_build_it(
    sqlite_client: TestClient, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(ui, "UI_DIR", tmp_path)
    response = sqlite_client.get("/")
    assert response.status_code == 503
    assert "make run" in response.text
