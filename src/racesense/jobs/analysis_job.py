"""One analysis, as run in a worker process: raw file in, results out.

Runs in a separate process (the server's event loop never waits on NumPy), so it takes
and returns only plain, picklable values.
"""

from __future__ import annotations

import gzip
import json
from dataclasses import dataclass, field
from pathlib import Path

from racesense.analysis.errors import AnalysisError
from racesense.analysis.pipeline import analyse
from racesense.analysis.results import to_document, trace_document
from racesense.analysis.track import Track
from racesense.ingest import IngestError, read_telemetry


@dataclass(frozen=True)
class JobOutput:
    status: str  # "ready" | "failed"
    error: str | None
    document: dict[str, object] | None
    traces: dict[int, bytes] = field(default_factory=dict)  # gzip JSON per lap
    summary: dict[str, object] = field(default_factory=dict)


def run_analysis(raw_path: str, tracks: list[Track], track: Track | None = None) -> JobOutput:
    """Analyse the raw file. A file the importers or the analysis reject is a
    `failed` result with the reason, not an exception: it would fail the same way
    every time. Anything else (a bug, memory) propagates, and the job is retried."""
    data = Path(raw_path).read_bytes()
    try:
        analysis = analyse(read_telemetry(data), track=track, tracks=tracks)
    except (IngestError, AnalysisError) as exc:
        return JobOutput(status="failed", error=f"{exc.code}: {exc}", document=None)
    document = to_document(analysis)
    traces = {
        t.number: gzip.compress(json.dumps(trace_document(t)).encode(), compresslevel=5)
        for t in analysis.traces
    }
    summary: dict[str, object] = {
        "format": analysis.format,
        "started_at": analysis.started_at,
        "track_name": analysis.track.name if analysis.track else None,
        "lap_count": analysis.lap_count,
        "best_lap_s": analysis.best_lap_s,
    }
    if analysis.device_id:
        summary["device_id"] = analysis.device_id
    return JobOutput("ready", None, document, traces, summary)
