"""Synthetic track sessions with known ground truth, for accuracy tests, the demo and
benchmarks. Pure computation: NumPy arrays in, frozen results out, no file I/O.

- `circuit`: `Circuit` (a smooth closed centreline placed on the globe),
  `load_centreline_csv` (TUMFTM text), `demo_circuit` (the project's own circuit);
- `driver`: the lap-time-simulation speed profile and the exact motion in time;
- `session`: `make_session` -> `SyntheticSession` (telemetry plus exact truth);
- `rscore_csv`: `to_rscore_csv`, the project's own logger format.
"""

from racesense.synth.circuit import Circuit, demo_circuit, load_centreline_csv
from racesense.synth.driver import Driver
from racesense.synth.rscore_csv import to_rscore_csv
from racesense.synth.session import SyntheticSession, make_session
from racesense.synth.truth import TimingLine, Trajectory, TruthSample

__all__ = [
    "Circuit",
    "Driver",
    "SyntheticSession",
    "TimingLine",
    "Trajectory",
    "TruthSample",
    "demo_circuit",
    "load_centreline_csv",
    "make_session",
    "to_rscore_csv",
]
