"""The server's stored certificate: reused while the names hold, trusted in a real handshake."""

from __future__ import annotations

import datetime as dt
import socket
import ssl
import stat
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from racesense.tls import LocalCA, ServerCertificates
from racesense.tls.ca import SERVER_CRT, SERVER_KEY

NAMES = ["racesense.local", "localhost"]
IPS = ["127.0.0.1", "192.168.43.17"]


@pytest.fixture
def ca(tmp_path: Path) -> LocalCA:
    return LocalCA.load_or_create(tmp_path / "tls", hostname="pit")


def test_the_same_names_give_the_same_files(ca: LocalCA) -> None:
    certs = ServerCertificates(ca)
    cert_path, key_path, first = certs.current(NAMES, IPS)
    assert (cert_path, key_path) == (ca.directory / SERVER_CRT, ca.directory / SERVER_KEY)
    if sys.platform != "win32":
        assert stat.S_IMODE(key_path.stat().st_mode) == 0o600
    mtimes = cert_path.stat().st_mtime_ns, key_path.stat().st_mtime_ns
    # The same set in another order, and a new instance reading the files (a restart).
    assert certs.current(reversed(NAMES), reversed(IPS))[2] is first
    again = ServerCertificates(LocalCA.load_or_create(ca.directory)).current(NAMES, IPS)[2]
    assert again.der_sha256 == first.der_sha256 and again.key_pem == first.key_pem
    assert (cert_path.stat().st_mtime_ns, key_path.stat().st_mtime_ns) == mtimes
    assert certs.stored() is first


def test_a_new_address_gives_a_new_certificate(ca: LocalCA) -> None:
    certs = ServerCertificates(ca)
    first = certs.current(NAMES, IPS)[2]
    cert_path, _, second = certs.current(NAMES, [*IPS, "10.91.4.2"])
    assert second.der_sha256 != first.der_sha256
    assert {str(ip) for ip in second.ips} == {*IPS, "10.91.4.2"}
    assert cert_path.read_bytes() == second.cert_pem
    # Fewer addresses is a change too: the certificate names exactly what is asked.
    assert [str(ip) for ip in certs.current(NAMES, IPS[:1])[2].ips] == IPS[:1]


def test_a_certificate_near_expiry_is_renewed(ca: LocalCA, monkeypatch) -> None:
    certs = ServerCertificates(ca)
    first = certs.current(NAMES, IPS)[2]
    import racesense.tls.server_cert as module

    monkeypatch.setattr(module, "RENEW_BEFORE", dt.timedelta(days=900))
    assert certs.current(NAMES, IPS)[2].der_sha256 != first.der_sha256


def test_files_from_another_ca_or_damaged_are_replaced(ca: LocalCA, tmp_path: Path) -> None:
    certs = ServerCertificates(ca)
    cert_path, key_path, first = certs.current(NAMES, IPS)
    rotated = LocalCA.rotate(ca.directory)
    assert not cert_path.exists()
    renewed = ServerCertificates(rotated).current(NAMES, IPS)[2]
    assert renewed.der_sha256 != first.der_sha256
    key_path.write_bytes(b"damaged")
    fresh = ServerCertificates(rotated)
    assert fresh.stored() is None
    assert fresh.current(NAMES, IPS)[2].der_sha256 != renewed.der_sha256


def test_names_outside_the_constraints_are_refused(ca: LocalCA) -> None:
    with pytest.raises(ValueError, match=r"8\.8\.8\.8"):
        ServerCertificates(ca).current(NAMES, ["8.8.8.8"])
    assert not (ca.directory / SERVER_CRT).exists()


# --- a real TLS handshake on loopback ---------------------------------------------------


@pytest.fixture
def tls_server(ca: LocalCA) -> Iterator[int]:
    """A TLS server on 127.0.0.1 with the stored certificate; answers b"ok" to each client."""
    cert_path, key_path, _ = ServerCertificates(ca).current(NAMES, IPS)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_path, key_path)
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(10)
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            try:
                with context.wrap_socket(conn, server_side=True) as tls:
                    tls.sendall(b"ok")
            except (OSError, ssl.SSLError):
                pass  # the client that does not trust us hangs up mid-handshake

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield listener.getsockname()[1]
    finally:
        stop.set()
        with socket.create_connection(listener.getsockname(), timeout=10):
            pass  # wakes the accept: closing the socket alone would not
        thread.join(10)
        listener.close()


def _fetch(port: int, context: ssl.SSLContext, hostname: str) -> bytes:
    with (
        socket.create_connection(("127.0.0.1", port), timeout=10) as raw,
        context.wrap_socket(raw, server_hostname=hostname) as tls,
    ):
        return tls.recv(2)


def test_a_client_trusting_the_ca_connects(ca: LocalCA, tls_server: int) -> None:
    trusting = ssl.create_default_context(cadata=ca.ca_pem().decode())
    assert _fetch(tls_server, trusting, "racesense.local") == b"ok"
    assert _fetch(tls_server, trusting, "192.168.43.17") == b"ok"  # OpenSSL checks IP SANs
    with pytest.raises(ssl.SSLCertVerificationError):
        _fetch(tls_server, trusting, "other.local")


def test_a_client_without_the_ca_refuses(tls_server: int) -> None:
    with pytest.raises(ssl.SSLCertVerificationError):
        _fetch(tls_server, ssl.create_default_context(), "racesense.local")
