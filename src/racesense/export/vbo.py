"""Racelogic VBOX `.vbo`, as Racelogic documents it and its loggers write it.

    File created on 01/03/2026 at 09:00:00

    [header]
    satellites
    time
    latitude
    longitude
    velocity kmh
    heading
    height
    long accel g
    lat accel g

    [channel units]

    [comments]
    Racesense 0.1.0 export (whole session)
    Session : park
    Serial Number : RS-Core-7F3A
    Log Rate (Hz) : 25.00

    [laptiming]
    Start +00060.852000 +3124.398000 +00060.851000 +3124.399000 ¬ Start / Finish

    [column names]
    sats time lat long velocity heading height Longacc Latacc

    [data]
    014 090000.00 +03124.398000 +00060.852000 090.000 045.00 +00150.00 +0.1000 -0.2000

Units as the loggers write them: `time` UTC time of day HHMMSS.SS (it wraps to 000000
at midnight; the date is on the first line, that of the first row); `lat` and `long`
in minutes, north positive and WEST positive (so a longitude east of Greenwich is
negative); `velocity` km/h; `heading` degrees; `height` m; `Longacc` and `Latacc` g,
forward and left positive. Only standard channels are written, so `[channel units]` is
empty. Space-separated with CRLF line ends, as Racelogic's tools write them.

A VBO row has no missing value: rows without a position are left out, a channel the
session never has is left out (its column and header line), and gaps in the others are
filled (continuous channels interpolated in time, the satellite count held). HDOP,
vertical acceleration and yaw rate are not standard channels: not written.

Where the results have a start/finish line, `[laptiming]` holds it as Racelogic writes
a gate: `Start +long1 +lat1 +long2 +lat2 ¬ Start / Finish`, longitude first, both in
minutes, west positive; Circuit Tools then times laps from the same line.

Precision: time 10 ms (a time that is not a multiple of 10 ms moves by up to 5 ms),
latitude/longitude 1e-6 minutes (2 mm), velocity 0.001 km/h, heading 0.01 degrees,
height 1 cm, accelerations 1e-4 g.
"""

from __future__ import annotations

import numpy as np

import racesense
from racesense.analysis.telemetry import STANDARD_GRAVITY_MPS2, FloatArray
from racesense.export import _text
from racesense.export._text import Column
from racesense.export.selection import Export

EXTENSION = "vbo"
MEDIA_TYPE = "text/plain; charset=utf-8"
NEWLINE = "\r\n"
DAY_CS = 8_640_000  # centiseconds in a day

# (core channel, [header] line, [column names] name, decimals, printf flags, factor)
_OPTIONAL = (
    ("speed_mps", "velocity kmh", "velocity", 3, "07", 3.6),
    ("heading_deg", "heading", "heading", 2, "06", 1.0),
    ("alt_m", "height", "height", 2, "+09", 1.0),
    ("accel_lon_mps2", "long accel g", "Longacc", 4, "+07", 1.0 / STANDARD_GRAVITY_MPS2),
    ("accel_lat_mps2", "lat accel g", "Latacc", 4, "+07", 1.0 / STANDARD_GRAVITY_MPS2),
)


def _time_of_day(unix_ms: FloatArray) -> FloatArray:
    """HHMMSS.SS numbers of UTC times given in ms since the epoch."""
    cs = np.rint(unix_ms / 10.0).astype(np.int64) % DAY_CS
    hours, rest = np.divmod(cs, 360_000)
    minutes, rest = np.divmod(rest, 6_000)
    hhmmss_cs = hours * 1_000_000 + minutes * 10_000 + rest
    clock: FloatArray = hhmmss_cs / 100.0
    return clock


def _log_rate_hz(export: Export) -> float | None:
    t = export.column("t_s")
    steps = np.diff(t)
    steps = steps[steps > 0]
    return 1.0 / float(np.median(steps)) if steps.shape[0] else None


def _comments(export: Export) -> list[str]:
    lines = [f"Racesense {racesense.__version__} export ({export.scope})"]
    lines.append(f"Session : {_text.one_line(export.title)}")
    if export.track_name:
        lines.append(f"Track : {_text.one_line(export.track_name)}")
    if export.telemetry.device_id:
        lines.append(f"Serial Number : {_text.one_line(export.telemetry.device_id)}")
    rate = _log_rate_hz(export)
    if rate is not None:
        lines.append(f"Log Rate (Hz) : {rate:.2f}")
    return lines


def _laptiming(export: Export) -> list[str]:
    """The `[laptiming]` section and its blank line, or nothing without a line."""
    if export.start_finish is None:
        return []
    (lat1, lon1), (lat2, lon2) = export.start_finish
    minutes = (-lon1 * 60.0, lat1 * 60.0, -lon2 * 60.0, lat2 * 60.0)
    gate = " ".join(f"{value:+.6f}" for value in minutes)
    return ["[laptiming]", f"Start {gate} \N{NOT SIGN} Start / Finish", ""]


def write(export: Export) -> bytes:
    # Rows with a position only: a VBO row is a fix.
    positioned = np.isfinite(export.column("lat_deg")) & np.isfinite(export.column("lon_deg"))
    if not positioned.all():
        export = export.subset(positioned)
    header = ["satellites", "time", "latitude", "longitude"]
    names = ["sats", "time", "lat", "long"]
    columns: list[Column] = []
    sats = _text.filled(export, "sats")
    if sats is None:
        header, names = header[1:], names[1:]
    else:
        columns.append(Column(sats, 0, "03"))
    columns.append(Column(_time_of_day(_text.unix_ms(export).astype(float)), 2, "09"))
    columns.append(Column(export.column("lat_deg") * 60.0, 6, "+013"))
    columns.append(Column(-export.column("lon_deg") * 60.0, 6, "+013"))  # west positive
    for channel, line, name, decimals, flags, factor in _OPTIONAL:
        values = _text.filled(export, channel)
        if values is None:
            continue
        header.append(line)
        names.append(name)
        columns.append(Column(values * factor, decimals, flags))
    created = _text.first_time(export)
    laptiming = _laptiming(export)
    head = [
        f"File created on {created:%d/%m/%Y} at {created:%H:%M:%S}",
        "",
        "[header]",
        *header,
        "",
        "[channel units]",
        "",
        "[comments]",
        *_comments(export),
        "",
        *laptiming,
        "[column names]",
        " ".join(names),
        "",
        "[data]",
    ]
    body = _text.table(columns, " ", NEWLINE)
    return (NEWLINE.join(head) + NEWLINE + body).encode("utf-8")
