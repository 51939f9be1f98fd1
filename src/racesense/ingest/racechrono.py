"""RaceChrono CSV exports: v3 (RaceChrono Pro's "CSV v3") and the older v2 layout.

    This file is created using RaceChrono Pro v9.1.3 ( http://racechrono.com/ ).
    Format,3
    Session title,"Tianma"
    ...
    (blank line)
    timestamp,fragment_id,lap_number,elapsed_time,...,speed,...,speed,...   <- names
    unix time,,,s,...,m/s,...,m/s,...                                      <- units
    ,,,,,100: gps,...,calc,...,200: obd,...                                <- sources
    1767150797.44,0,8,1149.08,...

The older layout names its columns with their units and no units or sources row:
`Timestamp (s),Lap #,Latitude (deg),Longitude (deg),Speed (kph),Bearing (deg),
Locked satellites,Lateral Acceleration (G),...`; a source may follow a name
(`Longitudinal acceleration (G) *canbus`). Exports made where the decimal mark is a
comma separate cells with `;` (or tabs) and write `1767150797,44`: the separator is
taken from the header row, and decimal commas are read as points.

Column names are compared without case, punctuation or units (`_common.column_key`),
through one table of aliases per channel (`_ALIASES`). Units come from the units row,
else from the name ("Speed (kph)"). Units in the file: `timestamp` unix time in seconds
(UTC; a time column whose values are not unix times is a clock from an unknown start);
latitude/longitude degrees; altitude m; speed m/s (km/h, kph, mph where the unit says
so); bearing degrees; accelerations G (converted to m/s^2 with STANDARD_GRAVITY_MPS2);
`lateral_acc` is positive to the left and `longitudinal_acc` positive forward, as the
model wants (checked against the GPS track of a real file).

A name can appear several times with different sources (`speed` from "100: gps",
"calc" and "200: obd"). The core position, speed, bearing, altitude, satellites and
DOP come from the GPS source; every other column is kept as an extra channel, named
`<name>_<source>` (`speed_obd`, `speed_calc`) where a name is not unique.

RaceChrono inserts an interpolated row at each lap line crossing; those rows stay
(they are real positions on the line), and `lap_number` and `elapsed_time` are kept
as discrete channels so a lap table can be rebuilt from the logger's own count. The
place of those rows is RaceChrono's start/finish: the file's start/finish hint.
"""

from __future__ import annotations

import datetime as dt
import re

import numpy as np

from racesense.analysis.telemetry import Channel, FloatArray, Telemetry
from racesense.ingest import _common
from racesense.ingest.errors import MalformedFileError

FORMAT = "racechrono-csv-3"
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)

# Each channel's names, best first (v3's first, then v2's), as `_common.column_key`
# compares them: "Latitude (deg)", "latitude" and "LATITUDE" are all "latitude".
_ALIASES: dict[str, tuple[str, ...]] = {
    "time": ("timestamp", "time"),
    "lat_deg": ("latitude", "lat"),
    "lon_deg": ("longitude", "lon", "lng"),
    "alt_m": ("altitude",),
    "speed_mps": ("speed", "gps speed"),
    "heading_deg": ("bearing", "heading", "course"),
    "sats": ("satellites", "locked satellites", "sats"),
    "hdop": ("coordinate_precision", "hdop"),
    "accel_lon_mps2": ("longitudinal_acc", "longitudinal acceleration"),
    "accel_lat_mps2": ("lateral_acc", "lateral acceleration"),
    "laps": ("lap_number", "lap #", "lap"),
}
# Core channel -> the SI unit its column must convert to ("" = none).
_GPS_CORE: dict[str, str] = {
    "lat_deg": "",
    "lon_deg": "",
    "alt_m": "m",
    "speed_mps": "m/s",
    "heading_deg": "",
    "sats": "",
}
_ACCEL_CORE = ("accel_lon_mps2", "accel_lat_mps2")
_DISCRETE = {"lapnumber", "lap", "elapsedtime", "fragmentid", "fixtype", "satellites"}
_PREAMBLE_LINES = 40
_DELIMITERS = (",", ";", "\t")
# A v2 name's source: "Longitudinal acceleration (G) *canbus".
_SOURCE_SUFFIX = re.compile(r"^(?P<name>.*?)\s*\*(?P<source>[\w.-]+)\s*$")
# Unix times from 1973 on: a time column below this is a clock from the session start.
_UNIX_TIME_FROM_S = 1e8


