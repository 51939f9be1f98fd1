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

Units are read from the units row: km/h, mph and m/s speeds become m/s; g becomes m/s^2
(STANDARD_GRAVITY_MPS2); m and ft become m; angles stay degrees. `Time` is seconds
from the start of the session.

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

# core channel -> candidate columns, best first: (column, SI unit wanted, sign)
_CORE: dict[str, tuple[tuple[str, str, float], ...]] = {
    "lat_deg": (("GPS Latitude", "", 1.0),),
    "lon_deg": (("GPS Longitude", "", 1.0),),
    "alt_m": (("GPS Altitude", "m", 1.0),),
    "speed_mps": (("GPS Speed", "m/s", 1.0),),
    "heading_deg": (("GPS Heading", "", 1.0),),
    "sats": (("GPS Nsat", "", 1.0),),
    "accel_lon_mps2": (("GPS LonAcc", "m/s^2", 1.0), ("AccelerometerX", "m/s^2", 1.0)),
    "accel_lat_mps2": (("GPS LatAcc", "m/s^2", -1.0), ("AccelerometerY", "m/s^2", -1.0)),
    "accel_vert_mps2": (("AccelerometerZ", "m/s^2", -1.0),),
    "yaw_rate_dps": (("GyroZ", "", -1.0), ("GPS Gyro", "", -1.0)),
}
_DISCRETE = {"GPS Nsat", "Gear", "Lap", "Beacon"}
_META_KEYS = {
    "date": "date_local",
    "time": "time_local",
    "sample_rate": "sample_rate_hz",
    "duration": "duration_s",
    "beacon_markers": "beacon_markers_s",
}
_MAX_HEADER_LINES = 200


def _row(line: bytes) -> list[str]:
    text = line.decode("utf-8", "replace").replace("\r", "")
    try:
        cells = next(csv.reader([text]), [])
    except csv.Error:  # a damaged line: its cells are still worth a look
        cells = text.split(",")
    return [cell.strip() for cell in cells]


def sniff(head: bytes) -> bool:
    for line in head.lstrip(b"\xef\xbb\xbf").splitlines()[:5]:
        cells = _row(line)
        if not any(cells):
            continue
        return len(cells) > 1 and cells[0] == "Format" and cells[1].startswith("AiM CSV File")
    return False


def _split(data: bytes) -> tuple[dict[str, str], list[str], list[str], int]:
    """Header metadata, column names, units, and the byte offset of the data rows."""
    meta: dict[str, str] = {}
    names: list[str] | None = None
    offset = 0
    for _ in range(_MAX_HEADER_LINES):
        end = data.find(b"\n", offset)
        if end < 0:
            break
        cells = _row(data[offset:end])
        offset = end + 1
        values = [c for c in cells[1:] if c]
        if cells and cells[0] == "Time" and len(values) >= 2:
            names = cells
            break
        if cells and cells[0] and values:
            key = re.sub(r"[^a-z0-9]+", "_", cells[0].lower()).strip("_")
            meta[_META_KEYS.get(key, key)] = ",".join(values)
    if names is None:
        raise MalformedFileError("The AiM file has no row of column names starting with 'Time'.")
    end = data.find(b"\n", offset)
    units = _row(data[offset : end if end >= 0 else len(data)])
    offset = end + 1 if end >= 0 else len(data)
    if units and re.match(r"^[+-]?\d", units[0]):
        raise MalformedFileError("The AiM file has no units row under its column names.")
    n = len(names)
    return meta, names, (units + [""] * n)[:n], offset


def parse(data: bytes) -> Telemetry:
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    meta, names, units, offset = _split(data)
    columns = _common.read_float_columns(data[offset:], len(names), what="The AiM file's")
    if columns[0].size == 0:
        raise MalformedFileError("The AiM file has a header but no data rows.")
    index = {name: i for i, name in reversed(list(enumerate(names))) if name}

    used = {index["Time"]}
    core: dict[str, FloatArray] = {}
    for core_name, candidates in _CORE.items():
        for column, wanted, sign in candidates:
            i = index.get(column)
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
        kind = "discrete" if name in _DISCRETE else "continuous"
        channels[name] = Channel(values, unit=unit, kind=kind)

    nan = np.full(columns[0].shape, np.nan)
    lat, lon = _common.position_or_nan(core.pop("lat_deg", nan), core.pop("lon_deg", nan))
    t = columns[index["Time"]]
    time_values = _common.si_as(t, units[index["Time"]], "s", default=True)
    return _common.build(
        FORMAT,
        t if time_values is None else time_values,
        lat,
        lon,
        core=core,
        channels=channels,
        origin=None,
        metadata=meta,
        what="The AiM file",
    )
