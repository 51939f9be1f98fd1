"""The `racesense` command."""

from __future__ import annotations

import argparse
import importlib
import json
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from racesense.analysis.errors import AnalysisError
from racesense.analysis.pipeline import analyse
from racesense.analysis.results import SessionAnalysis, to_document
from racesense.analysis.track import Gate, Track
from racesense.ingest import IngestError, read_telemetry
from racesense.ingest.tracklist import parse_track_list
from racesense.laptable import render

# Options whose value may start with "-" (a southern or western coordinate).
_COORD_OPTIONS = ("--start-finish", "--start-finish-line")


def _coords(text: str, count: int) -> list[float]:
    try:
        values = [float(v) for v in text.replace(" ", "").split(",")]
    except ValueError:
        values = []
    if len(values) != count:
        raise argparse.ArgumentTypeError(
            f"expected {count} comma-separated numbers (LAT,LON{',LAT,LON' if count == 4 else ''})"
        )
    return values


def _point(text: str) -> list[float]:
    return _coords(text, 2)


def _line(text: str) -> list[float]:
    return _coords(text, 4)


def _join_negative_values(argv: Sequence[str]) -> list[str]:
    """`--start-finish -37.85,144.97` -> `--start-finish=-37.85,144.97`: argparse would
    otherwise take the value for an option."""
    out: list[str] = []
    args = list(argv)
    i = 0
    while i < len(args):
        if args[i] in _COORD_OPTIONS and i + 1 < len(args):
            out.append(f"{args[i]}={args[i + 1]}")
            i += 2
        else:
            out.append(args[i])
            i += 1
    return out


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="racesense", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("analyse", aliases=["analyze"], help="analyse a logger file")
    p.add_argument("file", type=Path)
    where = p.add_mutually_exclusive_group()
    where.add_argument(
        "--start-finish",
        type=_point,
        metavar="LAT,LON",
        help="start/finish point; the line is drawn across the direction of travel",
    )
    where.add_argument(
        "--start-finish-line",
        type=_line,
        metavar="LAT1,LON1,LAT2,LON2",
        help="start/finish line by its two ends",
    )
    p.add_argument(
        "--tracks",
        type=Path,
        metavar="FILE",
        help="a track list (GPX or CSV of start/finish points) to match against",
    )
    p.add_argument("--json", action="store_true", help="print the results document as JSON")

    sub.add_parser("demo", help="analyse the bundled demo session (no server)")

    p = sub.add_parser("serve", help="run the backend and the web UI")
    p.add_argument(
        "--host",
        default="127.0.0.1",
        help="address to listen on (0.0.0.0: reachable from the phone's hotspot)",
    )
    p.add_argument("--port", type=int, default=8765)
    p.add_argument(
        "--tls",
        choices=("auto", "on", "off"),
        help="https for the UI and API (default: $RACESENSE_TLS, else auto: https when "
        "listening beyond loopback, on --https-port, with a certificate from this "
        "laptop's own CA; the plain port then serves the phone set-up page)",
    )
    p.add_argument("--https-port", type=int, help="default: $RACESENSE_HTTPS_PORT, else 8443")
    p.add_argument(
        "--upload-port",
        type=int,
        help="the upload-only plain http port for loggers without TLS "
        "(default: $RACESENSE_UPLOAD_PORT, else 8766; 0: none)",
    )
    p.add_argument(
        "--upload-host",
        help="the address the logger uploads to, when the one found is wrong "
        "(default: $RACESENSE_UPLOAD_HOST, else this laptop's address on the hotspot)",
    )
    p.add_argument(
        "--data-dir",
        type=Path,
        help="default: $RACESENSE_DATA_DIR, else the per-user data directory",
    )
    p.add_argument(
        "--demo",
        action="store_true",
        help="load the demo session and track if the database has no sessions",
    )
    p.add_argument("--workers", type=int, help="analysis processes (default 2)")

    p = sub.add_parser("upload", help="upload logger files to a running server")
    p.add_argument("files", type=Path, nargs="+", metavar="FILE")
    p.add_argument("--url", default="http://127.0.0.1:8765", help="the server's address")
    p.add_argument("--token", help="API token (default: $RACESENSE_TOKEN)")

    p = sub.add_parser("token", help="create, list or revoke API tokens")
    p.add_argument("--data-dir", type=Path)
    actions = p.add_subparsers(dest="action", required=True)
    create = actions.add_parser("create", help="print a new token (shown once)")
    create.add_argument("name")
    create.add_argument("--scope", choices=("user", "admin", "upload"), default="user")
    actions.add_parser("list")
    revoke = actions.add_parser("revoke")
    revoke.add_argument("id", type=int)

    p = sub.add_parser("tracks", help="manage the track list")
    p.add_argument("--data-dir", type=Path)
    track_actions = p.add_subparsers(dest="action", required=True)
    imp = track_actions.add_parser("import", help="import start/finish points (GPX or CSV)")
    imp.add_argument("file", type=Path)

    p = sub.add_parser("device-sim", help="a virtual RS-Core: the logger's firmware on this host")
    importlib.import_module("racesense.cli.device_sim").add_arguments(p)  # a light module

    p = sub.add_parser("ca", help="the local CA phones install to trust this laptop's https")
    importlib.import_module("racesense.cli.ca").add_arguments(p)  # a light module

    p = sub.add_parser("fieldtest", help="the reverse-hotspot field test and its table")
    importlib.import_module("racesense.cli.fieldtest").add_arguments(p)  # a light module

    p = sub.add_parser("reanalyse", aliases=["reanalyze"], help="re-run the analysis")
    p.add_argument("--all", action="store_true", required=True, help="every session")
    p.add_argument("--data-dir", type=Path)
    return parser


