"""The local CA: its files, its certificate, the server certificates it issues."""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
import stat
import sys
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from cryptography.x509.verification import (
    DNSName,
    IPAddress,
    PolicyBuilder,
    Store,
    VerificationError,
)

from racesense.tls import CAError, LocalCA, colon_hex
from racesense.tls.ca import CA_CRT, CA_KEY, SERVER_CRT, SERVER_KEY


@pytest.fixture
def ca_dir(tmp_path: Path) -> Path:
    return tmp_path / "data" / "tls"


@pytest.fixture
def ca(ca_dir: Path) -> LocalCA:
    return LocalCA.load_or_create(ca_dir, hostname="Pit-Laptop.fritz.box")


def _verify(ca: LocalCA, leaf_pem: bytes, subject: DNSName | IPAddress) -> None:
    verifier = PolicyBuilder().store(Store([ca.certificate])).build_server_verifier(subject)
    verifier.verify(x509.load_pem_x509_certificate(leaf_pem), [])


def _ext(cert: x509.Certificate, kind: type[x509.ExtensionType]) -> x509.Extension:
    return cert.extensions.get_extension_for_class(kind)  # type: ignore[type-var]


# --- the CA's files ----------------------------------------------------------------------


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX file modes")
def test_the_key_file_is_owner_only(ca: LocalCA, ca_dir: Path) -> None:
    assert stat.S_IMODE((ca_dir / CA_KEY).stat().st_mode) == 0o600
    assert stat.S_IMODE(ca_dir.stat().st_mode) == 0o700
    assert not [p for p in ca_dir.iterdir() if p.name.endswith(".tmp")]


def test_the_key_is_in_no_repr(ca: LocalCA, ca_dir: Path) -> None:
    key_pem = (ca_dir / CA_KEY).read_bytes()
    body = b"".join(key_pem.splitlines()[1:-1]).decode()
    leaf = ca.issue_server_cert(["racesense.local"], [])
    for text in (repr(ca), str(ca), repr(leaf), str(leaf)):
        assert body[:40] not in text and "PRIVATE" not in text
    assert leaf.key_pem.decode().split("\n")[1] not in repr(leaf)


def test_load_or_create_twice_gives_the_same_ca(ca: LocalCA, ca_dir: Path) -> None:
    assert ca.created
    again = LocalCA.load_or_create(ca_dir, hostname="another-name")
    assert not again.created
    assert again.ca_sha256 == ca.ca_sha256
    assert again.ca_der() == ca.ca_der() and again.ca_pem() == (ca_dir / CA_CRT).read_bytes()
    assert again.permitted == ca.permitted  # the constraints come from the file


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (lambda d: (d / CA_KEY).write_bytes(b"not a key"), "not a readable private key"),
        (lambda d: (d / CA_CRT).write_bytes(b"garbage"), "not a readable certificate"),
        (lambda d: (d / CA_KEY).unlink(), "ca.key is missing"),
        (lambda d: (d / CA_CRT).unlink(), "ca.crt is missing"),
    ],
)
def test_damaged_files_give_a_clear_error(ca: LocalCA, ca_dir: Path, damage, message) -> None:
    damage(ca_dir)
    with pytest.raises(CAError, match=message) as err:
        LocalCA.load_or_create(ca_dir)
    assert "racesense ca rotate" in str(err.value)


def test_a_key_from_another_ca_is_refused(ca: LocalCA, ca_dir: Path, tmp_path: Path) -> None:
    other = tmp_path / "other"
    LocalCA.load_or_create(other, hostname="x")
    (ca_dir / CA_KEY).write_bytes((other / CA_KEY).read_bytes())
    with pytest.raises(CAError, match="does not belong to"):
        LocalCA.load_or_create(ca_dir)


# --- the CA certificate -----------------------------------------------------------------


