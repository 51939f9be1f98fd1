"""The per-install certificate authority that lets phones trust the pit laptop's https.

Phones give Web Bluetooth only to secure contexts, so the laptop serves https on the LAN
with a certificate from this CA, which each phone installs once. The CA is constrained
(NameConstraints) to LAN names and private addresses: trusting it trusts nothing public.

Files in the CA's folder: `ca.key` (PEM, 0600) and `ca.crt` (PEM). `rotate` keeps the old
certificate as `ca.crt.old-<UTC time>` (public, and it tells which CA to remove from the
phones) and deletes the old key: nothing must be signed with it again.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from racesense.tls.files import PUBLIC_MODE, SECRET_MODE, ensure_dir, write_atomic
from racesense.tls.names import (
    IPAddress,
    IPNetwork,
    Permitted,
    default_permitted,
    host_label,
    normalise,
)

CA_KEY = "ca.key"
CA_CRT = "ca.crt"
SERVER_KEY = "server.key"
SERVER_CRT = "server.crt"

CA_VALIDITY = dt.timedelta(days=3650)
# iOS rejects a server certificate from a user-installed root valid for longer.
SERVER_VALIDITY = dt.timedelta(days=825)
# Certificates start an hour back: a phone whose clock runs behind still accepts them.
BACKDATE = dt.timedelta(hours=1)

_create_lock = threading.Lock()


class CAError(Exception):
    """The CA's files are missing, damaged or do not belong together."""


@dataclass(frozen=True)
class ServerCert:
    """A leaf certificate for the server, and its key (never shown in a repr)."""

    cert_pem: bytes = field(repr=False)  # long; der_sha256 names it
    key_pem: bytes = field(repr=False)
    der_sha256: str  # hex SHA-256 of the certificate's DER: what a logger pins
    names: tuple[str, ...]
    ips: tuple[IPAddress, ...]
    not_after: dt.datetime


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(microsecond=0)


def _serial() -> int:
    return secrets.randbits(128) or 1  # positive, 128 random bits


def _key_usage(*, cert_sign: bool) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=not cert_sign,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=cert_sign,
        crl_sign=cert_sign,
        encipher_only=False,
        decipher_only=False,
    )


def _public_der(key: ec.EllipticCurvePublicKey) -> bytes:
    return key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _permitted_of(cert: x509.Certificate) -> Permitted:
    try:
        ext = cert.extensions.get_extension_for_class(x509.NameConstraints).value
    except x509.ExtensionNotFound:
        raise CAError("the local CA's certificate has no name constraints") from None
    dns: list[str] = []
    networks: list[IPNetwork] = []
    for sub in ext.permitted_subtrees or ():
        if isinstance(sub, x509.DNSName):
            dns.append(sub.value)
        elif isinstance(sub, x509.IPAddress) and not isinstance(sub.value, IPAddress):
            networks.append(sub.value)
    return Permitted(dns=tuple(dns), networks=tuple(networks))


