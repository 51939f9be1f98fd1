"""RaceCapture/Pro log (the logger's .log file on the SD card).

    "Interval"|"ms"|0|0|1,"Utc"|"ms"|0|0|1,"AccelX"|"G"|-2.0|2.0|25,...,"Latitude"|...
    1195962,1429743738020,-0.58,...,,,
    1196042,1429743738008,-0.56,...,38.162849,-122.455605,...

Header cells are `"Name"|"unit"|min|max|rateHz`; rows are sparse: a channel logged
slower than the fastest one is blank on the rows between its samples. Units come from
the header: Speed MPH and Distance Miles become m/s and m, Accel G becomes m/s^2,
LapTime/PredTime/ElapsedTime minutes become seconds, Yaw/Pitch/Roll stay deg/s.

Time. `Interval` is the logger's uptime clock (ms); `Utc` is GNSS time (ms since the
unix epoch, 0 without a lock) only on rows that carry a new GPS fix. On IMU-only rows
`Utc` is the logger clock extrapolated from the last fix, and it can even run ahead of
the next fix; the logger clock itself drifts from GNSS time (0.3% has been seen) and
runs on through missed fixes. So GNSS time is trusted: a fix row's time is its `Utc`,
every other row's `Interval` is mapped to GNSS time by piecewise-linear interpolation
between the surrounding fixes' (Interval, Utc) pairs, with slope 1 past either end.
Without a `Utc` column (or without a fix) the time is `Interval`.

A fix row whose latitude and longitude repeat the previous fix exactly, with the same
speed or while moving faster than 2 m/s, is the logger writing the last fix again when
the receiver had no new one (seen ~1500 times in a 10 Hz Sonoma session, each with an
extrapolated `Utc` that lands after the next real fix). Its GNSS values are stale, so
they become NaN and its time comes from `Interval`.
Latitude and longitude of exactly 0,0 mean no fix and become NaN.

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

# GNSS columns -> (core channel, SI unit wanted; "" = no conversion)
_GNSS_CORE: dict[str, tuple[str, str]] = {
    "Speed": ("speed_mps", "m/s"),
    "Altitude": ("alt_m", "m"),
    "Heading": ("heading_deg", ""),
    "GPSSats": ("sats", ""),
    "GPSDOP": ("hdop", ""),
}
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
    return parsed is not None and ("Interval" in parsed[0] or "Utc" in parsed[0])


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


def _consistent(interval: FloatArray, utc: FloatArray) -> BoolArray:
    """Which (Interval, Utc) pairs agree with their neighbours' clock offset.

    The offset drifts slowly (0.3% at most); a damaged number jumps. The median of the
    21 nearest fixes is the reference.
    """
    offset = utc - interval
    n = offset.size
    window = min(_OFFSET_WINDOW, n if n % 2 else n - 1)
    if window < 3:
        return np.ones(n, dtype=bool)
    half = window // 2
    padded = np.pad(offset, half, mode="edge")
    median = np.median(np.lib.stride_tricks.sliding_window_view(padded, window), axis=1)
    return np.asarray(np.abs(offset - median) <= _MAX_OFFSET_JUMP_MS)


def _gnss_time_ms(
    interval: FloatArray | None, utc: FloatArray | None, anchor: BoolArray
) -> tuple[FloatArray, bool]:
    """Each row's time in ms, and whether it is GNSS time (ms since the unix epoch)."""
    if utc is not None and interval is not None and anchor.any():
        a_iv, a_utc = interval[anchor], utc[anchor]
        order = np.argsort(a_iv, kind="stable")
        a_iv, a_utc = a_iv[order], a_utc[order]
        # GNSS time runs on with the logger's clock: a fix whose Utc is not later than
        # every earlier fix's (a receiver repeating one time) is no anchor. Without
        # this, fixes sharing one Utc would put the whole log at one instant.
        advancing = np.ones(a_utc.shape[0], dtype=bool)
        advancing[1:] = a_utc[1:] > np.maximum.accumulate(a_utc)[:-1]
        if not advancing.all():
            anchor = anchor.copy()
            anchor[np.flatnonzero(anchor)[order[~advancing]]] = False
            a_iv, a_utc = a_iv[advancing], a_utc[advancing]
        t = np.interp(interval, a_iv, a_utc)
        before, after = interval < a_iv[0], interval > a_iv[-1]
        t[before] = a_utc[0] + (interval[before] - a_iv[0])
        t[after] = a_utc[-1] + (interval[after] - a_iv[-1])
        t[anchor] = utc[anchor]
        t[~np.isfinite(interval) & ~anchor] = np.nan
        return t, True
    if interval is not None:
        return interval, False
    if utc is not None:
        return np.where(utc > 0, utc, np.nan), True
    raise MalformedFileError("The RaceCapture log has neither an Interval nor a Utc column.")


