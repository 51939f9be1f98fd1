"""Pit Lane, Session Details, Tracks and Settings in a real browser, on real sessions."""

from __future__ import annotations

import re
from typing import Any

import pytest

from .conftest import (
    VIEWPORTS,
    Server,
    axe_violations,
    lap_time,
    no_horizontal_overflow,
    screenshot,
)


def test_pit_lane_lists_every_session_with_its_times(new_page: Any, server: Server) -> None:
    page = new_page()
    page.wait_for_selector(".session-card")
    listed = server.api("/api/sessions?limit=200")["sessions"]
    cards = page.locator(".session-card")
    assert cards.count() == len(listed) >= len(server.sessions)
    for session in listed:
        card = page.locator(f'.session-card[data-session="{session["id"]}"]')
        text = card.inner_text()
        assert session["filename"] in text
        if session["status"] == "ready":
            assert lap_time(session["best_lap_s"]) in text
            assert lap_time(session["theoretical_best_s"]) in text
    assert page.errors == []


@pytest.mark.parametrize("which", ["racesense-park-demo.csv", "sonoma.log", "aim_format"])
def test_session_details_lap_table_equals_the_api(
    new_page: Any, server: Server, which: str
) -> None:
    matches = [name for name in server.sessions if name.startswith(which)]
    if not matches:
        pytest.skip(f"{which} not present in ../shared/data")
    session_id = server.sessions[matches[0]]
    doc = server.api(f"/api/sessions/{session_id}")
    assert doc["status"] == "ready", doc.get("error")
    page = new_page(path=f"/sessions/{session_id}")
    page.wait_for_selector("table tbody tr[data-lap]")
    rows = page.locator("table tbody tr[data-lap]")
    assert rows.count() == len(doc["laps"])
    for lap in doc["laps"]:
        row = page.locator(f'tbody tr[data-lap="{lap["number"]}"]')
        assert row.locator("td.lap-time").inner_text() == lap_time(lap["time_s"])
    best = page.locator("tr.is-best")
    assert best.get_attribute("data-lap") == str(doc["best_lap_number"])
    theoretical = page.locator("tr.theoretical td").nth(1).inner_text()
    assert theoretical == lap_time(doc["theoretical_best_s"])
    # The reference lap's traces arrive and draw: map, speed and delta charts.
    page.wait_for_selector(".chart canvas")
    assert page.locator(".legend").inner_text().startswith(f"Lap {doc['best_lap_number']}")
    assert page.errors == []


def test_comparing_laps_and_one_cursor(new_page: Any, server: Server) -> None:
    session_id = server.sessions["racesense-park-demo.csv"]
    doc = server.api(f"/api/sessions/{session_id}")
    timed = [lap["number"] for lap in doc["laps"] if lap["kind"] == "timed" and lap["complete"]]
    page = new_page(width=1280, height=800, path=f"/sessions/{session_id}")
    page.wait_for_selector(".chart canvas")
    other = next(n for n in timed if n != doc["best_lap_number"])
    page.click(f'tbody tr[data-lap="{other}"]')
    page.wait_for_function("() => document.querySelectorAll('.legend > span').length === 2")
    assert page.locator(f'tbody tr[data-lap="{other}"]').get_attribute("aria-selected") == "true"
    # Touching the map moves the cursor on the charts.
    canvas = page.locator(".map-wrap canvas")
    canvas.scroll_into_view_if_needed()
    box = canvas.bounding_box()
    page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] - 30)
    # Both charts show the cursor, at the same place.
    cursors = page.evaluate(
        "() => [...document.querySelectorAll('.u-cursor-x')]"
        ".map(e => [e.classList.contains('u-off'), e.style.transform])"
    )
    assert len(cursors) == 2
    assert cursors[0] == cursors[1] and cursors[0][0] is False, cursors
    assert page.errors == []


