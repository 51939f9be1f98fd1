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

# The goals, for a 20-minute session at 25 Hz on "good".
GOAL_TOTAL_S = 15.0
GOAL_RATIO = 10.0


@dataclass
class Outcome:
    results: list[harness.RunResult]
    emulations: dict[str, str]


def simulate(
    presets: Sequence[str], minutes: Sequence[float], runs: int, *, in_process: bool = False
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
                f"  {r.preset:8} {r.minutes:g} min: {total:.2f} s tap to lap table,"
                f" {r.bytes / 1e6:.1f} MB, files lost or twice: {r.lost_or_twice}",
                file=sys.stderr,
                flush=True,
            )

        done, emulations[name] = harness.run(
            preset, list(minutes), runs, in_process=in_process, progress=progress
        )
        results += done
    return Outcome(results, emulations)


def table(outcome: Outcome, markdown: bool = False) -> str:
    groups: dict[tuple[str, float], list[Run]] = {}
    for r in outcome.results:
        if r.failure is None:  # a failed sync has no phases to put in the table
            groups.setdefault((r.preset, r.minutes), []).append(Run(r.phases_ms, r.bytes))
    stats = summarise(
        [Group(f"{p} {m:g} min", runs) for (p, m), runs in groups.items()],
        harness.BLE_RATE_BYTES_S,
    )
    render = render_markdown if markdown else render_text
    lines = [render(stats, harness.BLE_RATE_BYTES_S), ""]
    lines.append(
        f"BLE paced at {harness.BLE_RATE_BYTES_S / 1000:g} KB/s and {harness.BLE_LATENCY_MS:g} ms"
        " per GATT operation; 25 Hz sessions; the hotspot switched on at once."
    )
    for name, emulation in outcome.emulations.items():
        lines.append(f"{name}: {PRESETS[name].describe()}; {emulation}")
    return "\n".join(lines)


def goals(outcome: Outcome) -> list[tuple[str, bool, str]]:
    """(goal, met, what was measured) for the runs that bear on each goal."""
    out = []
    good20 = [r for r in outcome.results if r.preset == "good" and r.minutes == 20]
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
