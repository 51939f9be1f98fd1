"""Link presets of `racesense fieldtest`: phone hotspots as the issue describes them.

`delay_ms` is the delay added in EACH direction (one way), so a request and its answer
take about ``2 * delay_ms`` longer than on the bare link. The issue gives one
"latency" figure per hotspot without saying which; we take it as one way, each
direction, which is the pessimistic reading (the harness should not flatter the sync):
"good" adds about 60 ms to a round trip, "poor" 300 ms, "crowded" 160 ms.

"edge" is ours, not the issue's: a hotspot at the edge of its range (the phone in the
garage, the car at the far end of the paddock), slow enough that gzip pays even with an
ESP32's compressor; the field test shows the logger's own choice flip there.

`loss_pct` is the share of packets lost. Without netem it is emulated as stalls (see
`racesense.fieldtest.schedule`). `outage_ms`/`outage_every_s` are bursts of total
outage (the hotspot's radio drops out), one every `outage_every_s` seconds on average.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class LinkPreset:
    """One shaped link: rate, one-way delay, loss and outage bursts."""

    name: str
    rate_bit_s: int
    delay_ms: float
    loss_pct: float = 0.0
    outage_ms: float = 0.0
    outage_every_s: float = 0.0

    def __post_init__(self) -> None:
        if self.rate_bit_s <= 0:
            raise ValueError(f"{self.name}: rate_bit_s must be positive, got {self.rate_bit_s}")
        if self.delay_ms < 0 or self.outage_ms < 0 or self.outage_every_s < 0:
            raise ValueError(f"{self.name}: delays and outages cannot be negative")
        if not 0 <= self.loss_pct < 100:
            raise ValueError(f"{self.name}: loss_pct must be in [0, 100), got {self.loss_pct}")

    @property
    def has_outages(self) -> bool:
        return self.outage_ms > 0 and self.outage_every_s > 0

    def describe(self) -> str:
        """`"5 Mbit/s, 80 ms each way, 1% loss, 300 ms outages every ~5 s"`."""
        parts = [f"{format_rate(self.rate_bit_s)}", f"{self.delay_ms:g} ms each way"]
        if self.loss_pct:
            parts.append(f"{self.loss_pct:g}% loss")
        if self.has_outages:
            parts.append(f"{self.outage_ms:g} ms outages every ~{self.outage_every_s:g} s")
        return ", ".join(parts)


def format_rate(bit_s: float) -> str:
    """`20 Mbit/s`, `512 kbit/s`."""
    if bit_s >= 1_000_000:
        return f"{bit_s / 1_000_000:g} Mbit/s"
    return f"{bit_s / 1000:g} kbit/s"


PRESETS: dict[str, LinkPreset] = {
    "good": LinkPreset("good", rate_bit_s=20_000_000, delay_ms=30),
    "poor": LinkPreset("poor", rate_bit_s=2_000_000, delay_ms=150, loss_pct=2),
    "crowded": LinkPreset(
        "crowded",
        rate_bit_s=5_000_000,
        delay_ms=80,
        loss_pct=1,
        outage_ms=300,
        outage_every_s=5,
    ),
    "edge": LinkPreset("edge", rate_bit_s=768_000, delay_ms=200, loss_pct=3),
}
