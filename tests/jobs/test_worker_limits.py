"""A worker's memory is capped, and running into the cap fails that one file cleanly."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from racesense.jobs import analysis_job
from racesense.store.results import Rejected


@pytest.mark.skipif(sys.platform == "win32", reason="no RLIMIT_AS on Windows")
def test_the_cap_stops_an_allocation_beyond_it() -> None:
    probe = (
        "import numpy as np\n"
        "from racesense.jobs.dispatcher import limit_memory\n"
        "limit_memory(1024)\n"
        "small = np.ones(10_000_000)  # 80 MB: fine\n"
        "try:\n"
        "    np.ones(400_000_000)  # 3.2 GB: over the cap\n"
        "except MemoryError:\n"
        "    print('refused')\n"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "refused"


def test_running_out_of_memory_is_a_verdict_on_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def greedy(*_args: object, **_kwargs: object) -> None:
        raise MemoryError

    monkeypatch.setattr(analysis_job, "analyse", greedy)
    path = tmp_path / "f.csv"
    path.write_bytes(b"anything")
    monkeypatch.setattr(analysis_job, "read_telemetry", lambda data: data)
    outcome = analysis_job.run_analysis(str(path), [])
    assert isinstance(outcome, Rejected) and outcome.code == "out_of_memory"
    assert "split it" in outcome.message


@pytest.mark.skipif(not Path("/proc").exists(), reason="reads /proc (Linux)")
def test_workers_end_when_their_server_is_killed(tmp_path: Path) -> None:
    """kill -9 of the server leaves no analysis worker behind."""
    import os
    import signal
    import time

    from racesense import devserver

    with devserver.running(tmp_path / "data", {}, workers=2) as (proc, _port):
        children = _children(proc.pid)
        assert len(children) >= 2  # the warm workers
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    deadline = time.monotonic() + 10
    while any(_alive(pid) for pid in children) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not any(_alive(pid) for pid in children)


def _children(pid: int) -> list[int]:
    found = []
    for status in Path("/proc").glob("[0-9]*/status"):
        try:
            text = status.read_text()
        except OSError:
            continue
        if f"\nPPid:\t{pid}\n" in text:
            found.append(int(status.parent.name))
    return found


def _alive(pid: int) -> bool:
    try:
        state = (Path("/proc") / str(pid) / "status").read_text()
    except OSError:
        return False
    return "State:\tZ" not in state
