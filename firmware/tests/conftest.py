"""pytest (CPython) side of the firmware tests.

- firmware/, firmware/tests and firmware/tests/stubs go on sys.path, the same places
  MICROPYPATH gives MicroPython (mpy_run.py), so a test imports `nmea`, `storage`, ...
  exactly as it would on the board.
- Every test runs with a fresh tmp_path as its working directory, as mpy_run.py gives
  each test a fresh directory: tests write files by relative path in both.
- `async def test_...` runs with asyncio.run (mpy_run.py does the same), so one test file
  serves both interpreters without a pytest plugin.
"""

from __future__ import annotations

import asyncio
import inspect
import sys
from pathlib import Path

import pytest

FIRMWARE = Path(__file__).resolve().parents[1]
TESTS = FIRMWARE / "tests"
STUBS = TESTS / "stubs"

for _path in (STUBS, TESTS, FIRMWARE):  # firmware/ ends up first, as in MICROPYPATH
    if str(_path) not in sys.path:
        sys.path.insert(0, str(_path))


@pytest.fixture(autouse=True)
def _fresh_working_directory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)


@pytest.hookimpl(tryfirst=True)
def pytest_pyfunc_call(pyfuncitem: pytest.Function) -> bool | None:
    if not inspect.iscoroutinefunction(pyfuncitem.obj):
        return None
    names = pyfuncitem._fixtureinfo.argnames
    asyncio.run(pyfuncitem.obj(**{n: pyfuncitem.funcargs[n] for n in names}))
    return True
