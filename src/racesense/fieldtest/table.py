"""The field-test table: per group of syncs, each phase's median and p95, beside what
the same bytes would take over BLE alone.

Pure: rows in, text out (no I/O). A group is whatever the caller grouped by (a simulated
preset and session length, or a phone and its hotspot link); its label names it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

# The phases in the order a sync goes through them, with their column names.
PHASES: tuple[tuple[str, str], ...] = (
    ("ble_handshake", "BLE handshake"),
    ("credentials", "credentials"),
    ("join", "hotspot join"),
    ("first_byte", "first byte"),
    ("upload", "upload"),
    ("analysis", "analysis"),
    ("on_screen", "on screen"),
    ("total", "total"),
)
BLE_ALONE = "BLE alone"
RATIO = "ratio"
MISSING = "\u2013"  # en dash: a phase not measured
STATS = ("median", "p95", "n")


@dataclass(frozen=True)
class Run:
    """One sync: its phases in milliseconds (those measured), the file bytes it moved,
    and the bytes that crossed the link for them (fewer when gzip-compressed)."""

    phases_ms: Mapping[str, float]
    bytes_sent: int | None = None
    wire_bytes: int | None = None

    @property
    def link_bytes(self) -> int | None:
        """What BLE alone would have had to carry: the bytes as sent."""
        return self.wire_bytes if self.wire_bytes is not None else self.bytes_sent


@dataclass(frozen=True)
class Group:
    label: str
    runs: Sequence[Run]


@dataclass(frozen=True)
class Stat:
    """Median and 95th percentile (numpy's linear interpolation) of `count` values."""

    median: float
    p95: float
    count: int


@dataclass(frozen=True)
class GroupStats:
    label: str
    runs: int
    phases: dict[str, Stat | None]  # seconds; None: not measured in this group
    ble_alone: Stat | None  # seconds the same bytes take over BLE alone
    ratio: Stat | None  # BLE alone / measured total, per sync


def stat(values: Sequence[float]) -> Stat | None:
    finite = [v for v in values if math.isfinite(v)]
    if not finite:
        return None
    array = np.asarray(finite, dtype=float)
    return Stat(float(np.median(array)), float(np.percentile(array, 95)), len(finite))


def summarise(groups: Sequence[Group], ble_bytes_per_s: float) -> list[GroupStats]:
    """Each group's statistics; `ble_bytes_per_s` is the rate R of the BLE-alone column."""
    if not ble_bytes_per_s > 0:
        raise ValueError("the BLE rate must be above 0 bytes/s")
    out = []
    for group in groups:
        phases: dict[str, Stat | None] = {}
        for key, _ in PHASES:
            phases[key] = stat([r.phases_ms[key] / 1000 for r in group.runs if key in r.phases_ms])
        alone = [
            (r.link_bytes / ble_bytes_per_s, r.phases_ms.get("total"))
            for r in group.runs
            if r.link_bytes is not None
        ]
        ratios = [a / (t / 1000) for a, t in alone if t is not None and t > 0]
        out.append(
            GroupStats(
                group.label,
                len(group.runs),
                phases,
                stat([a for a, _ in alone]),
                stat(ratios),
            )
        )
    return out


def _columns() -> list[str]:
    return [name for _, name in PHASES] + [BLE_ALONE, RATIO]


def _cells(g: GroupStats, which: str) -> list[str]:
    stats = [g.phases[key] for key, _ in PHASES] + [g.ble_alone, g.ratio]
    if which == "n":
        return [MISSING if s is None else str(s.count) for s in stats]
    return [MISSING if s is None else f"{getattr(s, which):.2f}" for s in stats]


def render_text(stats: Sequence[GroupStats], ble_bytes_per_s: float) -> str:
    """Fixed width: a label line per group, then its median, p95 and n rows, in seconds."""
    columns = _columns()
    widths = [max(len(c), 8) for c in columns]
    stat_width = max(len(s) for s in STATS)

    def line(first: str, cells: Sequence[str]) -> str:
        body = "  ".join(c.rjust(w) for c, w in zip(cells, widths, strict=True))
        return f"  {first.ljust(stat_width)}  {body}".rstrip()

    lines = [line("", columns)]
    for g in stats:
        lines.append(f"{g.label} ({g.runs} {'sync' if g.runs == 1 else 'syncs'})")
        lines.extend(line(which, _cells(g, which)) for which in STATS)
    lines.append(_footnote(ble_bytes_per_s))
    return "\n".join(lines) + "\n"


def render_markdown(stats: Sequence[GroupStats], ble_bytes_per_s: float) -> str:
    """The same as a Markdown table (for the README and docs)."""
    header = ["group", "", *_columns()]
    lines = [
        "| " + " | ".join(header) + " |",
        "|" + "|".join([":---", ":---"] + ["---:"] * (len(header) - 2)) + "|",
    ]
    for g in stats:
        for which in STATS:
            label = f"{g.label} ({g.runs})" if which == "median" else ""
            cells = [label.replace("|", "\\|"), which, *_cells(g, which)]
            lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n\n" + _footnote(ble_bytes_per_s) + "\n"


def _footnote(ble_bytes_per_s: float) -> str:
    return (
        f"Seconds. {BLE_ALONE}: the same bytes as sent (gzip-compressed where the row says"
        f" gzip) over BLE at {ble_bytes_per_s:,.0f} bytes/s; "
        f"{RATIO}: {BLE_ALONE} / total, per sync. n: syncs measured. {MISSING}: not measured."
    )
