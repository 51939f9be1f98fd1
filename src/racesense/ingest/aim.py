"""AiM Race Studio CSV export (MyChron, Solo, EVO loggers).

    Format,AiM CSV File,,,
    Venue,SSKC,,,
    Date,"Sunday, June 19, 2022",,,
    Time,3:42 PM,,,
    Sample Rate,20,,,
    Beacon Markers,77.2,149.128,...       <- session seconds of each line crossing
    Segment Times,1:17.200,1:11.928,...
    (blank row)
    Time,GPS Speed,GPS Nsat,GPS LatAcc,...  <- names
    s,km/h, ,g,...                          <- units
    (blank row)
    0.000,1.4676,11,0.0000,...

Race Studio's exports vary by version and locale:
- column names "GPS Latitude", "GPS_Latitude" or "Latitude" (compared without case or
  punctuation, `_ALIASES`), quoted or not;
- units in a row under the names, or in the names themselves ("GPS Speed [km/h]",
  "Time (s)"); the units row wins where both are given;
- comma-separated, or in locales whose decimal mark is a comma, semicolon- or
  tab-separated with decimal commas ("0,050;1,4676").
Units: km/h, mph and m/s speeds become m/s; g becomes m/s^2 (STANDARD_GRAVITY_MPS2);
m and ft become m; angles stay degrees. `Time` is seconds from the start of the
session (the logger's clock: the file has no GNSS time).

"Beacon Markers" are the session seconds at which the logger counted a lap (its GPS
lap marker or track-side beacon); the place the car was at those times is the logger's
start/finish, which becomes the file's start/finish hint (`_common.point_hint`).

AiM's axes are SAE-like: x forward, y right, z down, and the gyro's z is clockwise
positive. Checked on a real MyChron file against its GPS track: `GPS LatAcc` and
`AccelerometerY` are positive in right-hand corners, `GyroZ` and `GPS Gyro` positive
when turning right, `AccelerometerZ` reads about -1 g at rest. The model wants lateral
positive to the left, yaw counter-clockwise positive and z up, so those are negated
(`accel_vert_mps2` then reads about +9.81 m/s^2 at rest, as an accelerometer does).

Date and Time in the header are the logger's local time with no zone: `started_at`
stays None and they are kept as text in the metadata (`date_local`, `time_local`).
"""

from __future__ import annotations

import csv
import re

import numpy as np

from racesense.analysis.telemetry import Channel, FloatArray, Telemetry
from racesense.ingest import _common
from racesense.ingest.errors import MalformedFileError

FORMAT = "aim-csv"

# core channel -> candidates, best first: (column names, SI unit wanted, sign). Names
# are compared as `_common.column_key`: "GPS_Latitude" is "GPS Latitude".
_CORE: dict[str, tuple[tuple[tuple[str, ...], str, float], ...]] = {
    "lat_deg": ((("GPS Latitude", "Latitude", "GPS Lat", "Lat"), "", 1.0),),
    "lon_deg": ((("GPS Longitude", "Longitude", "GPS Lon", "GPS Long", "Lon", "Long"), "", 1.0),),
    "alt_m": ((("GPS Altitude", "GPS Elevation", "Altitude"), "m", 1.0),),
    "speed_mps": ((("GPS Speed", "Speed GPS"), "m/s", 1.0),),
    "heading_deg": ((("GPS Heading", "GPS Course", "Heading"), "", 1.0),),
    "sats": ((("GPS Nsat", "GPS Satellites", "GPS Sats", "Nsat"), "", 1.0),),
    "accel_lon_mps2": ((("GPS LonAcc",), "m/s^2", 1.0), (("AccelerometerX",), "m/s^2", 1.0)),
    "accel_lat_mps2": ((("GPS LatAcc",), "m/s^2", -1.0), (("AccelerometerY",), "m/s^2", -1.0)),
    "accel_vert_mps2": ((("AccelerometerZ",), "m/s^2", -1.0),),
    "yaw_rate_dps": ((("GyroZ",), "", -1.0), (("GPS Gyro",), "", -1.0)),
}
_DISCRETE = {"gpsnsat", "gear", "lap", "beacon"}
_META_KEYS = {
    "date": "date_local",
    "time": "time_local",
    "sample_rate": "sample_rate_hz",
    "duration": "duration_s",
    "beacon_markers": "beacon_markers_s",
}
_MAX_HEADER_LINES = 200
_DELIMITERS = (",", ";", "\t")


def _row(line: bytes, delimiter: str = ",") -> list[str]:
    text = line.decode("utf-8", "replace").replace("\r", "")
    try:
        cells = next(csv.reader([text], delimiter=delimiter), [])
    except csv.Error:  # a damaged line: its cells are still worth a look
        cells = text.split(delimiter)
    return [cell.strip() for cell in cells]


