"""Helpers for test_https.py: a network namespace for the server (so that Chromium is a
non-loopback client), an NSS database that trusts the local CA (what Chromium on Linux
reads from $HOME/.pki/nssdb), leaves forged with the CA's own key, and a tiny TLS server
that shows them to the browser.

Everything here needs root (`ip netns`, veth pairs) and certutil (libnss3-tools).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import http.server
import ipaddress
import os
import shutil
import ssl
import subprocess
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

CERTUTIL = shutil.which("certutil")
IP = shutil.which("ip")
NSS_NICKNAME = "Racesense local CA"


def netns_skip_reason() -> str | None:
    """Why the namespace cannot be made here, or None."""
    if os.geteuid() != 0:
        return "needs root: the server runs in a network namespace of its own (ip netns)"
    if IP is None:
        return "iproute2 (`ip`) is not installed: no network namespace for the server"
    probe = subprocess.run([IP, "netns", "list"], capture_output=True, text=True, check=False)
    if probe.returncode != 0:
        return f"`ip netns` does not work here: {probe.stderr.strip()}"
    return None


def _ip(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    assert IP is not None
    return subprocess.run([IP, *args], capture_output=True, text=True, check=check)


def _subnets_in_use() -> set[int]:
    """Third octets of the 10.232.X.0/24 networks already on this host's interfaces."""
    out = _ip("-4", "-o", "addr", "show").stdout
    used = set()
    for word in out.split():
        if word.startswith("10.232."):
            used.add(int(word.split(".")[2]))
    return used


@dataclass(frozen=True)
class Netns:
    name: str  # the namespace: rs-https-<pid>
    host_if: str  # the veth end in the root namespace
    host_ip: str  # its address, 10.232.X.1 (the forged leaves' server listens here)
    ns_ip: str  # the other end, inside the namespace: 10.232.X.2 (the racesense server)

    def exec_prefix(self) -> list[str]:
        assert IP is not None
        return [IP, "netns", "exec", self.name]


@contextlib.contextmanager
def netns() -> Iterator[Netns]:
    """A namespace `rs-https-<pid>` joined to this one by a veth pair, 10.232.X.1/24 on
    this side and 10.232.X.2/24 inside, lo up. X is picked per process so that two
    xdist workers never route the same network; all removed afterwards, also on failure.
    """
    pid = os.getpid()
    name = f"rs-https-{pid}"
    host_if, peer_if = f"rsh{pid % 10000}", f"rsn{pid % 10000}"
    used = _subnets_in_use()
    octet = next(o for o in [*range(pid % 250 + 1, 251), *range(1, 251)] if o not in used)
    host_ip, ns_ip = f"10.232.{octet}.1", f"10.232.{octet}.2"
    # Leftovers of an earlier run of a process with the same pid.
    _ip("link", "del", host_if, check=False)
    _ip("netns", "del", name, check=False)
    try:
        _ip("netns", "add", name)
        _ip("link", "add", host_if, "type", "veth", "peer", "name", peer_if)
        _ip("link", "set", peer_if, "netns", name)
        _ip("addr", "add", f"{host_ip}/24", "dev", host_if)
        _ip("link", "set", host_if, "up")
        _ip("-n", name, "addr", "add", f"{ns_ip}/24", "dev", peer_if)
        _ip("-n", name, "link", "set", peer_if, "up")
        _ip("-n", name, "link", "set", "lo", "up")
        yield Netns(name, host_if, host_ip, ns_ip)
    finally:
        _ip("link", "del", host_if, check=False)  # takes its peer with it
        _ip("netns", "del", name, check=False)


def add_host_address(ns: Netns, address: str) -> None:
    """One more address on this side's veth end (gone with the interface)."""
    _ip("addr", "add", f"{address}/32", "dev", ns.host_if)


def nss_home(home: Path, ca_pem: Path | None) -> Path:
    """A HOME whose NSS database (~/.pki/nssdb, what Chromium on Linux reads) trusts the
    CA in `ca_pem` for TLS servers, or trusts nothing extra when it is None."""
    assert CERTUTIL is not None
    db = home / ".pki" / "nssdb"
    db.mkdir(parents=True)
    subprocess.run(
        [CERTUTIL, "-d", f"sql:{db}", "-N", "--empty-password"], check=True, capture_output=True
    )
    if ca_pem is not None:
        subprocess.run(
            [CERTUTIL, "-d", f"sql:{db}", "-A", "-t", "C,,", "-n", NSS_NICKNAME, "-i", str(ca_pem)],
            check=True,
            capture_output=True,
        )
    return home


def nss_listing(home: Path) -> str:
    assert CERTUTIL is not None
    db = home / ".pki" / "nssdb"
    return subprocess.run(
        [CERTUTIL, "-d", f"sql:{db}", "-L"], check=True, capture_output=True, text=True
    ).stdout


def forge_leaf(ca_dir: Path, name: str, out_dir: Path) -> tuple[Path, Path]:
    """A server certificate for `name` (a DNS name or an IP address) signed with the
    CA's own key, as a server of this install would get one, but for any name: what a
    stolen CA key could make. Returns (cert chain PEM, key PEM)."""
    ca_cert = x509.load_pem_x509_certificate((ca_dir / "ca.crt").read_bytes())
    ca_key = serialization.load_pem_private_key((ca_dir / "ca.key").read_bytes(), None)
    assert isinstance(ca_key, ec.EllipticCurvePrivateKey)
    key = ec.generate_private_key(ec.SECP256R1())
    try:
        san: x509.GeneralName = x509.IPAddress(ipaddress.ip_address(name))
    except ValueError:
        san = x509.DNSName(name)
    now = dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + dt.timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectAlternativeName([san]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    stem = name.replace(".", "_")
    cert_path, key_path = out_dir / f"{stem}.crt", out_dir / f"{stem}.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


class _Hello(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = b"<!doctype html><title>forged</title><h1>forged leaf</h1>"
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


class _QuietServer(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: object, client_address: object) -> None:
        pass  # a browser refusing the certificate ends the handshake with an alert


@contextlib.contextmanager
def tls_server(address: str, cert: Path, key: Path) -> Iterator[int]:
    """A one-page https server on (address, a free port) showing `cert`; yields the port."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    httpd = _QuietServer((address, 0), _Hello)
    # The handshake in the handler's thread, not in accept(): a browser that refuses
    # the certificate must not stall the accepting loop.
    httpd.socket = context.wrap_socket(
        httpd.socket, server_side=True, do_handshake_on_connect=False
    )
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield int(httpd.server_address[1])
    finally:
        httpd.shutdown()
        httpd.server_close()
