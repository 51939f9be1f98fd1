"""`racesense fieldtest` (and bench/bench_fieldtest.py): the simulated field test over
the presets, as a table, with the issue's goals checked against what was measured."""

from __future__ import annotations

import statistics
import sys
from collections.abc import Sequence
from dataclasses import dataclass

from racesense.fieldtest import harness
from racesense.fieldtest.presets import PRESETS
from racesense.fieldtest.table import Group, Run, render_markdown, render_text, summarise

# The issue's goals, for a 20-minute session at 25 Hz on "good".
GOAL_TOTAL_S = 15.0
GOAL_RATIO = 10.0
AUTO_TOLERANCE = 0.15  # totals this close: neither way is faster (gzip_body.GAIN)


@dataclass
class Outcome:
    results: list[harness.RunResult]
    emulations: dict[str, str]


def simulate(
    presets: Sequence[str],
    minutes: Sequence[float],
    runs: int,
    *,
    in_process: bool = False,
    compress_modes: Sequence[str] = ("off",),
) -> Outcome:
    results: list[harness.RunResult] = []
    emulations: dict[str, str] = {}
    for name in presets:
        preset = PRESETS[name]

        def progress(r: harness.RunResult) -> None:
            if r.failure:
                print(f"  {r.preset:8} {r.minutes:g} min: FAILED {r.failure}", file=sys.stderr)
                return
            total = r.phases_ms.get("total", float("nan")) / 1000
            print(
                f"  {r.preset:8} {r.minutes:g} min {r.label:15} {total:.2f} s tap to lap"
                f" table, {r.bytes / 1e6:.1f} MB ({r.link_bytes / 1e6:.1f} MB sent),"
                f" files lost or twice: {r.lost_or_twice}",
                file=sys.stderr,
                flush=True,
            )

        done, emulations[name] = harness.run(
            preset,
            list(minutes),
            runs,
            in_process=in_process,
            progress=progress,
            compress_modes=tuple(compress_modes),
        )
        results += done
    return Outcome(results, emulations)


def table(outcome: Outcome, markdown: bool = False) -> str:
    groups: dict[tuple[str, float, str], list[Run]] = {}
    for r in outcome.results:
        if r.failure is None:  # a failed sync has no phases to put in the table
            run = Run(r.phases_ms, r.bytes, r.wire_bytes)
            groups.setdefault((r.preset, r.minutes, r.label), []).append(run)
    stats = summarise(
        [Group(f"{p} {m:g} min {label}", runs) for (p, m, label), runs in groups.items()],
        harness.BLE_RATE_BYTES_S,
    )
    render = render_markdown if markdown else render_text
    lines = [render(stats, harness.BLE_RATE_BYTES_S), ""]
    lines.append(
        f"BLE paced at {harness.BLE_RATE_BYTES_S / 1000:g} KB/s and {harness.BLE_LATENCY_MS:g} ms"
        " per GATT operation; 25 Hz sessions; the hotspot switched on at once."
    )
    if any(r.compress != "off" for r in outcome.results):
        lines.append(
            f"gzip: the board's compressor stood in for at {harness.DEFLATE_BYTES_PER_S / 1000:g}"
            " KB/s (an estimate for an ESP32, docs/fieldtest.md); auto: the logger's own"
            " choice per file, identity until it has measured the link."
        )
    for name, emulation in outcome.emulations.items():
        lines.append(f"{name}: {PRESETS[name].describe()}; {emulation}")
    return "\n".join(lines)


def goals(outcome: Outcome) -> list[tuple[str, bool, str]]:
    """(goal, met, what was measured) for the runs that bear on each goal."""
    out = []
    # The goals are the logger's own behaviour: identity, or its own choice (auto).
    chosen = [r for r in outcome.results if r.compress != "on"]
    good20 = [r for r in chosen if r.preset == "good" and r.minutes == 20]
    if good20:
        totals = [r.phases_ms["total"] / 1000 for r in good20 if "total" in r.phases_ms]
        ratios = [r.ble_alone_ms / r.phases_ms["total"] for r in good20 if "total" in r.phases_ms]
        if totals:
            median = statistics.median(totals)
            out.append(
                (
                    f"20 min on good: tap to results on screen <= {GOAL_TOTAL_S:g} s",
                    median <= GOAL_TOTAL_S,
                    f"median {median:.2f} s, worst {max(totals):.2f} s over {len(totals)} runs",
                )
            )
            worst = min(ratios)
            out.append(
                (
                    f"20 min on good: >= {GOAL_RATIO:g}x faster than BLE alone",
                    worst >= GOAL_RATIO,
                    f"median {statistics.median(ratios):.1f}x, worst {worst:.1f}x",
                )
            )
    poor = [r for r in outcome.results if r.preset == "poor"]
    if poor:
        bad = sum(r.lost_or_twice for r in poor)
        failed = [r for r in poor if r.failure]
        out.append(
            (
                "poor: every sync completes, no file lost or sent twice",
                bad == 0 and not failed and all(r.files_sent >= 1 for r in poor),
                f"{len(poor)} syncs, {len(failed)} failed, {bad} files lost or twice",
            )
        )
    out += _auto_choices(outcome.results)
    failures = [r for r in outcome.results if r.failure]
    if failures:
        out.append(
            (
                "every sync ends in done",
                False,
                "; ".join(f"{r.preset} {r.minutes:g} min: {r.failure}" for r in failures[:3]),
            )
        )
    return out


def _auto_choices(results: Sequence[harness.RunResult]) -> list[tuple[str, bool, str]]:
    """Per preset and session length with identity, gzip and auto runs: did auto, once it
    had measured (its runs after the first), send the way that was faster here?"""
    out = []
    keys = sorted({(r.preset, r.minutes) for r in results})
    for preset, minutes in keys:
        runs = [r for r in results if (r.preset, r.minutes) == (preset, minutes) and not r.failure]
        medians = {}
        for mode in ("off", "on"):
            totals = [r.phases_ms["total"] for r in runs if r.compress == mode]
            if totals:
                medians[mode] = statistics.median(totals) / 1000
        auto = [r for r in runs if r.compress == "auto"]
        if len(medians) < 2 or not auto:
            continue
        faster = "identity" if medians["off"] <= medians["on"] else "gzip"
        # Within AUTO_TOLERANCE of each other either way is right: no way is faster.
        close = abs(medians["off"] - medians["on"]) <= AUTO_TOLERANCE * min(medians.values())
        # The auto logger's very first sync has nothing measured yet: identity by rule.
        decided = [r.encoding for r in auto if r is not _first_auto(results, preset)]
        if not decided:
            continue
        out.append(
            (
                f"{preset} {minutes:g} min: auto sends the faster way",
                close or all(e == faster for e in decided),
                f"identity {medians['off']:.2f} s, gzip {medians['on']:.2f} s (medians);"
                f" auto chose {', '.join(str(e) for e in decided)}",
            )
        )
    return out


def _first_auto(results: Sequence[harness.RunResult], preset: str) -> harness.RunResult | None:
    for r in results:
        if r.preset == preset and r.compress == "auto":
            return r
    return None
