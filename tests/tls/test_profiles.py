"""The CA as phones install it: DER for Android, a configuration profile for iOS."""

from __future__ import annotations

import plistlib
import uuid
from pathlib import Path

from cryptography import x509

from racesense.tls import LocalCA, ca_crt, ios_mobileconfig


def test_the_crt_is_the_ca_in_der(tmp_path: Path) -> None:
    ca = LocalCA.load_or_create(tmp_path, hostname="pit")
    assert x509.load_der_x509_certificate(ca_crt(ca)) == ca.certificate


def test_the_mobileconfig_holds_the_ca_with_stable_identifiers(tmp_path: Path) -> None:
    ca = LocalCA.load_or_create(tmp_path, hostname="pit")
    profile = plistlib.loads(ios_mobileconfig(ca))
    assert profile["PayloadType"] == "Configuration" and profile["PayloadVersion"] == 1
    (root,) = profile["PayloadContent"]
    assert root["PayloadType"] == "com.apple.security.root"
    assert root["PayloadContent"] == ca.ca_der()
    assert root["PayloadDisplayName"] == "Racesense local CA"
    assert "Certificate Trust Settings" in root["PayloadDescription"]
    assert profile["PayloadIdentifier"] == f"racesense.local-ca.{ca.ca_sha256[:16]}"
    uuids = {profile["PayloadUUID"], root["PayloadUUID"]}
    assert len(uuids) == 2 and all(uuid.UUID(u).version == 5 for u in uuids)

    # The same CA, loaded again, gives the same profile byte for byte.
    assert ios_mobileconfig(LocalCA.load_or_create(tmp_path)) == ios_mobileconfig(ca)

    rotated = plistlib.loads(ios_mobileconfig(LocalCA.rotate(tmp_path, hostname="pit")))
    assert rotated["PayloadIdentifier"] != profile["PayloadIdentifier"]
    assert not {rotated["PayloadUUID"], rotated["PayloadContent"][0]["PayloadUUID"]} & uuids
