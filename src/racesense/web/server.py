"""The HTTP server in front of the app: uvicorn with the guard against slow and idle
clients (guard.py) on every listener. `racesense serve` calls `serve()`.

On loopback alone, one plain listener. Beyond loopback (`Secure`, web/listeners.py):
https with the live certificate, the plain port's gate (set-up page and redirect), and
the upload-only port, all in one process and one event loop; every few seconds the
laptop's addresses are looked at again, and the certificate and mDNS follow them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from typing import Any

import uvicorn
from starlette.types import ASGIApp
from uvicorn.config import Config

from racesense.settings import Settings
from racesense.web.guard import GuardedH11Protocol, Limits, raise_open_file_limit
from racesense.web.live_cert import LiveCertificate

log = logging.getLogger("racesense.web.server")


SHUTDOWN_GRACE_S = 5


@dataclass
class Secure:
    """The listeners beyond loopback (web/listeners.py): https with the live
    certificate, the plain port's gate (set-up page and redirect), the upload-only port."""

    live: LiveCertificate
    https_port: int
    plain_app: ASGIApp  # PlainGate around the app
    upload_port: int | None = None
    upload_app: ASGIApp | None = None  # UploadOnly around the app
    on_addresses: Callable[[list[str]], Awaitable[None]] | None = None  # e.g. mDNS
    on_start: Callable[[], Coroutine[Any, Any, None]] | None = None
    on_stop: Callable[[], Awaitable[None]] | None = None
    refresh_every_s: float = 5.0


def _config(app: ASGIApp, limits: Limits, host: str, port: int, **extra: Any) -> Config:
    return Config(
        app,
        host=host,
        port=port,
        http=GuardedH11Protocol.bind(limits),
        # No route speaks WebSocket; an upgrade would also leave the guard's counts.
        ws="none",
        # The head deadline covers an idle keep-alive connection as well; this is
        # uvicorn's own timer for the same wait, kept in step.
        timeout_keep_alive=max(1, math.ceil(limits.head_timeout_s)),
        log_level="info",
        # No access log: request lines are not worth their disk on a pit laptop, and a
        # client that wrongly puts a token in a URL must not have it written down.
        access_log=False,
        # Open event streams (every UI keeps one) would otherwise hold a stop for as
        # long as they stay open; the UI reconnects by itself. An upload cut short
        # here was never acknowledged, so its sender sends it again.
        timeout_graceful_shutdown=SHUTDOWN_GRACE_S,
        **extra,
    )


def serve(
    app: ASGIApp, settings: Settings, *, host: str, port: int, secure: Secure | None = None
) -> None:
    """Run `app` on host:port until interrupted, with the limits of `settings`; with
    `secure`, also https and the upload-only port (web/listeners.py)."""
    limits = Limits.from_settings(settings, raise_open_file_limit())
    log.info(
        "head within %g s, body silence %g s; at most %d connections, %d per address",
        limits.head_timeout_s,
        limits.body_silence_s,
        limits.max_connections,
        limits.max_per_address,
    )
    if secure is None:
        uvicorn.Server(_config(app, limits, host, port)).run()
        return
    asyncio.run(_serve_secure(app, limits, host, port, secure))


async def _serve_secure(app: ASGIApp, limits: Limits, host: str, port: int, secure: Secure) -> None:
    live = secure.live
    main = uvicorn.Server(
        _config(
            app, limits, host, secure.https_port, ssl_context_factory=lambda _c, _d: live.context
        )
    )
    main_task = asyncio.create_task(main.serve())
    # The app's lifespan (database, workers) runs with the https listener: the others
    # open once it has started, so no request meets an app half set up.
    while not main.started:
        if main_task.done():
            await main_task
            return
        await asyncio.sleep(0.05)
    servers = [main, uvicorn.Server(_config(secure.plain_app, limits, host, port, lifespan="off"))]
    if secure.upload_port is not None and secure.upload_app is not None:
        servers.append(
            uvicorn.Server(
                _config(secure.upload_app, limits, host, secure.upload_port, lifespan="off")
            )
        )
    tasks = [main_task] + [asyncio.create_task(s.serve()) for s in servers[1:]]
    watcher = asyncio.create_task(_watch(servers, secure))
    starting: asyncio.Task[None] | None = None
    if secure.on_start is not None:
        starting = asyncio.create_task(secure.on_start())
    try:
        await asyncio.gather(*tasks)
    finally:
        watcher.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await watcher
        if starting is not None:
            with contextlib.suppress(Exception):
                await starting
        if secure.on_stop is not None:
            with contextlib.suppress(Exception):
                await secure.on_stop()


async def _watch(servers: list[uvicorn.Server], secure: Secure) -> None:
    """One stop stops every listener (a signal reaches only the server that installed
    its handler last); the certificate follows the laptop's addresses."""
    next_refresh = time.monotonic() + secure.refresh_every_s
    while True:
        if any(s.should_exit for s in servers):
            for s in servers:
                s.should_exit = True
        if time.monotonic() >= next_refresh:
            next_refresh = time.monotonic() + secure.refresh_every_s
            try:
                if await asyncio.to_thread(secure.live.refresh) and secure.on_addresses:
                    await secure.on_addresses(secure.live.ips)
            except Exception:  # a failed refresh keeps the current certificate
                log.exception("certificate refresh failed")
        await asyncio.sleep(0.2)