def _cells(line: str, delimiter: str = ",") -> list[str]:
    return [cell.strip().strip('"').strip() for cell in line.rstrip("\r").split(delimiter)]


def _header_delimiter(line: str) -> str | None:
    """The separator of a header row (whose first cell is the time), or None if
    `line` is no header row."""
    for delimiter in _DELIMITERS:
        cells = _cells(line, delimiter)
        first = _common.column_key(_common.split_unit(cells[0])[0])
        if len(cells) >= 3 and first in ("timestamp", "time"):
            return delimiter
    return None


def _format_version(line: str) -> str | None:
    for delimiter in _DELIMITERS:
        cells = _cells(line, delimiter)
        if len(cells) >= 2 and cells[0] == "Format":
            return cells[1]
    return None


def sniff(head: bytes) -> bool:
    lines = _common.decode(head).splitlines()[:_PREAMBLE_LINES]
    first = next((line for line in lines if line.strip()), "")
    if "racechrono" not in first.lower():
        return False
    versions = [v for v in map(_format_version, lines) if v is not None]
    if versions:
        return versions[0] in ("2", "3")
    return any(_header_delimiter(line) is not None for line in lines[1:])


def _split(
    data: bytes,
) -> tuple[list[list[str]], str, list[str], list[str], list[str], int]:
    """Preamble rows, the separator, column names, units, sources, and the byte offset
    of the data."""
    lines: list[str] = []
    names: list[str] | None = None
    delimiter = ","
    offset = 0
    for _ in range(_PREAMBLE_LINES):
        end = data.find(b"\n", offset)
        if end < 0:
            break
        line = data[offset:end].decode("utf-8", "replace")
        offset = end + 1
        found = _header_delimiter(line)
        if found is not None:
            delimiter = found
            names = _cells(line, delimiter)
            break
        lines.append(line)
    if names is None:
        raise MalformedFileError(
            "The RaceChrono file has no header row starting with a 'timestamp' column."
        )
    preamble = [_cells(line, delimiter) for line in lines]
    rows: list[list[str]] = []
    # Units row, then the sources row (v3); each is recognised by not starting with a
    # number. v2 has neither.
    for _ in range(2):
        end = data.find(b"\n", offset)
        line = data[offset : end if end >= 0 else len(data)].decode("utf-8", "replace")
        cells = _cells(line, delimiter)
        if re.match(r"^\s*[+-]?\d", cells[0]):
            break
        rows.append(cells)
        offset = end + 1 if end >= 0 else len(data)
    n = len(names)
    units = ((rows[0] if rows else []) + [""] * n)[:n]
    sources = ((rows[1] if len(rows) > 1 else []) + [""] * n)[:n]
    # v2: the unit and the source in the name itself.
    for i, name in enumerate(names):
        suffix = _SOURCE_SUFFIX.match(name)
        if suffix is not None:
            name = suffix["name"]
            sources[i] = sources[i] or suffix["source"]
        base, unit = _common.split_unit(name)
        names[i], units[i] = base, units[i] or unit
    return preamble, delimiter, names, units, sources, offset


def _metadata(preamble: list[list[str]]) -> dict[str, str]:
    meta: dict[str, str] = {}
    for cells in preamble:
        if not cells or not cells[0]:
            continue
        if "racechrono" in cells[0].lower() and len(cells) == 1:
            found = re.search(r"RaceChrono[^(]*", cells[0])
            if found:
                meta["created_by"] = found.group(0).strip()
            continue
        key = re.sub(r"[^a-z0-9]+", "_", cells[0].lower()).strip("_")
        value = " ".join(c for c in cells[1:] if c)
        if key and value:
            meta["format_version" if key == "format" else key] = value
    return meta


def _source_tag(source: str) -> str:
    """'200: obd' -> 'obd'; 'calc' -> 'calc'."""
    label = source.split(":", 1)[-1].strip().lower()
    return re.sub(r"[^a-z0-9]+", "_", label).strip("_")


def _pick(names: list[str], sources: list[str], channel: str, *, gps_only: bool) -> int | None:
    """Index of the column to use for core channel `channel`: its first alias that
    the file has, from the GPS source first."""
    keys = [_common.column_key(name) for name in names]
    for alias in _ALIASES[channel]:
        candidates = [i for i, key in enumerate(keys) if key == _common.column_key(alias)]
        for i in candidates:
            if "gps" in sources[i].lower():
                return i
        blank = [i for i in candidates if not sources[i]]
        if blank:
            return blank[0]
        if not gps_only and candidates:
            return candidates[0]
    return None


