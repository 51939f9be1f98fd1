"""The `tc` commands of a shaped link: tbf (here) and netem (kernels that have it).

tbf numbers. ``burst`` is the bucket: the bytes that may leave back to back at line
speed. It must hold at least one full frame (1514 bytes) or tbf drops them, and it must
be small against a transfer or the start looks faster than the rate. We take 4 ms of
the rate but at least 4 frames: 10 kB at 20 Mbit/s, 6 kB at 2 and 5 Mbit/s, i.e. under
1% of a 2 MB upload and below 25 ms of sending time at every preset. ``latency 50ms``
bounds the queue (limit = rate * 50 ms + burst): long enough that TCP across the
near-zero-RTT veth keeps the bucket busy, short enough to add no bufferbloat of its own
(the relay's delay line is the delay). Offloads (GSO) are left on: tbf splits a GSO
packet larger than the bucket into frames itself.

netem numbers: ``delay`` each way, ``loss`` random, ``rate`` its own rate limiter, and a
``limit`` (packets) that holds the bandwidth-delay product twice over (default 1000).
"""

from __future__ import annotations

import math

from racesense.fieldtest.presets import LinkPreset

FRAME_BYTES = 1514  # an Ethernet frame of a 1500-byte MTU, as tbf counts it
TBF_BURST_S = 0.004
TBF_MIN_BURST_FRAMES = 4
TBF_LATENCY_MS = 50
NETEM_MIN_LIMIT = 1000


def tbf_burst_bytes(rate_bit_s: int) -> int:
    return max(TBF_MIN_BURST_FRAMES * FRAME_BYTES, math.ceil(rate_bit_s / 8 * TBF_BURST_S))


def _prefix(dev: str, netns: str | None) -> list[str]:
    return ["tc", *(["-n", netns] if netns else []), "qdisc", "replace", "dev", dev, "root"]


def tbf_command(dev: str, rate_bit_s: int, netns: str | None = None) -> list[str]:
    """`tc [-n NS] qdisc replace dev DEV root tbf rate Rbit burst B latency 50ms`."""
    return [
        *_prefix(dev, netns),
        "tbf",
        "rate",
        f"{rate_bit_s}bit",
        "burst",
        str(tbf_burst_bytes(rate_bit_s)),
        "latency",
        f"{TBF_LATENCY_MS}ms",
    ]


def netem_limit_packets(preset: LinkPreset) -> int:
    bdp_bytes = preset.rate_bit_s / 8 * (2 * preset.delay_ms / 1000)
    return max(NETEM_MIN_LIMIT, math.ceil(2 * bdp_bytes / FRAME_BYTES))


def netem_command(dev: str, preset: LinkPreset, netns: str | None = None) -> list[str]:
    """`tc [-n NS] qdisc replace dev DEV root netem delay Dms [loss P%] rate Rbit limit N`.

    Outage bursts are not netem's: the relay makes them on netem kernels too.
    """
    command = [*_prefix(dev, netns), "netem", "delay", f"{preset.delay_ms:g}ms"]
    if preset.loss_pct > 0:
        command += ["loss", f"{preset.loss_pct:g}%"]
    command += ["rate", f"{preset.rate_bit_s}bit", "limit", str(netem_limit_packets(preset))]
    return command


def netem_probe_command(dev: str, netns: str | None = None) -> list[str]:
    """A harmless netem qdisc: it fails with "unknown qdisc" where the kernel has none."""
    return [*_prefix(dev, netns), "netem", "delay", "0ms"]


def delete_root_command(dev: str, netns: str | None = None) -> list[str]:
    return ["tc", *(["-n", netns] if netns else []), "qdisc", "del", "dev", dev, "root"]
