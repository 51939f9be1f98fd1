"""Stored sync reports -> the field-test table's groups (pure: no I/O).

Each sync may hold a report from the page, one from the logger and one from a
field-test harness (store/syncs.py). They are merged into one run: the phases of the
logger, then the page's, then the harness's over them (each adds what it alone
measures); the notes (phone, firmware, link, preset, session length) and the bytes
from the first source that gives them (harness, page, logger).

Groups: a simulated run by its preset, phone, firmware, link and session length; a real
one (no preset) by its phone, link and session length, the firmwares seen noted; both
also by the encoding the logger reports (identity or gzip), so the two sit side by side.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from racesense.fieldtest.table import Group, Run

_PHASE_ORDER = ("logger", "page", "fieldtest")  # later ones win
_NOTE_ORDER = ("fieldtest", "page", "logger")  # the first one that has it
NOTES = ("phone", "firmware", "link", "preset", "session_minutes", "encoding")
UNKNOWN = "?"


@dataclass(frozen=True)
class Merged:
    """One sync's reports as one run, with its notes."""

    run: Run
    phone: str | None = None
    firmware: str | None = None
    link: str | None = None
    preset: str | None = None
    session_minutes: float | None = None
    encoding: str | None = None  # identity, gzip or mixed: the logger's


def merge(by_source: Mapping[str, Mapping[str, Any]]) -> Merged:
    phases: dict[str, float] = {}
    for source in _PHASE_ORDER:
        given = by_source.get(source, {}).get("phases_ms")
        if isinstance(given, Mapping):
            phases.update(
                (k, float(v))
                for k, v in given.items()
                if isinstance(v, int | float) and not isinstance(v, bool)
            )

    def first(key: str) -> Any:
        for source in _NOTE_ORDER:
            value = by_source.get(source, {}).get(key)
            if value is not None:
                return value
        return None

    notes = {key: first(key) for key in NOTES}
    minutes = notes["session_minutes"]
    bytes_sent = first("bytes_sent")
    wire_bytes = first("wire_bytes")
    return Merged(
        Run(
            phases,
            int(bytes_sent) if isinstance(bytes_sent, int | float) else None,
            int(wire_bytes) if isinstance(wire_bytes, int | float) else None,
        ),
        phone=_text(notes["phone"]),
        firmware=_text(notes["firmware"]),
        link=_text(notes["link"]),
        preset=_text(notes["preset"]),
        session_minutes=float(minutes) if isinstance(minutes, int | float) else None,
        encoding=_text(notes["encoding"]),
    )


def _text(value: Any) -> str | None:
    return value.strip() or None if isinstance(value, str) else None


@dataclass
class _Pending:
    runs: list[Run] = field(default_factory=list)
    firmwares: set[str] = field(default_factory=set)


def groups(reports: Iterable[Mapping[str, Mapping[str, Any]]]) -> list[Group]:
    """The table's groups of these syncs' reports (each a by-source mapping), in a stable
    order: simulated presets first by name, then the real runs by phone and link; each by
    session length, then by how the logger sent the files (identity, gzip)."""
    pending: dict[tuple[Any, ...], _Pending] = {}
    for by_source in reports:
        m = merge(by_source)
        minutes = m.session_minutes if m.session_minutes is not None else -1.0
        if m.preset is not None:
            key: tuple[Any, ...] = (0, m.preset, m.phone or "", m.firmware or "", m.link or "")
        else:
            key = (1, "", m.phone or "", "", m.link or "")
        entry = pending.setdefault((*key, minutes, m.encoding or ""), _Pending())
        entry.runs.append(m.run)
        if m.firmware:
            entry.firmwares.add(m.firmware)
    out = []
    for key in sorted(pending):
        _, preset, phone, _, link, minutes, encoding = key
        entry = pending[key]
        label = _label(preset, phone, entry.firmwares, link, minutes, encoding)
        out.append(Group(label, entry.runs))
    return out


def _label(
    preset: str,
    phone: str,
    firmwares: Sequence[str] | set[str],
    link: str,
    minutes: float,
    encoding: str = "",
) -> str:
    parts = [f"preset {preset}"] if preset else []
    parts.append(phone or f"phone {UNKNOWN}")
    parts.append("firmware " + (", ".join(sorted(firmwares)) or UNKNOWN))
    parts.append(link or f"link {UNKNOWN}")
    if minutes >= 0:
        parts.append(f"{minutes:g} min sessions")
    if encoding:
        parts.append(encoding)
    return " · ".join(parts)
