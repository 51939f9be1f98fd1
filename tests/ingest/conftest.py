"""The importer fuzz test's figures, summed over every format (and every xdist worker:
each test reports its counts as a property, which travels with its report)."""

from __future__ import annotations

from collections import Counter

import pytest


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    totals: Counter[str] = Counter()
    tests = 0
    for outcome in ("passed", "failed"):
        for report in terminalreporter.stats.get(outcome, []):
            if getattr(report, "when", None) != "call":
                continue
            for name, value in getattr(report, "user_properties", ()):
                if name == "fuzz" and isinstance(value, dict):
                    totals.update(value)
                    tests += 1
    if not tests:
        return
    cases, failed = totals.pop("cases", 0), totals.pop("failed", 0)
    outcomes = ", ".join(f"{count} {what}" for what, count in sorted(totals.items()))
    terminalreporter.write_line(
        f"importer fuzz: {cases} cases in {tests} formats, {failed} failed ({outcomes})"
    )
