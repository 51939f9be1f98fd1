"""Where a logger on the phone's hotspot can reach this laptop.

The page may have come from `localhost` (the laptop's own browser), so the address the
browser used is not always one the logger can dial. The laptop's own addresses on its
networks come from psutil (the same on Linux, macOS and Windows); a request that
arrived over a network names the address it arrived at, which is then the first choice.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

LOOPBACK_HOSTS = frozenset({"localhost", "127.0.0.1", "::1", "0:0:0:0:0:0:0:1"})
ANY_HOSTS = frozenset({"0.0.0.0", "::", ""})


def lan_ipv4s() -> list[str]:
    """This machine's IPv4 addresses a device on a local network could dial: private
    ranges first (a phone hotspot hands those out), no loopback or link-local."""
    import psutil  # imported here: only the sync route needs it

    found: list[ipaddress.IPv4Address] = []
    for entries in psutil.net_if_addrs().values():
        for entry in entries:
            try:
                address = ipaddress.ip_address(entry.address.split("%")[0])
            except ValueError:
                continue
            if not isinstance(address, ipaddress.IPv4Address):
                continue
            if address.is_loopback or address.is_link_local or address.is_unspecified:
                continue
            found.append(address)
    found.sort(key=lambda a: (not a.is_private, str(a)))
    return [str(a) for a in dict.fromkeys(found)]


@dataclass(frozen=True)
class UploadTarget:
    url: str | None  # None: no address a logger could reach
    ip_fallback: str | None
    problem: str | None  # why a logger cannot reach this server, in words


def upload_target(
    scheme: str,
    request_host: str,
    local_address: str | None,
    port: int,
    bind_host: str | None,
    fixed_host: str | None = None,
) -> UploadTarget:
    """The upload URL and its IP fallback for a logger, from how the page reached us
    (`request_host`, `local_address`: the address the request arrived at) and where
    the server listens (`bind_host`: None when unknown, as in tests). `fixed_host`: the
    operator's choice (--upload-host), taken as it is."""
    path = "/api/upload"
    if fixed_host:
        shown = f"[{fixed_host}]" if ":" in fixed_host else fixed_host
        return UploadTarget(f"{scheme}://{shown}:{port}{path}", None, None)
    if bind_host is not None and _is_loopback(bind_host):
        return UploadTarget(
            None,
            None,
            "Racesense on the laptop listens only to the laptop itself, so the logger "
            "cannot reach it: start it with --host 0.0.0.0.",
        )

    def url(host: str) -> str:
        shown = f"[{host}]" if ":" in host else host
        return f"{scheme}://{shown}:{port}{path}"

    if not _is_loopback(request_host):
        # The browser reached us over a network: the logger joins the same hotspot.
        fallback = local_address if local_address and local_address != request_host else None
        if fallback is not None and _is_loopback(fallback):
            fallback = None
        return UploadTarget(url(request_host), url(fallback) if fallback else None, None)
    addresses = lan_ipv4s()
    if bind_host is not None and bind_host not in ANY_HOSTS:
        addresses = [a for a in addresses if a == bind_host] or [bind_host]
    if not addresses:
        return UploadTarget(
            None,
            None,
            "The laptop has no network address yet: connect it to your phone's hotspot, "
            "then start the sync again.",
        )
    return UploadTarget(url(addresses[0]), url(addresses[1]) if len(addresses) > 1 else None, None)


def phone_host(request_host: str, fixed_host: str | None = None) -> str:
    """The host a phone on the hotspot dials for this laptop: the one the request came
    by unless that is loopback (the laptop's own browser), else the operator's
    --upload-host, else the laptop's first LAN address (else the request's host)."""
    if request_host and not _is_loopback(request_host):
        return request_host
    if fixed_host and not _is_loopback(fixed_host):
        return fixed_host
    found = lan_ipv4s()
    return found[0] if found else (fixed_host or request_host or "localhost")


def _is_loopback(host: str) -> bool:
    if host in LOOPBACK_HOSTS:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False