def _print_result(analysis: SessionAnalysis, as_json: bool, source: str) -> None:
    if as_json:
        print(json.dumps(to_document(analysis), indent=2))
    else:
        print(render(analysis, source))


def _cmd_analyse(args: argparse.Namespace) -> int:
    track = None
    if args.start_finish is not None:
        track = Track(
            "Given start/finish", start_finish_point=tuple(args.start_finish), source="user"
        )
    elif args.start_finish_line is not None:
        a, b, c, d = args.start_finish_line
        track = Track("Given start/finish", start_finish=Gate((a, b), (c, d)), source="user")
    tracks = parse_track_list(args.tracks.read_bytes()) if args.tracks else []
    telemetry = read_telemetry(args.file.read_bytes())
    _print_result(analyse(telemetry, track=track, tracks=tracks), args.json, args.file.name)
    return 0


def _cmd_demo(args: argparse.Namespace) -> int:
    from racesense.demo import demo_session_csv, demo_track

    name, data = demo_session_csv()
    print(render(analyse(read_telemetry(data), tracks=[demo_track()]), name))
    return 0


# The other commands' modules, imported only when used: `racesense analyse` on a laptop
# at the track should not pay for loading the server (FastAPI, SQLAlchemy, Alembic).
_COMMANDS = {
    "serve": ("serve", "run"),
    "upload": ("client", "upload"),
    "token": ("admin", "token"),
    "tracks": ("admin", "tracks_import"),
    "reanalyse": ("admin", "reanalyse"),
    "reanalyze": ("admin", "reanalyse"),
    "device-sim": ("device_sim", "run"),
    "ca": ("ca", "run"),
    "fieldtest": ("fieldtest", "run"),
}


def _command(name: str) -> Callable[[argparse.Namespace], int]:
    if name in ("analyse", "analyze"):
        return _cmd_analyse
    if name == "demo":
        return _cmd_demo
    module, function = _COMMANDS[name]
    command: Callable[[argparse.Namespace], int] = getattr(
        importlib.import_module(f"racesense.cli.{module}"), function
    )
    return command


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(_join_negative_values(sys.argv[1:] if argv is None else argv))
    try:
        return _command(args.command)(args)
    except (IngestError, AnalysisError) as exc:
        print(f"racesense: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"racesense: {exc.strerror or exc}: {exc.filename}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
