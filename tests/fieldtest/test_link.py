"""The shaped link of `racesense fieldtest`: rate, delay, outages and clean-up, measured.

The netns tests need root (they make a namespace, a veth pair and qdiscs, all named
``rsft-<pid>-…``); the in-process fallback and the command builders run anywhere. A
helper server (link_server.py) runs where the backend would: inside the namespace.
"""

from __future__ import annotations

import itertools
import json
import os
import socket
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path

import pytest

from racesense.fieldtest import tc
from racesense.fieldtest.link import (
    Mode,
    ShapedLink,
    cleanup_stale,
    describe_emulation,
    leftovers,
    namespaces_unavailable,
)
from racesense.fieldtest.presets import PRESETS, LinkPreset
from racesense.fieldtest.schedule import OutageSchedule, loss_stall_s

SERVER = Path(__file__).with_name("link_server.py")
NO_NETNS = namespaces_unavailable()
needs_netns = pytest.mark.skipif(
    NO_NETNS is not None, reason=f"network namespaces unavailable: {NO_NETNS}"
)
CROWDED_SEED = 3  # its first outage burst comes early (asserted below)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@contextmanager
def shaped(preset: str, mode: Mode, seed: int = 1) -> Iterator[ShapedLink]:
    """A link with the echo/sink server running where the backend would."""
    port = 18777 if mode == "netns" else _free_port()
    with ShapedLink(preset, server_port=port, seed=seed, mode=mode) as link:
        argv = [sys.executable, str(SERVER), link.server_address, str(port)]
        server = subprocess.Popen(link.server_command(argv), stdout=subprocess.PIPE, text=True)
        try:
            assert server.stdout is not None
            assert server.stdout.readline().strip() == "ready"
            yield link
        finally:
            server.terminate()
            server.wait(10)
            assert server.stdout is not None
            server.stdout.close()


def _connect(link: ShapedLink, mode: bytes) -> socket.socket:
    sock = socket.create_connection(link.client_address, timeout=15)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.sendall(mode)
    return sock


def upload_rate(link: ShapedLink, size: int) -> float:
    """Bit/s of an upload of `size` bytes, as the server received it."""
    with _connect(link, b"S") as sock, sock.makefile("rb") as answer:
        sock.sendall(size.to_bytes(8, "big") + bytes(size))
        result = json.loads(answer.readline())
    assert result["got"] == size
    return float(result["after_first"] * 8 / result["seconds"])


def round_trips(link: ShapedLink, count: int) -> tuple[float, list[float]]:
    """The first exchange of a new connection (with its handshake), then `count` more."""
    times = []
    with _connect(link, b"E") as sock:
        for _ in range(count + 1):
            start = time.monotonic()
            sock.sendall(b"x")
            assert sock.recv(16) == b"x"
            times.append(time.monotonic() - start)
    return times[0], times[1:]


def largest_gap_around_burst(link: ShapedLink) -> tuple[float, float]:
    """(largest gap between echoes, the burst's length) around the link's first burst.

    A byte goes out every 10 ms from half a second before the burst to half a second
    after; the echoes stop for the burst's length.
    """
    assert link.schedule is not None
    burst = link.schedule.until(time.monotonic() + 60, "burst")[0]
    assert burst.start - time.monotonic() < 8, "the seed's first burst should come early"
    others = [o for o in link.schedule.until(burst.end + 2, "loss") if o.end > burst.start - 2]
    assert not others, "a loss stall near the burst would blur the measurement"
    arrivals: list[float] = []
    with _connect(link, b"E") as sock:

        def read() -> None:
            while data := sock.recv(4096):
                now = time.monotonic()
                arrivals.extend([now] * len(data))

        reader = threading.Thread(target=read)
        reader.start()
        time.sleep(max(0.0, burst.start - 0.5 - time.monotonic()))
        stop = burst.end + 0.5 + 2 * link.preset.delay_ms / 1000
        while time.monotonic() < stop:
            sock.sendall(b"x")
            time.sleep(0.01)
        sock.shutdown(socket.SHUT_WR)
        reader.join(10)
    gaps = [b - a for a, b in itertools.pairwise(arrivals)]
    return max(gaps), burst.duration


# --- the command builders and the schedule (anywhere) ----------------------------------


