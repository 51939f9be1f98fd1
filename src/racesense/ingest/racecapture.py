"""RaceCapture/Pro log (the logger's .log file on the SD card).

    "Interval"|"ms"|0|0|1,"Utc"|"ms"|0|0|1,"AccelX"|"G"|-2.0|2.0|25,...,"Latitude"|...
    1195962,1429743738020,-0.58,...,,,
    1196042,1429743738008,-0.56,...,38.162849,-122.455605,...

Header cells are `"Name"|"unit"|min|max|rateHz`; rows are sparse: a channel logged
slower than the fastest one is blank on the rows between its samples. Units come from
the header: Speed MPH and Distance Miles become m/s and m, Accel G becomes m/s^2,
LapTime/PredTime/ElapsedTime minutes become seconds, Yaw/Pitch/Roll stay deg/s.

Time. `Interval` is the logger's uptime clock (ms). GNSS time comes in one of two
channels, only on rows that carry a new GPS fix:
- `Utc` (current firmware): ms since the unix epoch, 0 without a lock;
- `Time` (older RaceCapture/Pro logs, `"Time"|"utc"|...`): the UTC time of day as
  hhmmss.sss (143512.200), with a `Date` channel (ddmmyy, as NMEA writes it) where
  the log has one. A log without a date keeps times from its first sample and no
  `started_at` (a time of day is no instant); `metadata["start_time_utc"]` keeps the
  first sample's time of day. Midnight is carried over with the logger's clock: each
  fix's time of day is put on the day that keeps its offset from `Interval` nearest
  the log's typical offset.
On IMU-only rows `Utc` is the logger clock extrapolated from the last fix, and it can
even run ahead of the next fix; the logger clock itself drifts from GNSS time (0.3% has
been seen) and, in older logs, does not advance over missed GNSS samples, so laps timed
by it come out short. So GNSS time is trusted: a fix row's time is its GNSS time, every
other row's `Interval` is mapped to GNSS time by piecewise-linear interpolation between
the surrounding fixes' (Interval, GNSS time) pairs, with slope 1 past either end.
Without a GNSS time channel (or without a fix) the time is `Interval`.

A fix row whose latitude and longitude repeat the previous fix exactly, with the same
speed or while moving faster than 2 m/s, is the logger writing the last fix again when
the receiver had no new one (seen ~1500 times in a 10 Hz Sonoma session, each with an
extrapolated `Utc` that lands after the next real fix). Its GNSS values are stale, so
they become NaN and its time comes from `Interval`.
Latitude and longitude of exactly 0,0 mean no fix and become NaN.

Channels are found by name through `_ALIASES` (any case: `Speed` or `GPSSpeed`,
`Latitude` or `Lat`), with units from the header cells; a log without time or position
channels gets an error naming the channels it has. Where `LapCount` steps is where the
logger counted its laps: the file's start/finish hint (`_common.point_hint`).

Axes. Since firmware 2.9.0 (2016) RaceCapture maps its IMU to SAE J670E in the unit's
natural mounting: x forward, y right, z down, yaw clockwise positive; calibration makes
AccelZ read +1 G at rest. Older firmware and remapped installs differ: in the Sonoma
sample (2015) AccelX is lateral (right positive) and AccelY longitudinal. So the axes
are inferred from the data where the GNSS track allows it: the accelerometer channel
that follows d(speed)/dt is longitudinal, the one that follows speed x turn rate is
lateral, and Yaw's sign follows the course's turn rate. A short or slow file falls back
to SAE J670E. `metadata["imu_axes"]` says which mapping was used.
"""

from __future__ import annotations

import datetime as dt
import re

import numpy as np
import numpy.typing as npt

from racesense.analysis.telemetry import (
    MAX_ACCEL_MPS2,
    MAX_SPEED_MPS,
    MAX_YAW_RATE_DPS,
    STANDARD_GRAVITY_MPS2,
    Channel,
    FloatArray,
    Telemetry,
)
from racesense.ingest import _common
from racesense.ingest.errors import MalformedFileError

FORMAT = "racecapture-log"
BoolArray = npt.NDArray[np.bool_]

_CELL = re.compile(r'^"(?P<name>[^"]*)"\|"(?P<unit>[^"]*)"(?:\|[^|]*){0,3}$')
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)

