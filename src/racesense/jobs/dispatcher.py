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
import os
import socket
import threading
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any

from sqlalchemy import Engine

from racesense.analysis.track import Track
from racesense.jobs.analysis_job import run_analysis
from racesense.jobs.complete import complete
from racesense.store import jobs, results
from racesense.store.blobs import BlobStore

log = logging.getLogger("racesense.jobs")

POLL_S = 1.0
STOP_GRACE_S = 10.0
EventSink = Callable[[dict[str, Any]], None]


def host_prefix() -> str:
    return f"{socket.gethostname()}:"


class Dispatcher:
    def __init__(
        self, engine: Engine, blobs: BlobStore, workers: int, on_event: EventSink | None = None
    ) -> None:
        self.engine = engine
        self.blobs = blobs
        self.workers = workers
        self.on_event = on_event or (lambda _event: None)
        self._wake = asyncio.Event()
        self._pool: ProcessPoolExecutor | None = None
        self._task: asyncio.Task[None] | None = None
        self._running: set[asyncio.Task[None]] = set()
        self._name = f"{host_prefix()}{os.getpid()}"
        self._claims = itertools.count()
        self._pool_lock = threading.Lock()
        self._stopping = False

    def _new_pool(self) -> ProcessPoolExecutor:
        return ProcessPoolExecutor(self.workers, mp_context=multiprocessing.get_context("spawn"))

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

    async def _loop(self) -> None:
        while not self._stopping:
            while len(self._running) < self.workers and not self._stopping:
                worker = f"{self._name}:{next(self._claims)}"
                claimed = await asyncio.to_thread(jobs.claim, self.engine, worker)
                if claimed is None:
                    break
                self.on_event({"type": "session", "id": claimed.session_id, "status": "processing"})
                task = asyncio.create_task(self._run(claimed))
                self._running.add(task)
                task.add_done_callback(self._done)
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), POLL_S)

    def _done(self, task: asyncio.Task[None]) -> None:
        self._running.discard(task)
        self._wake.set()  # a worker is free

    async def _run(self, job: jobs.Claimed) -> None:
        persisted = await asyncio.to_thread(complete, self.engine, self.blobs, job, self._in_worker)
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
        self, raw_path: str, listed: list[Track], forced: Track | None
    ) -> results.Analysed | results.Rejected:
        """Run the analysis in a worker process (called from a thread, which waits)."""
        pool = self._pool
        assert pool is not None
        try:
            return pool.submit(run_analysis, raw_path, listed, forced).result()
        except BrokenProcessPool:
            with self._pool_lock:  # a worker died: the next job gets a fresh pool
                if self._pool is pool and not self._stopping:
                    self._pool = self._new_pool()
            raise


def _warm_up() -> None:
    import racesense.jobs.analysis_job  # noqa: F401  (the analysis, importers, encoders)
