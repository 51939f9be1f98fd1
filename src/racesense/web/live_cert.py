"""The https listener's certificate, kept in step with the laptop's addresses.

A phone's hotspot hands the laptop a new address each time it is switched on (Android
re-randomises its subnet), and a certificate must name the address the phone dials. So
the server asks for the current addresses every few seconds and, when they changed,
has the per-install CA issue a certificate for them and loads it into the listening
`SSLContext`: connections from then on get it (OpenSSL copies the certificate into each
connection when it starts), with no restart and nothing new to do on the phone, which
trusts the CA, not the certificate.
"""

from __future__ import annotations

import ipaddress
import logging
import socket
import ssl
import threading
from collections.abc import Callable
from pathlib import Path

from racesense.tls import LocalCA, ServerCert, ServerCertificates

log = logging.getLogger("racesense.web.live_cert")

MDNS_NAME = "racesense.local"


def default_names() -> list[str]:
    """racesense.local (mDNS), localhost, and this machine's name, as `<name>.local` and
    bare (a bare name only where it is a DNS label)."""
    names = [MDNS_NAME, "localhost"]
    host = socket.gethostname().split(".")[0].lower()
    if host and host.replace("-", "").isalnum():
        names += [f"{host}.local", host]
    return names


class LiveCertificate:
    """The server certificate for `names` and the addresses `addresses()` returns, and
    an SSLContext that always holds the current one."""

    def __init__(
        self,
        tls_dir: Path,
        addresses: Callable[[], list[str]],
        names: list[str] | None = None,
    ) -> None:
        self._tls_dir = tls_dir
        self.ca = LocalCA.load_or_create(tls_dir)
        self._ca_stamp = self._stamp()
        self._certs = ServerCertificates(self.ca)
        self._addresses = addresses
        self._names = [n for n in (names or default_names()) if self.ca.permitted.allows_dns(n)]
        self._lock = threading.Lock()
        self.context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self.context.minimum_version = ssl.TLSVersion.TLSv1_2
        self.current: ServerCert | None = None
        self._ips: list[str] = []
        self._issued_names: list[str] = []
        self.refresh()

    @property
    def der_sha256(self) -> str:
        """SHA-256 of the current certificate's DER: what a logger pins."""
        assert self.current is not None
        return self.current.der_sha256

    @property
    def names(self) -> list[str]:
        return list(self._names)

    @property
    def ips(self) -> list[str]:
        return list(self._ips)

    def certify_name(self, name: str) -> bool:
        """Name `name` in the certificate too, re-issuing it if it did not: the mDNS host
        name when another machine on the network already answers for racesense.local and
        this laptop goes on as `racesense-2.local`, so a phone that opens that name gets
        no certificate warning. False when it was named already or the CA may not."""
        name = name.rstrip(".").lower()
        with self._lock:
            if name in self._names or not self.ca.permitted.allows_dns(name):
                return False
            self._names.append(name)
        return self.refresh()

    def wanted_ips(self) -> list[str]:
        """Loopback and every current address the CA may certify (its name constraints
        keep it to private networks: a public address is left out, not refused)."""
        ips = ["127.0.0.1"]
        for text in self._addresses():
            try:
                address = ipaddress.ip_address(text)
            except ValueError:
                continue
            if self.ca.permitted.allows_ip(address) and text not in ips:
                ips.append(text)
        return ips

    def _stamp(self) -> int:
        try:
            return (self._tls_dir / "ca.crt").stat().st_mtime_ns
        except OSError:
            return 0

    def refresh(self) -> bool:
        """Re-issue and load the certificate if the addresses changed, or the CA did
        (`racesense ca rotate` while serving); True if it did."""
        with self._lock:
            stamp = self._stamp()
            if stamp != self._ca_stamp:
                self.ca = LocalCA.load_or_create(self._tls_dir)
                self._certs = ServerCertificates(self.ca)
                self._ca_stamp = stamp
                self.current = None  # a certificate of the new CA, whatever the addresses
                log.info("the certificate authority changed: a new server certificate")
            ips = self.wanted_ips()
            names = list(self._names)
            if self.current is not None and ips == self._ips and names == self._issued_names:
                return False
            cert_path, key_path, cert = self._certs.current(names, ips)
            self.context.load_cert_chain(cert_path, key_path)
            changed = self.current is not None
            self.current, self._ips, self._issued_names = cert, ips, names
        if changed:
            log.info("new server certificate for %s", ", ".join(names + ips))
        return True
