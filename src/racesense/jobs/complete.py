"""Turning a claimed job into its outcome, stored: the one path every analysis takes,
in the server's dispatcher and in `racesense reanalyse` alike."""

from __future__ import annotations

import logging
from collections.abc import Callable
from concurrent.futures import CancelledError

from sqlalchemy import Engine

from racesense.analysis.track import Track
from racesense.jobs.analysis_job import run_analysis
from racesense.store import jobs, results, sessions, tracks
from racesense.store.blobs import BlobStore

log = logging.getLogger("racesense.jobs")

# How the analysis is run: in this process, or handed to a worker process.
Runner = Callable[[str, list[Track], Track | None], results.Analysed | results.Rejected]


def complete(
    engine: Engine, blobs: BlobStore, job: jobs.Claimed, run: Runner = run_analysis
) -> results.Persisted | None:
    """Analyse the claimed job's session and persist the outcome with the job's end.
    None when nothing was stored (the session is gone, or the job is not ours)."""
    row = sessions.get(engine, job.session_id)
    if row is None:  # deleted meanwhile
        return results.persist(engine, job, results.Crashed("the session was deleted"))
    outcome: results.Outcome
    try:
        forced = tracks.forced_track(row.track_override)
        outcome = run(str(blobs.path_for(row.sha256)), tracks.all_tracks(engine), forced)
    except CancelledError:
        raise  # the server is stopping: the job is requeued at its next start
    except Exception as exc:  # a bug, a dead worker: recorded, retried a few times
        log.exception("analysis of session %s failed", row.id)
        outcome = results.Crashed(f"{type(exc).__name__}: {exc}")
    return results.persist(engine, job, outcome)
