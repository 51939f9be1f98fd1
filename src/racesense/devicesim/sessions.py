"""Session files on the virtual RS-Core's card: synthetic sessions with known laps, or
files the user points at, named as the logger names them (`<UTC start>.csv`).

Generated sessions are deterministic (the seed of session i is seed + i), one hour
apart from 2026-03-02 09:00 UTC, on the demo circuit (Racesense Park): the backend
times them against its start/finish line (`racesense serve --demo` knows the track).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import shutil
from dataclasses import dataclass
from pathlib import Path

from racesense.synth import demo_circuit, make_session, to_rscore_csv

FIRST_START = dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.UTC)
SESSION_SPACING = dt.timedelta(hours=1)


@dataclass(frozen=True)
class SessionFile:
    """One file on the card, and for a generated one its ground truth."""

    path: Path
    sha256: str
    size_bytes: int
    lap_times_s: tuple[float, ...] | None = None  # the exact complete laps, generated only


def session_name(started_at: dt.datetime) -> str:
    """The logger's file name for a session started then (logger._file_stem)."""
    return started_at.astimezone(dt.UTC).strftime("%Y%m%d-%H%M%S") + ".csv"


def synthetic_sessions(
    storage_dir: Path,
    count: int,
    *,
    laps: int = 3,
    seed: int = 1,
    device_id: str = "RS-Core-51M0",
    rate_hz: float = 25.0,
) -> list[SessionFile]:
    """Write `count` generated sessions into storage_dir (an existing file of the same
    name is kept as it is: the same seed makes the same bytes); oldest first."""
    storage_dir.mkdir(parents=True, exist_ok=True)
    out = []
    circuit = demo_circuit()
    for i in range(count):
        session = make_session(circuit, rate_hz=rate_hz, laps=laps, seed=seed + i)
        started = FIRST_START + i * SESSION_SPACING
        telemetry = dataclasses.replace(session.telemetry, started_at=started)
        data = to_rscore_csv(telemetry, device_id=device_id)
        path = storage_dir / session_name(started)
        if not path.exists():
            path.write_bytes(data)
        out.append(
            SessionFile(
                path,
                hashlib.sha256(data).hexdigest(),
                len(data),
                tuple(float(t) for t in session.lap_times_s),
            )
        )
    return out


def copy_file(storage_dir: Path, source: Path) -> SessionFile:
    """Put a file the user points at on the card. The firmware lists `.csv` files only,
    so another suffix becomes `.csv` (the backend tells formats by their content)."""
    storage_dir.mkdir(parents=True, exist_ok=True)
    target = storage_dir / (source.stem + ".csv")
    if source.resolve() != target.resolve():
        shutil.copyfile(source, target)
    data = target.read_bytes()
    return SessionFile(target, hashlib.sha256(data).hexdigest(), len(data))