def test_netem_command() -> None:
    assert tc.netem_command("rsft1-1h", PRESETS["poor"], "rsft-1-1") == [
        *("tc", "-n", "rsft-1-1", "qdisc", "replace", "dev", "rsft1-1h", "root", "netem"),
        *("delay", "150ms", "loss", "2%", "rate", "2000000bit", "limit", "1000"),
    ]
    big = LinkPreset("big", rate_bit_s=1_000_000_000, delay_ms=50)
    command = tc.netem_command("eth9", big)
    assert command[:7] == ["tc", "qdisc", "replace", "dev", "eth9", "root", "netem"]
    assert "loss" not in command
    assert command[-2:] == ["limit", "16513"]  # twice 125 MB/s * 100 ms, in frames
    assert tc.netem_probe_command("x") == [
        *("tc", "qdisc", "replace", "dev", "x", "root", "netem", "delay", "0ms"),
    ]


def test_tbf_command() -> None:
    assert tc.tbf_command("rsft1-1h", 20_000_000) == [
        *("tc", "qdisc", "replace", "dev", "rsft1-1h", "root", "tbf"),
        *("rate", "20000000bit", "burst", "10000", "latency", "50ms"),
    ]
    assert tc.tbf_burst_bytes(2_000_000) == 4 * 1514  # at least 4 frames
    assert tc.tbf_command("s", 5_000_000, "ns")[:3] == ["tc", "-n", "ns"]


def test_schedule_is_seeded_and_loss_stalls_take_the_loss_share() -> None:
    poor = PRESETS["poor"]
    a = OutageSchedule(poor, seed=7, t0=0.0, keep_s=1e9).until(20_000)
    b = OutageSchedule(poor, seed=7, t0=0.0, keep_s=1e9).until(20_000)
    assert a == b and a != OutageSchedule(poor, seed=8, t0=0.0, keep_s=1e9).until(20_000)
    assert {o.kind for o in a} == {"loss"}
    assert all(o.duration == pytest.approx(loss_stall_s(poor)) == 0.6 for o in a)
    share = sum(o.duration for o in a) / 20_000
    assert share == pytest.approx(poor.loss_pct / 100, rel=0.15)

    crowded = OutageSchedule(PRESETS["crowded"], seed=7, t0=100.0, keep_s=1e9)
    bursts = crowded.until(100.0 + 5_000, "burst")
    assert all(o.duration == pytest.approx(0.3) for o in bursts)
    assert 5_000 / len(bursts) == pytest.approx(5.3, rel=0.15)  # 5 s apart + 0.3 s each
    first = bursts[0]
    assert crowded.outage_at(first.start + 0.1) == pytest.approx(first.end)
    assert crowded.outage_at(first.end + 1e-6) is None or any(
        o.start <= first.end + 1e-6 < o.end for o in crowded.until(first.end + 1)
    )
    assert OutageSchedule(PRESETS["good"], seed=1, t0=0.0).empty


def test_emulation_sentences() -> None:
    crowded = PRESETS["crowded"]
    assert describe_emulation(PRESETS["good"], "tbf") == (
        "tbf 20 Mbit/s on veth (kernel); delay 30 ms each way by a userspace relay (no netem here)"
    )
    assert describe_emulation(crowded, "netem") == (
        "netem 5 Mbit/s, delay 80 ms each way, 1% loss on veth (kernel); "
        "outages of 300 ms about every 5 s by a userspace relay"
    )
    assert "no network namespaces: not root" in describe_emulation(crowded, "inprocess", "not root")
    assert "1% loss as stalls of 320 ms about every 32 s" in describe_emulation(crowded, "tbf")


# --- measured through a namespace (root) ------------------------------------------------


@needs_netns
@pytest.mark.parametrize(("preset", "size"), [("good", 2_000_000), ("poor", 500_000)])
def test_netns_rate_and_delay(preset: str, size: int) -> None:
    with shaped(preset, "netns") as link:
        assert link.kind == "tbf"  # this machine's kernel has no netem
        assert link.server_ns and link.server_address.startswith("10.240.")
        rate = upload_rate(link, size)
        first, rtts = round_trips(link, 6 if preset == "good" else 3)
        counters = link.counters()
    print(f"{preset}: {rate / 1e6:.2f} Mbit/s, RTT {[round(r * 1000) for r in rtts]} ms")
    p = PRESETS[preset]
    assert rate == pytest.approx(p.rate_bit_s, rel=0.2)
    assert statistics.median(rtts) == pytest.approx(2 * p.delay_ms / 1000, rel=0.3)
    assert first == pytest.approx(4 * p.delay_ms / 1000, rel=0.3)  # with the handshake
    assert counters.bytes_up >= size and counters.connections == 2


@needs_netns
def test_netns_crowded_stalls_for_its_bursts() -> None:
    with shaped("crowded", "netns", seed=CROWDED_SEED) as link:
        gap, burst = largest_gap_around_burst(link)
        counters = link.counters()
    print(f"crowded: largest gap {gap * 1000:.0f} ms for a burst of {burst * 1000:.0f} ms")
    assert gap == pytest.approx(burst, abs=0.08)
    assert counters.stalls >= 1 and counters.stalled_s > 0.2


