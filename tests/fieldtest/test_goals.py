"""The simulated field test's verdicts (simulate.goals), on made-up results: the goals
are judged on the logger's own behaviour, and auto is judged against what was faster."""

from __future__ import annotations

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


def test_auto_is_wrong_when_it_keeps_the_slower_way() -> None:
    results = [
        _run("poor", "off", 30, "identity"),
        _run("poor", "on", 12, "gzip"),
        _run("poor", "auto", 29, "identity"),
        _run("poor", "auto", 30, "identity"),
    ]
    met, _ = _verdicts(results)["poor 20 min: auto sends the faster way"]
    assert not met


def test_either_way_is_right_when_they_are_close() -> None:
    results = [
        _run("good", "off", 7.0, "identity"),
        _run("good", "on", 7.5, "gzip"),
        _run("good", "auto", 7.0, "identity"),
        _run("good", "auto", 7.4, "gzip"),
    ]
    met, _ = _verdicts(results)["good 20 min: auto sends the faster way"]
    assert met


def test_the_speed_goals_leave_forced_gzip_out() -> None:
    results = [_run("good", "off", 7.0, "identity"), _run("good", "on", 40.0, "gzip")]
    met, measured = _verdicts(results)["20 min on good: tap to results on screen <= 15 s"]
    assert met and "over 1 runs" in measured
