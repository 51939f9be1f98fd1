"""RaceChrono CSV v3, the layout RaceChrono Pro exports and other tools read.

    This file is created using RaceChrono v9 compatible export of Racesense 0.1.0.
    Format,3
    Session title,"park"
    Session type,Lap timing
    Track name,"Racesense Park"
    Driver name,
    Created,01/03/2026,09:00
    Note,"Exported by Racesense 0.1.0 (laps 3 + 5)"
    (blank line)
    timestamp,fragment_id,lap_number,elapsed_time,distance_traveled,altitude,...   <- names
    unix time,,,s,m,m,deg,DOP,deg,deg,sats,m/s,G,G                               <- units
    ,,,,,100: gps,100: gps,...,calc,calc                                          <- sources
    1772355600.000,0,0,0.000,0.000,101.23,...

As RaceChrono writes it: nine preamble lines (some readers count them), CRLF line
ends, `Created` as the session's start in UTC (dd/mm/yyyy,HH:MM), `timestamp` in Unix
seconds (UTC; 1 ms here), GPS channels from source "100: gps" in alphabetical order,
then the accelerations as "calc" in G (lateral positive left, longitudinal positive
forward). `lap_number` is the lap of the results document each row lies in (empty
outside every lap, and everywhere in a session without laps); `elapsed_time` counts
from the session's first sample and `distance_traveled` from its first fix, for a
chosen lap too (RaceChrono's lap export does the same); `fragment_id` counts the
contiguous stretches of the export (two laps apart are two fragments). A value the
session does not have is an empty cell; a channel with no value in the export is left
out. RaceChrono's interpolated row at each line crossing is not added: the rows are
the recording's own (an interpolated row is no measurement, and an analysis that takes
it for one moves a 5 Hz lap by up to 3 ms).

Precision: time 1 ms, latitude/longitude 1e-7 degrees (1 cm), speed 1 mm/s, bearing
0.01 degrees, altitude 1 cm, accelerations 1e-5 G.
"""

from __future__ import annotations

import racesense
from racesense.analysis.telemetry import STANDARD_GRAVITY_MPS2
from racesense.export import _text
from racesense.export._text import Column
from racesense.export.selection import Export

EXTENSION = "csv"
MEDIA_TYPE = "text/csv; charset=utf-8"
NEWLINE = "\r\n"
GPS = "100: gps"

# (core channel, name, unit, decimals, factor from SI), in RaceChrono's column order:
# its GPS channels alphabetically, then the calculated ones.
_GPS_COLUMNS = (
    ("alt_m", "altitude", "m", 2, 1.0),
    ("heading_deg", "bearing", "deg", 2, 1.0),
    ("hdop", "coordinate_precision", "DOP", 2, 1.0),
    ("lat_deg", "latitude", "deg", 7, 1.0),
    ("lon_deg", "longitude", "deg", 7, 1.0),
    ("sats", "satellites", "sats", 0, 1.0),
    ("speed_mps", "speed", "m/s", 3, 1.0),
)
_CALC_COLUMNS = (
    ("accel_lat_mps2", "lateral_acc", "G", 5, 1.0 / STANDARD_GRAVITY_MPS2),
    ("accel_lon_mps2", "longitudinal_acc", "G", 5, 1.0 / STANDARD_GRAVITY_MPS2),
)
_ALWAYS = {"lat_deg", "lon_deg"}


def _quoted(text: str) -> str:
    return '"' + _text.one_line(text).replace('"', '""') + '"'


def _note(export: Export) -> str:
    return f"Exported by Racesense {racesense.__version__} ({export.scope})"


def _preamble(export: Export) -> list[str]:
    start = _text.started_at(export)
    return [
        f"This file is created using RaceChrono v9 compatible export of Racesense "
        f"{racesense.__version__}.",
        "Format,3",
        f"Session title,{_quoted(export.title)}",
        "Session type,Lap timing",
        f"Track name,{_quoted(export.track_name or '')}",
        "Driver name,",
        f"Created,{start:%d/%m/%Y},{start:%H:%M}",
        f"Note,{_quoted(_note(export))}",
        "",
    ]


def write(export: Export) -> bytes:
    names = ["timestamp", "fragment_id", "lap_number", "elapsed_time"]
    units = ["unix time", "", "", "s"]
    sources = ["", "", "", ""]
    columns: list[Column] = [
        Column(_text.unix_ms(export) / 1000.0, 3),
        Column(export.fragment_ids.astype(float), 0),
        Column(export.lap_numbers, 0),
        Column(export.elapsed_s, 3),
    ]
    if (export.distance_m == export.distance_m).any():
        names.append("distance_traveled")
        units.append("m")
        sources.append("")
        columns.append(Column(export.distance_m, 3))
    for group, source in ((_GPS_COLUMNS, GPS), (_CALC_COLUMNS, "calc")):
        for channel, name, unit, decimals, factor in group:
            values = export.column(channel)
            if channel not in _ALWAYS and not (values == values).any():
                continue
            names.append(name)
            units.append(unit)
            sources.append(source)
            columns.append(Column(values * factor if factor != 1.0 else values, decimals))
    head = [*_preamble(export), ",".join(names), ",".join(units), ",".join(sources)]
    body = _text.table(columns, ",", NEWLINE) if len(export) else ""
    return (NEWLINE.join(head) + NEWLINE + body).encode("utf-8")
