"""Claims queued analysis jobs and runs them in a process pool.

Runs as a task on the server's event loop; the analysis itself runs in worker
processes ("spawn", which works the same on Windows), and database calls in threads,
so the loop keeps serving uploads meanwhile. `notify()` wakes it the moment an upload
commits; it also polls, for retries and for other servers sharing a PostgreSQL queue.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import multiprocessing
import os
import socket
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any

from sqlalchemy import Engine

from racesense.jobs.analysis_job import JobOutput, run_analysis
from racesense.store import jobs, sessions, tracks
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
                claimed = await asyncio.to_thread(
                    jobs.claim, self.engine, f"{self._name}:{len(self._running)}"
                )
                if claimed is None:
                    break
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
        row = await asyncio.to_thread(sessions.get, self.engine, job.session_id)
        if row is None:  # deleted meanwhile
            await asyncio.to_thread(jobs.finish, self.engine, job.job_id)
            return
        await asyncio.to_thread(sessions.set_status, self.engine, row.id, "processing")
        self.on_event({"type": "session", "id": row.id, "status": "processing"})
        listed = await asyncio.to_thread(tracks.all_tracks, self.engine)
        raw = str(self.blobs.path_for(row.sha256))
        forced = tracks.forced_track(row.track_override)
        assert self._pool is not None
        try:
            loop = asyncio.get_running_loop()
            output: JobOutput = await loop.run_in_executor(
                self._pool, run_analysis, raw, listed, forced
            )
        except asyncio.CancelledError:
            raise
        except BrokenProcessPool as exc:
            self._pool = self._new_pool()
            await self._failed(job, row.id, f"worker crashed: {exc}", retry=True)
            return
        except Exception as exc:  # a bug in the analysis: record it, retry a few times
            log.exception("analysis of session %s failed", row.id)
            await self._failed(job, row.id, f"internal error: {exc!r}", retry=True)
            return
        document_json = None
        if output.document is not None:
            output.document["id"] = row.id
            output.document["status"] = output.status
            document_json = json.dumps(output.document)
        await asyncio.to_thread(
            sessions.store_result,
            self.engine,
            row.id,
            status=output.status,
            error=output.error,
            document_json=document_json,
            traces=output.traces,
            summary=output.summary,
        )
        await asyncio.to_thread(jobs.finish, self.engine, job.job_id)
        self.on_event(
            {"type": "session", "id": row.id, "status": output.status, "sync_id": row.sync_id}
        )

    async def _failed(self, job: jobs.Claimed, session_id: str, error: str, retry: bool) -> None:
        again = await asyncio.to_thread(jobs.fail, self.engine, job, error, retry=retry)
        status = "queued" if again else "failed"
        await asyncio.to_thread(sessions.set_status, self.engine, session_id, status, error)
        self.on_event({"type": "session", "id": session_id, "status": status})


def _warm_up() -> None:
    import racesense.analysis.pipeline
    import racesense.ingest  # noqa: F401
