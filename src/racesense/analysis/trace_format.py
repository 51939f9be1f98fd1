"""A lap's trace as bytes: Apache Arrow IPC (stream format), one record batch of typed
columns. Encoded once, when the analysis runs; stored and served as is.

Arrow because every column is a plain little-endian array, 8-byte aligned: the web UI
views it as a Float32Array without parsing (apache-arrow's `tableFromIPC`), and a team
engineer opens it with pyarrow or pandas. Encoding is a few array casts, no Python call
per value. JSON stays available for clients that ask for it (`trace_json`).

The columns, their types and units are `COLUMNS`; docs/api.md lists them. Missing values
are NaN (not Arrow nulls), as a chart library wants them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa

from racesense.analysis.results import LapTrace

FORMAT = "racesense-trace/1"
MEDIA_TYPE = "application/vnd.apache.arrow.stream"


@dataclass(frozen=True)
class Column:
    name: str
    dtype: Any  # the Arrow type
    unit: str
    meaning: str
    json_digits: int  # decimals kept when served as JSON


COLUMNS = (
    Column("t_s", pa.float32(), "s", "time since the lap's start", 3),
    Column("distance_m", pa.float32(), "m", "position along the reference lap's path", 1),
    Column("speed_kmh", pa.float32(), "km/h", "ground speed", 2),
    # float64: a float32 degree is ~1 m at the equator, too coarse for a racing line.
    Column("lat_deg", pa.float64(), "deg", "latitude, WGS84", 7),
    Column("lon_deg", pa.float64(), "deg", "longitude, WGS84", 7),
    Column("g_lat", pa.float32(), "g", "lateral acceleration, positive to the left", 3),
    Column("g_lon", pa.float32(), "g", "longitudinal acceleration, positive forward", 3),
    Column(
        "delta_s",
        pa.float32(),
        "s",
        "time lost (+) or gained (-) against the reference lap; NaN if the lap is partial",
        3,
    ),
)

SCHEMA = pa.schema(
    [pa.field(c.name, c.dtype, nullable=False, metadata={"unit": c.unit}) for c in COLUMNS]
)


def encode_trace(trace: LapTrace) -> bytes:
    """One lap's trace as an Arrow IPC stream."""
    arrays = [
        pa.array(np.asarray(getattr(trace, c.name), dtype=c.dtype.to_pandas_dtype()), c.dtype)
        for c in COLUMNS
    ]
    schema = SCHEMA.with_metadata(
        {"format": FORMAT, "lap": str(trace.number), "g_source": trace.g_source}
    )
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, schema) as writer:
        writer.write_batch(pa.record_batch(arrays, schema=schema))
    return bytes(sink.getvalue())


@dataclass(frozen=True)
class DecodedTrace:
    lap: int
    g_source: str
    columns: dict[str, np.ndarray[Any, Any]]


def decode_trace(data: bytes) -> DecodedTrace:
    table = pa.ipc.open_stream(data).read_all()
    meta = {k.decode(): v.decode() for k, v in (table.schema.metadata or {}).items()}
    if meta.get("format") != FORMAT:
        raise ValueError(f"not a {FORMAT} trace")
    columns = {name: table.column(name).to_numpy() for name in table.column_names}
    return DecodedTrace(int(meta["lap"]), meta["g_source"], columns)


def _json_column(values: np.ndarray[Any, Any], digits: int) -> list[float | None]:
    rounded = np.round(values.astype(np.float64), digits).astype(object)
    rounded[~np.isfinite(values)] = None  # JSON has no NaN
    return rounded.tolist()  # type: ignore[no-any-return]


def trace_json(data: bytes) -> bytes:
    """The same trace as JSON, column-wise:
    {"lap", "g_source", "t_s": [...], "distance_m": [...], ...}."""
    trace = decode_trace(data)
    document: dict[str, Any] = {"lap": trace.lap, "g_source": trace.g_source}
    for column in COLUMNS:
        document[column.name] = _json_column(trace.columns[column.name], column.json_digits)
    return json.dumps(document, separators=(",", ":")).encode()
