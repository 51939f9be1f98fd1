"""Timestamps as the API and the results document write them: ISO 8601, UTC, ms."""

from __future__ import annotations

import datetime as dt


def iso_utc(value: dt.datetime | None) -> str | None:
    """`2026-12-03T09:30:17.123Z`; a naive time is taken as UTC (SQLite hands those back)."""
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.UTC)
    return value.astimezone(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
