"""Claims queued analysis jobs and runs them in a process pool.

Runs as a task on the server's event loop; the analysis itself runs in worker
processes ("spawn", which works the same on Windows), and database calls in threads,
so the loop keeps serving uploads meanwhile. `notify()` wakes it the moment an upload
commits; it also polls, for retries and for other servers sharing a PostgreSQL queue.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import multiprocessing
import multiprocessing.connection
import os
import socket
import threading
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any

from sqlalchemy import Engine

from racesense.analysis.track import Track
from racesense.jobs.analysis_job import run_analysis
from racesense.jobs.complete import complete
from racesense.jobs.memory_cap import limit_memory
from racesense.store import jobs, results
from racesense.store.blobs import BlobStore

log = logging.getLogger("racesense.jobs")

# Each worker process may use this much memory (address space) at most: a file that
# needs more fails alone, as "out_of_memory", instead of taking the laptop down
# (RACESENSE_WORKER_MEMORY_MB).
WORKER_MEMORY_MB = 2048
POLL_S = 1.0
STOP_GRACE_S = 10.0
# After an error in its loop (a database locked too long, gone, full), the dispatcher
# waits this long before it tries again, doubling up to the cap.
BACKOFF_S = (0.5, 30.0)
# Health calls the dispatcher stalled when its loop has not come round for this long
# (it comes round every POLL_S; a claim takes milliseconds unless the database is stuck).
STALL_S = 5.0
EventSink = Callable[[dict[str, Any]], None]


def host_prefix() -> str:
    return f"{socket.gethostname()}:"


class Dispatcher:
    def __init__(
        self,
        engine: Engine,
        blobs: BlobStore,
        workers: int,
        on_event: EventSink | None = None,
        *,
        memory_limit_mb: int = WORKER_MEMORY_MB,
    ) -> None:
        self.engine = engine
        self.blobs = blobs
        self.workers = workers
        self.memory_limit_mb = memory_limit_mb
        self.on_event = on_event or (lambda _event: None)
        self._wake = asyncio.Event()
        self._pool: ProcessPoolExecutor | None = None
        self._task: asyncio.Task[None] | None = None
        self._running: set[asyncio.Task[None]] = set()
        self._name = f"{host_prefix()}{os.getpid()}"
        self._claims = itertools.count()
        self._pool_lock = threading.Lock()
        self._stopping = False
        self._last_round = time.monotonic()  # when the loop last came round
        self.last_error: str | None = None

    def _new_pool(self) -> ProcessPoolExecutor:
        return ProcessPoolExecutor(
            self.workers,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_worker_started,
            initargs=(self.memory_limit_mb,),
        )

    async def start(self) -> None:
        self._pool = self._new_pool()
        # Warm the workers up (imports) so the first upload is analysed at once.
        loop = asyncio.get_running_loop()
        await asyncio.gather(
            *(loop.run_in_executor(self._pool, _warm_up) for _ in range(self.workers))
        )
        self._task = asyncio.create_task(self._loop(), name="racesense-dispatcher")

    async def stop(self, grace_s: float = STOP_GRACE_S) -> None:
        """Stop claiming, let running analyses finish (up to grace_s), then stop the
        workers. Waiting, rather than cancelling at once, lets every database call in a
        thread return its connection before the engine is disposed; a job cut off
        after the grace runs again at the next start."""
        self._stopping = True
        self._wake.set()
        deadline = asyncio.get_running_loop().time() + grace_s
        # A claim in flight when stop began may still start one more job: look again.
        while pending := [t for t in (self._task, *self._running) if t and not t.done()]:
            left = deadline - asyncio.get_running_loop().time()
            if left <= 0:
                for task in pending:
                    task.cancel()
                break
            await asyncio.wait(pending, timeout=left)
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)

    def notify(self) -> None:
        self._wake.set()

    def health(self) -> dict[str, Any]:
        """`running`, `stalled` (its loop has not come round for STALL_S: the database
        is locked or failing; `last_error` says how), `dead` (its task ended: a bug),
        `stopped`, or `off` (never started)."""
        if self._task is None:
            state = "off"
        elif self._stopping:
            state = "stopped"
        elif self._task.done():
            state = "dead"
        elif time.monotonic() - self._last_round > STALL_S:
            state = "stalled"
        else:
            state = "running"
        return {"state": state, "running_jobs": len(self._running), "last_error": self.last_error}

    async def _loop(self) -> None:
        """Claim jobs while workers are free; sleep until woken or POLL_S. Any error
        (the database locked for longer than its busy timeout, a lost connection) is
        logged and retried with a growing delay: the loop itself never ends but by
        `stop()`."""
        backoff = 0.0
        while not self._stopping:
            # Cleared before claiming, not after: an upload that commits meanwhile wakes
            # the next round at once rather than waiting for the poll.
            self._wake.clear()
            try:
                await self._claim_while_free()
            except Exception as exc:
                log.exception("the dispatcher could not claim jobs; trying again")
                self.last_error = f"{type(exc).__name__}: {exc}"[:500]
                backoff = min(max(backoff * 2, BACKOFF_S[0]), BACKOFF_S[1])
                await self._sleep(backoff)
                continue
            backoff, self.last_error = 0.0, None
            self._last_round = time.monotonic()
            await self._sleep(POLL_S)

    async def _sleep(self, seconds: float) -> None:
        """Until woken (an upload, a free worker, stop) or `seconds` pass."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), seconds)

    async def _claim_while_free(self) -> None:
        while len(self._running) < self.workers and not self._stopping:
            worker = f"{self._name}:{next(self._claims)}"
            claimed = await asyncio.to_thread(jobs.claim, self.engine, worker)
            if claimed is None:
                return
            self.on_event({"type": "session", "id": claimed.session_id, "status": "processing"})
            task = asyncio.create_task(self._run(claimed))
            self._running.add(task)
            task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[None]) -> None:
        self._running.discard(task)
        self._wake.set()  # a worker is free

    async def _run(self, job: jobs.Claimed) -> None:
        try:
            persisted = await asyncio.to_thread(
                complete, self.engine, self.blobs, job, self._in_worker
            )
        except Exception as exc:  # the database failed for over a minute: the job's lease
            # runs out, and it is claimed again then (or at the next start)
            log.exception("job %s of session %s could not be completed", job.job_id, job.session_id)
            self.last_error = f"{type(exc).__name__}: {exc}"[:500]
            return
        if persisted is not None:
            self.on_event(
                {
                    "type": "session",
                    "id": persisted.session_id,
                    "status": persisted.status,
                    "sync_id": persisted.sync_id,
                }
            )

    def _in_worker(
        self,
        raw_path: str,
        listed: list[Track],
        forced: Track | None,
        excluded: tuple[int, ...],
    ) -> results.Analysed | results.Rejected:
        """Run the analysis in a worker process (called from a thread, which waits)."""
        pool = self._pool
        assert pool is not None
        try:
            return pool.submit(run_analysis, raw_path, listed, forced, excluded).result()
        except BrokenProcessPool:
            with self._pool_lock:  # a worker died: the next job gets a fresh pool
                if self._pool is pool and not self._stopping:
                    self._pool = self._new_pool()
            raise


