"""Racelogic VBOX `.vbo` text files.

    File created on 31/07/2006 at 09:55:20
    [header]
    satellites
    time
    latitude
    longitude
    velocity kmh
    ...
    [channel units]
    [comments]
    Serial Number : 005201
    [laptiming]
    Start +3119.09973 +00058.49277 +3119.10012 +00058.49301 ¬ Start / Finish
    [column names]
    sats time lat long velocity heading height vert-vel
    [data]
    137 162235.40 +03119.09973 +00058.49277 000.140 321.85 +00152.58 +000.000

Units, as Racelogic documents them: `time` is UTC time of day HHMMSS.SS (a session
that runs past midnight wraps to 000000; the day is carried on); `lat` and `long` are
in minutes (divide by 60), north positive and WEST positive, so longitude is negated;
`velocity` km/h (knots or mph where the [header] line says so), `heading` degrees,
`height` m, `vert-vel` km/h (m/s where the header says so); `Longacc`/`Latacc` g,
forward and left positive (converted to m/s^2). `sats` adds 64 while the brake trigger
is active and 128 with a DGPS fix: the count is the value modulo 64.

The date comes from a `Date` column (ddmmyy) where there is one, else from the
`File created on DD/MM/YYYY` line. Where that line has a time too (the logger's clock,
UTC on most units), the date is moved by a day if that puts the first sample nearer to
it: a file created just after midnight may start just before.
"""

from __future__ import annotations

import datetime as dt
import re

import numpy as np

from racesense.analysis.telemetry import STANDARD_GRAVITY_MPS2, Channel, FloatArray, Telemetry
from racesense.ingest import _common
from racesense.ingest.errors import MalformedFileError

FORMAT = "vbox-vbo"

_SECTION = re.compile(r"^\s*\[([^\]]+)\]\s*$")
_DATA_SECTION = re.compile(rb"(?im)^[ \t]*\[data\][ \t]*\r?$")
_CREATED = re.compile(
    r"File created on\s+(\d{1,2})/(\d{1,2})/(\d{4})"
    r"(?:\s*(?:@|at)?\s*(\d{1,2}):(\d{2})(?::(\d{2}))?)?",
    re.IGNORECASE,
)
# Columns with a meaning of their own; any other is an extra channel.
_STANDARD = {
    "sats",
    "time",
    "lat",
    "long",
    "velocity",
    "heading",
    "height",
    "vert-vel",
    "vertvel",
    "longacc",
    "latacc",
    "date",
    "event1",
    "event2",
    "avifileindex",
    "avisynctime",
    "solution_type",
}
_CONSUMED = {"sats", "time", "lat", "long", "velocity", "heading", "height"}
_CONSUMED |= {"longacc", "latacc", "date"}
_DISCRETE = {"avifileindex", "solution_type", "event1", "event2"}
_SPEED_UNITS = {"kmh": "km/h", "km/h": "km/h", "knots": "kn", "knot": "kn", "mph": "mph"}


def sniff(head: bytes) -> bool:
    lines = [line.strip() for line in _common.decode(head).splitlines() if line.strip()]
    if not lines:
        return False
    first = lines[0].lower()
    if not (first.startswith("file created on") or first == "[header]"):
        return False
    return any(line.lower() == "[header]" for line in lines[:3])


def _sections(text: str) -> dict[str, list[str]]:
    sections: dict[str, list[str]] = {"": []}
    current = ""
    for line in text.splitlines():
        found = _SECTION.match(line)
        if found:
            current = found.group(1).strip().lower()
            sections.setdefault(current, [])
        elif line.strip():
            sections[current].append(line.strip())
    return sections


def _unit_from_header(header: list[str], prefix: str, default: str) -> str:
    for line in header:
        words = line.lower().split()
        if words and words[0] == prefix:
            for word in words[1:]:
                if word in _SPEED_UNITS:
                    return _SPEED_UNITS[word]
                if word == "m/s":
                    return "m/s"
    return default


def _created(first_line: str) -> tuple[dt.date, float | None] | None:
    found = _CREATED.search(first_line)
    if found is None:
        return None
    day, month, year, hh, mm, ss = found.groups()
    try:
        date = dt.date(int(year), int(month), int(day))
    except ValueError:
        return None
    clock = None if hh is None else int(hh) * 3600.0 + int(mm) * 60.0 + float(ss or 0)
    return date, clock


