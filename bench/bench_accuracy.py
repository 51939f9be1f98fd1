"""Lap-time error against exact ground truth on synthetic sessions, per sample rate.

    .venv/bin/python bench/bench_accuracy.py [--seeds 30] [--laps 6]

Racesense Park, 1 m GNSS noise per horizontal axis, 0.1 m/s speed noise, start/finish
given as the true line. Prints worst, 99th percentile and RMS error of complete laps.
"""

from __future__ import annotations

import argparse

import numpy as np

from racesense.analysis.pipeline import analyse
from racesense.analysis.track import Gate, Track
from racesense.synth import demo_circuit, make_session


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=30)
    parser.add_argument("--laps", type=int, default=6)
    args = parser.parse_args()
    circuit = demo_circuit()
    for rate_hz in (25, 20, 10, 5):
        errors: list[float] = []
        for seed in range(args.seeds):
            session = make_session(circuit, rate_hz=rate_hz, laps=args.laps, seed=seed)
            line = Gate(*session.start_finish.endpoints_deg)
            analysis = analyse(session.telemetry, track=Track("truth", start_finish=line))
            got = np.array([lap.time_s for lap in analysis.laps if lap.complete])
            if got.shape != session.lap_times_s.shape:
                raise SystemExit(
                    f"{rate_hz} Hz seed {seed}: {len(got)} laps found, "
                    f"{len(session.lap_times_s)} driven"
                )
            errors.extend(np.abs(got - session.lap_times_s).tolist())
        e = np.array(errors) * 1000
        print(
            f"{rate_hz:>2} Hz: {len(e)} laps, worst {e.max():5.1f} ms, "
            f"p99 {np.percentile(e, 99):5.1f} ms, rms {np.sqrt(np.mean(e**2)):4.1f} ms"
        )


if __name__ == "__main__":
    main()
