"""Golden file: the lap numbers and the stored trace format of one fixed session.

A change to either is a change to what every client reads: it must be deliberate. If it
is, rewrite the golden file and review its diff:

    .venv/bin/python tests/analysis/test_golden.py --update
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from racesense.analysis.trace_format import FORMAT, MEDIA_TYPE, decode_trace
from racesense.demo import demo_track
from racesense.jobs.analysis_job import run_analysis
from racesense.store.results import Analysed
from racesense.synth import demo_circuit, make_session, to_rscore_csv

GOLDEN = Path(__file__).with_name("golden") / "park_25hz_seed7.json"


def _samples(n: int) -> list[int]:
    """The trace rows pinned, per column: the ends and three inside."""
    return [0, 1, n // 4, n // 2, 3 * n // 4, n - 2, n - 1]


def observed(tmp_path: Path) -> dict[str, Any]:
    session = make_session(demo_circuit(), rate_hz=25, laps=4, seed=7, pit_stop_after_lap=2)
    path = tmp_path / "park.csv"
    path.write_bytes(to_rscore_csv(session.telemetry, device_id="RS-GOLDEN"))
    outcome = run_analysis(str(path), [demo_track()])
    assert isinstance(outcome, Analysed)
    document = json.loads(outcome.document)
    traces = {}
    for lap, data in sorted(outcome.traces.items()):
        schema = pa.ipc.open_stream(data).schema
        trace = decode_trace(data)
        traces[str(lap)] = {
            "metadata": {k.decode(): v.decode() for k, v in schema.metadata.items()},
            "columns": [[f.name, str(f.type), f.metadata[b"unit"].decode()] for f in schema],
            "points": len(trace.columns["t_s"]),
            "samples": {
                name: [
                    None if v != v else round(float(v), 6) for v in values[_samples(len(values))]
                ]
                for name, values in trace.columns.items()
            },
        }
    return {
        "laps": [
            {k: lap[k] for k in ("number", "kind", "complete", "valid", "time_s", "sectors_s")}
            for lap in document["laps"]
        ],
        "best_lap_s": document["best_lap_s"],
        "theoretical_best_s": document["theoretical_best_s"],
        "track": document["track"]["name"],
        "traces": traces,
    }


def _close(a: Any, b: Any, path: str = "") -> None:
    """Equal, numbers to 1 ms / 1e-5 relative (the last digit may differ by platform)."""
    if isinstance(a, float) and isinstance(b, float):
        assert a == pytest.approx(b, rel=1e-5, abs=1e-3), path
    elif isinstance(a, dict) and isinstance(b, dict):
        assert a.keys() == b.keys(), path
        for key in a:
            _close(a[key], b[key], f"{path}.{key}")
    elif isinstance(a, list) and isinstance(b, list):
        assert len(a) == len(b), path
        for k, (x, y) in enumerate(zip(a, b, strict=True)):
            _close(x, y, f"{path}[{k}]")
    else:
        assert a == b, path


def test_lap_numbers_and_trace_format_match_the_golden_file(tmp_path: Path) -> None:
    golden = json.loads(GOLDEN.read_text())
    now = observed(tmp_path)
    _close(now, golden)
    first = next(iter(now["traces"].values()))
    assert first["metadata"]["format"] == FORMAT and MEDIA_TYPE.endswith("arrow.stream")


if __name__ == "__main__" and "--update" in sys.argv:
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        GOLDEN.write_text(json.dumps(observed(Path(tmp)), indent=1) + "\n")
    print(f"wrote {GOLDEN}")
