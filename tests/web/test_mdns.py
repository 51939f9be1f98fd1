"""mDNS advertising (web/mdns.py): a real round trip between two network namespaces.

Nothing here sends multicast on this machine's own interfaces: the round trip runs in
two namespaces the test creates, joined by a veth pair (10.231.0.0/24), and removed
afterwards even on failure. Creating namespaces needs root; elsewhere that test skips.
"""

from __future__ import annotations

import asyncio
import json
import os
import queue
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from racesense.settings import Settings
from racesense.web import mdns

PEER = Path(__file__).with_name("mdns_peer.py")
NS_A = f"rs-mdns-a-{os.getpid()}"
NS_B = f"rs-mdns-b-{os.getpid()}"
A1, A2, B1 = "10.231.0.1", "10.231.0.3", "10.231.0.2"
INSTANCE = "Racesense test"
SERVICE = f"{INSTANCE}.{mdns.SERVICE_TYPE}"


# -- without a network -------------------------------------------------------------


def test_enabled_follows_racesense_mdns(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("RACESENSE_MDNS", raising=False)
    assert mdns.enabled(Settings.from_env(tmp_path))
    for value, expected in (("off", False), ("0", False), ("on", True), ("yes", True)):
        monkeypatch.setenv("RACESENSE_MDNS", value)
        assert mdns.enabled(Settings.from_env(tmp_path)) is expected
    monkeypatch.setenv("RACESENSE_MDNS", "maybe")
    with pytest.raises(SystemExit, match="RACESENSE_MDNS"):
        Settings.from_env(tmp_path)


def test_txt_record_and_port() -> None:
    adv = mdns.Advertiser(https_port=8443, http_port=8000, upload_port=8766)
    assert adv.port == 8443
    assert adv.properties() == {
        "path": "/",
        "https": "8443",
        "http": "8000",
        "upload": "8766",
        "v": "1",
    }
    assert adv.instance_name.startswith("Racesense on ")
    plain = mdns.Advertiser(https_port=None, http_port=8000, upload_port=None)
    assert plain.port == 8000
    assert plain.properties()["https"] == ""
    with pytest.raises(ValueError):
        mdns.Advertiser(https_port=None, http_port=None, upload_port=8766)


def test_no_usable_address_advertises_nothing() -> None:
    # Loopback, IPv6 and junk are dropped before any socket opens: nothing is sent.
    async def run() -> None:
        adv = mdns.Advertiser(https_port=8443, http_port=8000, upload_port=None)
        await adv.start(["127.0.0.1", "::1", "fe80::1", "not an address"])
        assert adv.addresses == ()
        assert adv.host is None
        await adv.update(["127.0.0.1"])
        await adv.stop()
        await adv.stop()

    asyncio.run(run())


# -- a round trip between two namespaces --------------------------------------------


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, text=True, timeout=10)


@pytest.fixture(scope="module")
def netns() -> Iterator[None]:
    if sys.platform != "linux" or shutil.which("ip") is None:
        pytest.skip("mDNS test needs Linux network namespaces (iproute2's `ip`)")
    if os.geteuid() != 0:
        pytest.skip("mDNS test needs root to create network namespaces")
    try:
        _ip("netns", "add", NS_A)
    except (subprocess.CalledProcessError, OSError) as exc:
        pytest.skip(f"`ip netns` is unavailable here: {getattr(exc, 'stderr', exc)}")
    try:
        _ip("netns", "add", NS_B)
        veth = ("link", "add", "rsm-a", "type", "veth", "peer", "name", "rsm-b")
        _ip("-n", NS_A, *veth, "netns", NS_B)
        for ns, dev, address in ((NS_A, "rsm-a", A1), (NS_B, "rsm-b", B1)):
            _ip("-n", ns, "link", "set", "lo", "up")
            _ip("-n", ns, "addr", "add", f"{address}/24", "dev", dev)
            _ip("-n", ns, "link", "set", dev, "multicast", "on", "up")
        yield
    finally:
        for ns in (NS_A, NS_B):
            subprocess.run(["ip", "netns", "del", ns], capture_output=True, timeout=10)


