"""A cap on one analysis worker's memory, so that a file needing more fails alone
(as "out_of_memory") instead of taking the pit laptop down.

POSIX caps the address space (RLIMIT_AS). Windows has no per-process rlimit; there the
worker puts itself in a job object of its own with a process memory limit (committed
memory), which makes an allocation beyond it fail in the same way: NumPy raises
MemoryError, and the job is rejected as out_of_memory.
"""

from __future__ import annotations

import ctypes
import sys
from typing import Any

# Windows constants (winnt.h)
JOB_OBJECT_LIMIT_PROCESS_MEMORY = 0x00000100
JOB_OBJECT_EXTENDED_LIMIT_INFORMATION_CLASS = 9


class IoCounters(ctypes.Structure):
    _fields_ = [
        (name, ctypes.c_uint64)
        for name in (
            "ReadOperationCount",
            "WriteOperationCount",
            "OtherOperationCount",
            "ReadTransferCount",
            "WriteTransferCount",
            "OtherTransferCount",
        )
    ]


class BasicLimitInformation(ctypes.Structure):
    _fields_ = [
        ("PerProcessUserTimeLimit", ctypes.c_int64),
        ("PerJobUserTimeLimit", ctypes.c_int64),
        ("LimitFlags", ctypes.c_uint32),
        ("MinimumWorkingSetSize", ctypes.c_size_t),
        ("MaximumWorkingSetSize", ctypes.c_size_t),
        ("ActiveProcessLimit", ctypes.c_uint32),
        ("Affinity", ctypes.c_size_t),  # ULONG_PTR
        ("PriorityClass", ctypes.c_uint32),
        ("SchedulingClass", ctypes.c_uint32),
    ]


class ExtendedLimitInformation(ctypes.Structure):
    """JOBOBJECT_EXTENDED_LIMIT_INFORMATION: 144 bytes on 64-bit Windows."""

    _fields_ = [
        ("BasicLimitInformation", BasicLimitInformation),
        ("IoInfo", IoCounters),
        ("ProcessMemoryLimit", ctypes.c_size_t),
        ("JobMemoryLimit", ctypes.c_size_t),
        ("PeakProcessMemoryUsed", ctypes.c_size_t),
        ("PeakJobMemoryUsed", ctypes.c_size_t),
    ]


def limit_memory(megabytes: int) -> None:
    """Cap this process's memory at `megabytes`."""
    if sys.platform == "win32":
        _limit_windows(megabytes * 1024 * 1024, ctypes.WinDLL("kernel32", use_last_error=True))  # type: ignore[attr-defined]
    else:
        _limit_posix(megabytes * 1024 * 1024)


def _limit_posix(limit_bytes: int) -> None:
    import resource

    _, hard = resource.getrlimit(resource.RLIMIT_AS)
    if hard != resource.RLIM_INFINITY:
        limit_bytes = min(limit_bytes, hard)
    resource.setrlimit(resource.RLIMIT_AS, (limit_bytes, hard))


class MemoryCapError(OSError):
    """Windows refused to set up the job object."""


def _last_error() -> int:
    get = getattr(ctypes, "get_last_error", None)  # Windows only
    return int(get()) if get else 0


def _limit_windows(limit_bytes: int, kernel32: Any) -> None:
    """Put this process into a new job object limited to `limit_bytes` of committed
    memory. A process already in a job (a terminal or IDE may start Python in one) can
    join a nested job since Windows 8. The job handle stays open for the process's life,
    which keeps the job, and its limit, alive."""
    kernel32.CreateJobObjectW.restype = ctypes.c_void_p
    kernel32.GetCurrentProcess.restype = ctypes.c_void_p
    job = kernel32.CreateJobObjectW(None, None)
    if not job:
        raise MemoryCapError(_last_error(), "CreateJobObjectW failed")
    info = ExtendedLimitInformation()
    info.BasicLimitInformation.LimitFlags = JOB_OBJECT_LIMIT_PROCESS_MEMORY
    info.ProcessMemoryLimit = limit_bytes
    ok = kernel32.SetInformationJobObject(
        ctypes.c_void_p(job),
        JOB_OBJECT_EXTENDED_LIMIT_INFORMATION_CLASS,
        ctypes.byref(info),
        ctypes.sizeof(info),
    )
    if not ok:
        raise MemoryCapError(_last_error(), "SetInformationJobObject failed")
    if not kernel32.AssignProcessToJobObject(
        ctypes.c_void_p(job), ctypes.c_void_p(kernel32.GetCurrentProcess())
    ):
        raise MemoryCapError(_last_error(), "AssignProcessToJobObject failed")
