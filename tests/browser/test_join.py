"""A phone joins with the QR code's one-time link (/#join=...), in Chromium against a
real `racesense serve`; and the laptop shows that code under Settings, Add a phone."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from racesense.web.join import USED_OR_EXPIRED

from .conftest import TOKEN, Server, axe_violations, no_horizontal_overflow, screenshot

SCAN = "Scan with the phone's camera. The code works once, for 10 minutes."


def test_a_phone_joins_once_with_the_join_link(
    server: Server, new_page: Callable[..., Any]
) -> None:
    made = server.api("/api/join-tokens", b"{}", "POST", **{"Content-Type": "application/json"})
    url: str = made["join_url"]
    path = "/" + url.split("/", 3)[3]  # "/#join=rs_..."
    code = path.removeprefix("/#join=")
    assert url.startswith(server.origin + "/#join=rs_")

    page = new_page(token=None, path=path)
    page.wait_for_selector("main h1:text('Pit Lane')", timeout=10_000)
    page.wait_for_selector(".session-card")
    stored = page.evaluate("() => localStorage.getItem('racesense.token')")
    assert stored and stored.startswith("rs_") and stored != code
    assert "#join" not in page.url and code not in page.url
    assert not any(code in u for u in page.urls), "the code went in no request URL"
    assert page.errors == []

    again = new_page(token=None, path=path)
    again.wait_for_selector(f"text={USED_OR_EXPIRED}", timeout=10_000)
    assert again.evaluate("() => localStorage.getItem('racesense.token')") is None
    assert "#join" not in again.url
    screenshot(again, "join-used-390")


def test_the_laptop_shows_a_join_code_in_either_theme(
    server: Server, new_page: Callable[..., Any]
) -> None:
    page = new_page(path="/settings", width=360, height=740, bypass_csp=False)
    button = page.get_by_role("button", name="Show a join code")
    button.click()
    qr = page.locator(".join-qr svg")
    qr.wait_for(timeout=10_000)
    page.get_by_text(SCAN).wait_for()
    box = qr.bounding_box()
    assert box and box["width"] >= 200 and abs(box["width"] - box["height"]) < 2
    assert page.evaluate("() => document.querySelector('.join-qr svg').namespaceURI") == (
        "http://www.w3.org/2000/svg"
    )
    again = page.get_by_role("button", name="Show a new join code")
    again_box = again.bounding_box()
    assert again_box and again_box["height"] >= 44 and again_box["width"] >= 44
    assert no_horizontal_overflow(page) == 0
    assert not page.evaluate(
        "() => [...document.getElementById('main').childNodes].some(n => n.nodeType === 3)"
    ), "no stray text (such as 'null') among the view's sections"
    assert page.errors == []
    screenshot(page, "settings-join-dark-360")
    page.evaluate("() => { document.documentElement.dataset.theme = 'sunlight'; }")
    screenshot(page, "settings-join-sunlight-360")
    # Legible in both themes: axe finds no contrast or other serious problem.
    checked = new_page(path="/settings", width=360, height=740, bypass_csp=True)
    checked.get_by_role("button", name="Show a join code").click()
    checked.locator(".join-qr svg").wait_for(timeout=10_000)
    for theme in ("dark", "sunlight"):
        checked.evaluate(f"() => {{ document.documentElement.dataset.theme = '{theme}'; }}")
        assert axe_violations(checked) == [], theme
    assert TOKEN not in checked.url