def parse(data: bytes) -> Telemetry:
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    end = data.find(b"\n")
    parsed = _header(data[: end if end >= 0 else len(data)].decode("utf-8", "replace"))
    if parsed is None:
        raise MalformedFileError("The RaceCapture log's first line is not a channel header.")
    names, units = parsed
    body = data[end + 1 :] if end >= 0 else b""
    columns = _common.read_float_columns(body, len(names), what="The RaceCapture log's")
    n = columns[0].size
    if n == 0:
        raise MalformedFileError("The RaceCapture log has a header but no data rows.")
    col = {name: columns[i] for i, name in reversed(list(enumerate(names)))}
    unit = {name: units[i] for i, name in reversed(list(enumerate(names)))}
    nan = np.full(n, np.nan)
    used = {"Interval", "Utc", "Latitude", "Longitude"}

    lat, lon = _common.position_or_nan(col.get("Latitude", nan), col.get("Longitude", nan))
    core: dict[str, FloatArray] = {}
    for name, (core_name, wanted) in _GNSS_CORE.items():
        if name not in col:
            continue
        values = col[name] if not wanted else _common.si_as(col[name], unit[name], wanted)
        if values is not None:
            core[core_name] = values
            used.add(name)

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

    utc = col.get("Utc")
    interval = col.get("Interval")
    anchor = np.zeros(n, dtype=bool)
    if utc is not None and interval is not None:
        # Utc is 0 without a lock; beyond the years a clock can show, a damaged number.
        gnss = (utc > 0) & _common.valid_times(utc / 1000.0, _EPOCH)
        candidates = np.flatnonzero(fix & gnss & np.isfinite(interval))
        anchor[candidates[_consistent(interval[candidates], utc[candidates])]] = True
    t_ms, is_gnss = _gnss_time_ms(interval, utc, anchor)
    valid = _common.valid_times(t_ms / 1000.0, _EPOCH if is_gnss else None)
    base_ms = float(np.min(t_ms[valid])) if valid.any() else 0.0
    t = np.where(valid, t_ms - base_ms, np.nan) / 1000.0

    imu: dict[str, FloatArray] = {}
    for name in _IMU:
        if name in col:
            # An empty unit label means the logger's default: G, or deg/s for Yaw.
            label = unit[name] or ("G" if name.startswith("Accel") else "deg/s")
            wanted = "m/s^2" if name.startswith("Accel") else "deg/s"
            values = _common.si_as(col[name], label, wanted)
            if values is not None:
                imu[name] = values
                used.add(name)
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
        if name in used or name in channels or not name:
            continue
        values, si_unit = _common.si(columns[i], units[i])
        kind = "discrete" if name in _DISCRETE else "continuous"
        channels[name] = Channel(values, unit=si_unit, kind=kind)

    metadata = {"imu_axes": f"{' '.join(notes)} ({how})"} if notes else {}
    return _common.build(
        FORMAT,
        t,
        lat,
        lon,
        core=core,
        channels=channels,
        origin=_EPOCH + dt.timedelta(milliseconds=base_ms) if is_gnss else None,
        metadata=metadata,
        what="The RaceCapture log",
    )
