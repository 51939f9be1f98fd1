"""Benchmark: `racesense analyse FILE --json` as a user runs it, a whole process, against
a whole Python process that only reads the same file with pyarrow.

    .venv/bin/python bench/bench_cli.py [--repeat N]

1. Warm: both commands run N times, interleaved; medians (target: at most 4x).
2. The first run after a fresh install: the package is built and installed into a new
   directory (as `pip install` does, byte-code compiled), and its very first
   `racesense analyse` is timed against the warm median (target: at most 2x).

The file: one hour of 25 Hz RS-Core CSV (bench_analysis.one_hour_csv).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench_analysis import one_hour_csv

ROOT = Path(__file__).resolve().parent.parent
READ_ONLY = (
    "import sys, pyarrow.csv as c; c.read_csv(sys.argv[1], read_options=c.ReadOptions(skip_rows=4))"
)


def timed(command: list[str], env: dict[str, str] | None = None) -> float:
    start = time.perf_counter()
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL, env=env)
    return time.perf_counter() - start


def fresh_install(target: Path) -> dict[str, str]:
    """racesense alone, built and installed into `target` (its dependencies are the
    venv's); the environment that runs it from there."""
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(target), "."],
        cwd=ROOT,
        check=True,
    )
    env = os.environ | {"PYTHONPATH": str(target)}
    where = subprocess.run(
        [sys.executable, "-c", "import racesense; print(racesense.__file__)"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert where.startswith(str(target)), f"not the fresh copy: {where}"
    return env


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=9)
    parser.add_argument("--no-fresh-install", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "one-hour.csv"
        path.write_bytes(one_hour_csv())
        read = [sys.executable, "-c", READ_ONLY, str(path)]
        analyse = [sys.executable, "-m", "racesense", "analyse", str(path), "--json"]
        timed(read), timed(analyse)  # warm: page cache, byte code
        t_read, t_cli = [], []
        for _ in range(args.repeat):
            t_read.append(timed(read))
            t_cli.append(timed(analyse))
        read_s, cli_s = statistics.median(t_read), statistics.median(t_cli)
        print(f"file              : {path.stat().st_size / 1e6:.1f} MB, one hour at 25 Hz")
        print(f"python + pyarrow read : {read_s * 1000:7.0f} ms (median of {args.repeat})")
        print(f"racesense analyse --json: {cli_s * 1000:5.0f} ms (median of {args.repeat})")
        print(f"warm ratio        : {cli_s / read_s:7.2f}x  (target <= 4x)")
        if args.no_fresh_install:
            return
        env = fresh_install(Path(tmp) / "site")
        first_s = timed(analyse, env)
        again_s = statistics.median(timed(analyse, env) for _ in range(3))
        print(f"fresh install, first run: {first_s * 1000:5.0f} ms; then {again_s * 1000:.0f} ms")
        print(f"first / warm      : {first_s / cli_s:7.2f}x  (target <= 2x)")


if __name__ == "__main__":
    main()
