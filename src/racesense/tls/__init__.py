"""https on the LAN: a per-install local CA, the server's certificate, phone profiles.

For the server: `ca = LocalCA.load_or_create(data_dir / "tls")`, then
`ServerCertificates(ca).current(names, ips)` whenever the LAN addresses change; it gives
the cert and key paths (and returns the same files while nothing changed).
"""

from __future__ import annotations

from racesense.tls.ca import CAError, LocalCA, ServerCert, colon_hex
from racesense.tls.names import Permitted
from racesense.tls.profiles import (
    CA_CRT_CONTENT_TYPE,
    MOBILECONFIG_CONTENT_TYPE,
    ca_crt,
    ios_mobileconfig,
)
from racesense.tls.server_cert import ServerCertificates

__all__ = [
    "CA_CRT_CONTENT_TYPE",
    "MOBILECONFIG_CONTENT_TYPE",
    "CAError",
    "LocalCA",
    "Permitted",
    "ServerCert",
    "ServerCertificates",
    "ca_crt",
    "colon_hex",
    "ios_mobileconfig",
]