def _worker_started(memory_limit_mb: int) -> None:
    limit_memory(memory_limit_mb)
    exit_with_parent()


def exit_with_parent() -> None:
    """End this worker when the server that started it ends, however it ends. A server
    killed outright (kill -9, a crash, the laptop's task manager) closes no pipes in an
    orderly way, and its workers would otherwise live on, each holding its memory."""
    parent = multiprocessing.parent_process()
    if parent is None:
        return

    def watch() -> None:
        multiprocessing.connection.wait([parent.sentinel])
        os._exit(0)

    threading.Thread(target=watch, name="racesense-parent-watch", daemon=True).start()


def _warm_up() -> None:
    """Make a worker warm: import the analysis and run it once on a small synthetic
    session, with a track and without, so that what the libraries set up on first use
    (pyarrow's CSV reader and IPC writer, NumPy's lazily imported parts) is not paid by
    the first upload. About 0.2 s per worker, while the server starts."""
    import tempfile
    from pathlib import Path

    from racesense.demo import demo_track
    from racesense.synth import demo_circuit, make_session, to_rscore_csv

    session = make_session(demo_circuit(), rate_hz=25, laps=2, seed=1)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "warm-up.csv"
        path.write_bytes(to_rscore_csv(session.telemetry))
        run_analysis(str(path), [demo_track()])
        run_analysis(str(path), [])
