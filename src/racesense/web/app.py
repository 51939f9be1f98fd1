"""The ASGI application: `create_app(settings)`."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from sqlalchemy import Engine
from starlette.concurrency import run_in_threadpool

import racesense
from racesense.jobs.dispatcher import Dispatcher, host_prefix
from racesense.settings import Settings
from racesense.store import jobs
from racesense.store import sessions as sessions_store
from racesense.store.blobs import BlobStore
from racesense.store.db import is_postgresql, make_engine, migrate
from racesense.web import errors, events, export, join, sessions, syncs, tracks, ui, upload
from racesense.web.auth import TokenGate

log = logging.getLogger("racesense.web")
# Raw files that no session refers to (an upload that died between storing its file and
# committing its session) are removed once they are this old, checked this often.
ORPHAN_AGE_S = 3600.0
SWEEP_EVERY_S = 3600.0
SWEEP_FIRST_S = 60.0


async def _sweep_forever(engine: Engine, blobs: BlobStore) -> None:
    await asyncio.sleep(SWEEP_FIRST_S)  # not in the way of a start, nor of a short run
    while True:
        try:
            removed = await run_in_threadpool(
                sessions_store.sweep_unreferenced, engine, blobs, ORPHAN_AGE_S
            )
            if removed:
                log.info("removed %d raw files of uploads that were never acknowledged", removed)
        except Exception:
            log.exception("sweeping unreferenced raw files failed; trying again later")
        await asyncio.sleep(SWEEP_EVERY_S)


def create_app(
    settings: Settings, *, start_workers: bool = True, migrated: bool = False
) -> FastAPI:
    """The app. `migrated`: the caller has already brought the schema up to date
    (`racesense serve` does, before it loads the demo), so it is not checked twice."""

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        state = app.state
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        state.engine = make_engine(settings.database_url)
        if not migrated:
            await run_in_threadpool(migrate, state.engine)
        state.blobs = BlobStore(settings.blob_dir)
        state.blobs.clean_tmp()
        # Jobs this machine was running when it last stopped run again.
        prefix = host_prefix() if is_postgresql(state.engine) else None
        await run_in_threadpool(jobs.requeue_interrupted, state.engine, prefix)
        state.dispatcher = Dispatcher(
            state.engine,
            state.blobs,
            settings.workers,
            state.events.publish,
            memory_limit_mb=settings.worker_memory_mb,
        )
        if start_workers:
            await state.dispatcher.start()
        sweeper = asyncio.create_task(_sweep_forever(state.engine, state.blobs))
        try:
            yield
        finally:
            sweeper.cancel()
            # A sweep already in its thread finishes first (anyio defers the cancel), so
            # no connection outlives the engine.
            with contextlib.suppress(asyncio.CancelledError):
                await sweeper
            await state.dispatcher.stop()
            state.engine.dispose()

    app = FastAPI(
        title="Racesense",
        version=racesense.__version__,
        description="Lap timing and track-day telemetry: uploads, sessions, tracks, syncs.",
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.events = events.EventHub()
    errors.install(app)
    app.add_middleware(TokenGate)
    for module in (upload, sessions, tracks, syncs, events, export, join):
        app.include_router(module.router)

    @app.get("/api/health")
    async def health(request: Request) -> JSONResponse:
        """200 when uploads are taken and analysed; 503 (same body) when the analysis
        has stopped or stalled, or the database cannot be read."""
        state = request.app.state
        dispatcher = state.dispatcher.health()
        try:
            pending: int | None = await run_in_threadpool(jobs.pending_count, state.engine)
        except Exception as exc:
            log.warning("health: the database cannot be read: %s", exc)
            pending = None
        ok = pending is not None and dispatcher["state"] in ("running", "off")
        body = {
            "ok": ok,
            "version": racesense.__version__,
            "database": state.engine.dialect.name,
            "pending_jobs": pending,
            "dispatcher": dispatcher,
        }
        return JSONResponse(body, status_code=200 if ok else 503)

    # Last: the UI answers every path that no route above took.
    app.include_router(ui.router)
    return app