def _origin(
    columns: dict[str, FloatArray], first_line: str, t: FloatArray, days: FloatArray
) -> dt.datetime | None:
    """Midnight UTC of day 0 of the session."""
    date_column = columns.get("date")
    if date_column is not None:
        for i in np.flatnonzero(np.isfinite(date_column) & np.isfinite(days))[:1]:
            ddmmyy = int(date_column[i])
            try:
                date = dt.date(2000 + ddmmyy % 100, (ddmmyy // 100) % 100, ddmmyy // 10000)
            except (ValueError, OverflowError):  # a damaged date: no start time from it
                break
            return dt.datetime.combine(date, dt.time(), dt.UTC) - dt.timedelta(days=days[i])
    created = _created(first_line)
    if created is None:
        return None
    date, clock = created
    midnight = dt.datetime.combine(date, dt.time(), dt.UTC)
    if clock is None or not np.isfinite(t).any():
        return midnight
    first = float(np.nanmin(t))
    shifts = (-1, 0, 1)
    best = min(shifts, key=lambda d: abs(d * 86400.0 + first - clock))
    return midnight + dt.timedelta(days=best)


def _metadata(sections: dict[str, list[str]], first_line: str) -> tuple[dict[str, str], str | None]:
    meta: dict[str, str] = {}
    device_id = None
    if first_line.lower().startswith("file created on"):
        meta["file_created"] = first_line[len("file created on") :].strip()
    comments = sections.get("comments", [])
    for line in comments:
        key, sep, value = line.partition(":")
        key, value = key.strip().lower(), value.strip()
        if not sep or not value:
            continue
        if key in ("serial number", "serial no", "serial"):
            device_id = value
        elif key.startswith("log rate"):
            meta["log_rate_hz"] = value
    if comments:
        meta["comments"] = " | ".join(comments)
    if sections.get("laptiming"):
        meta["laptiming"] = " | ".join(sections["laptiming"])
    return meta, device_id


def parse(data: bytes) -> Telemetry:
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    marker = _DATA_SECTION.search(data)
    if marker is None:
        raise MalformedFileError("The VBO file has no [data] section.")
    head_text = data[: marker.start()].decode("utf-8", "replace")
    sections = _sections(head_text)
    first_line = next((line.strip() for line in head_text.splitlines() if line.strip()), "")
    names = " ".join(sections.get("column names", [])).split()
    if not names:
        raise MalformedFileError("The VBO file has no [column names] section.")
    keys = [name.lower() for name in names]
    if "time" not in keys:
        raise MalformedFileError("The VBO file has no 'time' column.")

    body = data[marker.end() :]
    # Space-separated, but some tools pad with several spaces or tabs.
    body = re.sub(rb"[ \t]+", b" ", body.replace(b"\r", b""))
    body = re.sub(rb"(?m)^ | $", b"", body)
    table = _common.read_float_columns(body, len(names), delimiter=" ", what="The VBO file's")
    if table[0].size == 0:
        raise MalformedFileError("The VBO file has an empty [data] section.")
    columns = {key: table[i] for i, key in reversed(list(enumerate(keys)))}
    nan = np.full(table[0].shape, np.nan)

    t, days = _common.unwrap_midnight(_common.hhmmss_to_s(columns["time"]))
    header = sections.get("header", [])
    speed_unit = _unit_from_header(header, "velocity", "km/h")
    vert_unit = _unit_from_header(header, "vertical", "km/h")
    core: dict[str, FloatArray] = {}
    if "velocity" in columns:
        core["speed_mps"] = _common.si(columns["velocity"], speed_unit)[0]
    if "heading" in columns:
        core["heading_deg"] = columns["heading"]
    if "height" in columns:
        core["alt_m"] = columns["height"]
    if "sats" in columns:
        core["sats"] = _common.modulo(columns["sats"], 64.0)
    if "longacc" in columns:
        core["accel_lon_mps2"] = _common.scaled(columns["longacc"], STANDARD_GRAVITY_MPS2)
    if "latacc" in columns:
        core["accel_lat_mps2"] = _common.scaled(columns["latacc"], STANDARD_GRAVITY_MPS2)

    # [channel units] lists one unit per non-standard channel, in order; blank lines
    # may stand for "no unit", so the units are used only when the counts agree.
    own = [i for i, key in enumerate(keys) if key not in _STANDARD]
    listed = sections.get("channel units", [])
    units = {i: listed[k] for k, i in enumerate(own)} if len(listed) == len(own) else {}
    for key in ("vert-vel", "vertvel"):
        if key in keys:
            units[keys.index(key)] = vert_unit
    channels: dict[str, Channel] = {}
    for i, (name, key) in enumerate(zip(names, keys, strict=True)):
        if key in _CONSUMED or name in channels:
            continue
        values, si_unit = _common.si(table[i], units.get(i, ""))
        kind = "discrete" if key in _DISCRETE else "continuous"
        channels[name] = Channel(values, unit=si_unit, kind=kind)

    lat = columns.get("lat", nan) / 60.0
    lon = -columns.get("long", nan) / 60.0  # VBOX longitude is west-positive
    lat, lon = _common.position_or_nan(lat, lon)
    metadata, device_id = _metadata(sections, first_line)
    return _common.build(
        FORMAT,
        t,
        lat,
        lon,
        core=core,
        channels=channels,
        origin=_origin(columns, first_line, t, days),
        metadata=metadata,
        device_id=device_id,
        what="The VBO file",
    )
