"""The bundled demo session: Racesense Park, the project's own fictional circuit.

Generated (deterministically) rather than shipped as a file, so the repository carries
no recording and the demo is always in the current RS-Core format.
"""

from __future__ import annotations

from racesense.analysis.track import Gate, Track
from racesense.synth import demo_circuit, make_session, to_rscore_csv
from racesense.synth.truth import timing_line

DEMO_FILENAME = "racesense-park-demo.csv"
DEMO_DEVICE_ID = "RS-Core-DEMO"


def demo_track() -> Track:
    """Racesense Park as a track-list entry: its start/finish line."""
    circuit = demo_circuit()
    line = timing_line(circuit, 0.0)
    return Track(circuit.name, start_finish=Gate(*line.endpoints_deg), source="list")


def demo_session_csv(seed: int = 2026, laps: int = 8, rate_hz: float = 25.0) -> tuple[str, bytes]:
    """(file name, RS-Core CSV bytes) of a demo session with a pit stop mid-session."""
    session = make_session(
        demo_circuit(), rate_hz=rate_hz, laps=laps, seed=seed, pit_stop_after_lap=laps // 2
    )
    return DEMO_FILENAME, to_rscore_csv(session.telemetry, device_id=DEMO_DEVICE_ID)