# Each channel's names, best first, compared as `_common.column_key` (so case and
# punctuation do not matter). Current firmware writes the first of each; older
# RaceCapture/Pro logs and the RaceCapture app's exports the others.
_ALIASES: dict[str, tuple[str, ...]] = {
    "interval": ("Interval",),
    "utc": ("Utc",),
    "time": ("Time", "GPSTime", "UtcTime"),
    "date": ("Date", "GPSDate"),
    "lat_deg": ("Latitude", "Lat", "GPSLatitude"),
    "lon_deg": ("Longitude", "Lon", "Long", "Lng", "GPSLongitude"),
    "speed_mps": ("Speed", "GPSSpeed"),
    "alt_m": ("Altitude", "GPSAltitude", "Alt"),
    "heading_deg": ("Heading", "GPSHeading", "Course"),
    "sats": ("GPSSats", "Sats", "Satellites"),
    "hdop": ("GPSDOP", "DOP", "HDOP"),
    "laps": ("LapCount",),
}
# GNSS core channels -> the SI unit the header's unit must convert to ("" = none).
_GNSS_CORE: dict[str, str] = {
    "speed_mps": "m/s",
    "alt_m": "m",
    "heading_deg": "",
    "sats": "",
    "hdop": "",
}
_DAY_MS = 86_400_000.0
_IMU = ("AccelX", "AccelY", "AccelZ", "Yaw")
_DISCRETE = {"LapCount", "CurrentLap", "LapTime", "GPSQual", "GPSSats", "Sector", "SectorTime"}

# Axis inference: need this much moving time, and correlations at least this strong.
_MIN_MOVING_S = 30.0
_MIN_CORRELATION = 0.5
_MOVING_MPS = 5.0
_STILL_MPS = 2.0
_MAX_SESSION_S = 2 * 86400.0
# The track is resampled every _GRID_STEP_S, into at most this many points per fix (a
# fix a second, as a slow GNSS logs): a track of a few fixes spread over days is too
# thin to tell axes from, and must not cost a grid of days.
_GRID_STEP_S = 0.1
_MAX_GRID_PER_FIX = 10
# A fix whose Utc - Interval offset strays this far from its neighbours' is damaged.
_MAX_OFFSET_JUMP_MS = 1000.0
_OFFSET_WINDOW = 21


def _header(line: str) -> tuple[list[str], list[str]] | None:
    names: list[str] = []
    units: list[str] = []
    for cell in line.strip().split(","):
        found = _CELL.match(cell.strip())
        if found is None:
            return None
        names.append(found["name"])
        units.append(found["unit"])
    return names, units


def sniff(head: bytes) -> bool:
    first = _common.decode(head).split("\n", 1)[0]
    if not first.startswith('"'):
        return False
    parsed = _header(first)
    # Every log has its logger clock (Interval) or a GNSS time (Utc; Time in older logs).
    return parsed is not None and bool({"Interval", "Utc", "Time"} & set(parsed[0]))


def _smooth(x: FloatArray, n: int) -> FloatArray:
    out: FloatArray = np.convolve(x, np.ones(n) / n, mode="same")
    return out


def _correlation(a: FloatArray, b: FloatArray) -> float:
    if a.size < 3 or np.std(a) == 0.0 or np.std(b) == 0.0:
        return 0.0
    return float(np.corrcoef(a, b)[0, 1])