class Peer:
    """mdns_peer.py running in a namespace, spoken to in JSON lines."""

    def __init__(self, ns: str, *args: str) -> None:
        env = dict(os.environ, PYTHONPATH=str(Path(__file__).parents[2] / "src"))
        self.proc = subprocess.Popen(
            ["ip", "netns", "exec", ns, sys.executable, str(PEER), *args],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        self.replies: queue.Queue[dict[str, Any]] = queue.Queue()
        self.events: list[dict[str, Any]] = []
        self.stderr: list[str] = []
        self.readers = [
            threading.Thread(target=self._read, daemon=True),
            threading.Thread(target=self._read_stderr, daemon=True),
        ]
        for reader in self.readers:
            reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            message = json.loads(line)
            if message.get("reply"):
                self.replies.put(message)
            else:
                self.events.append(message)

    def _read_stderr(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.stderr.append(line)

    def reply(self, timeout: float = 10.0) -> dict[str, Any]:
        try:
            return self.replies.get(timeout=timeout)
        except queue.Empty:
            stderr = "".join(self.stderr)
            raise AssertionError(f"no answer from the peer; stderr: {stderr}") from None

    def call(self, timeout: float = 10.0, **command: Any) -> dict[str, Any]:
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps(command) + "\n")
        self.proc.stdin.flush()
        return self.reply(timeout)

    def close(self) -> None:
        if self.proc.poll() is None:
            try:
                self.call(cmd="quit", timeout=5)
                self.proc.wait(timeout=5)
            except (AssertionError, OSError, subprocess.TimeoutExpired):
                self.proc.kill()
                self.proc.wait()
        for reader in self.readers:
            reader.join(timeout=5)
        for pipe in (self.proc.stdin, self.proc.stdout, self.proc.stderr):
            if pipe is not None:
                pipe.close()
        assert not any("Traceback" in line for line in self.stderr), "".join(self.stderr)


@pytest.fixture
def peers() -> Iterator[Callable[..., Peer]]:
    started: list[Peer] = []

    def start(ns: str, *args: str) -> Peer:
        peer = Peer(ns, *args)
        started.append(peer)
        return peer

    yield start
    for peer in reversed(started):
        peer.close()


def _until(check: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


def test_round_trip_update_and_goodbye(netns: None, peers: Callable[..., Peer]) -> None:
    resolver = peers(NS_B, "resolve", B1)
    assert resolver.reply().get("ready")
    advertiser = peers(NS_A, "advertise", "racesense", INSTANCE)

    started = advertiser.call(cmd="start", addresses=[A1, "127.0.0.1"])
    assert started == {
        "reply": True,
        "name": SERVICE,
        "host": "racesense.local",
        "addresses": [A1],
    }

    # The browser finds the service; its SRV, TXT and address records resolve.
    _until(lambda: {"event": "added", "name": SERVICE} in resolver.events, 5, "the service")
    info = resolver.call(cmd="info", name=SERVICE)
    assert info["found"]
    assert info["port"] == 8443
    assert info["server"] == "racesense.local."
    assert info["addresses"] == [A1]
    assert info["properties"] == {
        "path": "/",
        "https": "8443",
        "http": "8000",
        "upload": "8766",
        "v": "1",
    }
    assert resolver.call(cmd="host", name="racesense.local.")["addresses"] == [A1]

    # The same addresses again: nothing is re-registered.
    assert advertiser.call(cmd="update", addresses=[A1])["addresses"] == [A1]

    # The hotspot handed out another subnet: goodbyes for the old address, then the new.
    _ip("-n", NS_A, "addr", "add", f"{A2}/24", "dev", "rsm-a")
    assert advertiser.call(cmd="update", addresses=[A2])["addresses"] == [A2]
    _until(
        lambda: (
            resolver.call(cmd="host", name="racesense.local.", timeout_ms=500)["addresses"] == [A2]
        ),
        6,
        "racesense.local to move to the new address",
    )

    # Stopping says goodbye: the browser sees the service go at once, not after its TTL.
    resolver.events.clear()
    assert advertiser.call(cmd="stop")["addresses"] == []
    _until(
        lambda: {"event": "removed", "name": SERVICE} in resolver.events,
        5,
        "the goodbye",
    )


def test_name_conflicts_do_not_raise(netns: None, peers: Callable[..., Peer]) -> None:
    first = peers(NS_A, "advertise", "racesense", INSTANCE)
    assert first.call(cmd="start", addresses=[A1])["name"] == SERVICE

    # A second advertiser of the same names on the same machine and address starts too
    # (whether it sees the first depends on which socket gets a unicast answer there).
    twin = peers(NS_A, "advertise", "racesense", INSTANCE)
    answer = twin.call(cmd="start", addresses=[A1])
    assert answer["name"].endswith(f".{mdns.SERVICE_TYPE}")
    assert answer["addresses"] == [A1]
    assert twin.call(cmd="stop")["addresses"] == []

    # Another machine with the same instance name and racesense.local: it goes on
    # under other names, with warnings.
    other = peers(NS_B, "advertise", "racesense", INSTANCE)
    answer = other.call(cmd="start", addresses=[B1])
    assert answer["name"] == f"{INSTANCE}-2.{mdns.SERVICE_TYPE}"
    assert answer["host"] == "racesense-2.local"
    assert answer["addresses"] == [B1]
