"""The names a local CA may certify: LAN-only DNS names and private address ranges.

The CA's NameConstraints extension lists them, so that a phone which trusts the CA
trusts it for this laptop's LAN only: a stolen CA key cannot impersonate a public site.
"""

from __future__ import annotations

import ipaddress
import re
import socket
from collections.abc import Iterable
from dataclasses import dataclass

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

# "local" covers racesense.local and every other mDNS name; a DNS constraint always
# admits the name itself and every name below it (RFC 5280, 4.2.1.10).
BASE_DNS = ("local", "localhost")
PRIVATE_NETWORKS: tuple[IPNetwork, ...] = tuple(
    ipaddress.ip_network(n)
    for n in (
        "10.0.0.0/8",
        "172.16.0.0/12",
        "192.168.0.0/16",
        "127.0.0.0/8",
        "100.64.0.0/10",  # carrier-grade NAT: some phone hotspots hand these out
        "169.254.0.0/16",  # link-local: a laptop and phone with no DHCP
        "fc00::/7",
        "fe80::/10",
        "::1/128",
    )
)

_LABEL = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")


@dataclass(frozen=True)
class Permitted:
    """The subtrees a CA's NameConstraints permit."""

    dns: tuple[str, ...]
    networks: tuple[IPNetwork, ...]

    def allows_dns(self, name: str) -> bool:
        return any(name == base or name.endswith("." + base) for base in self.dns)

    def allows_ip(self, ip: IPAddress) -> bool:
        return any(ip.version == net.version and ip in net for net in self.networks)

    def describe(self) -> str:
        return "DNS " + ", ".join(self.dns) + "; IP " + ", ".join(str(n) for n in self.networks)


def is_label(text: str) -> bool:
    return bool(_LABEL.match(text))


def host_label(hostname: str | None = None) -> str | None:
    """This machine's bare host name, lower-cased, if it is a usable DNS label."""
    name = (hostname if hostname is not None else socket.gethostname()).strip().lower()
    label = name.split(".", 1)[0]
    if not is_label(label) or label in BASE_DNS or label.isdigit():
        return None
    return label


def default_permitted(hostname: str | None = None) -> Permitted:
    label = host_label(hostname)
    dns = (*BASE_DNS, label) if label else BASE_DNS
    return Permitted(dns=dns, networks=PRIVATE_NETWORKS)


def dns_name(text: str) -> str:
    """A DNS name in the form a certificate holds, or ValueError saying what is wrong."""
    name = text.strip().lower().rstrip(".")
    if not name.isascii():
        raise ValueError(f"{text!r} is not an ASCII host name; give its punycode (xn--) form.")
    try:
        ipaddress.ip_address(name)
    except ValueError:
        pass
    else:
        raise ValueError(f"{text!r} is an IP address; give it as an IP, not as a DNS name.")
    labels = name.split(".")
    body = labels[1:] if labels[0] == "*" and len(labels) > 1 else labels
    if len(name) > 253 or not all(is_label(label) for label in body):
        raise ValueError(f"{text!r} is not a valid DNS name.")
    return name


def ip_address(value: str | IPAddress) -> IPAddress:
    """An IP address; an IPv6 zone (fe80::1%wlan0) is dropped, certificates hold none."""
    text = str(value).split("%", 1)[0].strip()
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        raise ValueError(f"{value!r} is not an IP address.") from None


def normalise(
    dns_names: Iterable[str], ips: Iterable[str | IPAddress]
) -> tuple[tuple[str, ...], tuple[IPAddress, ...]]:
    """Names and addresses validated, de-duplicated, first occurrence first."""
    names = tuple(dict.fromkeys(dns_name(n) for n in dns_names))
    addresses = tuple(dict.fromkeys(ip_address(ip) for ip in ips))
    return names, addresses