def _infer_axes(
    t: FloatArray, lat: FloatArray, lon: FloatArray, speed: FloatArray, imu: dict[str, FloatArray]
) -> dict[str, tuple[str, float]] | None:
    """Which IMU column (and sign) is longitudinal, lateral (left +) and yaw (ccw +).

    None where the GNSS track is too short or too slow to tell.
    """
    # A speed no car reaches is a damaged number, not a sample of the track.
    fix = np.isfinite(t) & np.isfinite(lat) & np.isfinite(lon) & (np.abs(speed) <= MAX_SPEED_MPS)
    fixes = int(fix.sum())
    if fixes < 20:
        return None
    order = np.argsort(t[fix], kind="stable")
    tf, la, lo, sp = (a[fix][order] for a in (t, lat, lon, speed))
    step = _GRID_STEP_S
    span_s = tf[-1] - tf[0]
    if not _MIN_MOVING_S <= span_s <= min(_MAX_SESSION_S, _MAX_GRID_PER_FIX * fixes * step):
        return None
    grid = np.arange(tf[0], tf[-1], step)
    window = round(1.0 / step)
    # Local flat-earth metres are plenty for a turn rate.
    north = np.radians(np.interp(grid, tf, la) - la[0]) * 6_371_000.0
    east = np.radians(np.interp(grid, tf, lo) - lo[0]) * 6_371_000.0 * np.cos(np.radians(la[0]))
    vn = _smooth(np.gradient(_smooth(north, window), step), window)
    ve = _smooth(np.gradient(_smooth(east, window), step), window)
    an = _smooth(np.gradient(vn, step), window)
    ae = _smooth(np.gradient(ve, step), window)
    v = np.hypot(vn, ve)
    moving = v > _MOVING_MPS
    if moving.sum() * step < _MIN_MOVING_S:
        return None
    with np.errstate(invalid="ignore", divide="ignore"):
        ref_lat = (ve * an - vn * ae) / v  # left positive: +east x +north turns left
    ref_lon = _smooth(np.gradient(_smooth(np.interp(grid, tf, sp), window), step), window)
    ref_ccw = ref_lat / np.where(v > 0, v, np.nan)

    def correlate(column: str, ref: FloatArray) -> float:
        values = imu.get(column)
        if values is None:
            return 0.0
        # Beyond what the sensor can read is a damaged number (False for NaN).
        limit = MAX_YAW_RATE_DPS if column == "Yaw" else MAX_ACCEL_MPS2
        ok = np.isfinite(t) & (np.abs(values) <= limit)
        if ok.sum() < 20:
            return 0.0
        o = np.argsort(t[ok], kind="stable")
        on_grid = _smooth(np.interp(grid, t[ok][o], values[ok][o]), window)
        m = moving & np.isfinite(ref)
        return _correlation(on_grid[m], ref[m])

    c = {
        (a, r): correlate(a, ref)
        for a in ("AccelX", "AccelY")
        for r, ref in (("lon", ref_lon), ("lat", ref_lat))
    }
    straight = abs(c["AccelX", "lon"]) + abs(c["AccelY", "lat"])
    crossed = abs(c["AccelY", "lon"]) + abs(c["AccelX", "lat"])
    lon_col, lat_col = ("AccelX", "AccelY") if straight >= crossed else ("AccelY", "AccelX")
    c_lon, c_lat = c[lon_col, "lon"], c[lat_col, "lat"]
    c_yaw = correlate("Yaw", ref_ccw)
    if min(abs(c_lon), abs(c_lat), abs(c_yaw)) < _MIN_CORRELATION:
        return None
    return {
        "accel_lon_mps2": (lon_col, float(np.sign(c_lon))),
        "accel_lat_mps2": (lat_col, float(np.sign(c_lat))),
        "yaw_rate_dps": ("Yaw", float(np.sign(c_yaw))),
    }


# SAE J670E, the default mapping of firmware 2.9.0 and later.
_SAE_AXES: dict[str, tuple[str, float]] = {
    "accel_lon_mps2": ("AccelX", 1.0),
    "accel_lat_mps2": ("AccelY", -1.0),
    "yaw_rate_dps": ("Yaw", -1.0),
}


def _consistent(interval: FloatArray, gnss: FloatArray) -> BoolArray:
    """Which (Interval, GNSS time) pairs agree with their neighbours' clock offset.

    The offset drifts slowly (0.3% at most), and steps where an older logger's clock
    skipped missed GNSS samples; a damaged number jumps out and back. So a pair is
    kept where its offset agrees with the median offset of the 21 nearest fixes, or of
    the 10 just before it, or of the 10 just after it (a step agrees with one side; a
    damaged number with none).
    """
    with np.errstate(all="ignore"):  # damaged numbers near the float limit
        offset = gnss - interval
        n = offset.size
        if n < 3:
            return np.ones(n, dtype=bool)
        half = _OFFSET_WINDOW // 2
        padded = np.concatenate([np.full(half, np.nan), offset, np.full(half, np.nan)])
        centred = _common.centred_median(offset, _OFFSET_WINDOW)
        view = np.lib.stride_tricks.sliding_window_view
        sides = _common.median_ignoring_nan(view(padded, half))
        before, after = sides[:n], sides[half + 1 : half + 1 + n]
        agrees = np.zeros(n, dtype=bool)
        for median in (centred, before, after):
            agrees |= np.abs(offset - median) <= _MAX_OFFSET_JUMP_MS
        return agrees