@needs_netns
@pytest.mark.parametrize("error", [RuntimeError, KeyboardInterrupt])
def test_netns_cleaned_up_when_the_body_raises(error: type[BaseException]) -> None:
    with pytest.raises(error, match="boom"), shaped("good", "netns") as link:
        name = link.server_ns
        # a process of the backend, left running in the namespace
        stray = subprocess.Popen(link.server_command(["sleep", "60"]))
        assert any(name in line for line in leftovers(os.getpid()))
        raise error("boom")
    assert stray.wait(5) is not None
    assert leftovers(os.getpid()) == []


@needs_netns
def test_cleanup_stale_removes_dead_runs_only() -> None:
    dead = subprocess.Popen(["true"])
    dead.wait()
    ns, host = f"rsft-{dead.pid}-1", f"rsft{dead.pid}-1h"
    subprocess.run(["ip", "netns", "add", ns], check=True)
    subprocess.run(
        ["ip", "link", "add", host, "type", "veth", "peer", "name", "rsft-x"], check=True
    )
    with ShapedLink("good", server_port=1, mode="netns") as link:
        removed = cleanup_stale()
        assert f"netns {ns}" in removed and f"interface {host}" in removed
        assert leftovers(os.getpid())  # a live process's link stays
        assert link.server_ns not in " ".join(removed)
    assert leftovers(dead.pid) == [] and leftovers(os.getpid()) == []


# --- the in-process fallback (anywhere) ---------------------------------------------------


def test_inprocess_rate_and_delay() -> None:
    with shaped("good", "inprocess") as link:
        assert link.kind == "inprocess" and link.server_ns is None
        assert "in-process relay" in link.emulation and "token bucket 20 Mbit/s" in link.emulation
        rate = upload_rate(link, 2_000_000)
        _, rtts = round_trips(link, 5)
    print(f"in-process good: {rate / 1e6:.2f} Mbit/s, RTT {[round(r * 1000) for r in rtts]} ms")
    assert rate == pytest.approx(20e6, rel=0.3)
    assert statistics.median(rtts) == pytest.approx(0.06, rel=0.4)
    with shaped("poor", "inprocess") as link:
        rate = upload_rate(link, 400_000)
        _, rtts = round_trips(link, 3)
    print(f"in-process poor: {rate / 1e6:.2f} Mbit/s, RTT {[round(r * 1000) for r in rtts]} ms")
    assert rate == pytest.approx(2e6, rel=0.3)
    assert statistics.median(rtts) == pytest.approx(0.3, rel=0.4)


def test_inprocess_crowded_stalls() -> None:
    with shaped("crowded", "inprocess", seed=CROWDED_SEED) as link:
        gap, burst = largest_gap_around_burst(link)
    print(f"in-process crowded: largest gap {gap * 1000:.0f} ms, burst {burst * 1000:.0f} ms")
    assert gap == pytest.approx(burst, abs=0.12)


def test_relay_without_a_server_refuses_and_counts() -> None:
    preset = replace(PRESETS["good"], delay_ms=1)
    with ShapedLink(preset, server_port=_free_port(), mode="inprocess") as link:
        with socket.create_connection(link.client_address, timeout=5) as sock:
            assert sock.recv(1) == b""  # closed: nothing upstream
        assert link.counters().failed_connects == 1


def test_a_sender_is_paced_by_the_link_not_by_the_relays_buffers() -> None:
    """End-to-end TCP through a hotspot keeps a logger's unacknowledged bytes in its 5.7 KB
    lwIP buffer: its last send returns about when the bytes arrive. A relay that
    acknowledged into an autotuned multi-MB buffer let the sender finish at once and then
    wait out the whole transfer for its answer (the field test's uploads timed out)."""
    size = 1_000_000
    # 768 kbit/s: 10 s for 1 MB
    with shaped("edge", "inprocess") as link, socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 5744)
        sock.settimeout(30)
        sock.connect(link.client_address)
        started = time.monotonic()
        sock.sendall(b"S" + size.to_bytes(8, "big") + bytes(size))
        sent_s = time.monotonic() - started
        with sock.makefile("rb") as answer:
            assert json.loads(answer.readline())["got"] == size
        answered_s = time.monotonic() - started
    print(f"edge: last send after {sent_s:.1f} s, answer after {answered_s:.1f} s")
    assert answered_s > 8  # the link's rate held
    # What the relay may hold: its delay line (256 KB), small kernel buffers and the
    # answer's way back: about 5 s at this rate; unbounded, the whole 10 s.
    assert answered_s - sent_s < 7, (sent_s, answered_s)
