"""What a user does in the browser changes what the server keeps: uploads, excluded
laps, a start/finish placed on the map; and the page copes with losing the server."""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

import pytest

from racesense import devserver
from racesense.synth import demo_circuit, make_session, to_rscore_csv

from .conftest import TOKEN, Server, lap_time

_seeds = itertools.count(100)


def _session_file(tmp_path: Path, name: str) -> Path:
    """A synthetic session no other test uploaded (its own seed: its own bytes)."""
    session = make_session(demo_circuit(), rate_hz=10, laps=3, seed=next(_seeds))
    path = tmp_path / name
    path.write_bytes(to_rscore_csv(session.telemetry, device_id="RS-BROWSER"))
    return path


def test_upload_through_the_file_picker_turns_ready_live(
    new_page: Any, server: Server, tmp_path: Path
) -> None:
    page = new_page()
    page.wait_for_selector(".session-card")
    page.wait_for_function("() => document.documentElement.dataset.live === 'live'")
    path = _session_file(tmp_path, "picked-file.csv")
    page.set_input_files("#file-input", str(path))
    page.wait_for_selector("text=Uploaded. Analysing…")
    card = page.locator(".session-card", has_text="picked-file.csv")
    card.wait_for()
    # No reload: the event stream brings the analysis' end to the list.
    card.locator(".status-ready").wait_for(timeout=60_000)
    session_id = card.get_attribute("data-session")
    doc = server.api(f"/api/sessions/{session_id}")
    assert lap_time(doc["best_lap_s"]) in card.inner_text()
    assert page.errors == []


def test_a_file_that_fails_analysis_shows_why(new_page: Any, tmp_path: Path) -> None:
    page = new_page()
    page.wait_for_selector(".session-card")
    junk = tmp_path / "not-a-log.csv"
    junk.write_bytes(b"this is no lap timer's file\n")
    page.set_input_files("#file-input", str(junk))
    card = page.locator(".session-card", has_text="not-a-log.csv")
    card.locator(".status-failed").wait_for(timeout=60_000)
    assert "Open it to try again" in card.inner_text()
    card.click()
    page.wait_for_selector("text=This session could not be analysed")
    assert page.locator("button", has_text="Analyse again").count() >= 1


def test_a_refused_upload_says_why_per_file(
    browser: Any, tmp_path_factory: pytest.TempPathFactory, tmp_path: Path
) -> None:
    """A server whose upload limit is 1 MB refuses a larger file: the page shows the
    server's own sentence next to that file, and the next file still goes through."""
    data_dir = tmp_path_factory.mktemp("small-server")
    env = {"RACESENSE_API_TOKEN": TOKEN, "RACESENSE_MAX_UPLOAD_MB": "1"}
    with devserver.running(data_dir, env, workers=1) as (_proc, port):
        context = browser.new_context(viewport={"width": 390, "height": 844})
        try:
            page = context.new_page()
            page.goto(f"http://127.0.0.1:{port}/#token={TOKEN}")
            page.wait_for_selector("text=No sessions yet")
            big = tmp_path / "too-big.csv"
            big.write_bytes(b"x" * (1024 * 1024 + 10))
            small = _session_file(tmp_path, "fits.csv")
            page.set_input_files("#file-input", [str(big), str(small)])
            refused = page.locator(".uploads li", has_text="too-big.csv")
            refused.locator("text=Not uploaded:").wait_for()
            assert "larger than 1 MB" in refused.inner_text()
            page.locator(".uploads li", has_text="fits.csv").locator(
                "text=Uploaded. Analysing…"
            ).wait_for()
        finally:
            context.close()


def test_excluding_a_lap_changes_the_best_lap(
    new_page: Any, server: Server, tmp_path: Path
) -> None:
    path = _session_file(tmp_path, "exclude-me.csv")
    session_id = server.upload(path.name, path.read_bytes())
    before = server.wait_analysed(session_id)
    best = before["best_lap_number"]
    page = new_page(path=f"/sessions/{session_id}")
    page.wait_for_selector("tr.is-best")
    assert page.locator("tr.is-best").get_attribute("data-lap") == str(best)
    page.click(f'tbody tr[data-lap="{best}"] button')
    # The analysis runs again; the page follows by itself.
    page.wait_for_selector(f'tr.excluded[data-lap="{best}"]', timeout=60_000)
    page.wait_for_function(f"() => document.querySelector('tr.is-best')?.dataset.lap !== '{best}'")
    after = server.api(f"/api/sessions/{session_id}")
    assert page.locator("tr.is-best").get_attribute("data-lap") == str(after["best_lap_number"])
    assert after["best_lap_s"] > before["best_lap_s"]
    assert "Excluded by you" in page.locator(f'tr[data-lap="{best}"]').inner_text()


def test_placing_a_start_finish_on_the_map_reanalyses_the_session(
    new_page: Any, server: Server, tmp_path: Path
) -> None:
    path = _session_file(tmp_path, "place-lines.csv")
    session_id = server.upload(path.name, path.read_bytes())
    server.wait_analysed(session_id)
    page = new_page(width=1280, height=800, path=f"/sessions/{session_id}")
    page.wait_for_selector(".chart canvas")
    page.click("text=Set lines")
    canvas = page.locator(".map-wrap canvas")
    canvas.scroll_into_view_if_needed()
    # A point of the drawn lap (a coloured pixel of the path), found in the canvas.
    x, y = page.evaluate(
        """() => {
          const c = document.querySelector('.map-wrap canvas');
          const ctx = c.getContext('2d');
          const { data, width, height } = ctx.getImageData(0, 0, c.width, c.height);
          const dpr = c.width / c.getBoundingClientRect().width;
          for (let row = height - 1; row >= 0; row--)
            for (let col = 0; col < width; col++) {
              const i = 4 * (row * width + col);
              if (data[i + 3] > 200) return [col / dpr, (row - 3 * dpr) / dpr];
            }
          return [null, null];
        }"""
    )
    assert x is not None
    box = canvas.bounding_box()
    page.mouse.click(box["x"] + x, box["y"] + y)
    page.fill("#track-name", "Browser Ring")
    page.click("text=Save track")
    page.wait_for_selector("text=Saved Browser Ring")
    # The session is analysed again on the new line, and the page shows it.
    page.wait_for_function(
        "() => document.querySelector('main h1')?.textContent === 'Browser Ring'",
        timeout=60_000,
    )
    # The confirmation outlives the redraw the new laps cause, and then says they are in.
    page.wait_for_selector("text=Saved Browser Ring. The laps above are timed on its lines.")
    doc = server.wait_analysed(session_id)
    assert doc["track"]["name"] == "Browser Ring"
    assert doc["lap_count"] >= 2
    tracks = server.api("/api/tracks")["tracks"]
    assert any(t["name"] == "Browser Ring" for t in tracks)


def test_without_the_server_the_last_data_stays_on_screen(new_page: Any) -> None:
    page = new_page()
    page.wait_for_selector(".session-card")
    page.context.set_offline(True)
    try:
        page.click("nav >> text=Tracks")
        page.wait_for_selector("main h1")
        page.click("nav >> text=Pit Lane")
        notice = page.locator("text=cannot be reached")
        notice.wait_for()
        assert "Showing the sessions as they were" in notice.inner_text()
        assert page.locator(".session-card").count() > 0
    finally:
        page.context.set_offline(False)
