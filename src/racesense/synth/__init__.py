"""Synthetic track sessions with known ground truth, for accuracy tests, the demo and
benchmarks. Pure computation: NumPy arrays in, frozen results out, no file I/O.

- `circuit`: `Circuit` (a smooth closed centreline placed on the globe),
  `load_centreline_csv` (TUMFTM text), `demo_circuit` (the project's own circuit),
  `raceway_circuit` (one drawn for the hard cases of lap timing);
- `driver`: the lap-time-simulation speed profile, the exact motion in time, and
  `sampled_driver` (limits drawn per seed);
- `session`: `make_session` -> `SyntheticSession` (telemetry plus exact truth), with a
  `PitLane` of any shape;
- `scenarios`: `scenario_session`, sessions with the line where timing is hardest;
- `rscore_csv`: `to_rscore_csv`, the project's own logger format.
"""

from racesense.synth.circuit import Circuit, demo_circuit, load_centreline_csv, raceway_circuit
from racesense.synth.driver import Driver, sampled_driver
from racesense.synth.rscore_csv import to_rscore_csv
from racesense.synth.scenarios import SCENARIO_NAMES, scenario_session
from racesense.synth.session import PitLane, SyntheticSession, make_session
from racesense.synth.truth import TimingLine, Trajectory, TruthSample

__all__ = [
    "SCENARIO_NAMES",
    "Circuit",
    "Driver",
    "PitLane",
    "SyntheticSession",
    "TimingLine",
    "Trajectory",
    "TruthSample",
    "demo_circuit",
    "load_centreline_csv",
    "make_session",
    "raceway_circuit",
    "sampled_driver",
    "scenario_session",
    "to_rscore_csv",
]
