"""Token handling: the link's token is kept and removed from the address; a refused or
missing token gets help in plain words; no request ever carries a token in its URL."""

from __future__ import annotations

from typing import Any

from .conftest import TOKEN, Server, http_error


def test_the_token_is_stored_and_removed_from_the_address(new_page: Any) -> None:
    page = new_page()
    page.wait_for_selector(".session-card")
    assert "#" not in page.url and TOKEN not in page.url
    assert page.evaluate("localStorage.getItem('racesense.token')") == TOKEN
    # Live updates started: the event stream is open, with the token in a header.
    page.wait_for_function("() => document.documentElement.dataset.live === 'live'")
    assert all(TOKEN not in url for url in page.urls), page.urls
    assert any(url.endswith("/api/events") for url in page.urls)


def test_no_token_gets_a_screen_that_says_how_to_get_one(new_page: Any) -> None:
    page = new_page(token=None)
    page.wait_for_selector("main h1")
    assert page.locator("main h1").inner_text() == "Open Racesense from its link"
    assert "racesense serve" in page.locator("main").inner_text()


def test_a_refused_token_gets_the_help_screen(new_page: Any) -> None:
    page = new_page(token="rs_not-a-real-token")
    page.wait_for_selector("text=This link no longer works")
    assert page.evaluate("localStorage.getItem('racesense.token')") is None


def test_the_shell_is_served_fresh_and_assets_for_a_year(server: Server) -> None:
    import urllib.request

    with urllib.request.urlopen(server.origin + "/sessions/x") as response:
        assert response.headers["Cache-Control"] == "no-cache"
        html = response.read().decode()
    asset = next(part.split('"')[0] for part in html.split('src="')[1:])
    with urllib.request.urlopen(server.origin + asset) as response:
        assert "immutable" in response.headers["Cache-Control"]
    with urllib.request.urlopen(server.origin + "/sw.js") as response:
        assert response.headers["Cache-Control"] == "no-cache"
    assert http_error(server.origin + "/assets/missing.js") == 404
