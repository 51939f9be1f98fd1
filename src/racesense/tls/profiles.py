"""The CA in the forms phones install: a DER .crt (Android) and a .mobileconfig (iOS)."""

from __future__ import annotations

import plistlib
import uuid

from racesense.tls.ca import LocalCA

CA_CRT_CONTENT_TYPE = "application/x-x509-ca-cert"
MOBILECONFIG_CONTENT_TYPE = "application/x-apple-aspen-config"

# The namespace of the profiles' UUIDs: the same CA always gives the same UUIDs, so that
# installing the profile again replaces it instead of adding a second one.
_UUID_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "https://racesense.local/local-ca")

_DESCRIPTION = (
    "Lets this phone trust the Racesense pit laptop's https on the local network. "
    "After installing, turn on full trust for it in Settings → General → About → "
    "Certificate Trust Settings."
)


def ca_crt(ca: LocalCA) -> bytes:
    """The CA certificate in DER, for Android's Install a certificate → CA certificate."""
    return ca.ca_der()


def ios_mobileconfig(ca: LocalCA) -> bytes:
    """An unsigned configuration profile holding the CA as a root certificate."""
    fingerprint = ca.ca_sha256
    identifier = f"racesense.local-ca.{fingerprint[:16]}"
    root = {
        "PayloadType": "com.apple.security.root",
        "PayloadVersion": 1,
        "PayloadIdentifier": f"{identifier}.root",
        "PayloadUUID": str(uuid.uuid5(_UUID_NAMESPACE, f"{fingerprint}/root")).upper(),
        "PayloadDisplayName": "Racesense local CA",
        "PayloadDescription": _DESCRIPTION,
        "PayloadCertificateFileName": "racesense-local-ca.cer",
        "PayloadContent": ca.ca_der(),
    }
    profile = {
        "PayloadType": "Configuration",
        "PayloadVersion": 1,
        "PayloadIdentifier": identifier,
        "PayloadUUID": str(uuid.uuid5(_UUID_NAMESPACE, fingerprint)).upper(),
        "PayloadDisplayName": "Racesense local CA",
        "PayloadDescription": _DESCRIPTION,
        "PayloadOrganization": "Racesense",
        "PayloadRemovalDisallowed": False,
        "PayloadContent": [root],
    }
    return plistlib.dumps(profile, fmt=plistlib.FMT_XML, sort_keys=True)