def _date(value: float) -> dt.date | None:
    """A GNSS date channel's value: ddmmyy (as NMEA writes it) or yyyymmdd."""
    if not 10100.0 <= value < 100_000_000.0:
        return None
    number = int(value)
    if number >= 19_800_101:
        year, month, day = number // 10000, (number // 100) % 100, number % 100
    else:
        year, month, day = 2000 + number % 100, (number // 100) % 100, number // 10000
    try:
        return dt.date(year, month, day) if 1980 <= year < 2100 else None
    except ValueError:
        return None


def _time_of_day_ms(
    time_of_day_s: FloatArray, interval: FloatArray | None, date: FloatArray | None
) -> tuple[FloatArray, dt.datetime | None]:
    """Older logs' `Time` (UTC time of day) as ms from midnight UTC of day 0, carried
    over midnight, and that midnight where a `Date` channel gives it.

    With the logger's clock, each time of day goes on the day that puts its offset
    from `Interval` nearest the log's typical offset (the circular mean over the day):
    a damaged time of day cannot start a new day. Without it, file order decides.
    """
    with np.errstate(all="ignore"):  # damaged numbers near the float limit
        if interval is None:
            carried, _ = _common.unwrap_midnight(time_of_day_s)
            t_ms: FloatArray = carried * 1000.0
        else:
            t_ms = np.full(time_of_day_s.shape, np.nan)
            use = np.isfinite(time_of_day_s) & np.isfinite(interval)
            offset = time_of_day_s[use] * 1000.0 - interval[use]
            if offset.size:
                phase = 2.0 * np.pi * np.mod(offset, _DAY_MS) / _DAY_MS
                typical = np.arctan2(np.mean(np.sin(phase)), np.mean(np.cos(phase)))
                typical_ms = typical / (2.0 * np.pi) * _DAY_MS
                days = np.round((typical_ms - offset) / _DAY_MS)
                t_ms[use] = time_of_day_s[use] * 1000.0 + days * _DAY_MS
    origin = None
    if date is not None:
        for i in np.flatnonzero(np.isfinite(date) & np.isfinite(t_ms))[:50].tolist():
            day = _date(float(date[i]))
            day_index = float(np.floor(t_ms[i] / _DAY_MS))
            if day is not None and abs(day_index) <= 366:
                midnight = dt.datetime.combine(day, dt.time(), dt.UTC)
                origin = midnight - dt.timedelta(days=day_index)
                break
    return t_ms, origin


def _gnss_time(
    names: list[str], units: list[str], columns: list[FloatArray], interval: FloatArray | None
) -> tuple[FloatArray | None, dt.datetime | None]:
    """GNSS time of each row in ms from the returned origin (NaN on rows without one;
    origin None when the log has a time of day and no date), or (None, None) if the
    log has no GNSS time at all."""
    i_utc = _common.find_column(names, _ALIASES["utc"])
    if i_utc is not None:
        utc = columns[i_utc]
        # Utc is 0 without a lock; beyond the years a clock can show, a damaged number.
        ok = (utc > 0) & _common.valid_times(utc / 1000.0, _EPOCH)
        if ok.any():
            return np.where(ok, utc, np.nan), _EPOCH
    i_time = _common.find_column(names, _ALIASES["time"])
    # A `Time` whose unit is a duration (ms, s) is a clock from the start, not UTC.
    if i_time is not None and _common.si_as(columns[i_time], units[i_time], "s") is None:
        time_of_day_s = _common.hhmmss_to_s(columns[i_time])
        if np.isfinite(time_of_day_s).any():
            i_date = _common.find_column(names, _ALIASES["date"])
            date = columns[i_date] if i_date is not None else None
            return _time_of_day_ms(time_of_day_s, interval, date)
    return None, None


def _gnss_time_ms(
    interval: FloatArray | None, gnss: FloatArray | None, anchor: BoolArray
) -> tuple[FloatArray, bool]:
    """Each row's time in ms, and whether it is GNSS time (else the logger's clock)."""
    if gnss is not None and interval is not None and anchor.any():
        a_iv, a_gnss = interval[anchor], gnss[anchor]
        order = np.argsort(a_iv, kind="stable")
        a_iv, a_gnss = a_iv[order], a_gnss[order]
        # GNSS time runs on with the logger's clock: a fix whose time is not later than
        # every earlier fix's (a receiver repeating one time) is no anchor. Without
        # this, fixes sharing one time would put the whole log at one instant.
        advancing = np.ones(a_gnss.shape[0], dtype=bool)
        advancing[1:] = a_gnss[1:] > np.maximum.accumulate(a_gnss)[:-1]
        if not advancing.all():
            anchor = anchor.copy()
            anchor[np.flatnonzero(anchor)[order[~advancing]]] = False
            a_iv, a_gnss = a_iv[advancing], a_gnss[advancing]
        t = np.interp(interval, a_iv, a_gnss)
        before, after = interval < a_iv[0], interval > a_iv[-1]
        t[before] = a_gnss[0] + (interval[before] - a_iv[0])
        t[after] = a_gnss[-1] + (interval[after] - a_iv[-1])
        t[anchor] = gnss[anchor]
        t[~np.isfinite(interval) & ~anchor] = np.nan
        return t, True
    if interval is not None:
        return interval, False
    assert gnss is not None, "parse checks for a clock"
    return gnss, True


def _column(
    names: list[str], columns: list[FloatArray], channel: str, used: set[int]
) -> FloatArray | None:
    i = _common.find_column(names, _ALIASES[channel])
    if i is None:
        return None
    used.add(i)
    return columns[i]


def parse(data: bytes) -> Telemetry:
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    end = data.find(b"\n")
    parsed = _header(data[: end if end >= 0 else len(data)].decode("utf-8", "replace"))
    if parsed is None:
        raise MalformedFileError("The RaceCapture log's first line is not a channel header.")
    names, units = parsed
    what = "The RaceCapture log"
    found_time = [_common.find_column(names, _ALIASES[c]) for c in ("interval", "utc", "time")]
    if all(i is None for i in found_time):
        raise _common.missing_column(what, "time (Interval, Utc or Time)", names)
    i_lat = _common.find_column(names, _ALIASES["lat_deg"])
    i_lon = _common.find_column(names, _ALIASES["lon_deg"])
    if i_lat is None or i_lon is None:
        raise _common.missing_column(what, "position (Latitude and Longitude)", names)
    body = data[end + 1 :] if end >= 0 else b""
    columns = _common.read_float_columns(body, len(names), what="The RaceCapture log's")
    n = columns[0].size
    if n == 0:
        raise MalformedFileError("The RaceCapture log has a header but no data rows.")
    used = {i for i in (*found_time, i_lat, i_lon) if i is not None}
    i_date = _common.find_column(names, _ALIASES["date"])
    if i_date is not None:
        used.add(i_date)
    nan = np.full(n, np.nan)

    lat, lon = _common.position_or_nan(columns[i_lat], columns[i_lon])
    core: dict[str, FloatArray] = {}
    for core_name, wanted in _GNSS_CORE.items():
        i = _common.find_column(names, _ALIASES[core_name])
        if i is None:
            continue
        values = columns[i] if not wanted else _common.si_as(columns[i], units[i], wanted)
        if values is not None:
            core[core_name] = values
            used.add(i)

    fix = np.isfinite(lat) & np.isfinite(lon)
    # A repeat of the previous fix is the logger re-writing a stale fix (module docstring).
    fix_rows = np.flatnonzero(fix)
    same = (lat[fix_rows][1:] == lat[fix_rows][:-1]) & (lon[fix_rows][1:] == lon[fix_rows][:-1])
    if "speed_mps" in core:
        # Standing still, two real fixes can agree to the last digit; above walking pace
        # the car moves more than the 6-decimal resolution (0.1 m) between fixes.
        s = core["speed_mps"][fix_rows]
        same &= (s[1:] == s[:-1]) | (np.isnan(s[1:]) & np.isnan(s[:-1])) | (s[1:] > _STILL_MPS)
    stale = np.zeros(n, dtype=bool)
    stale[fix_rows[1:][same]] = True
    if stale.any():
        lat, lon = np.where(stale, np.nan, lat), np.where(stale, np.nan, lon)
        core = {k: np.where(stale, np.nan, v) for k, v in core.items()}
        fix &= ~stale

    interval = columns[found_time[0]] if found_time[0] is not None else None
    if interval is None and found_time[2] is not None:
        # A Time in a unit of duration is a clock from the start, as Interval is.
        seconds = _common.si_as(columns[found_time[2]], units[found_time[2]], "s")
        interval = None if seconds is None else _common.scaled(seconds, 1000.0)
    gnss, origin = _gnss_time(names, units, columns, interval)
    if gnss is None and interval is None:  # a Time in seconds, say: no clock
        raise _common.missing_column(what, "time (Interval, Utc or a UTC Time)", names)
    anchor = np.zeros(n, dtype=bool)
    if gnss is not None and interval is not None:
        candidates = np.flatnonzero(fix & np.isfinite(gnss) & np.isfinite(interval))
        anchor[candidates[_consistent(interval[candidates], gnss[candidates])]] = True
    t_ms, is_gnss = _gnss_time_ms(interval, gnss, anchor)
    known_origin = origin if is_gnss else None
    valid = _common.valid_times(t_ms / 1000.0, known_origin)
    base_ms = float(np.min(t_ms[valid])) if valid.any() else 0.0
    t = np.where(valid, t_ms - base_ms, np.nan) / 1000.0

    imu: dict[str, FloatArray] = {}
    for name in _IMU:
        i = _common.find_column(names, (name,))
        if i is not None:
            # An empty unit label means the logger's default: G, or deg/s for Yaw.
            label = units[i] or ("G" if name.startswith("Accel") else "deg/s")
            wanted = "m/s^2" if name.startswith("Accel") else "deg/s"
            values = _common.si_as(columns[i], label, wanted)
            if values is not None:
                imu[name] = values
                used.add(i)
    axes = _infer_axes(t, lat, lon, core.get("speed_mps", nan), imu)
    how = "inferred from the GNSS track" if axes is not None else "SAE J670E default"
    notes: list[str] = []
    for core_name, (name, sign) in (axes or _SAE_AXES).items():
        if name in imu:
            core[core_name] = imu[name] * sign + 0.0
            notes.append(f"{core_name}={'+' if sign > 0 else '-'}{name}")
    if "AccelZ" in imu:
        # Calibration makes AccelZ read +1 G at rest; a mounting that reads -1 G is flipped.
        z = imu["AccelZ"]
        at_rest = z[np.abs(z) <= MAX_ACCEL_MPS2]  # not NaN, nor beyond the sensor
        flip = at_rest.size > 0 and bool(np.median(at_rest) < -0.5 * STANDARD_GRAVITY_MPS2)
        core["accel_vert_mps2"] = -z + 0.0 if flip else z
        notes.append(f"accel_vert_mps2={'-' if flip else '+'}AccelZ")

    channels: dict[str, Channel] = {}
    for i, name in enumerate(names):
        if i in used or name in channels or not name:
            continue
        values, si_unit = _common.si(columns[i], units[i])
        kind = "discrete" if name in _DISCRETE else "continuous"
        channels[name] = Channel(values, unit=si_unit, kind=kind)

    # Where the logger counted its laps: its start/finish, a hint for the analysis.
    hint = None
    i_laps = _common.find_column(names, _ALIASES["laps"])
    if i_laps is not None:
        laps = columns[i_laps]
        rows = np.flatnonzero(np.isfinite(laps))
        counted = rows[1:][np.diff(laps[rows]) > 0]
        hint = _common.point_hint(t, lat, lon, t[counted].tolist(), f"{what}'s lap counter")

    metadata = {"imu_axes": f"{' '.join(notes)} ({how})"} if notes else {}
    if is_gnss and origin is None and valid.any():
        # A time of day without a date: keep when the session started, as text.
        metadata["start_time_utc"] = _clock_text(base_ms % _DAY_MS)
    return _common.build(
        FORMAT,
        t,
        lat,
        lon,
        core=core,
        channels=channels,
        origin=None if known_origin is None else known_origin + dt.timedelta(milliseconds=base_ms),
        metadata=metadata,
        what=what,
        start_finish_hint=hint,
    )


def _clock_text(ms: float) -> str:
    """hh:mm:ss.sss of a time of day in ms."""
    whole = int(ms)
    return f"{whole // 3_600_000:02d}:{whole // 60_000 % 60:02d}:{whole % 60_000 / 1000:06.3f}"
