"""The simulated field test's verdicts (simulate.goals), on made-up results: the goals
are judged on the logger's own behaviour, and auto is judged against what was faster."""

from __future__ import annotations

import pytest

from racesense.fieldtest.harness import RunResult
from racesense.fieldtest.simulate import Outcome, goals


def _run(preset: str, compress: str, total_s: float, encoding: str, minutes: float = 20):
    return RunResult(
        preset,
        minutes,
        3_000_000,
        phases_ms={"total": total_s * 1000},
        ble_alone_ms=300_000,
        files_sent=1,
        compress=compress,
        encoding=encoding,
    )


def _verdicts(results: list[RunResult]) -> dict[str, tuple[bool, str]]:
    return {goal: (met, measured) for goal, met, measured in goals(Outcome(results, {}))}


def test_auto_is_right_when_it_sends_the_faster_way() -> None:
    results = [
        _run("poor", "off", 30, "identity"),
        _run("poor", "on", 12, "gzip"),
        _run("poor", "auto", 29, "identity"),  # the first: nothing measured yet
        _run("poor", "auto", 12.5, "gzip"),
    ]
    met, measured = _verdicts(results)["poor 20 min: auto sends the faster way"]
    assert met, measured
    assert "auto chose gzip" in measured


@pytest.mark.parametrize(
    ("preset", "runs", "met"),
    [
        # gzip was 2.5x faster, yet auto kept sending files as they are
        (
            "poor",
            [
                ("off", 30, "identity"),
                ("on", 12, "gzip"),
                ("auto", 29, "identity"),
                ("auto", 30, "identity"),
            ],
            False,
        ),
        # the two ways within 15% of each other: either choice is right
        (
            "good",
            [
                ("off", 7.0, "identity"),
                ("on", 7.5, "gzip"),
                ("auto", 7.0, "identity"),
                ("auto", 7.4, "gzip"),
            ],
            True,
        ),
    ],
)
def test_auto_against_the_faster_way(
    preset: str, runs: list[tuple[str, float, str]], met: bool
) -> None:
    results = [_run(preset, compress, total_s, encoding) for compress, total_s, encoding in runs]
    verdict, _ = _verdicts(results)[f"{preset} 20 min: auto sends the faster way"]
    assert verdict is met


def test_the_speed_goals_leave_forced_gzip_out() -> None:
    results = [_run("good", "off", 7.0, "identity"), _run("good", "on", 40.0, "gzip")]
    met, measured = _verdicts(results)["20 min on good: tap to results on screen <= 15 s"]
    assert met and "over 1 runs" in measured
