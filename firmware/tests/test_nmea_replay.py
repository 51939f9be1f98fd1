# cpython-only
"""NMEA replay, end to end: a synthetic session (racesense.synth, exact truth) rendered as
the RMC + GGA stream a receiver would send, fed through firmware/nmea.py and
firmware/logger.py as on the board (bytes in UART-sized reads, a jittery arrival delay,
a fake IMU, a simulated clock), and the RS-Core CSV it writes read back by the backend's
importer and analysed: the same laps as analysing the synthetic session directly."""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import numpy as np
import pytest

import logger as lg
from racesense.analysis.pipeline import analyse
from racesense.analysis.results import SessionAnalysis
from racesense.analysis.telemetry import STANDARD_GRAVITY_MPS2, Telemetry
from racesense.analysis.track import Gate, Track
from racesense.ingest import detect_format, read_telemetry
from racesense.synth import SyntheticSession, demo_circuit, make_session
from storage import Storage

TOOLS = Path(__file__).resolve().parents[1] / "tools"
_spec = importlib.util.spec_from_file_location("nmea_render", TOOLS / "nmea_render.py")
assert _spec is not None and _spec.loader is not None
nmea_render = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(nmea_render)

POLL_MS = 5
UART_READ_BYTES = 64  # a small UART buffer: sentences arrive split across reads
LATENCIES_MS = (45, 80, 60, 110, 50, 70)  # epoch time to the last byte's arrival
LAP_TOLERANCE_S = 0.05


class Clock:
    def __init__(self) -> None:
        self.now = 987654

    def ticks_ms(self) -> int:
        return self.now

    def ticks_diff(self, new: int, old: int) -> int:
        return new - old


class Uart:
    def __init__(self) -> None:
        self.data = bytearray()

    def readinto(self, buf: bytearray) -> int | None:
        n = min(len(buf), len(self.data), UART_READ_BYTES)
        if not n:
            return None
        buf[:n] = self.data[:n]
        del self.data[:n]
        return n


class Imu:
    """Reads the session's own IMU channels at the simulated time."""

    def __init__(self, telemetry: Telemetry) -> None:
        self.telemetry = telemetry
        self.t_s = 0.0

    def read(self) -> tuple[float, float, float, float]:
        tel = self.telemetry
        i = min(int(np.searchsorted(tel.t_s, self.t_s)), len(tel) - 1)
        g = STANDARD_GRAVITY_MPS2
        return (
            float(tel.accel_lon_mps2[i] / g),
            float(tel.accel_lat_mps2[i] / g),
            float(tel.accel_vert_mps2[i] / g),
            float(tel.yaw_rate_dps[i]),
        )


def log_session(session: SyntheticSession, root: str) -> list[Path]:
    """Play the session through the firmware; the session files it wrote."""
    epochs = list(nmea_render.render_telemetry(session.telemetry))
    clock, uart, imu = Clock(), Uart(), Imu(session.telemetry)
    free = 1 << 30
    storage = Storage(
        root, os_module=os, statvfs=lambda path: (512, 512, free, free, free, 0, 0, 0, 0, 255)
    )
    logger = lg.Logger(
        uart, imu, clock, storage, device_id="RS-Core-SYN1", firmware="0.1.0", log=lambda s: None
    )
    end_ms = round(epochs[-1][0] * 1000) + 1000
    arrivals = [
        (round(t_s * 1000) + LATENCIES_MS[i % len(LATENCIES_MS)], data)
        for i, (t_s, data) in enumerate(epochs)
    ]
    next_epoch = 0
    for sim_ms in range(0, end_ms, POLL_MS):
        while next_epoch < len(arrivals) and arrivals[next_epoch][0] <= sim_ms:
            uart.data += arrivals[next_epoch][1]
            next_epoch += 1
        imu.t_s = sim_ms / 1000
        logger.poll()
        clock.now += POLL_MS
    logger.close()
    return sorted(Path(root).glob("*.csv"))


def complete_laps(analysis: SessionAnalysis) -> list[tuple[int, str, float]]:
    return [(lap.number, lap.kind, lap.time_s) for lap in analysis.laps if lap.complete]


@pytest.fixture(scope="module")
def replay(tmp_path_factory: pytest.TempPathFactory) -> tuple[SyntheticSession, bytes]:
    session = make_session(demo_circuit(), rate_hz=10, laps=3, seed=7)
    files = log_session(session, str(tmp_path_factory.mktemp("sd")))
    assert len(files) == 1, f"one drive, one session file: {files}"
    return session, files[0].read_bytes()


def assert_same_laps(from_logger: SessionAnalysis, direct: SessionAnalysis) -> None:
    got, want = complete_laps(from_logger), complete_laps(direct)
    assert len(got) == len(want) >= 3, (got, want)
    assert [kind for _, kind, _ in got] == [kind for _, kind, _ in want]
    worst = max(abs(a[2] - b[2]) for a, b in zip(got, want, strict=True))
    assert worst <= LAP_TOLERANCE_S, (got, want)


def test_logged_file_is_rscore_csv_with_the_sessions_fixes(
    replay: tuple[SyntheticSession, bytes],
) -> None:
    session, data = replay
    assert detect_format(data) == "rscore-csv-1"
    tel = read_telemetry(data)
    assert tel.device_id == "RS-Core-SYN1"
    fixes = np.isfinite(tel.lat_deg)
    # The logger starts at the first fix above START_SPEED_KMH and keeps every fix after.
    moving = np.flatnonzero(session.telemetry.speed_mps * 3.6 > lg.START_SPEED_KMH)[0]
    assert int(fixes.sum()) == len(session.telemetry) - moving
    assert (
        tel.started_at
        == session.telemetry.started_at
        + (session.telemetry.t_s[moving] * 1e6 * np.timedelta64(1, "us")).item()
    )
    src = session.telemetry
    t_ms = np.rint(tel.t_s[fixes] * 1000)
    want_ms = np.rint((src.t_s[moving:] - src.t_s[moving]) * 1000)
    assert np.array_equal(t_ms, want_ms)
    assert np.max(np.abs(tel.lat_deg[fixes] - src.lat_deg[moving:])) <= 0.6e-7
    assert np.max(np.abs(tel.lon_deg[fixes] - src.lon_deg[moving:])) <= 0.6e-7
    assert np.max(np.abs(tel.speed_mps[fixes] - src.speed_mps[moving:])) <= 0.05 / 3.6 + 1e-3
    # IMU rows in between, at about 50 Hz, in time order.
    imu_rows = np.isfinite(tel.accel_lon_mps2) & ~fixes
    assert imu_rows.sum() > 40 * (tel.t_s[-1] - tel.t_s[0])
    assert np.all(np.diff(tel.t_s) > 0)


def test_same_laps_as_the_synthetic_session_detected_track(
    replay: tuple[SyntheticSession, bytes],
) -> None:
    session, data = replay
    assert_same_laps(analyse(read_telemetry(data)), analyse(session.telemetry))


def test_same_laps_as_the_synthetic_session_and_the_truth_on_its_line(
    replay: tuple[SyntheticSession, bytes],
) -> None:
    session, data = replay
    line = Track("truth", start_finish=Gate(*session.start_finish.endpoints_deg), source="user")
    from_logger = analyse(read_telemetry(data), track=line)
    assert_same_laps(from_logger, analyse(session.telemetry, track=line))
    got = np.array([t for _, _, t in complete_laps(from_logger)])
    assert got.shape == session.lap_times_s.shape
    assert np.max(np.abs(got - session.lap_times_s)) <= LAP_TOLERANCE_S
