"""Write a `Telemetry` in the project's own logger format, racesense-csv version 1.

    # racesense-csv 1
    # device_id=RS-Core-7F3A
    # firmware=0.1.0
    # session_start_utc=2026-02-14T09:30:00.000Z
    time_ms,lat_deg,lon_deg,alt_m,speed_kmh,heading_deg,sats,hdop,ax_g,ay_g,az_g,gz_dps
    0,52.0693210,-1.0221960,153.2,0.0,0.0,14,0.7,0.01,-0.02,1.00,0.1

time_ms: integer milliseconds since session_start_utc; fixed decimals per column as in
the example; an empty field is a missing value (NaN); IMU in g with x forward, y left,
z up; gz_dps is the yaw rate, counter-clockwise positive. Lines end with '\\n'.

Formatting is vectorised: each column becomes fixed-point integers whose ASCII digits are
written into a byte matrix, padded with zero bytes that are dropped at the end, so a
90,000-row session takes a few tens of milliseconds.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import numpy.typing as npt

from racesense.analysis.telemetry import STANDARD_GRAVITY_MPS2, Telemetry

FloatArray = npt.NDArray[np.float64]
ByteMatrix = npt.NDArray[np.uint8]

MAGIC = "# racesense-csv 1"
HEADER = "time_ms,lat_deg,lon_deg,alt_m,speed_kmh,heading_deg,sats,hdop,ax_g,ay_g,az_g,gz_dps"


def _fixed(values: FloatArray, decimals: int) -> ByteMatrix:
    """One text field per value, right-aligned in a byte matrix with 0 as padding: exactly
    `decimals` decimals, no exponent, no '-0.0', nothing at all (an empty field) for NaN.
    The padding is removed when the rows are joined."""
    n = values.shape[0]
    finite = np.isfinite(values)
    scaled = np.rint(np.where(finite, values, 0.0) * 10.0**decimals)
    if np.any(np.abs(scaled) >= 1e17):
        raise ValueError("value too large for racesense-csv")
    fixed = scaled.astype(np.int64)
    magnitude = np.abs(fixed)
    digits = max(len(str(int(magnitude.max()))) if n else 1, decimals + 1)
    width = 1 + digits + (1 if decimals else 0)
    field = np.zeros((n, width), dtype=np.uint8)
    field[:, 0] = np.where(fixed < 0, ord("-"), 0)
    rest = magnitude.copy()
    column = width - 1
    for power in range(digits):  # from the last decimal leftwards
        if decimals and power == decimals:
            field[:, column] = ord(".")
            column -= 1
        # Decimals and the units digit always show; higher digits only when non-zero.
        shown = power <= decimals or magnitude >= 10**power
        field[:, column] = np.where(shown, ord("0") + rest % 10, 0)
        rest //= 10
        column -= 1
    field[~finite] = 0
    return field


def _utc_ms(when: dt.datetime) -> tuple[str, float]:
    """`when` rounded down to the millisecond as ISO text, and what was cut off (ms)."""
    utc = when.astimezone(dt.UTC)
    cut_ms = (utc.microsecond % 1000) / 1000.0
    floored = utc.replace(microsecond=utc.microsecond - utc.microsecond % 1000)
    return floored.strftime("%Y-%m-%dT%H:%M:%S.") + f"{floored.microsecond // 1000:03d}Z", cut_ms


def _header_value(name: str, value: str) -> str:
    if any(c in value for c in "\r\n"):
        raise ValueError(f"{name} must be a single line")
    return value


def to_rscore_csv(
    telemetry: Telemetry, device_id: str = "RS-Core-SYN1", firmware: str = "0.1.0"
) -> bytes:
    """The session as racesense-csv 1 bytes (UTF-8). Needs `telemetry.started_at`;
    time_ms counts from it (t_s = 0 is started_at)."""
    if telemetry.started_at is None or telemetry.started_at.tzinfo is None:
        raise ValueError("racesense-csv needs the session's timezone-aware start time")
    start_text, cut_ms = _utc_ms(telemetry.started_at)
    g = STANDARD_GRAVITY_MPS2
    columns = [
        _fixed(np.rint(telemetry.t_s * 1000.0 + cut_ms), 0),
        _fixed(telemetry.lat_deg, 7),
        _fixed(telemetry.lon_deg, 7),
        _fixed(telemetry.alt_m, 1),
        _fixed(telemetry.speed_mps * 3.6, 1),
        # 359.96 degrees must read 0.0, not 360.0.
        _fixed(np.mod(np.round(telemetry.heading_deg, 1), 360.0), 1),
        _fixed(telemetry.sats, 0),
        _fixed(telemetry.hdop, 1),
        _fixed(telemetry.accel_lon_mps2 / g, 2),
        _fixed(telemetry.accel_lat_mps2 / g, 2),
        _fixed(telemetry.accel_vert_mps2 / g, 2),
        _fixed(telemetry.yaw_rate_dps, 1),
    ]
    separators = [ord(",")] * (len(columns) - 1) + [ord("\n")]
    n = telemetry.t_s.shape[0]
    table = np.zeros((n, sum(c.shape[1] + 1 for c in columns)), dtype=np.uint8)
    at = 0
    for field, separator in zip(columns, separators, strict=True):
        table[:, at : at + field.shape[1]] = field
        table[:, at + field.shape[1]] = separator
        at += field.shape[1] + 1
    flat = table.ravel()
    lines = [
        MAGIC,
        f"# device_id={_header_value('device_id', device_id)}",
        f"# firmware={_header_value('firmware', firmware)}",
        f"# session_start_utc={start_text}",
        HEADER,
    ]
    body: bytes = flat[flat != 0].tobytes()
    return ("\n".join(lines) + "\n").encode("utf-8") + body
