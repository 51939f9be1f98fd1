"""What a racer waits for in the UI: headless Chromium (Debian's) against a real
`racesense serve`, on the throttled phone profile of the UI issue.

    .venv/bin/python bench/bench_ui.py [--runs 5]

Profile: 390x844 viewport, CPU slowed 4x (DevTools CPU throttling), network shaped to
20 Mbit/s both ways with 30 ms latency (DevTools network emulation), an empty cache
each run (a new browser context).

1. First Pit Lane load: every byte the page transfers (compressed, headers excluded:
   CDP's encodedDataLength minus headers is not exposed, so headers are included),
   shell and data, from navigation until 1.5 s after the list shows (target: at most
   150 KB). The event stream stays open, so its bytes so far count too.
2. Session Details of a one-hour 25 Hz session (38 laps): from the tap on the Pit Lane
   to the lap table on screen, and to the reference lap's map and charts drawn
   (target: interactive within 1 s). Printed beside the same load unthrottled, in the
   same run, and beside the view opened cold from a link (shell, code and data).
3. Touch-to-cursor: a tap on the map until the next frame after the cursor moved on
   the charts (target: under 50 ms), median and worst of 20 taps, throttled.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

from racesense import devserver
from racesense.demo import demo_session_csv
from racesense.synth import demo_circuit, make_session, to_rscore_csv

TOKEN = "bench-ui-token-" + os.urandom(8).hex()
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
MBIT = 1_000_000 / 8  # bytes per second


def api(port: int, path: str, data: bytes | None = None, **headers: str) -> Any:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}{path}",
        data=data,
        headers={"Authorization": f"Bearer {TOKEN}", **headers},
    )
    with urllib.request.urlopen(request, timeout=120) as response:
        return json.load(response)


def upload_and_wait(port: int, name: str, data: bytes) -> str:
    session_id = str(
        api(port, "/api/upload", data, **{"X-Filename": name})["files"][0]["session_id"]
    )
    while api(port, f"/api/sessions/{session_id}")["status"] not in ("ready", "failed"):
        time.sleep(0.2)
    return session_id


def new_page(browser: Any, throttled: bool) -> tuple[Any, Any, list[int]]:
    context = browser.new_context(viewport={"width": 390, "height": 844})
    page = context.new_page()
    cdp = context.new_cdp_session(page)
    cdp.send("Network.enable")
    if throttled:
        cdp.send("Emulation.setCPUThrottlingRate", {"rate": 4})
        cdp.send(
            "Network.emulateNetworkConditions",
            {
                "offline": False,
                "latency": 30,
                "downloadThroughput": 20 * MBIT,
                "uploadThroughput": 20 * MBIT,
            },
        )
    transferred: list[int] = []
    cdp.on("Network.loadingFinished", lambda e: transferred.append(int(e["encodedDataLength"])))
    # The token, as the printed link gives it, without a navigation of its own.
    page.add_init_script(f"localStorage.setItem('racesense.token', {json.dumps(TOKEN)})")
    return context, page, transferred


def pit_lane_bytes(browser: Any, origin: str) -> int:
    context, page, transferred = new_page(browser, throttled=True)
    page.goto(origin + "/")  # (never "networkidle": the event stream stays open)
    page.wait_for_selector(".session-card")
    page.wait_for_timeout(1500)  # the service worker's precache and the event stream's start
    total = sum(transferred)
    context.close()
    return total


def session_details(
    browser: Any, origin: str, session_id: str, throttled: bool
) -> tuple[float, float]:
    context, page, _ = new_page(browser, throttled)
    page.goto(origin + "/")  # the app shell first, as from the Pit Lane
    page.wait_for_selector(".session-card")
    start = page.evaluate("() => performance.now()")
    page.evaluate(
        f"() => {{ history.pushState(null, '', '/sessions/{session_id}');"
        " dispatchEvent(new PopStateEvent('popstate')); }"
    )
    page.wait_for_selector("tbody tr[data-lap]")
    table = page.evaluate("() => performance.now()") - start
    page.wait_for_selector(".chart canvas")
    page.wait_for_function("() => document.querySelector('.legend > span') !== null")
    page.evaluate("() => new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))")
    charts = page.evaluate("() => performance.now()") - start
    context.close()
    return table, charts


def session_from_link(browser: Any, origin: str, session_id: str) -> tuple[float, float]:
    """The same view opened cold from a link: shell, code and data all fetched."""
    context, page, _ = new_page(browser, throttled=True)
    page.goto(f"{origin}/sessions/{session_id}")
    page.wait_for_selector("tbody tr[data-lap]")
    table = page.evaluate("() => performance.now()")
    page.wait_for_function("() => document.querySelector('.legend > span') !== null")
    page.evaluate("() => new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))")
    charts = page.evaluate("() => performance.now()")
    context.close()
    return table, charts


def touch_to_cursor(browser: Any, origin: str, session_id: str, taps: int) -> list[float]:
    context, page, _ = new_page(browser, throttled=True)
    page.goto(f"{origin}/sessions/{session_id}")
    page.wait_for_selector(".chart canvas")
    page.wait_for_function("() => document.querySelector('.legend > span') !== null")
    page.locator(".map-wrap canvas").scroll_into_view_if_needed()
    times: list[float] = page.evaluate(
        """async (taps) => {
          const canvas = document.querySelector('.map-wrap canvas');
          const box = canvas.getBoundingClientRect();
          const cursor = document.querySelector('.u-cursor-x');
          const out = [];
          for (let k = 0; k < taps; k++) {
            const x = box.left + box.width * (0.2 + 0.6 * ((k * 7) % taps) / taps);
            const y = box.top + box.height * (0.2 + 0.6 * ((k * 3) % taps) / taps);
            const before = cursor.style.transform;
            const t0 = performance.now();
            const tap = {clientX: x, clientY: y, bubbles: true};
            canvas.dispatchEvent(new PointerEvent('pointerdown', tap));
            await new Promise(r => requestAnimationFrame(() => r()));
            const t1 = performance.now();
            if (cursor.style.transform === before && k > 0) out.push(NaN);
            else out.push(t1 - t0);
            await new Promise(r => setTimeout(r, 50));
          }
          return out;
        }""",
        taps,
    )
    context.close()
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory() as tmp:
        env = {"RACESENSE_API_TOKEN": TOKEN}
        with devserver.running(Path(tmp) / "data", env, workers=2) as (_proc, port):
            origin = f"http://127.0.0.1:{port}"
            name, data = demo_session_csv()
            upload_and_wait(port, name, data)
            hour = make_session(demo_circuit(), rate_hz=25, laps=38, seed=11).telemetry
            hour_id = upload_and_wait(port, "one-hour-25hz.csv", to_rscore_csv(hour))
            laps = len(api(port, f"/api/sessions/{hour_id}")["laps"])
            with sync_playwright() as p:
                browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
                kb = [pit_lane_bytes(browser, origin) / 1024 for _ in range(args.runs)]
                print(
                    f"first Pit Lane load: {statistics.median(kb):6.1f} KB transferred "
                    f"(compressed, shell and data; target <= 150 KB)"
                )
                slow = [session_details(browser, origin, hour_id, True) for _ in range(args.runs)]
                fast = [session_details(browser, origin, hour_id, False) for _ in range(args.runs)]
                for label, runs in (("4x CPU, 20 Mbit/s, 30 ms", slow), ("unthrottled", fast)):
                    table = statistics.median(t for t, _ in runs)
                    charts = statistics.median(c for _, c in runs)
                    print(
                        f"Session Details, 1 h at 25 Hz ({laps} laps), {label}: lap table "
                        f"{table:5.0f} ms, map and charts {charts:5.0f} ms (median of {args.runs})"
                    )
                cold = [session_from_link(browser, origin, hour_id) for _ in range(args.runs)]
                print(
                    f"Session Details opened cold from a link, throttled: lap table "
                    f"{statistics.median(t for t, _ in cold):5.0f} ms, map and charts "
                    f"{statistics.median(c for _, c in cold):5.0f} ms (from navigation start)"
                )
                ratio = statistics.median(c for _, c in slow) / statistics.median(
                    c for _, c in fast
                )
                print(
                    f"  throttled / unthrottled: {ratio:.1f}x"
                    " (target: charts within 1000 ms throttled)"
                )
                taps = [t for t in touch_to_cursor(browser, origin, hour_id, 20) if t == t]
                print(
                    f"touch-to-cursor, 4x CPU: median {statistics.median(taps):4.1f} ms, "
                    f"worst {max(taps):4.1f} ms over {len(taps)} taps (target < 50 ms)"
                )
                browser.close()


if __name__ == "__main__":
    main()
