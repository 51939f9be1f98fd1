"""Lap-time error against exact ground truth on synthetic sessions, per sample rate.

    .venv/bin/python bench/bench_accuracy.py [--seeds 30] [--jobs 2] [--skip-without-speed]

The driver: a quasi-steady-state lap-time simulation (racesense.synth.driver): speed
limited by grip in corners, by an acceleration limit and by a braking limit, each drawn
per seed (0.3-0.6 g, 0.8-1.2 g, 1.0-1.4 g in corners, 60-80 m/s top speed), and by a
pit lane speed limit (60 km/h) with launches from standstill. Lap pace varies by +-0.5 %.

Tables, all with the true start/finish line given, every complete lap compared:

1. The scenarios of racesense.synth.scenarios on Racesense Raceway (4 timed laps each):
   the line where the car accelerates at its limit, where it brakes at its limit, in a
   350 m-radius curve, and at a pit lane's exit (crossed at the speed limit, full
   throttle after; the session starts in the pit box and pits again after lap 2).
   1.5 m of GNSS noise per horizontal axis, 0.1 m/s of speed noise, 0.5 deg of course
   noise.
2. The same sessions without the GNSS speed and course channels (positions only: no
   target, they are noise-bound).
3. The original table: Racesense Park, default driver, 6 laps, 1 m of noise.

Targets: scenarios at 1.5 m, 25 and 20 Hz within 25 ms, 10 Hz 50 ms, 5 Hz 120 ms;
Racesense Park at 1 m, 20-25 Hz within 20 ms, 10 Hz 50 ms, 5 Hz 100 ms.
"""

from __future__ import annotations

import argparse
import dataclasses
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from typing import TypeVar

import numpy as np

from racesense.analysis.pipeline import analyse
from racesense.analysis.track import Gate, Track
from racesense.synth import SyntheticSession, demo_circuit, make_session
from racesense.synth.scenarios import SCENARIO_NAMES, scenario_session

RATES_HZ = (25, 20, 10, 5)
TARGET_S = {25: 0.025, 20: 0.025, 10: 0.05, 5: 0.12}
OLD_TARGET_S = {25: 0.02, 20: 0.02, 10: 0.05, 5: 0.1}

T = TypeVar("T")


def lap_errors_s(session: SyntheticSession, with_speed: bool = True) -> list[float] | str:
    """Signed error of every complete lap, or why the laps cannot be compared."""
    tel = session.telemetry
    if not with_speed:
        missing = np.full(len(tel), np.nan)
        tel = dataclasses.replace(tel, speed_mps=missing, heading_deg=missing)
    line = Gate(*session.start_finish.endpoints_deg)
    analysis = analyse(tel, track=Track("truth", start_finish=line))
    got = np.array([lap.time_s for lap in analysis.laps if lap.complete])
    if got.shape != session.lap_times_s.shape:
        return f"{len(got)} laps found, {len(session.lap_times_s)} driven"
    errors: list[float] = (got - session.lap_times_s).tolist()
    return errors


def _scenario_case(case: tuple[str, int, int, bool]) -> list[float] | str:
    name, rate_hz, seed, with_speed = case
    return lap_errors_s(scenario_session(name, rate_hz=rate_hz, seed=seed), with_speed)


def _park_case(case: tuple[int, int, int]) -> list[float] | str:
    rate_hz, seed, laps = case
    return lap_errors_s(make_session(demo_circuit(), rate_hz=rate_hz, laps=laps, seed=seed))


def _row(label: str, errors_s: list[float], failures: int, target_s: float | None) -> str:
    e = np.abs(np.array(errors_s)) * 1000.0
    target = "-" if target_s is None else f"{target_s * 1000:.0f} ms"
    if e.size == 0:
        return f"| {label} | 0 | - | - | - | {failures} | {target} |"
    return (
        f"| {label} | {e.size} | {e.max():.1f} ms | {np.percentile(e, 99):.1f} ms | "
        f"{np.sqrt(np.mean(e**2)):.1f} ms | {failures} | {target} |"
    )


def _header(first: str) -> str:
    return (
        f"| {first} | laps | worst | p99 | rms | laps missed or extra | target |\n"
        "|---|---|---|---|---|---|---|"
    )


def _run(
    pool: ProcessPoolExecutor | None, work: Callable[[T], list[float] | str], cases: list[T]
) -> list[list[float] | str]:
    if pool is None:
        return [work(case) for case in cases]
    return list(pool.map(work, cases, chunksize=4))


def _scenario_table(pool: ProcessPoolExecutor | None, seeds: int, with_speed: bool) -> None:
    cases = [
        (name, rate, seed, with_speed)
        for rate in RATES_HZ
        for name in SCENARIO_NAMES
        for seed in range(seeds)
    ]
    results = dict(zip(cases, _run(pool, _scenario_case, cases), strict=True))
    print(_header("rate, scenario"))
    for rate in RATES_HZ:
        # The targets are for logs with a speed channel; positions alone are noise-bound.
        target = TARGET_S[rate] if with_speed else None
        every: list[float] = []
        every_failed = 0
        for name in SCENARIO_NAMES:
            errors: list[float] = []
            failed = 0
            for seed in range(seeds):
                outcome = results[(name, rate, seed, with_speed)]
                if isinstance(outcome, str):
                    failed += 1
                    print(f"<!-- {rate} Hz {name} seed {seed}: {outcome} -->")
                else:
                    errors.extend(outcome)
            every.extend(errors)
            every_failed += failed
            print(_row(f"{rate} Hz, {name}", errors, failed, target))
        print(_row(f"**{rate} Hz, all**", every, every_failed, target))


def _park_table(pool: ProcessPoolExecutor | None, seeds: int, laps: int) -> None:
    cases = [(rate, seed, laps) for rate in RATES_HZ for seed in range(seeds)]
    results = dict(zip(cases, _run(pool, _park_case, cases), strict=True))
    print(_header("rate"))
    for rate in RATES_HZ:
        errors: list[float] = []
        failed = 0
        for seed in range(seeds):
            outcome = results[(rate, seed, laps)]
            if isinstance(outcome, str):
                failed += 1
                print(f"<!-- {rate} Hz seed {seed}: {outcome} -->")
            else:
                errors.extend(outcome)
        print(_row(f"{rate} Hz", errors, failed, OLD_TARGET_S[rate]))


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--seeds", type=int, default=30)
    parser.add_argument("--laps", type=int, default=6, help="laps of the Racesense Park table")
    parser.add_argument("--jobs", type=int, default=2, help="worker processes (1: none)")
    parser.add_argument("--skip-without-speed", action="store_true")
    args = parser.parse_args()
    started = time.perf_counter()
    pool = ProcessPoolExecutor(args.jobs) if args.jobs > 1 else None
    try:
        print(f"Scenarios on Racesense Raceway, 1.5 m noise, {args.seeds} seeds x 4 laps:\n")
        _scenario_table(pool, args.seeds, with_speed=True)
        if not args.skip_without_speed:
            print("\nThe same sessions without GNSS speed and course (positions only):\n")
            _scenario_table(pool, args.seeds, with_speed=False)
        print(f"\nRacesense Park, 1 m noise, {args.seeds} seeds x {args.laps} laps:\n")
        _park_table(pool, args.seeds, args.laps)
    finally:
        if pool is not None:
            pool.shutdown()
    print(f"\n({time.perf_counter() - started:.0f} s)")


if __name__ == "__main__":
    main()
