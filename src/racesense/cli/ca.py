"""`racesense ca show|export|rotate`: the local CA that phones install to trust https.

Imports nothing heavy at the top (cryptography loads only when the command runs): the
parser entry adds its arguments on every `racesense` start.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from racesense.tls import LocalCA

EXIT_REFUSED = 1
EXIT_CA_DAMAGED = 2

_EXTENSIONS = {"crt": "crt", "pem": "pem", "mobileconfig": "mobileconfig"}


def add_arguments(p: argparse.ArgumentParser) -> None:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--data-dir",
        type=Path,
        help="default: $RACESENSE_DATA_DIR, else the per-user data directory",
    )
    actions = p.add_subparsers(dest="action", required=True)
    actions.add_parser(
        "show", parents=[common], help="the CA's fingerprint and limits (creates it if none)"
    )
    export = actions.add_parser("export", parents=[common], help="write the CA for a phone")
    export.add_argument(
        "--format",
        choices=tuple(_EXTENSIONS),
        default="crt",
        help="crt: DER, for Android; pem; mobileconfig: a profile for iOS (default crt)",
    )
    export.add_argument(
        "-o",
        "--output",
        metavar="FILE",
        help="where to write it, '-' for standard output (default: racesense-local-ca.<format>)",
    )
    rotate = actions.add_parser(
        "rotate", parents=[common], help="replace the CA: every phone must install it again"
    )
    rotate.add_argument("--yes", action="store_true", help="do not ask")


def run(args: argparse.Namespace) -> int:
    from racesense.settings import Settings
    from racesense.tls import CAError, LocalCA

    directory = Settings.from_env(args.data_dir).data_dir / "tls"
    try:
        if args.action == "rotate":
            return _rotate(directory, args.yes)
        ca = LocalCA.load_or_create(directory)
    except CAError as exc:
        print(f"racesense: {exc}", file=sys.stderr)
        return EXIT_CA_DAMAGED
    if ca.created:
        print(f"Created a new local CA in {directory}.", file=sys.stderr)
    if args.action == "export":
        return _export(ca, args.format, args.output)
    _show(ca)
    return 0


def _show(ca: LocalCA) -> None:
    from racesense.tls import ServerCertificates, colon_hex

    rows = [
        ("subject", ca.subject),
        ("SHA-256", colon_hex(ca.ca_sha256)),
        ("not after", f"{ca.not_after:%Y-%m-%d %H:%M} UTC"),
        ("permits", ca.permitted.describe()),
        ("certificate", str(ca.directory / "ca.crt")),
    ]
    server = ServerCertificates(ca).stored()
    if server is None:
        rows.append(("server cert", "none yet (the server makes one when it starts with https)"))
    else:
        rows += [
            ("server names", ", ".join(server.names) or "-"),
            ("server IPs", ", ".join(str(ip) for ip in server.ips) or "-"),
            ("server until", f"{server.not_after:%Y-%m-%d %H:%M} UTC"),
        ]
    width = max(len(label) for label, _ in rows) + 2
    for label, value in rows:
        print(f"{label + ':':<{width}}{value}")


def _export(ca: LocalCA, form: str, output: str | None) -> int:
    from racesense.tls import ca_crt, ios_mobileconfig

    if form == "mobileconfig":
        data = ios_mobileconfig(ca)
    else:
        data = ca.ca_pem() if form == "pem" else ca_crt(ca)
    if output == "-":
        if form == "crt" and sys.stdout.isatty():
            print("racesense: the crt form is binary; give -o FILE", file=sys.stderr)
            return EXIT_REFUSED
        sys.stdout.buffer.write(data)
        sys.stdout.flush()
        return 0
    path = Path(output or f"racesense-local-ca.{_EXTENSIONS[form]}")
    path.write_bytes(data)
    print(f"Wrote {path} ({form}).", file=sys.stderr)
    return 0


def _rotate(directory: Path, yes: bool) -> int:
    from racesense.tls import LocalCA, colon_hex

    warning = (
        "Rotating makes a new local CA. Every phone that trusted the old one must install "
        "the new one, and should remove the old one."
    )
    if not yes:
        if not sys.stdin.isatty():
            print(f"racesense: {warning} Not rotating: give --yes to confirm.", file=sys.stderr)
            return EXIT_REFUSED
        print(warning)
        if input("Rotate the local CA? [y/N] ").strip().lower() not in ("y", "yes"):
            print("Not rotated.")
            return EXIT_REFUSED
    old_sha = _fingerprint(directory / "ca.crt")
    ca = LocalCA.rotate(directory)
    if old_sha:
        print(f"Old CA (remove it from the phones): SHA-256 {colon_hex(old_sha)}")
    print(f"New CA: SHA-256 {colon_hex(ca.ca_sha256)}")
    print(
        "Every phone that trusted the old CA must now install the new one "
        "(racesense ca export) and should remove the old one: Android: Settings → Security "
        "→ Encryption & credentials → User credentials; iOS: Settings → General → "
        "VPN & Device Management."
    )
    return 0


def _fingerprint(cert_path: Path) -> str | None:
    """The old CA's SHA-256, read without its key: rotate is the cure for a damaged one."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes

    try:
        return (
            x509.load_pem_x509_certificate(cert_path.read_bytes())
            .fingerprint(hashes.SHA256())
            .hex()
        )
    except (OSError, ValueError):
        return None
