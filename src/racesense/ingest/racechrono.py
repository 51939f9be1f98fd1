"""RaceChrono CSV v3 (RaceChrono Pro's "CSV v3" export).

    This file is created using RaceChrono Pro v9.1.3 ( http://racechrono.com/ ).
    Format,3
    Session title,"Tianma"
    ...
    (blank line)
    timestamp,fragment_id,lap_number,elapsed_time,...,speed,...,speed,...   <- names
    unix time,,,s,...,m/s,...,m/s,...                                      <- units
    ,,,,,100: gps,...,calc,...,200: obd,...                                <- sources
    1767150797.44,0,8,1149.08,...

Units in the file: `timestamp` unix time in seconds (UTC); latitude/longitude degrees;
altitude m; speed m/s; bearing degrees; accelerations G (converted to m/s^2 with
STANDARD_GRAVITY_MPS2); `lateral_acc` is positive to the left and `longitudinal_acc`
positive forward, as the model wants (checked against the GPS track of a real file).

A name can appear several times with different sources (`speed` from "100: gps",
"calc" and "200: obd"). The core position, speed, bearing, altitude, satellites and
DOP come from the GPS source; every other column is kept as an extra channel, named
`<name>_<source>` (`speed_obd`, `speed_calc`) where a name is not unique.

RaceChrono inserts an interpolated row at each lap line crossing; those rows stay
(they are real positions on the line), and `lap_number` and `elapsed_time` are kept
as discrete channels so a lap table can be rebuilt from the logger's own count.
"""

from __future__ import annotations

import datetime as dt
import re

import numpy as np

from racesense.analysis.telemetry import Channel, FloatArray, Telemetry
from racesense.ingest import _common
from racesense.ingest.errors import MalformedFileError

FORMAT = "racechrono-csv-3"

# name -> (core channel, SI unit it must convert to; "" = no conversion)
_GPS_CORE: dict[str, tuple[str, str]] = {
    "latitude": ("lat_deg", ""),
    "longitude": ("lon_deg", ""),
    "altitude": ("alt_m", "m"),
    "speed": ("speed_mps", "m/s"),
    "bearing": ("heading_deg", ""),
    "satellites": ("sats", ""),
}
_ACCEL_CORE: dict[str, str] = {
    "longitudinal_acc": "accel_lon_mps2",
    "lateral_acc": "accel_lat_mps2",
}
_DISCRETE = {"lap_number", "elapsed_time", "fragment_id", "fix_type", "satellites"}
_PREAMBLE_LINES = 40


def _cells(line: str) -> list[str]:
    return [cell.strip().strip('"').strip() for cell in line.rstrip("\r").split(",")]


def sniff(head: bytes) -> bool:
    lines = _common.decode(head).splitlines()[:_PREAMBLE_LINES]
    first = next((line for line in lines if line.strip()), "")
    if "racechrono" not in first.lower():
        return False
    return any(_cells(line)[:2] == ["Format", "3"] for line in lines)


def _split(data: bytes) -> tuple[list[list[str]], list[str], list[str], list[str], int]:
    """Preamble rows, column names, units, sources, and the byte offset of the data."""
    preamble: list[list[str]] = []
    names: list[str] | None = None
    offset = 0
    for _ in range(_PREAMBLE_LINES):
        end = data.find(b"\n", offset)
        if end < 0:
            break
        cells = _cells(data[offset:end].decode("utf-8", "replace"))
        offset = end + 1
        if cells[0] == "timestamp":
            names = cells
            break
        preamble.append(cells)
    if names is None:
        raise MalformedFileError("The RaceChrono file has no header row starting 'timestamp'.")
    rows: list[list[str]] = []
    # Units row, then the sources row; each is recognised by not starting with a number.
    for _ in range(2):
        end = data.find(b"\n", offset)
        line = data[offset : end if end >= 0 else len(data)].decode("utf-8", "replace")
        cells = _cells(line)
        if re.match(r"^\s*[+-]?\d", cells[0]):
            break
        rows.append(cells)
        offset = end + 1 if end >= 0 else len(data)
    units = rows[0] if rows else []
    sources = rows[1] if len(rows) > 1 else []
    n = len(names)
    units = (units + [""] * n)[:n]
    sources = (sources + [""] * n)[:n]
    return preamble, names, units, sources, offset


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


def _pick(names: list[str], sources: list[str], name: str, *, gps_only: bool) -> int | None:
    """Index of the column to use for core channel `name`: the GPS source first."""
    candidates = [i for i, n in enumerate(names) if n == name]
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


def parse(data: bytes) -> Telemetry:
    preamble, names, units, sources, offset = _split(data)
    columns = _common.read_float_columns(data[offset:], len(names), what="The RaceChrono file's")
    if columns[0].size == 0:
        raise MalformedFileError("The RaceChrono file has a header but no data rows.")

    used = {0}
    core: dict[str, FloatArray] = {}
    for name, (core_name, wanted) in _GPS_CORE.items():
        i = _pick(names, sources, name, gps_only=True)
        if i is None:
            continue
        values = columns[i] if not wanted else _common.si_as(columns[i], units[i], wanted)
        if values is not None:
            core[core_name] = values
            used.add(i)
    i_dop = _pick(names, sources, "coordinate_precision", gps_only=True)
    if i_dop is not None and units[i_dop].upper() == "DOP":
        core["hdop"] = columns[i_dop]
        used.add(i_dop)
    for name, core_name in _ACCEL_CORE.items():
        i = _pick(names, sources, name, gps_only=False)
        if i is None:
            continue
        accel = _common.si_as(columns[i], units[i], "m/s^2")
        if accel is not None:
            core[core_name] = accel
            used.add(i)

    channels: dict[str, Channel] = {}
    for i, label in _extra_names(names, sources, used).items():
        values, unit = _common.si(columns[i], units[i])
        kind = "discrete" if names[i] in _DISCRETE else "continuous"
        channels[label] = Channel(values, unit=unit, kind=kind)

    nan = np.full(columns[0].shape, np.nan)
    lat, lon = _common.position_or_nan(core.pop("lat_deg", nan), core.pop("lon_deg", nan))
    return _common.build(
        FORMAT,
        columns[0],
        lat,
        lon,
        core=core,
        channels=channels,
        origin=dt.datetime(1970, 1, 1, tzinfo=dt.UTC),
        metadata=_metadata(preamble),
        what="The RaceChrono file",
    )
