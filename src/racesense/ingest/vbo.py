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
    Start +00058.49277 +3119.09973 +00058.49301 +3119.10012 ¬ Start / Finish
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

Many writers besides Racelogic's loggers write VBO (RaceBox, VBOX HD2 and Video VBOX,
converters, other apps' exports), and name the columns their own way: `lat`/`lng`,
`latitude`, `speed`, `velocity_kmh`, `altitude`, upper case. `_ALIASES` has them; a
file whose time or position columns are not among them gets an error naming the
columns it has. The [laptiming] `Start` line is the file's start/finish hint
(`_hint`), which the analysis uses only after checking it against the path.
"""

from __future__ import annotations

import datetime as dt
import re

import numpy as np

from racesense.analysis.telemetry import (
    STANDARD_GRAVITY_MPS2,
    Channel,
    FloatArray,
    StartFinishHint,
    Telemetry,
)
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
# Each channel's names in [column names], best first, compared as `_common.column_key`
# (lower case, punctuation dropped: "vert-vel" is "vertvel", "Lat" is "lat"). Racelogic's
# own loggers write the first; RaceBox, VBOX HD2 and Video VBOX, converters and other
# apps' exports write the others ("lng", "latitude", "speed", "altitude", ...).
_ALIASES: dict[str, tuple[str, ...]] = {
    "sats": ("sats", "satellites", "sat", "numsats", "gpssats", "nsat"),
    "time": ("time", "utctime", "utc", "gpstime"),
    "lat": ("lat", "latitude", "gpslat", "gpslatitude"),
    "long": ("long", "lon", "lng", "longitude", "gpslong", "gpslon", "gpslng", "gpslongitude"),
    "velocity": ("velocity", "speed", "vel", "gpsspeed", "gpsvelocity"),
    "heading": ("heading", "course", "hdg", "gpsheading", "bearing"),
    "height": ("height", "altitude", "alt", "elevation", "gpsheight", "gpsaltitude"),
    "vertvel": ("vertvel", "verticalvelocity", "vvel"),
    "longacc": ("longacc", "longaccel", "longitudinalacc", "longitudinalacceleration"),
    "latacc": ("latacc", "lataccel", "lateralacc", "lateralacceleration"),
    "date": ("date", "utcdate"),
}
# A speed column may carry its unit in its name ("velocitykmh", "speed_mph").
_SPEED_SUFFIXES = {
    "kmh": "km/h",
    "kph": "km/h",
    "mph": "mph",
    "knots": "kn",
    "knot": "kn",
    "kts": "kn",
    "kn": "kn",
    "ms": "m/s",
    "mps": "m/s",
}
# Standard channels besides those above: no entry in [channel units].
_OTHER_STANDARD = {"event1", "event2", "avifileindex", "avisynctime", "solutiontype"}
# Read into the core channels, not kept as extra channels.
_CONSUMED = {"sats", "time", "lat", "long", "velocity", "heading", "height", "longacc"}
_CONSUMED |= {"latacc", "date"}
_DISCRETE = {"avifileindex", "solutiontype", "event1", "event2"}
_SPEED_UNITS = {"kmh": "km/h", "km/h": "km/h", "knots": "kn", "knot": "kn", "mph": "mph"}
# Words some writers put in [column names] after a name ("velocity kmh"), splitting one
# column's name in two. Joined back only when the names outnumber the data's columns.
_UNIT_WORDS = {"kmh", "km/h", "kph", "mph", "knots", "kn", "m/s", "ms", "g", "deg", "m", "ft"}
# [laptiming] coordinates: minutes, positive north and WEST, as the data's.
_LAPTIMING_NUMBER = re.compile(r"^[+-]?\d+(?:\.\d*)?$")


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


def _column_names(listed: list[str], n_columns: int) -> list[str]:
    """The names in [column names], one per data column where the data says how many:
    a unit word after a name ("velocity kmh") is joined to it."""
    names = " ".join(listed).replace(",", " ").split()
    k = len(names) - 1
    while len(names) > n_columns > 0 and k > 0:
        if names[k].lower() in _UNIT_WORDS:
            names[k - 1 : k + 1] = [f"{names[k - 1]} {names[k]}"]
        k -= 1
    return names


def _speed_column(keys: list[str]) -> tuple[int, str] | None:
    """The speed column, and the unit its name carries ("" if none)."""
    i = _common.find_column(keys, _ALIASES["velocity"])
    if i is not None:
        return i, ""
    for i, key in enumerate(keys):
        for base in _ALIASES["velocity"]:
            suffix = key[len(base) :] if key.startswith(base) else None
            if suffix in _SPEED_SUFFIXES:
                return i, _SPEED_SUFFIXES[suffix]
    return None


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
    date_column: FloatArray | None, first_line: str, t: FloatArray, days: FloatArray
) -> dt.datetime | None:
    """Midnight UTC of day 0 of the session."""
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


def _laptiming_readings(laptiming: list[str]) -> list[StartFinishHint]:
    """The first `Start` line of [laptiming], read both ways its writers order it.

    Its four numbers are minutes, north and west positive. Racelogic writes them
    longitude first (`Start +5773.465840 +1832.282700 ...` can only be: 5773 minutes
    of latitude would be 96 degrees); some other writers latitude first.
    """
    for line in laptiming:
        words = line.split()
        if len(words) < 5 or words[0].lower() != "start":
            continue
        if not all(_LAPTIMING_NUMBER.match(word) for word in words[1:5]):
            continue
        a, b, c, d = (float(word) / 60.0 for word in words[1:5])
        readings: list[StartFinishHint] = []
        for p1, p2 in (((b, -a), (d, -c)), ((a, -b), (c, -d))):
            try:
                readings.append(StartFinishHint(p1, p2, what="The VBO file's [laptiming] line"))
            except ValueError:  # out of range this way round
                continue
        return readings
    return []


def _hint(laptiming: list[str], lat: FloatArray, lon: FloatArray) -> StartFinishHint | None:
    """The [laptiming] start line as a hint for the start/finish: of its readings, the
    one whose middle lies nearer the session's fixes. The analysis checks it against
    the path, so a wrong reading is ignored, never used."""
    readings = _laptiming_readings(laptiming)
    fix = np.isfinite(lat) & np.isfinite(lon)
    if len(readings) < 2 or not fix.any():
        return readings[0] if readings else None
    centre_lat, centre_lon = float(np.median(lat[fix])), float(np.median(lon[fix]))
    scale = float(np.cos(np.radians(centre_lat)))
    misses = [
        np.hypot(h.midpoint()[0] - centre_lat, (h.midpoint()[1] - centre_lon) * scale)
        for h in readings
    ]
    return readings[int(np.argmin(misses))]


def parse(data: bytes) -> Telemetry:
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    marker = _DATA_SECTION.search(data)
    if marker is None:
        raise MalformedFileError("The VBO file has no [data] section.")
    head_text = data[: marker.start()].decode("utf-8", "replace")
    sections = _sections(head_text)
    first_line = next((line.strip() for line in head_text.splitlines() if line.strip()), "")
    if not " ".join(sections.get("column names", [])).strip():
        raise MalformedFileError("The VBO file has no [column names] section.")

    body = data[marker.end() :]
    # Space-separated, but some tools pad with several spaces or tabs.
    body = re.sub(rb"[ \t]+", b" ", body.replace(b"\r", b""))
    body = re.sub(rb"(?m)^ | $", b"", body)
    first_row = next((row for row in body.split(b"\n", 50)[:50] if row.strip()), b"")
    names = _column_names(sections["column names"], len(first_row.split()))
    keys = [_common.column_key(name) for name in names]
    what = "The VBO file"
    found = {channel: _common.find_column(keys, aliases) for channel, aliases in _ALIASES.items()}
    speed = _speed_column(keys)
    if found["time"] is None:
        raise _common.missing_column(what, "time", names)
    if found["lat"] is None or found["long"] is None:
        raise _common.missing_column(what, "position (lat and long)", names)

    table = _common.read_float_columns(body, len(names), delimiter=" ", what="The VBO file's")
    if table[0].size == 0:
        raise MalformedFileError("The VBO file has an empty [data] section.")

    def column(channel: str) -> FloatArray | None:
        i = found[channel]
        return None if i is None else table[i]

    time_column = column("time")
    assert time_column is not None
    t, days = _common.unwrap_midnight(_common.hhmmss_to_s(time_column))
    header = sections.get("header", [])

    # [channel units] lists one unit per non-standard channel, in order (blank lines
    # may stand for "no unit"): used only when the counts agree. Some writers list one
    # per column instead.
    standard = {i for i in found.values() if i is not None}
    standard |= {i for i, key in enumerate(keys) if key in _OTHER_STANDARD}
    if speed is not None:
        standard.add(speed[0])
    own = [i for i in range(len(names)) if i not in standard]
    listed = sections.get("channel units", [])
    units: dict[int, str] = {}
    if len(listed) == len(own):
        units = {i: listed[k] for k, i in enumerate(own)}
    elif len(listed) == len(names):
        units = dict(enumerate(listed))

    core: dict[str, FloatArray] = {}
    if speed is not None:
        i_speed, named_unit = speed
        listed_unit = units.get(i_speed, "")
        speed_unit = named_unit or (
            listed_unit
            if _common.si_as(table[i_speed], listed_unit, "m/s") is not None
            else _unit_from_header(header, "velocity", "km/h")
        )
        core["speed_mps"] = _common.si(table[i_speed], speed_unit)[0]
    for channel, core_name in (("heading", "heading_deg"), ("height", "alt_m")):
        values = column(channel)
        if values is not None:
            core[core_name] = values
    sats = column("sats")
    if sats is not None:
        core["sats"] = _common.modulo(sats, 64.0)
    for channel, core_name in (("longacc", "accel_lon_mps2"), ("latacc", "accel_lat_mps2")):
        values = column(channel)
        if values is not None:
            core[core_name] = _common.scaled(values, STANDARD_GRAVITY_MPS2)

    i_vert = found["vertvel"]
    if i_vert is not None:
        units[i_vert] = _unit_from_header(header, "vertical", "km/h")
    consumed = {found[channel] for channel in _CONSUMED} | {speed[0] if speed else None}
    channels: dict[str, Channel] = {}
    for i, (name, key) in enumerate(zip(names, keys, strict=True)):
        if i in consumed or name in channels:
            continue
        values, si_unit = _common.si(table[i], units.get(i, ""))
        kind = "discrete" if key in _DISCRETE else "continuous"
        channels[name] = Channel(values, unit=si_unit, kind=kind)

    lat_minutes, long_minutes = column("lat"), column("long")
    assert lat_minutes is not None and long_minutes is not None
    # Minutes, and VBOX longitude is west-positive.
    lat, lon = _common.position_or_nan(lat_minutes / 60.0, -long_minutes / 60.0)
    metadata, device_id = _metadata(sections, first_line)
    return _common.build(
        FORMAT,
        t,
        lat,
        lon,
        core=core,
        channels=channels,
        origin=_origin(column("date"), first_line, t, days),
        metadata=metadata,
        device_id=device_id,
        what=what,
        start_finish_hint=_hint(sections.get("laptiming", []), lat, lon),
    )
