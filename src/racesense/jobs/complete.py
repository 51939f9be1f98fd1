"""Turning a claimed job into its outcome, stored: the one path every analysis takes,
in the server's dispatcher and in `racesense reanalyse` alike."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from concurrent.futures import CancelledError

from sqlalchemy import Engine
from sqlalchemy.exc import OperationalError

from racesense.analysis.track import Track
from racesense.jobs.analysis_job import run_analysis
from racesense.store import jobs, results, sessions, tracks
from racesense.store.blobs import BlobStore

log = logging.getLogger("racesense.jobs")
# Waits between attempts to store an outcome (each attempt also waits the database's own
# busy timeout): about a minute and a half in all.
PERSIST_RETRY_S = (0.5, 1.0, 2.0, 4.0, 8.0, 16.0)

# How the analysis is run: in this process, or handed to a worker process.
# (raw file, listed tracks, forced track, laps the user excluded) -> outcome
Runner = Callable[
    [str, list[Track], Track | None, tuple[int, ...]], results.Analysed | results.Rejected
]


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
        excluded = sessions.excluded_laps(row)
        outcome = run(str(blobs.path_for(row.sha256)), tracks.all_tracks(engine), forced, excluded)
    except CancelledError:
        raise  # the server is stopping: the job is requeued at its next start
    except Exception as exc:  # a bug, a dead worker: recorded, retried a few times
        log.exception("analysis of session %s failed", row.id)
        outcome = results.Crashed(f"{type(exc).__name__}: {exc}")
    return _persist(engine, job, outcome)


def _persist(
    engine: Engine, job: jobs.Claimed, outcome: results.Outcome
) -> results.Persisted | None:
    """Persist, waiting out a database that is locked or unreachable for a while (an
    analysis is too costly to throw away for that)."""
    for delay_s in PERSIST_RETRY_S:
        try:
            return results.persist(engine, job, outcome)
        except OperationalError as exc:
            log.warning("storing session %s waits %.0f s: %s", job.session_id, delay_s, exc)
            time.sleep(delay_s)
    return results.persist(engine, job, outcome)
