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
        "from racesense.jobs.memory_cap import limit_memory\n"
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


def test_the_windows_job_object_structure_has_the_windows_layout() -> None:
    """JOBOBJECT_EXTENDED_LIMIT_INFORMATION on 64-bit Windows: 144 bytes, the process
    memory limit at offset 112 and the limit flags at 16 (winnt.h). ctypes lays out
    these fixed-width fields the same way on 64-bit Linux, so a wrong field here is
    found without a Windows machine."""
    import ctypes

    from racesense.jobs import memory_cap

    if ctypes.sizeof(ctypes.c_void_p) != 8:
        pytest.skip("the documented layout is the 64-bit one")
    info = memory_cap.ExtendedLimitInformation
    basic = memory_cap.BasicLimitInformation
    assert ctypes.sizeof(basic) == 64
    assert basic.LimitFlags.offset == 16
    assert basic.MinimumWorkingSetSize.offset == 24
    assert basic.Affinity.offset == 48
    assert ctypes.sizeof(memory_cap.IoCounters) == 48
    assert info.ProcessMemoryLimit.offset == 112
    assert ctypes.sizeof(info) == 144


class _Kernel32Recorder:
    """Stands in for kernel32.dll on a machine without it: records the calls the cap
    makes and what it passed, and answers as Windows does on success."""

    def __init__(self, fail: str | None = None) -> None:
        self.calls: list[tuple[str, tuple[object, ...]]] = []
        self.fail = fail
        self.limit: tuple[int, int] | None = None
        recorder = self

        class Fn:
            def __init__(self, name: str, result: object) -> None:
                self.name, self.result, self.restype = name, result, None

            def __call__(self, *args: object) -> object:
                recorder.calls.append((self.name, args))
                if self.name == "SetInformationJobObject":
                    import ctypes

                    info = ctypes.cast(
                        args[2], ctypes.POINTER(memory_cap.ExtendedLimitInformation)
                    ).contents
                    recorder.limit = (
                        info.BasicLimitInformation.LimitFlags,
                        info.ProcessMemoryLimit,
                    )
                return 0 if recorder.fail == self.name else self.result

        from racesense.jobs import memory_cap

        self.CreateJobObjectW = Fn("CreateJobObjectW", 0x1234)
        self.SetInformationJobObject = Fn("SetInformationJobObject", 1)
        self.GetCurrentProcess = Fn("GetCurrentProcess", 0xFFFFFFFFFFFFFFFF)
        self.AssignProcessToJobObject = Fn("AssignProcessToJobObject", 1)


def test_the_windows_cap_limits_process_memory_in_a_job_of_its_own() -> None:
    from racesense.jobs import memory_cap

    kernel32 = _Kernel32Recorder()
    memory_cap._limit_windows(2048 * 1024 * 1024, kernel32)
    names = [name for name, _ in kernel32.calls]
    assert names == [
        "CreateJobObjectW",
        "SetInformationJobObject",
        "GetCurrentProcess",
        "AssignProcessToJobObject",
    ]
    assert kernel32.limit == (memory_cap.JOB_OBJECT_LIMIT_PROCESS_MEMORY, 2048 * 1024 * 1024)
    set_info = kernel32.calls[1][1]
    assert set_info[1] == 9  # JobObjectExtendedLimitInformation
    import ctypes

    assert set_info[3] == ctypes.sizeof(memory_cap.ExtendedLimitInformation)


@pytest.mark.parametrize(
    "failing", ["CreateJobObjectW", "SetInformationJobObject", "AssignProcessToJobObject"]
)
def test_a_windows_refusal_is_an_error_not_a_silent_uncapped_worker(failing: str) -> None:
    from racesense.jobs import memory_cap

    with pytest.raises(memory_cap.MemoryCapError, match=failing):
        memory_cap._limit_windows(1 << 30, _Kernel32Recorder(fail=failing))
