"""Valid files of each format the package reads, written from one synthetic session.

For the importer fuzz test and the regression tests of damaged files: each writer lays
out a `Telemetry` the way its logger does (the layouts of tests/ingest/test_*.py and
docs/formats.md), so that a file reads back to the same session and analyses to the
same laps. Small on purpose: a 5 Hz session of two timed laps, about 1,200 fixes.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from functools import cache

import numpy as np

from racesense.analysis.telemetry import STANDARD_GRAVITY_MPS2, Telemetry
from racesense.synth import SyntheticSession, demo_circuit, make_session, to_rscore_csv

KNOT_MPS = 1852.0 / 3600.0
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


@cache
def synthetic() -> SyntheticSession:
    """Two timed laps of Racesense Park at 5 Hz, with the default GNSS noise."""
    return make_session(demo_circuit(), rate_hz=5.0, laps=2, seed=3)


def session() -> Telemetry:
    return synthetic().telemetry


def _unix_s(tel: Telemetry) -> np.ndarray:
    assert tel.started_at is not None
    return (tel.started_at - _EPOCH).total_seconds() + tel.t_s


def _rows(*columns: list[str]) -> bytes:
    return "".join(",".join(cells) + "\n" for cells in zip(*columns, strict=True)).encode()


def _fmt(values: np.ndarray, spec: str) -> list[str]:
    return [format(float(v), spec) for v in values]


def rscore(tel: Telemetry) -> bytes:
    return to_rscore_csv(tel)


def _with_crossing_rows(tel: Telemetry, crossings_s: np.ndarray) -> tuple[dict, np.ndarray]:
    """The core channels with a row added at each start/finish crossing (interpolated,
    as RaceChrono adds them), and each row's lap number."""
    t = np.sort(np.concatenate([tel.t_s, crossings_s]))
    names = ("lat_deg", "lon_deg", "alt_m", "speed_mps", "heading_deg", "sats")
    names += ("accel_lon_mps2", "accel_lat_mps2")
    values = {name: np.interp(t, tel.t_s, getattr(tel, name)) for name in names}
    values["t_s"] = t
    laps = np.searchsorted(crossings_s, t, side="right").astype(np.float64)
    return values, laps


def racechrono(tel: Telemetry, *, with_laps: bool = False) -> bytes:
    """A RaceChrono CSV v3 export; `with_laps`: a row on the line at each lap of the
    synthetic session (`synthetic()`), and the lap_number column, as RaceChrono has."""
    g = STANDARD_GRAVITY_MPS2
    head = (
        b"This file is created using RaceChrono Pro v9.1.3 ( http://racechrono.com/ ).\n"
        b"Format,3\n"
        b'Session title,"Fuzz"\n'
        b"\n"
        b"timestamp,latitude,longitude,altitude,speed,bearing,satellites,"
        b"longitudinal_acc,lateral_acc,lap_number\n"
        b"unix time,deg,deg,m,m/s,deg,sats,G,G,\n"
        b",100: gps,100: gps,100: gps,100: gps,100: gps,100: gps,calc,calc,\n"
    )
    crossings = synthetic().crossing_times_s if with_laps else np.empty(0)
    v, laps = _with_crossing_rows(tel, crossings)
    unix_s = _unix_s(tel)[0] - tel.t_s[0] + v["t_s"]
    return head + _rows(
        _fmt(unix_s, ".3f"),
        _fmt(v["lat_deg"], ".7f"),
        _fmt(v["lon_deg"], ".7f"),
        _fmt(v["alt_m"], ".1f"),
        _fmt(v["speed_mps"], ".3f"),
        _fmt(v["heading_deg"], ".2f"),
        _fmt(v["sats"], ".0f"),
        _fmt(v["accel_lon_mps2"] / g, ".3f"),
        _fmt(v["accel_lat_mps2"] / g, ".3f"),
        _fmt(laps, ".0f") if with_laps else [""] * laps.size,
    )


def aim(tel: Telemetry) -> bytes:
    g = STANDARD_GRAVITY_MPS2
    # The logger's lap marks: the session seconds of each crossing, and its end.
    marks = [*synthetic().crossing_times_s, float(tel.t_s[-1])]
    head = (
        b"Format,AiM CSV File,,,,,,,\n"
        b"Venue,Racesense Park,,,,,,,\n"
        b"Sample Rate,5,,,,,,,\n"
        + ("Beacon Markers," + ",".join(f"{m:.3f}" for m in marks) + "\n").encode()
        + b",,,,,,,,\n"
        b"Time,GPS Speed,GPS Nsat,GPS LatAcc,GPS LonAcc,GPS Latitude,GPS Longitude,"
        b"GPS Altitude,GPS Heading\n"
        b"s,km/h,#,g,g,deg,deg,m,deg\n"
        b",,,,,,,,\n"
    )
    return head + _rows(
        _fmt(tel.t_s, ".3f"),
        _fmt(tel.speed_mps * 3.6, ".2f"),
        _fmt(tel.sats, ".0f"),
        _fmt(-tel.accel_lat_mps2 / g, ".3f"),  # AiM: right positive
        _fmt(tel.accel_lon_mps2 / g, ".3f"),
        _fmt(tel.lat_deg, ".7f"),
        _fmt(tel.lon_deg, ".7f"),
        _fmt(tel.alt_m, ".1f"),
        _fmt(tel.heading_deg, ".2f"),
    )


