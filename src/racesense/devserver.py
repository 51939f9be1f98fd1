"""`racesense serve` as a child process on a free loopback port: for the tests and
benchmarks that must speak to a real server over a real socket."""

from __future__ import annotations

import contextlib
import http.client
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def healthy(port: int) -> bool:
    try:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
        conn.request("GET", "/api/health")
        ok = conn.getresponse().status == 200
        conn.close()
        return ok
    except OSError:
        return False


@contextlib.contextmanager
def running(
    data_dir: Path,
    env: Mapping[str, str],
    *,
    workers: int | None = 1,
    start_timeout_s: float = 60.0,
    stop_timeout_s: float = 30.0,
    port: int | None = None,
    args: Sequence[str] = (),
) -> Iterator[tuple[subprocess.Popen[bytes], int]]:
    """Start a server with `env` added to this process's environment (on the embedded
    database: RACESENSE_DATABASE_URL is removed unless `env` sets it), wait until
    /api/health answers, yield (process, port), and stop it afterwards. `port`: a
    given one (a server started again at the same origin), else a free one."""
    port = port or free_port()
    full_env = {k: v for k, v in os.environ.items() if k != "RACESENSE_DATABASE_URL"}
    full_env.update(env)
    command = [sys.executable, "-m", "racesense", "serve", "--host", "127.0.0.1"]
    command += ["--port", str(port), "--data-dir", str(data_dir)]
    if workers is not None:
        command += ["--workers", str(workers)]
    command += list(args)  # e.g. --tls on --https-port N (the plain port still answers)
    proc = subprocess.Popen(
        command, env=full_env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        deadline = time.monotonic() + start_timeout_s
        while not healthy(port):
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"racesense serve did not start (exit {proc.poll()})")
            time.sleep(0.2)
        yield proc, port
    finally:
        # An analysis worker may still be busy; shutdown speed is not under test.
        stop(proc, stop_timeout_s)


def stop(proc: subprocess.Popen[bytes], timeout_s: float = 15.0) -> None:
    """Terminate `proc`, and kill it if it has not ended within `timeout_s`."""
    proc.terminate()
    try:
        proc.wait(timeout_s)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(10)