def _extra_names(names: list[str], sources: list[str], used: set[int]) -> dict[int, str]:
    counts: dict[str, int] = {}
    for name in names:
        counts[name] = counts.get(name, 0) + 1
    result: dict[int, str] = {}
    taken: set[str] = set()
    for i, name in enumerate(names):
        if i in used or not name:
            continue
        label = name
        if counts[name] > 1:
            tag = _source_tag(sources[i])
            label = f"{name}_{tag}" if tag else name
        base, k = label, 2
        while label in taken:
            number = sources[i].split(":", 1)[0].strip()
            label = f"{base}_{number}" if number.isdigit() and k == 2 else f"{base}_{k}"
            k += 1
        taken.add(label)
        result[i] = label
    return result


def _clock(values: FloatArray, unit: str) -> tuple[FloatArray, dt.datetime | None]:
    """The time column in seconds, and its origin: the unix epoch for unix times
    (RaceChrono's own), None for a clock from the session's start."""
    seconds = _common.si_as(values, unit, "s") if unit.lower() not in ("", "unix time") else None
    t = values if seconds is None else seconds
    finite = t[np.isfinite(t)]
    unix = finite.size > 0 and float(np.median(finite)) >= _UNIX_TIME_FROM_S
    return t, (_EPOCH if unix else None)


def parse(data: bytes) -> Telemetry:
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    preamble, delimiter, names, units, sources, offset = _split(data)
    what = "The RaceChrono file"
    i_lat = _pick(names, sources, "lat_deg", gps_only=True)
    i_lon = _pick(names, sources, "lon_deg", gps_only=True)
    if i_lat is None or i_lon is None:
        raise _common.missing_column(what, "position (latitude and longitude)", names)
    body = _common.decimal_commas(data[offset:], delimiter)
    columns = _common.read_float_columns(
        body, len(names), delimiter=delimiter, what="The RaceChrono file's"
    )
    if columns[0].size == 0:
        raise MalformedFileError("The RaceChrono file has a header but no data rows.")

    used = {0}
    core: dict[str, FloatArray] = {}
    for core_name, wanted in _GPS_CORE.items():
        i = _pick(names, sources, core_name, gps_only=True)
        if i is None:
            continue
        values = columns[i] if not wanted else _common.si_as(columns[i], units[i], wanted)
        if values is not None:
            core[core_name] = values
            used.add(i)
    i_dop = _pick(names, sources, "hdop", gps_only=True)
    if i_dop is not None and units[i_dop].upper() in ("DOP", ""):
        core["hdop"] = columns[i_dop]
        used.add(i_dop)
    for core_name in _ACCEL_CORE:
        i = _pick(names, sources, core_name, gps_only=False)
        if i is None:
            continue
        accel = _common.si_as(columns[i], units[i] or "G", "m/s^2")
        if accel is not None:
            core[core_name] = accel
            used.add(i)

    channels: dict[str, Channel] = {}
    for i, label in _extra_names(names, sources, used).items():
        values, unit = _common.si(columns[i], units[i])
        kind = "discrete" if _common.column_key(names[i]) in _DISCRETE else "continuous"
        channels[label] = Channel(values, unit=unit, kind=kind)

    nan = np.full(columns[0].shape, np.nan)
    lat, lon = _common.position_or_nan(core.pop("lat_deg", nan), core.pop("lon_deg", nan))
    t, origin = _clock(columns[0], units[0])
    # Where RaceChrono counted its laps (it adds a row on the line): its start/finish.
    hint = None
    i_laps = _pick(names, sources, "laps", gps_only=False)
    if i_laps is not None:
        laps = columns[i_laps]
        rows = np.flatnonzero(np.isfinite(laps))
        counted = rows[1:][np.diff(laps[rows]) != 0]
        hint = _common.point_hint(t, lat, lon, t[counted].tolist(), f"{what}'s lap line")
    return _common.build(
        FORMAT,
        t,
        lat,
        lon,
        core=core,
        channels=channels,
        origin=origin,
        metadata=_metadata(preamble),
        what=what,
        start_finish_hint=hint,
    )