def racecapture(tel: Telemetry) -> bytes:
    g = STANDARD_GRAVITY_MPS2
    head = (
        b'"Interval"|"ms"|0|0|1,"Utc"|"ms"|0|0|1,"AccelX"|"G"|-2.0|2.0|5,'
        b'"AccelY"|"G"|-2.0|2.0|5,"Yaw"|"Deg/Sec"|-300.0|300.0|5,'
        b'"Latitude"|"Degrees"|0.0|0.0|5,"Longitude"|"Degrees"|0.0|0.0|5,'
        b'"Speed"|"MPH"|0.0|150.0|5,"Heading"|"Degrees"|0|360|5,"LapCount"|""|0|0|5\n'
    )
    interval_ms = 100_000 + np.round(tel.t_s * 1000.0)
    # The logger counts a lap at its first fix past the line.
    laps = np.searchsorted(synthetic().crossing_times_s, tel.t_s, side="right")
    utc_ms = np.round(_unix_s(tel) * 1000.0)
    return head + _rows(
        _fmt(interval_ms, ".0f"),
        _fmt(utc_ms, ".0f"),
        _fmt(tel.accel_lon_mps2 / g, ".3f"),  # SAE J670E: x forward, y right, yaw cw
        _fmt(-tel.accel_lat_mps2 / g, ".3f"),
        _fmt(-tel.yaw_rate_dps, ".2f"),
        _fmt(tel.lat_deg, ".6f"),
        _fmt(tel.lon_deg, ".6f"),
        _fmt(tel.speed_mps / 0.44704, ".2f"),
        _fmt(tel.heading_deg, ".1f"),
        _fmt(laps, ".0f"),
    )


def racecapture_time_of_day(
    tel: Telemetry, keep: np.ndarray | None = None, *, date: bool = True
) -> bytes:
    """An older RaceCapture/Pro log: GNSS time as `Time`, the UTC time of day as
    hhmmss.sss, and (with `date`) a `Date` channel, ddmmyy; no `Utc`. The rows not in
    `keep` are GNSS samples the logger missed: its `Interval` counter does not advance
    over them, so timed by it the session comes out short by their share."""
    keep = np.ones(len(tel), dtype=bool) if keep is None else keep
    period_ms = float(np.median(np.diff(tel.t_s))) * 1000.0
    unix_s = _unix_s(tel)[keep]
    interval_ms = 100_000 + np.round(np.arange(unix_s.size) * period_ms)
    when = [_EPOCH + dt.timedelta(seconds=float(v)) for v in unix_s]
    time_of_day = [w.strftime("%H%M%S") + f"{w.microsecond / 1e6:.3f}"[1:] for w in when]
    head = '"Interval"|"ms"|0|0|1,"Time"|"utc"|0|0|10,'
    head += '"Date"|""|0|0|10,' if date else ""
    head += (
        '"Latitude"|"Degrees"|0.0|0.0|10,"Longitude"|"Degrees"|0.0|0.0|10,'
        '"Speed"|"MPH"|0.0|150.0|10,"Heading"|"Degrees"|0|360|10\n'
    )
    columns = [_fmt(interval_ms, ".0f"), time_of_day]
    if date:
        columns.append([f"{w:%d%m%y}" for w in when])
    return head.encode() + _rows(
        *columns,
        _fmt(tel.lat_deg[keep], ".6f"),
        _fmt(tel.lon_deg[keep], ".6f"),
        _fmt(tel.speed_mps[keep] / 0.44704, ".2f"),
        _fmt(tel.heading_deg[keep], ".1f"),
    )


def _hhmmss(unix_s: np.ndarray) -> list[str]:
    out = []
    for value in unix_s:
        when = _EPOCH + dt.timedelta(seconds=float(value))
        out.append(when.strftime("%H%M%S") + f"{when.microsecond / 1e6:.2f}"[1:])
    return out


VBO_COLUMNS = "sats time lat long velocity heading height Longacc Latacc"


def vbo_laptiming(line: tuple[tuple[float, float], tuple[float, float]]) -> str:
    """A [laptiming] Start line as Racelogic writes it: minutes, longitude first, west
    positive."""
    (lat1, lon1), (lat2, lon2) = line
    cells = [-lon1 * 60.0, lat1 * 60.0, -lon2 * 60.0, lat2 * 60.0]
    return "Start " + " ".join(f"{v:+013.6f}" for v in cells) + " \u00ac Start / Finish"


