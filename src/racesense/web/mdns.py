"""mDNS for the pit laptop: `racesense.local` and the DNS-SD service `_racesense._tcp`.

Phones and the logger on the phone's hotspot find the laptop by name instead of by an
address that changes each time the hotspot is switched on. python-zeroconf answers A
queries for the server name of a registered service, so one registration gives both the
host name and the service. Zeroconf is bound to the given IPv4 addresses' interfaces
only (never every interface of the laptop), and runs on the caller's asyncio loop.

Usage, from the server's loop:

    adv = Advertiser(https_port=8443, http_port=8000, upload_port=8001)
    await adv.start(lan_ipv4s())   # on startup
    await adv.update(lan_ipv4s())  # when the addresses may have changed: cheap when not
    await adv.stop()               # on shutdown: goodbyes, then closes

None of these raise for network trouble: mDNS is a convenience, the IP address still
works, so failures are logged as warnings. A service instance name already taken on the
network gets a suffix ("Racesense on pit-2"); a host name already answered by another
machine with other addresses is renamed likewise (`racesense-2.local`, see `host`),
with a warning; `racesense serve` then certifies that name too (cli/serve.py).
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import socket
from collections.abc import Iterable
from typing import TYPE_CHECKING

# AddressResolverIPv4 is public (zeroconf's docs import it from `zeroconf`), though
# missing from its __all__.
from zeroconf import (  # type: ignore[attr-defined]
    AddressResolverIPv4,
    DNSQuestionType,
    IPVersion,
    ServiceInfo,
)
from zeroconf.asyncio import AsyncServiceBrowser, AsyncZeroconf

if TYPE_CHECKING:
    from racesense.settings import Settings

log = logging.getLogger(__name__)

SERVICE_TYPE = "_racesense._tcp.local."
HOST_PROBE_MS = 800  # how long to wait for another machine answering for our host name
_MAX_HOST_RENAMES = 9
_ASK = DNSQuestionType.QM
_MAX_INSTANCE_CHARS = 50  # a DNS label is 63 bytes at most; room for a "-N" suffix


def enabled(settings: Settings) -> bool:
    """Whether to advertise over mDNS (RACESENSE_MDNS, on by default)."""
    return settings.mdns


def _ignore(**_: object) -> None:
    """A browser's handler that wants no events (the browser only fills the cache)."""


def _default_instance_name() -> str:
    machine = socket.gethostname().split(".")[0] or "laptop"
    return f"Racesense on {machine}"


def _usable_ipv4s(addresses: Iterable[str]) -> tuple[str, ...]:
    """The IPv4 addresses mDNS can be offered on: sorted, unique, no loopback,
    unspecified or multicast ones (those reach no phone)."""
    found: set[ipaddress.IPv4Address] = set()
    for text in addresses:
        try:
            address = ipaddress.ip_address(text.strip())
        except ValueError:
            continue
        if not isinstance(address, ipaddress.IPv4Address):
            continue
        if address.is_loopback or address.is_unspecified or address.is_multicast:
            continue
        found.add(address)
    return tuple(str(a) for a in sorted(found))


def _truncate_label(text: str, limit: int) -> str:
    encoded = text.encode("utf-8")[:limit]
    return encoded.decode("utf-8", errors="ignore").strip() or "Racesense"


