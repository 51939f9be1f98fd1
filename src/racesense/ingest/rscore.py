"""RS-Core CSV v1: the RS-Core logger's own format (docs/formats.md).

    # racesense-csv 1
    # device_id=RS-Core-7F3A
    # firmware=0.1.0
    # session_start_utc=2026-02-14T09:30:00.000Z
    time_ms,lat_deg,lon_deg,alt_m,speed_kmh,heading_deg,sats,hdop,ax_g,ay_g,az_g,gz_dps
    0,52.0693210,-1.0221960,153.2,0.0,0.0,14,0.7,0.01,-0.02,1.00,0.1

`time_ms` counts milliseconds from `session_start_utc`. An empty field is a missing
sample. Columns beyond the standard ones (rpm, throttle, ...) become extra channels,
with the unit taken from a `_unit` suffix where there is one (`oil_temp_c` -> "c").
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv

from racesense.analysis.telemetry import STANDARD_GRAVITY_MPS2, Channel, FloatArray, Telemetry
from racesense.ingest import _common
from racesense.ingest.errors import MalformedFileError

MAGIC = b"# racesense-csv 1"
REQUIRED = ("time_ms", "lat_deg", "lon_deg")

# column -> (core channel, factor to SI)
_CORE: dict[str, tuple[str, float]] = {
    "alt_m": ("alt_m", 1.0),
    "speed_kmh": ("speed_mps", 1.0 / 3.6),
    "heading_deg": ("heading_deg", 1.0),
    "sats": ("sats", 1.0),
    "hdop": ("hdop", 1.0),
    "ax_g": ("accel_lon_mps2", STANDARD_GRAVITY_MPS2),
    "ay_g": ("accel_lat_mps2", STANDARD_GRAVITY_MPS2),
    "az_g": ("accel_vert_mps2", STANDARD_GRAVITY_MPS2),
    "gz_dps": ("yaw_rate_dps", 1.0),
}


def sniff(head: bytes) -> bool:
    return head.lstrip(b"\xef\xbb\xbf").startswith(MAGIC)


def _parse_header(data: bytes) -> tuple[dict[str, str], int]:
    """Key/value comment lines, and the byte offset of the column-name row."""
    meta: dict[str, str] = {}
    offset = 0
    while data.startswith(b"#", offset):
        end = data.find(b"\n", offset)
        if end < 0:
            raise MalformedFileError("The RS-Core file ends inside its header: it has no data.")
        line = data[offset + 1 : end].decode("utf-8", "replace").strip()
        key, sep, value = line.partition("=")
        if sep:
            meta[key.strip()] = value.strip()
        offset = end + 1
    return meta, offset


def _parse_start(value: str | None) -> dt.datetime | None:
    if not value:
        return None
    try:
        start = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as exc:
        raise MalformedFileError(f"session_start_utc {value!r} is not an ISO 8601 time.") from exc
    if start.tzinfo is None:
        start = start.replace(tzinfo=dt.UTC)
    start = start.astimezone(dt.UTC)
    if not _common.EARLIEST <= start <= _common.LATEST:
        raise MalformedFileError(f"session_start_utc {value!r} is not a logger's time.")
    return start


def _read_columns(data: bytes, offset: int) -> tuple[list[str], list[FloatArray]]:
    """Column names and float64 columns of the table starting at `offset`. Rows that do
    not parse are dropped, not fatal."""
    view = memoryview(data)
    first_newline = data.find(b"\n", offset)
    if first_newline < 0:
        raise MalformedFileError("The RS-Core file has a header row but no data rows.")
    header = bytes(view[offset:first_newline]).decode("utf-8", "replace")
    names = [n.strip() for n in header.split(",")]
    missing = [n for n in REQUIRED if n not in names]
    if missing:
        raise MalformedFileError(f"The RS-Core file lacks the column(s) {', '.join(missing)}.")
    # A power cut can leave the last line half-written: keep only whole lines.
    last_newline = data.rfind(b"\n")
    rows = view[first_newline + 1 : last_newline + 1]  # no copy
    types = {n: pa.float64() for n in names}
    try:
        table = pacsv.read_csv(
            pa.BufferReader(pa.py_buffer(rows)),
            read_options=pacsv.ReadOptions(column_names=names),
            convert_options=pacsv.ConvertOptions(column_types=types, strings_can_be_null=True),
        )
    except pa.ArrowInvalid:
        return names, _read_columns_tolerant(names, bytes(rows))
    # pyarrow parses in blocks on every core; joining the blocks in its own allocator,
    # then viewing each column from NumPy, is cheaper than NumPy joining them.
    table = table.combine_chunks()
    columns = []
    for i in range(len(names)):
        column = table.column(i)
        chunk = column.chunk(0) if column.num_chunks == 1 else column.combine_chunks()
        # A view of pyarrow's buffer where nothing is missing; else a copy, NaN for empty.
        columns.append(np.asarray(chunk.to_numpy(zero_copy_only=False), dtype=np.float64))
    return names, columns


def _read_columns_tolerant(names: list[str], rows: bytes) -> list[FloatArray]:
    """Slow path for a file with damaged rows: parse line by line and skip the bad ones."""
    out: list[list[float]] = [[] for _ in names]
    for raw in rows.decode("utf-8", "replace").splitlines():
        fields = raw.split(",")
        if len(fields) != len(names):
            continue
        try:
            values = [float(f) if f.strip() else float("nan") for f in fields]
        except ValueError:
            continue
        for column, value in zip(out, values, strict=True):
            column.append(value)
    return [np.asarray(c, dtype=np.float64) for c in out]


def _scaled(values: FloatArray, factor: float) -> FloatArray:
    """values * factor: in place where the array is this parse's own, else in one pass
    into a new one (the columns pyarrow parsed are read-only views of its buffers)."""
    if factor == 1.0:
        return values
    # A damaged number near the float limit becomes +-inf, which the analysis takes as
    # missing (as _common.scaled says).
    with np.errstate(over="ignore"):
        if values.flags.writeable:
            values *= factor
            return values
        scaled: FloatArray = np.multiply(values, factor)
    return scaled


def parse(data: bytes) -> Telemetry:
    if not sniff(data):
        raise MalformedFileError("The file does not start with '# racesense-csv 1'.")
    meta, offset = _parse_header(data)
    started_at = _parse_start(meta.get("session_start_utc"))
    names, columns = _read_columns(data, offset)
    by_name = dict(zip(names, columns, strict=True))
    t_ms = by_name["time_ms"]
    # Rows whose time is missing, or beyond the years a clock can show (damaged), are
    # dropped. Most files have none: two reductions tell, without a mask.
    lowest_s, highest_s = _common.time_bounds_s(started_at)
    if not (t_ms.shape[0] and lowest_s * 1e3 <= t_ms.min() and t_ms.max() <= highest_s * 1e3):
        keep = _common.valid_times(t_ms * 1e-3, started_at)
        if not keep.any():
            raise MalformedFileError("The RS-Core file has no data rows with a time.")
        by_name = {k: v[keep] for k, v in by_name.items()}
        t_ms = by_name["time_ms"]
    # time_ms counts from session_start_utc; t_s counts from the first sample, and the
    # start time moves with it so absolute times stay right.
    t0_ms = float(t_ms[0])
    if started_at is not None:
        started_at = started_at + dt.timedelta(milliseconds=t0_ms)
    # Convert units without a second copy of any column.
    core = {
        core_name: _scaled(by_name[column], factor)
        for column, (core_name, factor) in _CORE.items()
        if column in by_name
    }
    channels = {
        name: Channel(values, unit=name.rsplit("_", 1)[1] if "_" in name else "")
        for name, values in by_name.items()
        if name not in _CORE and name not in REQUIRED
    }
    t_s = np.subtract(t_ms, t0_ms, out=t_ms if t_ms.flags.writeable else None)
    t_s *= 0.001
    return Telemetry.build(
        "rscore-csv-1",
        t_s,
        by_name["lat_deg"],
        by_name["lon_deg"],
        channels=channels,
        started_at=started_at,
        device_id=meta.get("device_id") or None,
        metadata={k: v for k, v in meta.items() if k != "session_start_utc"},
        start_finish_hint=None,  # RS-Core files name no start/finish
        **core,
    )