def vbo(tel: Telemetry, *, columns: str = VBO_COLUMNS, laptiming: str | None = None) -> bytes:
    """A VBO file; `columns` is its [column names] line (another writer's spelling of
    the same nine columns), `laptiming` a [laptiming] line."""
    g = STANDARD_GRAVITY_MPS2
    assert tel.started_at is not None
    timing = f"[laptiming]\n{laptiming}\n\n" if laptiming else ""
    head = (
        f"File created on {tel.started_at:%d/%m/%Y} @ {tel.started_at:%H:%M:%S}\n\n"
        "[header]\nsatellites\ntime\nlatitude\nlongitude\nvelocity kmh\nheading\nheight\n"
        "long accel g\nlat accel g\n\n"
        "[comments]\nSerial Number : 000042\n\n"
        f"{timing}[column names]\n{columns}\n\n"
        "[data]\n"
    ).encode()
    lines = [
        " ".join(cells)
        for cells in zip(
            _fmt(tel.sats, "03.0f"),
            _hhmmss(_unix_s(tel)),
            _fmt(tel.lat_deg * 60.0, "+012.6f"),
            _fmt(-tel.lon_deg * 60.0, "+012.6f"),  # VBOX longitude is west-positive
            _fmt(tel.speed_mps * 3.6, "07.3f"),
            _fmt(tel.heading_deg, "06.2f"),
            _fmt(tel.alt_m, "+09.2f"),
            _fmt(tel.accel_lon_mps2 / g, "+06.3f"),
            _fmt(tel.accel_lat_mps2 / g, "+06.3f"),
            strict=True,
        )
    ]
    return head + ("\n".join(lines) + "\n").encode()


def gpx(tel: Telemetry) -> bytes:
    assert tel.started_at is not None
    points = []
    for k in range(len(tel)):
        when = tel.started_at + dt.timedelta(seconds=float(tel.t_s[k]))
        points.append(
            f'<trkpt lat="{tel.lat_deg[k]:.7f}" lon="{tel.lon_deg[k]:.7f}">'
            f"<ele>{tel.alt_m[k]:.1f}</ele>"
            f"<time>{when.isoformat(timespec='milliseconds').replace('+00:00', 'Z')}</time>"
            f"<extensions><speed>{tel.speed_mps[k]:.2f}</speed>"
            f"<course>{tel.heading_deg[k]:.1f}</course></extensions></trkpt>\n"
        )
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<gpx version="1.1" creator="racesense tests" '
        'xmlns="http://www.topografix.com/GPX/1/1">\n<trk><name>Fuzz</name><trkseg>\n'
        + "".join(points)
        + "</trkseg></trk></gpx>\n"
    ).encode()


def _sentence(body: str) -> str:
    checksum = 0
    for c in body.encode("ascii"):
        checksum ^= c
    return f"${body}*{checksum:02X}\r\n"


def _nmea_angle(value_deg: float, degree_digits: int) -> str:
    minutes = abs(value_deg) * 60.0
    degrees = int(minutes // 60)
    return f"{degrees:0{degree_digits}d}{minutes - 60 * degrees:08.5f}"


def nmea(tel: Telemetry) -> bytes:
    assert tel.started_at is not None
    out = []
    for k in range(len(tel)):
        when = tel.started_at + dt.timedelta(seconds=float(tel.t_s[k]))
        hms = when.strftime("%H%M%S") + f"{when.microsecond / 1e6:.2f}"[1:]
        lat = _nmea_angle(float(tel.lat_deg[k]), 2) + ("N" if tel.lat_deg[k] >= 0 else "S")
        lon = _nmea_angle(float(tel.lon_deg[k]), 3) + ("E" if tel.lon_deg[k] >= 0 else "W")
        lat, ns = lat[:-1], lat[-1]
        lon, ew = lon[:-1], lon[-1]
        knots = tel.speed_mps[k] / KNOT_MPS
        out.append(
            _sentence(
                f"GNRMC,{hms},A,{lat},{ns},{lon},{ew},{knots:.2f},{tel.heading_deg[k]:.1f},"
                f"{when:%d%m%y},,,A"
            )
        )
        out.append(
            _sentence(f"GNGGA,{hms},{lat},{ns},{lon},{ew},1,14,0.7,{tel.alt_m[k]:.1f},M,47.1,M,,")
        )
    return "".join(out).encode("ascii")


# Format name (a key of racesense.ingest.FORMATS) -> writer.
WRITERS: dict[str, Callable[[Telemetry], bytes]] = {
    "rscore-csv-1": rscore,
    # With RaceChrono's row on the line at each lap, and its lap numbers.
    "racechrono-csv-3": lambda tel: racechrono(tel, with_laps=True),
    "aim-csv": aim,
    "racecapture-log": racecapture,
    # With the logger's start/finish line, as Racelogic's loggers write it.
    "vbox-vbo": lambda tel: vbo(tel, laptiming=vbo_laptiming(synthetic().start_finish_line_deg)),
    "gpx": gpx,
    "nmea-0183": nmea,
}


@cache
def sample(name: str) -> bytes:
    """A valid file of format `name`, of the session above."""
    return WRITERS[name](session())