@pytest.mark.parametrize("view", ["/", "/sessions/{demo}", "/tracks", "/settings", "/nowhere"])
def test_every_view_fits_every_screen_and_passes_axe(
    new_page: Any, server: Server, view: str
) -> None:
    path = view.format(demo=server.sessions["racesense-park-demo.csv"])
    name = {"/": "pitlane", "/tracks": "tracks", "/settings": "settings", "/nowhere": "notfound"}
    label = name.get(view, "session")
    for width, height in VIEWPORTS:
        page = new_page(width=width, height=height, path=path, bypass_csp=True)
        page.wait_for_selector("main h1")
        if label == "session":
            page.wait_for_selector(".chart canvas")
        page.wait_for_timeout(200)  # charts settle to their width
        screenshot(page, f"{label}-{width}x{height}")
        assert no_horizontal_overflow(page) == 0, f"{label} at {width}x{height}"
        assert page.errors == []
    violations = axe_violations(page)
    assert violations == [], violations
    # The sunlight theme too.
    page.evaluate(
        "() => { localStorage.setItem('racesense.settings', JSON.stringify({theme: 'sunlight'})); }"
    )
    page.reload()
    page.wait_for_selector("main h1")
    assert page.evaluate("document.documentElement.dataset.theme") == "sunlight"
    screenshot(page, f"{label}-sunlight")
    violations = axe_violations(page)
    assert violations == [], violations


def test_an_unknown_route_says_so_in_the_app(new_page: Any) -> None:
    page = new_page(path="/no/such/page")
    page.wait_for_selector("main h1")
    assert page.locator("main h1").inner_text() == "This page does not exist"
    page.click("text=Go to the Pit Lane")
    page.wait_for_selector(".session-card")


def test_settings_are_kept_and_the_sync_button_says_what_is_missing(new_page: Any) -> None:
    page = new_page()
    page.wait_for_selector(".session-card")
    page.click("text=Sync logger")
    page.wait_for_url(re.compile(r"/settings\?for=sync$"))
    alert = page.locator("section.notice[role=alert]").inner_text()
    assert "hotspot password" in alert
    assert page.locator("#ssid").input_value() == "Racesense-Pit"
    page.fill("#password", "secret-pass")
    page.check("input[name=speed][value=mph]")
    page.click("text=Save settings")
    page.wait_for_selector("text=Saved.")
    stored = page.evaluate("JSON.parse(localStorage.getItem('racesense.settings'))")
    assert stored["hotspotPassword"] == "secret-pass" and stored["speedUnit"] == "mph"
    page.fill("#backend", "192.168.1.2")
    page.click("text=Save settings")
    assert "not a web address" in page.locator("form [role=status]").inner_text()


def test_every_control_is_a_44_px_touch_target(new_page: Any, server: Server) -> None:
    """Gloves, sun, one hand: every button, link-button and field is at least 44 px
    high on a phone (text links inside sentences excepted)."""
    session_id = server.sessions["racesense-park-demo.csv"]
    for path in ("/", f"/sessions/{session_id}", "/tracks", "/settings"):
        page = new_page(width=360, height=740, path=path)
        page.wait_for_selector("main h1")
        if "sessions" in path:
            page.wait_for_selector(".chart canvas")
        small = page.evaluate(
            """() => [...document.querySelectorAll('button, .button, input, select')]
                .filter(e => e.offsetParent !== null && !e.classList.contains('visually-hidden'))
                .map(e => [e.textContent.trim() || e.name || e.id, e.getBoundingClientRect()])
                .filter(([, r]) => r.height < 43.5 && !(r.width <= 24 && r.height <= 24))
                .map(([name, r]) => `${name}: ${Math.round(r.width)}x${Math.round(r.height)}`)"""
        )
        assert small == [], (path, small)


def test_sync_in_a_browser_without_web_bluetooth_says_which_browsers_work(
    new_page: Any,
) -> None:
    """This Chromium runs without the Web Bluetooth feature (as Firefox or Safari would
    be): the Sync flow says so in plain words and names the browsers that work."""
    page = new_page()
    page.wait_for_selector(".session-card")
    page.evaluate(
        "() => localStorage.setItem('racesense.settings', JSON.stringify("
        "{hotspotSsid: 'Racesense-Pit', hotspotPassword: 'secret-pass'}))"
    )
    assert page.evaluate("() => 'bluetooth' in navigator") is False
    page.click("text=Sync logger")
    alert = page.locator("dialog.sync [role=alert]")
    alert.wait_for()
    assert "no Bluetooth for web pages" in alert.inner_text()
    assert "Bluefy" in alert.inner_text()
    assert page.locator("dialog.sync").get_attribute("data-step") == "unsupported"
