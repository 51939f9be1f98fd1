"""`racesense fieldtest`: the reverse-hotspot field test (docs/fieldtest.md).

`--report` prints the table of the syncs' stored reports; without it, the simulated
field test runs (racesense.fieldtest.harness) and prints the same table. Imports
nothing heavy at the top (SQLAlchemy and numpy load only when the command runs): the
parser entry adds its arguments on every `racesense` start.
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
from pathlib import Path

# What the BLE-alone column assumes when not told: a sustained GATT notification rate a
# phone's browser reaches with the logger (an estimate; measure yours and pass it).
DEFAULT_BLE_BYTES_PER_S = 10_000
EXIT_NOTHING = 1
EXIT_NOT_BUILT = 2


def _since(text: str) -> dt.datetime:
    """`2026-12-01` (midnight UTC) or an ISO date and time (UTC unless it says)."""
    try:
        when = dt.datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a date: {text!r} (YYYY-MM-DD)") from None
    return when if when.tzinfo else when.replace(tzinfo=dt.UTC)


def _rate(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = 0.0
    if not value > 0:
        raise argparse.ArgumentTypeError(f"not a rate in bytes/s above 0: {text!r}")
    return value


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--report",
        action="store_true",
        help="print the table of the syncs' stored reports (the page's, the logger's)",
    )
    p.add_argument(
        "--since",
        type=_since,
        metavar="DATE",
        help="only syncs from this date (YYYY-MM-DD, UTC) on",
    )
    p.add_argument(
        "--data-dir",
        type=Path,
        help="default: $RACESENSE_DATA_DIR, else the per-user data directory",
    )
    p.add_argument("--markdown", action="store_true", help="print the table as Markdown")
    p.add_argument(
        "--preset",
        default="good",
        help="simulated: the link presets, comma-separated (good, poor, crowded)",
    )
    p.add_argument(
        "--minutes",
        type=float,
        nargs="+",
        default=[20.0],
        help="simulated: session lengths in minutes at 25 Hz (default 20)",
    )
    p.add_argument("--runs", type=int, default=3, help="simulated: syncs per length (default 3)")
    p.add_argument(
        "--in-process",
        action="store_true",
        help="simulated: shape the link inside the process (no network namespaces)",
    )
    p.add_argument(
        "--compress",
        default="off,on",
        help="simulated: the logger's gzip modes, comma-separated: off (a build that cannot"
        " compress), on (always gzip), auto (its own choice per file); default off,on",
    )
    p.add_argument(
        "--ble-rate",
        type=_rate,
        default=DEFAULT_BLE_BYTES_PER_S,
        metavar="BYTES_PER_S",
        help="the rate of the 'BLE alone' column: the same bytes over BLE at this rate "
        f"(default {DEFAULT_BLE_BYTES_PER_S})",
    )


def run(args: argparse.Namespace) -> int:
    if args.report:
        return report(args)
    return simulated(args)


def simulated(args: argparse.Namespace) -> int:
    """The simulated field test (racesense.fieldtest.harness) on the chosen presets."""
    from racesense.fieldtest import harness
    from racesense.fieldtest.presets import PRESETS
    from racesense.fieldtest.simulate import goals, simulate, table

    presets = [p.strip() for p in args.preset.split(",") if p.strip()]
    unknown = [p for p in presets if p not in PRESETS]
    if unknown:
        print(
            f"racesense: no preset {', '.join(unknown)} (there are {', '.join(PRESETS)})",
            file=sys.stderr,
        )
        return EXIT_NOT_BUILT
    modes = [m.strip() for m in args.compress.split(",") if m.strip()]
    wrong = [m for m in modes if m not in harness.COMPRESS_MODES] or ([] if modes else ["''"])
    if wrong:
        print(
            f"racesense: no gzip mode {', '.join(wrong)}"
            f" (there are {', '.join(harness.COMPRESS_MODES)})",
            file=sys.stderr,
        )
        return EXIT_NOT_BUILT
    reason = harness.skip_reason()
    if reason:
        print(f"racesense: the simulated field test cannot run here: {reason}", file=sys.stderr)
        return EXIT_NOT_BUILT
    outcome = simulate(
        presets, args.minutes, args.runs, in_process=args.in_process, compress_modes=modes
    )
    print(table(outcome, markdown=args.markdown))
    for goal, met, measured in goals(outcome):
        print(f"{'met' if met else 'NOT MET'}: {goal} ({measured})")
    return 0


def report(args: argparse.Namespace) -> int:
    from racesense.fieldtest.report import groups
    from racesense.fieldtest.table import render_markdown, render_text, summarise
    from racesense.settings import Settings
    from racesense.store.db import make_engine
    from racesense.store.syncs import reports_since

    settings = Settings.from_env(args.data_dir)
    url = settings.database_url
    if url.startswith("sqlite:///") and not Path(url.removeprefix("sqlite:///")).is_file():
        print(f"racesense: no database in {settings.data_dir}", file=sys.stderr)
        return EXIT_NOTHING
    engine = make_engine(url)
    try:
        stored = reports_since(engine, args.since)
    finally:
        engine.dispose()
    since = f" since {args.since:%Y-%m-%d %H:%M} UTC" if args.since else ""
    if not stored:
        print(f"racesense: no sync reports{since}", file=sys.stderr)
        return EXIT_NOTHING
    table = groups(r.by_source for r in stored)
    stats = summarise(table, args.ble_rate)
    count = f"{len(stored)} {'sync' if len(stored) == 1 else 'syncs'}"
    if args.markdown:
        print(f"Field test: {count}{since}, {len(table)} groups.\n")
        print(render_markdown(stats, args.ble_rate), end="")
    else:
        groups_of = "phone · firmware · link · session · encoding"
        print(f"Field test: {count}{since}, {len(table)} groups ({groups_of}).\n")
        print(render_text(stats, args.ble_rate), end="")
    return 0
