"""Benchmark: the whole job a worker does with one hour of 25 Hz RS-Core CSV (90,000
rows): read the file, analyse it, encode the results document and every lap's trace as
they are stored; against pyarrow only reading the same file into columns, measured side
by side in one run. The analysis alone (no encoding) is shown too, to look inside.

Targets: the whole job <= 3x pyarrow's read; its peak memory <= 10x the file size.

    .venv/bin/python bench/bench_analysis.py [--repeat N]

Timings interleave the two jobs and report medians, so a noisy neighbour slows both.
Memory: Python-side peak (tracemalloc, which sees NumPy's buffers) plus the peak of
pyarrow's own allocator, during one analysis: an upper bound on the extra memory used.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv

from racesense.analysis.pipeline import analyse
from racesense.analysis.telemetry import Telemetry
from racesense.analysis.track import Track
from racesense.demo import demo_track
from racesense.ingest import read_telemetry
from racesense.jobs.analysis_job import run_analysis
from racesense.store.results import Analysed
from racesense.synth import demo_circuit, make_session, to_rscore_csv

ROWS = 90_000
RATE_HZ = 25.0


def one_hour_csv() -> bytes:
    circuit = demo_circuit()
    session = make_session(circuit, rate_hz=RATE_HZ, laps=40, seed=1)
    tel = session.telemetry
    keep = np.arange(ROWS)
    cut = Telemetry.build(
        tel.format,
        tel.t_s[keep],
        tel.lat_deg[keep],
        tel.lon_deg[keep],
        started_at=tel.started_at,
        **{
            name: getattr(tel, name)[keep]
            for name in (
                "alt_m",
                "speed_mps",
                "heading_deg",
                "sats",
                "hdop",
                "accel_lon_mps2",
                "accel_lat_mps2",
                "accel_vert_mps2",
                "yaw_rate_dps",
            )
        },
    )
    return to_rscore_csv(cut, device_id="RS-Core-BENCH")


def read_with_pyarrow(path: Path) -> int:
    table = pacsv.read_csv(path, read_options=pacsv.ReadOptions(skip_rows=4))
    return int(table.num_rows)


def whole_job(path: Path, tracks: list[Track]) -> int:
    """What a worker does with an upload: read the file, analyse it, encode the results
    document and the traces as stored. The track list is an input (the server loads it
    from its database)."""
    outcome = run_analysis(str(path), tracks)
    assert isinstance(outcome, Analysed)
    return outcome.summary.lap_count


def analysis_only(path: Path, tracks: list[Track]) -> int:
    return analyse(read_telemetry(path.read_bytes()), tracks=tracks).lap_count


def memory_of(path: Path) -> tuple[int, int]:
    """(Python-side peak, pyarrow allocator peak) in bytes during one analysis."""
    pool = pa.default_memory_pool()
    before = pool.max_memory() or 0
    tracemalloc.start()
    whole_job(path, [demo_track()])
    _, python_peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return python_peak, max(0, (pool.max_memory() or 0) - before)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--memory-of", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.memory_of is not None:
        print(*memory_of(args.memory_of))
        return

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "one-hour.csv"
        path.write_bytes(one_hour_csv())
        size = path.stat().st_size
        rows = read_with_pyarrow(path)
        tracks = [demo_track()]
        laps = whole_job(path, tracks)  # warm up (imports, page cache)
        analysis_only(path, tracks)
        print(f"input: {rows} rows, {size / 1e6:.1f} MB, {laps} complete laps")

        t_read: list[float] = []
        t_full: list[float] = []
        t_core: list[float] = []
        for _ in range(args.repeat):
            for job, times in (
                (read_with_pyarrow, t_read),
                (lambda p: whole_job(p, tracks), t_full),
                (lambda p: analysis_only(p, tracks), t_core),
            ):
                start = time.perf_counter()
                job(path)
                times.append(time.perf_counter() - start)
        read_s, full_s = statistics.median(t_read), statistics.median(t_full)
        core_s = statistics.median(t_core)

        # Memory in a fresh process, so pyarrow's allocator has no earlier peak.
        out = subprocess.run(
            [sys.executable, __file__, "--memory-of", str(path)],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.split()
        python_peak, arrow_peak = int(out[0]), int(out[1])
        peak = python_peak + arrow_peak

    print(f"pyarrow read only : {read_s * 1000:8.1f} ms (median of {args.repeat})")
    print(f"analysis only     : {core_s * 1000:8.1f} ms (median of {args.repeat})")
    print(f"whole job         : {full_s * 1000:8.1f} ms (median of {args.repeat})")
    print(f"analysis ratio    : {core_s / read_s:8.2f}x")
    print(f"whole job ratio   : {full_s / read_s:8.2f}x   (target <= 3.0x)")
    parts = f"python {python_peak / 1e6:.1f} + arrow {arrow_peak / 1e6:.1f}"
    print(f"peak memory       : {peak / 1e6:8.1f} MB  ({parts})")
    print(f"memory ratio      : {peak / size:8.2f}x file size (target <= 10x)")


if __name__ == "__main__":
    main()
