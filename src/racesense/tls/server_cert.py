"""The server's certificate, kept in the CA's folder and renewed only when it must be.

The server asks again whenever its LAN addresses change (an Android hotspot picks a new
subnet each time it starts); with nothing changed the answer costs two stat calls.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from racesense.tls.ca import SERVER_CRT, SERVER_KEY, LocalCA, ServerCert
from racesense.tls.files import PUBLIC_MODE, SECRET_MODE, ensure_dir, write_atomic
from racesense.tls.names import IPAddress, normalise

# Renew this long before expiry: a laptop used once a season still gets a fresh one.
RENEW_BEFORE = dt.timedelta(days=30)


@dataclass(frozen=True)
class _Held:
    cert: ServerCert
    stamp: tuple[tuple[int, int], tuple[int, int]]  # (mtime_ns, size) of crt and key


def _stamp(path: Path) -> tuple[int, int]:
    st = path.stat()
    return st.st_mtime_ns, st.st_size


class ServerCertificates:
    """`current(names, ips)`: the server's certificate files for exactly those names."""

    def __init__(self, ca: LocalCA, directory: Path | None = None) -> None:
        self.ca = ca
        self.directory = directory if directory is not None else ca.directory
        self.cert_path = self.directory / SERVER_CRT
        self.key_path = self.directory / SERVER_KEY
        self._lock = threading.Lock()
        self._held: _Held | None = None

    def current(
        self, dns_names: Iterable[str], ips: Iterable[str | IPAddress]
    ) -> tuple[Path, Path, ServerCert]:
        """The stored certificate if it covers exactly these names and addresses and has
        more than 30 days left, else a new one written in its place.

        ValueError (from LocalCA.issue_server_cert) for names the CA may not certify.
        """
        names, addresses = normalise(dns_names, ips)
        with self._lock:
            held = self._held
            if held is None or not self._still_on_disk(held):
                held = self._held = self._read()
            if held is None or not self._fits(held.cert, names, addresses):
                cert = self.ca.issue_server_cert(names, addresses)
                ensure_dir(self.directory)
                # Key first: a reader pairing the new cert with the old key would fail.
                write_atomic(self.key_path, cert.key_pem, SECRET_MODE)
                write_atomic(self.cert_path, cert.cert_pem, PUBLIC_MODE)
                held = self._held = _Held(cert, self._stamps())
            return self.cert_path, self.key_path, held.cert

    def stored(self) -> ServerCert | None:
        """The certificate on disk, if it is a sound one from this CA; never issues."""
        with self._lock:
            if self._held is None or not self._still_on_disk(self._held):
                self._held = self._read()
            return self._held.cert if self._held else None

    def _stamps(self) -> tuple[tuple[int, int], tuple[int, int]]:
        return _stamp(self.cert_path), _stamp(self.key_path)

    def _still_on_disk(self, held: _Held) -> bool:
        try:
            return self._stamps() == held.stamp
        except OSError:
            return False

    @staticmethod
    def _fits(cert: ServerCert, names: tuple[str, ...], ips: tuple[IPAddress, ...]) -> bool:
        left = cert.not_after - dt.datetime.now(dt.UTC)
        return set(cert.names) == set(names) and set(cert.ips) == set(ips) and left > RENEW_BEFORE

    def _read(self) -> _Held | None:
        """The files on disk as a ServerCert; None if absent, damaged, mismatched or not
        signed by this CA (after `rotate`, say): a new one is then issued."""
        try:
            stamp = self._stamps()
            cert_pem, key_pem = self.cert_path.read_bytes(), self.key_path.read_bytes()
            cert = x509.load_pem_x509_certificate(cert_pem)
            cert.verify_directly_issued_by(self.ca.certificate)
            key = serialization.load_pem_private_key(key_pem, password=None)
        except (OSError, ValueError, TypeError, InvalidSignature):
            return None
        public = cert.public_key()
        if not isinstance(key, ec.EllipticCurvePrivateKey) or not isinstance(
            public, ec.EllipticCurvePublicKey
        ):
            return None
        if key.public_key().public_numbers() != public.public_numbers():
            return None
        try:
            san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        except x509.ExtensionNotFound:
            return None
        der = cert.public_bytes(serialization.Encoding.DER)
        server_cert = ServerCert(
            cert_pem=cert_pem,
            key_pem=key_pem,
            der_sha256=hashlib.sha256(der).hexdigest(),
            names=tuple(san.get_values_for_type(x509.DNSName)),
            ips=tuple(
                ip
                for ip in san.get_values_for_type(x509.IPAddress)
                if isinstance(ip, IPAddress)  # a SAN holds addresses, never networks
            ),
            not_after=cert.not_valid_after_utc,
        )
        return _Held(server_cert, stamp)