class LocalCA:
    """The CA of one install; `load_or_create` or `rotate` make one."""

    __slots__ = ("_cert", "_key", "created", "directory", "permitted")

    def __init__(
        self,
        directory: Path,
        cert: x509.Certificate,
        key: ec.EllipticCurvePrivateKey,
        *,
        created: bool = False,
    ) -> None:
        self.directory = directory
        self._cert = cert
        self._key = key
        self.created = created  # made by this call: phones must install it
        self.permitted = _permitted_of(cert)

    def __repr__(self) -> str:  # the key stays out of every repr and log line
        return f"LocalCA({self.subject!r}, sha256={self.ca_sha256[:16]}…, dir={self.directory})"

    __str__ = __repr__

    # --- making and loading -------------------------------------------------------------

    @classmethod
    def load_or_create(cls, directory: Path, hostname: str | None = None) -> LocalCA:
        """The CA kept in `directory`, created there on first use.

        `hostname` (default: this machine's) is only read when creating: its bare label
        joins the permitted names. Raises CAError if the files are damaged.
        """
        with _create_lock:
            key_path, crt_path = directory / CA_KEY, directory / CA_CRT
            if not key_path.exists() and not crt_path.exists():
                return cls._create(directory, hostname)
            return cls._load(directory)

    @classmethod
    def rotate(cls, directory: Path, hostname: str | None = None) -> LocalCA:
        """Replace the CA: the old cert is kept as ca.crt.old-<time>, the old key deleted,
        and the server certificate (signed by the old key) removed."""
        with _create_lock:
            crt_path = directory / CA_CRT
            if crt_path.exists():
                stamp = _now().strftime("%Y%m%dT%H%M%SZ")
                old = directory / f"{CA_CRT}.old-{stamp}"
                n = 1
                while old.exists():
                    n += 1
                    old = directory / f"{CA_CRT}.old-{stamp}-{n}"
                crt_path.rename(old)
            for name in (CA_KEY, SERVER_CRT, SERVER_KEY):
                (directory / name).unlink(missing_ok=True)
            return cls._create(directory, hostname)

    @classmethod
    def _create(cls, directory: Path, hostname: str | None) -> LocalCA:
        permitted = default_permitted(hostname)
        label = host_label(hostname) or "this laptop"
        name = x509.Name(
            [
                x509.NameAttribute(NameOID.COMMON_NAME, f"Racesense local CA ({label})"),
                x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Racesense"),
            ]
        )
        key = ec.generate_private_key(ec.SECP256R1())
        public = key.public_key()
        start = _now() - BACKDATE
        subtrees: list[x509.GeneralName] = [x509.DNSName(d) for d in permitted.dns]
        subtrees += [x509.IPAddress(net) for net in permitted.networks]
        cert = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(public)
            .serial_number(_serial())
            .not_valid_before(start)
            .not_valid_after(start + CA_VALIDITY)
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(_key_usage(cert_sign=True), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(public), critical=False
            )
            .add_extension(x509.NameConstraints(subtrees, None), critical=True)
            .sign(key, hashes.SHA256())
        )
        ensure_dir(directory)
        # The key first: a crash between the two leaves a key without a cert, which
        # load reports, never a cert whose key is lost.
        write_atomic(directory / CA_KEY, _key_pem(key), SECRET_MODE)
        write_atomic(directory / CA_CRT, cert.public_bytes(serialization.Encoding.PEM), PUBLIC_MODE)
        return cls(directory, cert, key, created=True)

    @classmethod
    def _load(cls, directory: Path) -> LocalCA:
        key_path, crt_path = directory / CA_KEY, directory / CA_CRT
        fix = "run `racesense ca rotate` to make a new CA (phones must then install it again)"
        for path in (key_path, crt_path):
            if not path.exists():
                raise CAError(f"the local CA's {path.name} is missing from {directory}; {fix}")
        try:
            cert = x509.load_pem_x509_certificate(crt_path.read_bytes())
        except ValueError as exc:
            raise CAError(f"{crt_path} is not a readable certificate ({exc}); {fix}") from None
        try:
            key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
        except (ValueError, TypeError):
            # The library's message is not repeated: it could quote the key's bytes.
            raise CAError(f"{key_path} is not a readable private key; {fix}") from None
        if not isinstance(key, ec.EllipticCurvePrivateKey):
            raise CAError(f"{key_path} is not an EC key; {fix}")
        public = cert.public_key()
        if not isinstance(public, ec.EllipticCurvePublicKey) or _public_der(public) != _public_der(
            key.public_key()
        ):
            raise CAError(f"{key_path} does not belong to {crt_path}; {fix}")
        try:
            ca = cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
        except x509.ExtensionNotFound:
            ca = False
        if not ca:
            raise CAError(f"{crt_path} is not a CA certificate; {fix}")
        return cls(directory, cert, key)

    # --- what it is ---------------------------------------------------------------------

    @property
    def certificate(self) -> x509.Certificate:
        return self._cert

    @property
    def subject(self) -> str:
        return self._cert.subject.rfc4514_string()

    @property
    def not_after(self) -> dt.datetime:
        return self._cert.not_valid_after_utc

    @property
    def ca_sha256(self) -> str:
        """Hex SHA-256 of the CA certificate's DER, as phones show it (without colons)."""
        return hashlib.sha256(self.ca_der()).hexdigest()

    def ca_der(self) -> bytes:
        return self._cert.public_bytes(serialization.Encoding.DER)

    def ca_pem(self) -> bytes:
        return self._cert.public_bytes(serialization.Encoding.PEM)

    # --- issuing ------------------------------------------------------------------------

    def issue_server_cert(
        self, dns_names: Iterable[str], ip_addresses: Iterable[str | IPAddress]
    ) -> ServerCert:
        """A new server certificate (and key) for exactly these names and addresses.

        ValueError if one is malformed or outside the CA's constraints: phones would
        reject such a certificate, better to say so here.
        """
        names, ips = normalise(dns_names, ip_addresses)
        if not names and not ips:
            raise ValueError("A server certificate needs at least one DNS name or IP address.")
        for name in names:
            if not self.permitted.allows_dns(name):
                raise ValueError(
                    f"The local CA may not certify {name!r}: it is limited to names under "
                    f"{', '.join(self.permitted.dns)}."
                )
        for ip in ips:
            if not self.permitted.allows_ip(ip):
                raise ValueError(
                    f"The local CA may not certify {ip}: it is limited to private and "
                    "link-local addresses."
                )
        key = ec.generate_private_key(ec.SECP256R1())
        start = _now() - BACKDATE
        end = min(start + SERVER_VALIDITY, self.not_after)
        sans: list[x509.GeneralName] = [x509.DNSName(n) for n in names]
        sans += [x509.IPAddress(ip) for ip in ips]
        cn = names[0] if names else str(ips[0])
        ca_ski = self._cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
        cert = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)]))
            .issuer_name(self._cert.subject)
            .public_key(key.public_key())
            .serial_number(_serial())
            .not_valid_before(start)
            .not_valid_after(end)
            .add_extension(x509.SubjectAlternativeName(sans), critical=False)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), False)
            .add_extension(_key_usage(cert_sign=False), critical=True)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ca_ski), False
            )
            .add_extension(
                x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False
            )
            .sign(self._key, hashes.SHA256())
        )
        return ServerCert(
            cert_pem=cert.public_bytes(serialization.Encoding.PEM),
            key_pem=_key_pem(key),
            der_sha256=hashlib.sha256(cert.public_bytes(serialization.Encoding.DER)).hexdigest(),
            names=names,
            ips=ips,
            not_after=cert.not_valid_after_utc,
        )


def colon_hex(hex_digest: str) -> str:
    """`ab12…` -> `AB:12:…`, the form phones display a fingerprint in."""
    upper = hex_digest.upper()
    return ":".join(upper[i : i + 2] for i in range(0, len(upper), 2))