class Advertiser:
    """Advertises this laptop as `<host_name>.local` and a `_racesense._tcp` service.

    `start`, `update` and `stop` are coroutines for the server's loop; calls are
    serialised, and none of them raises for a network problem."""

    def __init__(
        self,
        host_name: str = "racesense",
        https_port: int | None = None,
        http_port: int | None = None,
        upload_port: int | None = None,
        instance_name: str | None = None,
    ) -> None:
        port = https_port or http_port
        if port is None:
            raise ValueError("an https or http port is needed to advertise")
        self.host_name = host_name
        self.https_port = https_port
        self.http_port = http_port
        self.upload_port = upload_port
        self.port = port
        self.instance_name = _truncate_label(
            instance_name or _default_instance_name(), _MAX_INSTANCE_CHARS
        )
        self._lock = asyncio.Lock()
        self._aiozc: AsyncZeroconf | None = None
        self._info: ServiceInfo | None = None
        self._addresses: tuple[str, ...] = ()

    @property
    def addresses(self) -> tuple[str, ...]:
        """The IPv4 addresses advertised now (empty when not advertising)."""
        return self._addresses if self._info is not None else ()

    @property
    def service_name(self) -> str | None:
        """The registered instance's full name (it may have got a suffix), or None."""
        return self._info.name if self._info is not None else None

    @property
    def host(self) -> str | None:
        """The advertised host name without the trailing dot (`racesense.local`), or
        None when not advertising."""
        if self._info is None or self._info.server is None:
            return None
        return self._info.server.rstrip(".")

    def properties(self) -> dict[str, str]:
        """The TXT record: where the UI, plain http and uploads are."""
        return {
            "path": "/",
            "https": str(self.https_port) if self.https_port else "",
            "http": str(self.http_port) if self.http_port else "",
            "upload": str(self.upload_port) if self.upload_port else "",
            "v": "1",
        }

    async def start(self, addresses: list[str]) -> None:
        """Advertise on these IPv4 addresses (others and loopback are ignored)."""
        async with self._lock:
            await self._stop_locked()
            await self._start_locked(_usable_ipv4s(addresses))

    async def update(self, addresses: list[str]) -> None:
        """Advertise on these addresses from now on; nothing happens when they are the
        ones advertised already. A change re-registers: goodbyes for the old addresses
        (phones forget them at once), then the new ones."""
        wanted = _usable_ipv4s(addresses)
        if self._info is not None and wanted == self._addresses:
            return
        async with self._lock:
            if self._info is not None and wanted == self._addresses:
                return
            await self._stop_locked()
            await self._start_locked(wanted)

    async def stop(self) -> None:
        """Withdraw the service and host name (goodbye packets) and close."""
        async with self._lock:
            await self._stop_locked()

    async def _start_locked(self, addresses: tuple[str, ...]) -> None:
        self._addresses = addresses
        if not addresses:
            log.info("mDNS: no network address to advertise racesense.local on")
            return
        try:
            aiozc = AsyncZeroconf(interfaces=list(addresses), ip_version=IPVersion.V4Only)
        except Exception as exc:  # mDNS must never stop the server
            log.warning("mDNS: cannot listen on %s: %s", ", ".join(addresses), exc)
            return
        self._aiozc = aiozc
        # zeroconf renames a taken instance name only when it has seen the other
        # instance's PTR record; a browser asks for those while the host name is probed.
        # Answers are asked for by multicast: a unicast answer to port 5353 could reach
        # another responder on this laptop (Avahi) instead of this one.
        browser = AsyncServiceBrowser(
            aiozc.zeroconf, [SERVICE_TYPE], handlers=[_ignore], question_type=_ASK
        )
        try:
            try:
                server = await self._free_host_name(aiozc, addresses)
                info = ServiceInfo(
                    SERVICE_TYPE,
                    f"{self.instance_name}.{SERVICE_TYPE}",
                    port=self.port,
                    properties=self.properties(),
                    server=server,
                    parsed_addresses=list(addresses),
                )
                announced = await aiozc.async_register_service(info, allow_name_change=True)
            finally:
                await browser.async_cancel()
            self._info = info
            await announced
        except Exception as exc:  # mDNS must never stop the server
            log.warning("mDNS: advertising %s.local failed: %s", self.host_name, exc)
            self._aiozc = None
            self._info = None
            await self._close(aiozc)
            return
        log.info("mDNS: %s on %s as %r", server.rstrip("."), ", ".join(addresses), info.name)

    async def _free_host_name(self, aiozc: AsyncZeroconf, addresses: tuple[str, ...]) -> str:
        """`<host_name>.local.`, unless another machine answers for it with other
        addresses: then `<host_name>-2.local.` and so on, with a warning."""
        ours = set(addresses)
        wanted = f"{self.host_name}.local."
        for number in range(1, _MAX_HOST_RENAMES + 1):
            name = wanted if number == 1 else f"{self.host_name}-{number}.local."
            resolver = AddressResolverIPv4(name)
            if not await resolver.async_request(aiozc.zeroconf, HOST_PROBE_MS, _ASK):
                break
            others = set(resolver.parsed_addresses(IPVersion.V4Only)) - ours
            if not others:
                break  # only our own addresses (a restart before the old TTL ran out)
            log.warning(
                "mDNS: %s is already in use by %s; phones can still use the IP address",
                name.rstrip("."),
                ", ".join(sorted(others)),
            )
        else:
            return wanted
        if name != wanted:
            log.warning("mDNS: advertising this laptop as %s instead", name.rstrip("."))
        return name

    async def _stop_locked(self) -> None:
        aiozc, info = self._aiozc, self._info
        self._aiozc = None
        self._info = None
        self._addresses = ()
        if aiozc is None:
            return
        if info is not None:
            try:
                goodbyes = await aiozc.async_unregister_service(info)
                await goodbyes
            except Exception as exc:  # the interface may be gone
                log.warning("mDNS: withdrawing %s failed: %s", info.name, exc)
        await self._close(aiozc)

    @staticmethod
    async def _close(aiozc: AsyncZeroconf) -> None:
        try:
            await aiozc.async_close()
        except Exception as exc:  # closing must not fail shutdown
            log.warning("mDNS: closing failed: %s", exc)