def test_the_ca_certificate(ca: LocalCA) -> None:
    cert = ca.certificate
    cn = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value
    assert cn == "Racesense local CA (pit-laptop)"
    assert cert.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)[0].value == "Racesense"
    assert isinstance(cert.public_key(), ec.EllipticCurvePublicKey)
    assert cert.public_key().curve.name == "secp256r1"  # type: ignore[union-attr]
    bc = _ext(cert, x509.BasicConstraints)
    assert bc.critical and bc.value.ca and bc.value.path_length == 0
    ku = _ext(cert, x509.KeyUsage)
    assert ku.critical and ku.value.key_cert_sign and ku.value.crl_sign
    assert _ext(cert, x509.SubjectKeyIdentifier)
    now = dt.datetime.now(dt.UTC)
    assert dt.timedelta(minutes=59) < now - cert.not_valid_before_utc < dt.timedelta(minutes=62)
    years = (cert.not_valid_after_utc - cert.not_valid_before_utc).days / 365.25
    assert 9.9 < years < 10.1
    assert 0 < cert.serial_number < 2**128
    nc = _ext(cert, x509.NameConstraints)
    assert nc.critical and nc.value.excluded_subtrees is None
    permitted = {str(g.value) for g in nc.value.permitted_subtrees}
    assert permitted == {
        "local",
        "localhost",
        "pit-laptop",
        *["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "127.0.0.0/8", "100.64.0.0/10"],
        *["169.254.0.0/16", "fc00::/7", "fe80::/10", "::1/128"],
    }
    assert ca.ca_sha256 == cert.fingerprint(hashes.SHA256()).hex()
    assert colon_hex("ab01ff") == "AB:01:FF"


def test_a_host_name_that_is_no_dns_label_is_left_out(tmp_path: Path) -> None:
    ca = LocalCA.load_or_create(tmp_path, hostname="My Laptop_1")
    assert ca.permitted.dns == ("local", "localhost")


# --- server certificates ----------------------------------------------------------------


def test_the_server_certificate_verifies_and_holds_exactly_the_names(ca: LocalCA) -> None:
    leaf = ca.issue_server_cert(
        ["racesense.local", "localhost", "pit-laptop"], ["192.168.43.17", "fe80::1%wlan0"]
    )
    _verify(ca, leaf.cert_pem, DNSName("racesense.local"))
    _verify(ca, leaf.cert_pem, DNSName("pit-laptop"))
    _verify(ca, leaf.cert_pem, IPAddress(ipaddress.ip_address("192.168.43.17")))
    cert = x509.load_pem_x509_certificate(leaf.cert_pem)
    san = _ext(cert, x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.DNSName) == ["racesense.local", "localhost", "pit-laptop"]
    assert san.get_values_for_type(x509.IPAddress) == [
        ipaddress.ip_address("192.168.43.17"),
        ipaddress.ip_address("fe80::1"),
    ]
    assert cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "racesense.local"
    assert cert.not_valid_after_utc - cert.not_valid_before_utc <= dt.timedelta(days=825)
    assert leaf.not_after == cert.not_valid_after_utc
    assert _ext(cert, x509.ExtendedKeyUsage).value == x509.ExtendedKeyUsage(
        [ExtendedKeyUsageOID.SERVER_AUTH]
    )
    ku = _ext(cert, x509.KeyUsage)
    assert ku.critical and ku.value.digital_signature and not ku.value.key_cert_sign
    bc = _ext(cert, x509.BasicConstraints)
    assert bc.critical and not bc.value.ca
    assert leaf.der_sha256 == cert.fingerprint(hashes.SHA256()).hex()
    key = serialization.load_pem_private_key(leaf.key_pem, password=None)
    assert key.public_key() == cert.public_key()
    with pytest.raises(VerificationError):
        _verify(ca, leaf.cert_pem, DNSName("other.local"))


def _forged_leaf(ca_dir: Path, san: x509.GeneralName) -> bytes:
    """A leaf for `san` signed with the CA's own key, skipping every check of ours."""
    ca_key = serialization.load_pem_private_key((ca_dir / CA_KEY).read_bytes(), password=None)
    assert isinstance(ca_key, ec.EllipticCurvePrivateKey)
    ca_cert = x509.load_pem_x509_certificate((ca_dir / CA_CRT).read_bytes())
    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.UTC)
    ski = _ext(ca_cert, x509.SubjectKeyIdentifier).value
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "forged")]))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(hours=1))
        .not_valid_after(now + dt.timedelta(days=30))
        .add_extension(x509.SubjectAlternativeName([san]), critical=False)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski), False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False)
        .sign(ca_key, hashes.SHA256())
    )
    return cert.public_bytes(serialization.Encoding.PEM)


def test_the_name_constraints_hold_against_a_real_verifier(ca: LocalCA, ca_dir: Path) -> None:
    public_ip = ipaddress.ip_address("8.8.8.8")
    forged = _forged_leaf(ca_dir, x509.IPAddress(public_ip))
    with pytest.raises(VerificationError):
        _verify(ca, forged, IPAddress(public_ip))
    forged = _forged_leaf(ca_dir, x509.DNSName("example.com"))
    with pytest.raises(VerificationError):
        _verify(ca, forged, DNSName("example.com"))
    # The same forgery within the constraints verifies: the refusals above are theirs.
    _verify(ca, _forged_leaf(ca_dir, x509.DNSName("x.local")), DNSName("x.local"))


@pytest.mark.parametrize(
    ("names", "ips", "message"),
    [
        ([], ["8.8.8.8"], "may not certify 8.8.8.8"),
        (["example.com"], [], "may not certify 'example.com'"),
        (["notlocal"], [], "may not certify"),  # "local" is a label, not a suffix
        ([], ["2001:db8::1"], "may not certify"),
        (["192.168.1.2"], [], "is an IP address"),
        (["bad_name.local"], [], "not a valid DNS name"),
        ([], ["not-an-ip"], "not an IP address"),
        ([], [], "at least one"),
    ],
)
def test_names_outside_the_constraints_are_refused(ca: LocalCA, names, ips, message) -> None:
    with pytest.raises(ValueError, match=message):
        ca.issue_server_cert(names, ips)


# --- rotation ---------------------------------------------------------------------------


def test_rotate_replaces_the_ca_and_removes_the_server_certificate(
    ca: LocalCA, ca_dir: Path
) -> None:
    old_pem = ca.ca_pem()
    (ca_dir / SERVER_CRT).write_bytes(b"x")
    (ca_dir / SERVER_KEY).write_bytes(b"x")
    new = LocalCA.rotate(ca_dir, hostname="pit-laptop")
    assert new.created and new.ca_sha256 != ca.ca_sha256
    assert LocalCA.load_or_create(ca_dir).ca_sha256 == new.ca_sha256
    names = {p.name for p in ca_dir.iterdir()}
    (old,) = names - {CA_CRT, CA_KEY}  # the old key and the server certificate are gone
    assert old.startswith("ca.crt.old-") and (ca_dir / old).read_bytes() == old_pem
    LocalCA.rotate(ca_dir)  # twice within a second: a second old cert, none overwritten
    assert len([n for n in os.listdir(ca_dir) if ".old-" in n]) == 2
