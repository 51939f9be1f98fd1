"""The reverse-hotspot sync, timed whole as a racer meets it, over shaped hotspot links:
from the tap on Sync to the new session's lap table on screen, phase by phase, beside
the same bytes over BLE alone (racesense.fieldtest.harness says what is measured).

    .venv/bin/python bench/bench_fieldtest.py [--presets good,poor,crowded]
        [--minutes 5,20,60] [--runs 3] [--compress off,on,auto] [--in-process] [--markdown]

Needs root on Linux for the network namespaces (else, or with --in-process, the link is
shaped inside the process, and the output says so), Debian's Chromium and the built UI.
Prints the table and the issue's goals, measured: at most 15 s from the tap to the
results for a 20-minute session on "good", at least 10x faster than BLE alone, and on
"poor" every sync complete with no file lost or sent twice; and per preset, whether the
logger's own choice (auto) sent gzip or identity when that was the faster.
"""

from __future__ import annotations

import argparse
import sys

from racesense.fieldtest import harness
from racesense.fieldtest.simulate import goals, simulate, table


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--presets", default="good,poor,crowded")
    parser.add_argument("--minutes", default="5,20,60")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--compress", default=",".join(harness.COMPRESS_MODES))
    parser.add_argument("--in-process", action="store_true", help="no namespaces")
    parser.add_argument("--markdown", action="store_true")
    args = parser.parse_args()
    reason = harness.skip_reason()
    if reason:
        print(f"cannot run: {reason}", file=sys.stderr)
        return 2
    outcome = simulate(
        args.presets.split(","),
        [float(m) for m in args.minutes.split(",")],
        args.runs,
        in_process=args.in_process,
        compress_modes=args.compress.split(","),
    )
    print(table(outcome, markdown=args.markdown))
    print()
    for goal, met, measured in goals(outcome):
        print(f"{'MET ' if met else 'NOT MET'} {goal}: {measured}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
