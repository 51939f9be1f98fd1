"""One end of the mDNS test, run inside a network namespace by tests/web/test_mdns.py.

    python mdns_peer.py advertise HOST_NAME INSTANCE_NAME
    python mdns_peer.py resolve BIND_ADDRESS

Commands arrive as JSON lines on stdin; each gets one JSON line on stdout with
"reply": true. The resolver also prints browser events ({"event": "added", ...}).
"""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import AsyncIterator
from typing import Any

from zeroconf import (  # type: ignore[attr-defined]
    AddressResolverIPv4,
    IPVersion,
    ServiceStateChange,
    Zeroconf,
)
from zeroconf.asyncio import AsyncServiceBrowser, AsyncServiceInfo, AsyncZeroconf

from racesense.web.mdns import SERVICE_TYPE, Advertiser


def say(message: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(message) + "\n")
    sys.stdout.flush()


async def commands() -> AsyncIterator[dict[str, Any]]:
    loop = asyncio.get_running_loop()
    while True:
        line = await loop.run_in_executor(None, sys.stdin.readline)
        if not line:
            return
        yield json.loads(line)


async def advertise(host_name: str, instance_name: str) -> None:
    adv = Advertiser(
        host_name=host_name,
        https_port=8443,
        http_port=8000,
        upload_port=8766,
        instance_name=instance_name,
    )
    async for command in commands():
        cmd = command["cmd"]
        if cmd == "start":
            await adv.start(command["addresses"])
        elif cmd == "update":
            await adv.update(command["addresses"])
        elif cmd == "stop":
            await adv.stop()
        elif cmd == "quit":
            break
        say(
            {
                "reply": True,
                "name": adv.service_name,
                "host": adv.host,
                "addresses": list(adv.addresses),
            }
        )
    await adv.stop()
    say({"reply": True, "quit": True})


async def resolve(bind_address: str) -> None:
    aiozc = AsyncZeroconf(interfaces=[bind_address], ip_version=IPVersion.V4Only)

    def on_change(
        zeroconf: Zeroconf, service_type: str, name: str, state_change: ServiceStateChange
    ) -> None:
        say({"event": state_change.name.lower(), "name": name})

    browser = AsyncServiceBrowser(aiozc.zeroconf, [SERVICE_TYPE], handlers=[on_change])
    say({"reply": True, "ready": True})
    async for command in commands():
        cmd = command["cmd"]
        if cmd == "info":
            info = AsyncServiceInfo(SERVICE_TYPE, command["name"])
            found = await info.async_request(aiozc.zeroconf, 3000)
            say(
                {
                    "reply": True,
                    "found": found,
                    "port": info.port,
                    "server": info.server,
                    "properties": info.decoded_properties,
                    "addresses": info.parsed_addresses(IPVersion.V4Only),
                }
            )
        elif cmd == "host":
            resolver = AddressResolverIPv4(command["name"])
            found = await resolver.async_request(aiozc.zeroconf, command.get("timeout_ms", 2000))
            addresses = resolver.parsed_addresses(IPVersion.V4Only) if found else []
            say({"reply": True, "addresses": sorted(addresses)})
        elif cmd == "quit":
            break
    await browser.async_cancel()
    await aiozc.async_close()
    say({"reply": True, "quit": True})


def main() -> None:
    role = sys.argv[1]
    if role == "advertise":
        asyncio.run(advertise(sys.argv[2], sys.argv[3]))
    elif role == "resolve":
        asyncio.run(resolve(sys.argv[2]))
    else:
        raise SystemExit(f"unknown role {role!r}")


if __name__ == "__main__":
    main()
