"""One analysis, as run in a worker process: raw file in, a typed outcome out.

Runs in a separate process (the server's event loop never waits on NumPy), so it takes
and returns only plain, picklable values. Everything the outcome stores is encoded
here, once: the results document as JSON, every lap's trace as Arrow IPC.
"""

from __future__ import annotations

import json
from pathlib import Path

from racesense.analysis.errors import AnalysisError
from racesense.analysis.pipeline import analyse
from racesense.analysis.results import SessionAnalysis, to_document
from racesense.analysis.trace_format import encode_trace
from racesense.analysis.track import Track
from racesense.ingest import IngestError, read_telemetry
from racesense.store.results import Analysed, Rejected, SessionSummary


def run_analysis(
    raw_path: str,
    tracks: list[Track],
    track: Track | None = None,
    excluded_laps: tuple[int, ...] = (),
) -> Analysed | Rejected:
    """Analyse the raw file. A file the importers or the analysis reject is `Rejected`
    with the reason, not an exception: it would fail the same way every time. Anything
    else (a bug) propagates, and the caller records a crash."""
    data = Path(raw_path).read_bytes()
    try:
        analysis = analyse(
            read_telemetry(data), track=track, tracks=tracks, excluded_laps=excluded_laps
        )
        return Analysed(
            summary=summarise(analysis),
            document=json.dumps(to_document(analysis), separators=(",", ":")).encode(),
            traces={t.number: encode_trace(t) for t in analysis.traces},
        )
    except (IngestError, AnalysisError) as exc:
        return Rejected(exc.code, str(exc))
    except MemoryError:
        # The worker's memory cap (jobs.memory_cap): the same file would hit it
        # every time, so it is a verdict on the file, not a crash to retry.
        return Rejected(
            "out_of_memory",
            "Analysing this file needs more memory than an analysis may use; "
            "if it is a real session, split it into shorter files.",
        )


def summarise(analysis: SessionAnalysis) -> SessionSummary:
    sf = analysis.track.start_finish if analysis.track else None
    return SessionSummary(
        format=analysis.format,
        device_id=analysis.device_id,
        started_at=analysis.started_at,
        track_name=analysis.track.name if analysis.track else None,
        lap_count=analysis.lap_count,
        best_lap_s=analysis.best_lap_s,
        theoretical_best_s=analysis.theoretical_best_s,
        sf_lat=None if sf is None else (sf[0][0] + sf[1][0]) / 2.0,
        sf_lon=None if sf is None else (sf[0][1] + sf[1][1]) / 2.0,
    )
