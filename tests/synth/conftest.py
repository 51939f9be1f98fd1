"""Fixtures for the synthetic-session tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from racesense.synth import Circuit, SyntheticSession, demo_circuit, make_session

from .helpers import NOISELESS, TUMFTM_TRACKS


@pytest.fixture(scope="session")
def demo() -> Circuit:
    return demo_circuit()


@pytest.fixture(scope="session")
def tumftm_tracks() -> Path:
    if not TUMFTM_TRACKS.is_dir():
        pytest.skip(f"TUMFTM centrelines not found at {TUMFTM_TRACKS} (shared/ is absent)")
    return TUMFTM_TRACKS


@pytest.fixture(scope="session")
def clean_session(demo: Circuit) -> SyntheticSession:
    """Four noiseless laps at 25 Hz, a pit stop after lap 2, two sector lines."""
    return make_session(
        demo,
        rate_hz=25.0,
        laps=4,
        seed=7,
        pit_stop_after_lap=2,
        sector_s_m=(900.0, 2200.0),
        **NOISELESS,
    )


@pytest.fixture(scope="session")
def noisy_session(demo: Circuit) -> SyntheticSession:
    """The same course with the default noise."""
    return make_session(
        demo, rate_hz=25.0, laps=4, seed=7, pit_stop_after_lap=2, sector_s_m=(900.0, 2200.0)
    )