def _delimiter(line: bytes) -> str | None:
    """The separator the `Format` line uses, or None if it is no AiM `Format` line."""
    for delimiter in _DELIMITERS:
        cells = _row(line, delimiter)
        if len(cells) > 1 and cells[0] == "Format" and cells[1].startswith("AiM CSV File"):
            return delimiter
    return None


def sniff(head: bytes) -> bool:
    for line in head.lstrip(b"\xef\xbb\xbf").splitlines()[:5]:
        if not any(_row(line)):
            continue
        return _delimiter(line) is not None
    return False


def _is_names(cells: list[str]) -> bool:
    """The row of column names: it starts with Time (perhaps with its unit) and names
    more columns; the header's `Time,3:42 PM` has one value only."""
    base = _common.split_unit(cells[0])[0] if cells else ""
    return _common.column_key(base) == "time" and sum(1 for c in cells[1:] if c) >= 2


def _split(
    data: bytes, delimiter: str
) -> tuple[dict[str, str], list[float], list[str], list[str], int]:
    """Header metadata, beacon marker times, column names, units, and the byte offset
    of the data rows."""
    meta: dict[str, str] = {}
    markers: list[float] = []
    names: list[str] | None = None
    offset = 0
    for _ in range(_MAX_HEADER_LINES):
        end = data.find(b"\n", offset)
        if end < 0:
            break
        cells = _row(data[offset:end], delimiter)
        offset = end + 1
        if _is_names(cells):
            names = cells
            break
        values = [c for c in cells[1:] if c]
        if cells and cells[0] and values:
            key = re.sub(r"[^a-z0-9]+", "_", cells[0].lower()).strip("_")
            meta[_META_KEYS.get(key, key)] = ",".join(values)
            if key == "beacon_markers":
                markers = [x for x in map(_common.number, values) if x is not None]
    if names is None:
        raise MalformedFileError("The AiM file has no row of column names starting with 'Time'.")
    split = [_common.split_unit(name) for name in names]
    names = [base for base, _ in split]
    n = len(names)
    units = [unit for _, unit in split]
    end = data.find(b"\n", offset)
    row = _row(data[offset : end if end >= 0 else len(data)], delimiter)
    # The units row: under the names, not a number. Without it, the data starts here.
    if row and not re.match(r"^[+-]?\d", row[0]):
        offset = end + 1 if end >= 0 else len(data)
        units = [listed or named for listed, named in zip((row + [""] * n)[:n], units, strict=True)]
    return meta, markers, names, units, offset


def parse(data: bytes) -> Telemetry:
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    first = next((line for line in data[:4096].splitlines() if line.strip()), b"")
    delimiter = _delimiter(first) or ","
    meta, markers, names, units, offset = _split(data, delimiter)
    what = "The AiM file"
    keys = [_common.column_key(name) for name in names]
    i_time = keys.index("time")
    positions = [_common.find_column(names, _CORE[c][0][0]) for c in ("lat_deg", "lon_deg")]
    if None in positions:
        raise _common.missing_column(what, "position (GPS Latitude and GPS Longitude)", names)
    body = _common.decimal_commas(data[offset:], delimiter)
    columns = _common.read_float_columns(
        body, len(names), delimiter=delimiter, what="The AiM file's"
    )
    if columns[0].size == 0:
        raise MalformedFileError("The AiM file has a header but no data rows.")

    used = {i_time}
    core: dict[str, FloatArray] = {}
    for core_name, candidates in _CORE.items():
        for aliases, wanted, sign in candidates:
            i = _common.find_column(names, aliases)
            if i is None:
                continue
            values = columns[i] if not wanted else _common.si_as(columns[i], units[i], wanted)
            if values is None:
                continue
            # `+ 0.0` keeps a negated zero from printing as -0.0.
            core[core_name] = values * sign + 0.0 if sign != 1.0 else values
            used.add(i)
            break
    if "heading_deg" in core:
        core["heading_deg"] = _common.modulo(core["heading_deg"], 360.0)

    channels: dict[str, Channel] = {}
    for i, name in enumerate(names):
        if i in used or not name or name in channels:
            continue
        values, unit = _common.si(columns[i], units[i])
        kind = "discrete" if keys[i] in _DISCRETE else "continuous"
        channels[name] = Channel(values, unit=unit, kind=kind)

    nan = np.full(columns[0].shape, np.nan)
    lat, lon = _common.position_or_nan(core.pop("lat_deg", nan), core.pop("lon_deg", nan))
    t = columns[i_time]
    time_values = _common.si_as(t, units[i_time], "s", default=True)
    t = t if time_values is None else time_values
    hint = _common.point_hint(t, lat, lon, markers, "The AiM file's beacon markers")
    return _common.build(
        FORMAT,
        t,
        lat,
        lon,
        core=core,
        channels=channels,
        origin=None,
        metadata=meta,
        what=what,
        start_finish_hint=hint,
    )
