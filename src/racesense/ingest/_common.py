"""Helpers the text importers share: fast tolerant number tables, units, the final sort.

Private to `racesense.ingest`; each importer stays a small file about its own format.
"""

from __future__ import annotations

import datetime as dt
import io
import re
from collections.abc import Mapping, Sequence

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from racesense.analysis.telemetry import (
    STANDARD_GRAVITY_MPS2,
    Channel,
    FloatArray,
    StartFinishHint,
    Telemetry,
)
from racesense.ingest.errors import MalformedFileError

UTC = dt.UTC
KNOT_MPS = 1852.0 / 3600.0
# The years a recording's clock can show: the absolute clocks of these formats count
# from the unix epoch (or are GNSS dates, later still), and no file this code reads will
# be written after 2100. An absolute time outside them is a damaged number (a timestamp
# of -1e12 s); so is a relative one (from an unknown start) longer than their span.
EARLIEST = dt.datetime(1970, 1, 1, tzinfo=UTC)
LATEST = dt.datetime(2100, 1, 1, tzinfo=UTC)

# A plain decimal number, as loggers write them ("+0062.635", "-.5", "1e-3").
_NUMBER = r"^\s*[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?\s*$"

# Unit label (lower case, as the files spell them) -> (factor to SI, SI unit).
_SI_UNITS: dict[str, tuple[float, str]] = {
    "m/s": (1.0, "m/s"),
    "km/h": (1.0 / 3.6, "m/s"),
    "kmh": (1.0 / 3.6, "m/s"),
    "kph": (1.0 / 3.6, "m/s"),
    "mph": (0.44704, "m/s"),
    "kn": (KNOT_MPS, "m/s"),
    "kt": (KNOT_MPS, "m/s"),
    "knots": (KNOT_MPS, "m/s"),
    "g": (STANDARD_GRAVITY_MPS2, "m/s^2"),
    "m/s2": (1.0, "m/s^2"),
    "m/s^2": (1.0, "m/s^2"),
    "m/s²": (1.0, "m/s^2"),
    "m": (1.0, "m"),
    "km": (1000.0, "m"),
    "ft": (0.3048, "m"),
    "feet": (0.3048, "m"),
    "mi": (1609.344, "m"),
    "miles": (1609.344, "m"),
    "s": (1.0, "s"),
    "ms": (0.001, "s"),
    "min": (60.0, "s"),
    "deg": (1.0, "deg"),
    "degrees": (1.0, "deg"),
    "deg/s": (1.0, "deg/s"),
    "deg/sec": (1.0, "deg/s"),
}


def column_key(name: str) -> str:
    """A column name as the alias tables spell it: lower case, letters and digits only
    ("GPS_Latitude", "GPS Latitude" and "gps-latitude" are all "gpslatitude")."""
    return re.sub(r"[^0-9a-z]+", "", name.lower())


def find_column(names: Sequence[str], aliases: Sequence[str]) -> int | None:
    """Index of the first column whose name is one of `aliases` (compared as
    `column_key`), trying the aliases in order, best first; None if there is none."""
    keys = [column_key(name) for name in names]
    for alias in aliases:
        key = column_key(alias)
        if key in keys:
            return keys.index(key)
    return None


_UNIT_IN_NAME = re.compile(r"^(?P<name>.*?)\s*[\[(](?P<unit>[^\])]*)[\])]\s*$")


def split_unit(name: str) -> tuple[str, str]:
    """("Speed", "km/h") from a header cell that carries its unit, as "Speed [km/h]" or
    "Speed (km/h)"; (name, "") from one that does not."""
    found = _UNIT_IN_NAME.match(name)
    if found is None or not found["name"].strip():
        return name.strip(), ""
    return found["name"].strip(), found["unit"].strip()


def missing_column(what: str, needed: str, names: Sequence[str]) -> MalformedFileError:
    """The error for a file whose `needed` columns cannot be found: it names the
    columns the file does have, so that its writer's spelling can be added."""
    shown = [name for name in names if name.strip()][:40]
    listed = ", ".join(f"'{name}'" for name in shown) if shown else "none"
    more = " ..." if len([n for n in names if n.strip()]) > len(shown) else ""
    return MalformedFileError(f"{what} has no {needed} column; the columns it has: {listed}{more}.")


def decimal_commas(body: bytes, delimiter: str) -> bytes:
    """Data rows with decimal commas (a European locale's "1,4676") as decimal points;
    only where the cells are not separated by commas themselves."""
    return body if delimiter == "," else body.replace(b",", b".")


def number(text: str) -> float | None:
    """A header cell's number, with a decimal point or a decimal comma; None if it is
    not one."""
    cleaned = text.strip().replace(",", ".")
    if re.match(_NUMBER, cleaned) is None:
        return None
    return float(cleaned)


# A hint point's positions agree if at least half lie this close to their median.
HINT_SPREAD_M = 25.0


def point_hint(
    t: FloatArray, lat: FloatArray, lon: FloatArray, times: Sequence[float], what: str
) -> StartFinishHint | None:
    """A start/finish point from the times a logger counted its laps: the median of the
    positions at those times (interpolated between fixes; times outside the fixes left
    out), if at least half of them lie within HINT_SPREAD_M of it. None otherwise."""
    fix = np.isfinite(t) & np.isfinite(lat) & np.isfinite(lon)
    if fix.sum() < 2:
        return None
    order = np.argsort(t[fix], kind="stable")
    tf, la, lo = t[fix][order], lat[fix][order], lon[fix][order]
    at = np.asarray([x for x in times if tf[0] <= x <= tf[-1]], dtype=np.float64)
    if at.size == 0:
        return None
    lat_at, lon_at = np.interp(at, tf, la), np.interp(at, tf, lo)
    middle_lat, middle_lon = float(np.median(lat_at)), float(np.median(lon_at))
    north_m = (lat_at - middle_lat) * 111_320.0
    east_m = (lon_at - middle_lon) * 111_320.0 * np.cos(np.radians(middle_lat))
    if np.sum(np.hypot(north_m, east_m) <= HINT_SPREAD_M) * 2 < at.size:
        return None
    try:
        return StartFinishHint((middle_lat, middle_lon), what=what)
    except ValueError:
        return None


def decode(data: bytes) -> str:
    """Text of a file; a stray bad byte must not stop an import."""
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    return data.decode("utf-8", "replace")


def si(values: FloatArray, unit: str) -> tuple[FloatArray, str]:
    """`values` converted to SI where `unit` is a known one; other units pass through."""
    factor, si_unit = _SI_UNITS.get(unit.strip().lower(), (1.0, unit.strip()))
    return (scaled(values, factor) if factor != 1.0 else values), si_unit


def scaled(values: FloatArray, factor: float) -> FloatArray:
    """values * factor. A damaged number near the float limit (1e308 g) becomes +-inf,
    which is no measurement: the analysis takes it as missing, like NaN."""
    with np.errstate(over="ignore"):
        result: FloatArray = values * factor
    return result


def modulo(values: FloatArray, period: float) -> FloatArray:
    """values modulo period, as np.mod; NaN (missing) for infinities, which are no
    reading."""
    with np.errstate(invalid="ignore"):
        result: FloatArray = np.mod(values, period)
    return result


def si_as(
    values: FloatArray, unit: str, wanted: str, *, default: bool = False
) -> FloatArray | None:
    """`values` in the SI unit `wanted`, or None if `unit` is not convertible to it.

    `default` says that an empty unit label means the values are already in `wanted`.
    """
    if not unit.strip():
        return values if default else None
    converted, si_unit = si(values, unit)
    return converted if si_unit == wanted else None


def read_float_columns(
    body: bytes, ncols: int, *, delimiter: str = ",", what: str = "The file's"
) -> list[FloatArray]:
    """Read delimited numeric rows into `ncols` float64 columns; empty cells are NaN.

    A row with the wrong number of cells (a line cut short by a power loss) is skipped,
    and a cell that is not a number reads as NaN: one bad line must not lose a session.
    """
    if not body.strip():
        return [np.empty(0, dtype=np.float64) for _ in range(ncols)]
    try:
        body.decode("utf-8")
    except UnicodeDecodeError:
        # pyarrow hands a bad row to the skip handler as text: make every row decodable.
        body = body.decode("utf-8", "replace").encode("utf-8")
    try:
        return _read(body, ncols, delimiter, tolerant=False)
    except pa.ArrowException:
        pass
    attempts = [body]
    last_newline = body.rstrip(b"\r\n").rfind(b"\n")
    if last_newline >= 0:
        # A final line cut inside a quoted cell breaks the whole CSV parse: try without it.
        attempts.append(body[: last_newline + 1])
    for attempt in attempts:
        try:
            return _read(attempt, ncols, delimiter, tolerant=True)
        except pa.ArrowException:
            continue
    raise MalformedFileError(f"{what} data rows could not be read as a table of numbers.")


def _skip_row(_row: object) -> str:
    return "skip"


def _read(body: bytes, ncols: int, delimiter: str, *, tolerant: bool) -> list[FloatArray]:
    names = [f"c{i}" for i in range(ncols)]
    column_type = pa.string() if tolerant else pa.float64()
    table = pacsv.read_csv(
        io.BytesIO(body),
        read_options=pacsv.ReadOptions(column_names=names, block_size=1 << 22),
        parse_options=pacsv.ParseOptions(delimiter=delimiter, invalid_row_handler=_skip_row),
        convert_options=pacsv.ConvertOptions(
            column_types={name: column_type for name in names},
            strings_can_be_null=True,
            quoted_strings_can_be_null=True,
        ),
    )
    columns: list[FloatArray] = []
    for i in range(ncols):
        column = table.column(i)
        if tolerant:
            try:  # most columns of a damaged file are still clean
                clean = column.cast(pa.float64())
                columns.append(np.asarray(clean.to_numpy(zero_copy_only=False), dtype=np.float64))
            except pa.ArrowException:
                columns.append(floats(column))
        else:
            columns.append(np.asarray(column.to_numpy(zero_copy_only=False), dtype=np.float64))
    return columns


def floats(text: pa.Array) -> FloatArray:
    """A pyarrow string array to float64; empty, null or non-numeric cells are NaN."""
    numeric = pc.fill_null(pc.match_substring_regex(text, _NUMBER), False)
    values = pc.if_else(numeric, pc.utf8_trim_whitespace(text), None).cast(pa.float64())
    return np.asarray(values.to_numpy(zero_copy_only=False), dtype=np.float64)


def equals(text: pa.Array, value: str) -> npt.NDArray[np.bool_]:
    """Where a pyarrow string array equals `value` (null cells do not)."""
    return np.asarray(pc.fill_null(pc.equal(text, value), False).to_numpy(zero_copy_only=False))


def hhmmss_to_s(hhmmss: FloatArray) -> FloatArray:
    """Seconds since midnight from HHMMSS.SS numbers; NaN where they are not a time."""
    # Only numbers in the range of a time of day are taken apart: no arithmetic on
    # NaN, infinities or damaged huge numbers.
    in_day = (hhmmss >= 0) & (hhmmss < 240000.0)  # False for NaN
    clock = np.where(in_day, hhmmss, 0.0)
    hours = np.floor(clock / 10000.0)
    minutes = np.floor(clock / 100.0) - hours * 100.0
    seconds = clock - np.floor(clock / 100.0) * 100.0
    ok = in_day & (minutes < 60) & (seconds < 61)
    return np.where(ok, hours * 3600.0 + minutes * 60.0 + seconds, np.nan)


def median_ignoring_nan(windows: FloatArray) -> FloatArray:
    """Median of each row of `windows`, NaN cells left out (NaN for a row of NaN); as
    np.nanmedian, without its warning for a row of NaN."""
    ordered = np.sort(windows, axis=1)  # NaN sorts last
    count = np.sum(np.isfinite(windows), axis=1)
    rows = np.arange(windows.shape[0])
    low, high = np.maximum((count - 1) // 2, 0), np.maximum(count // 2, 0)
    # Halves first: two damaged numbers near the float limit must not overflow.
    median: FloatArray = ordered[rows, low] / 2.0 + ordered[rows, high] / 2.0
    return np.where(count > 0, median, np.nan)


def centred_median(values: FloatArray, window: int) -> FloatArray:
    """The median of the `window` values around each (fewer at the ends), NaN left out."""
    half = window // 2
    padded = np.concatenate([np.full(half, np.nan), values, np.full(half, np.nan)])
    return median_ignoring_nan(np.lib.stride_tricks.sliding_window_view(padded, 2 * half + 1))


_HALF_DAY_S = 43200.0
# A midnight is confirmed by this many times of day after it, against as many before.
_MIDNIGHT_ROWS = 5
# A time of day this far from the median of the 11 around it is a damaged number: far
# more than any jitter, while a pause in logging is a step that its own side agrees with.
_STRAY_S = 3600.0


def unwrap_midnight(time_of_day_s: FloatArray) -> tuple[FloatArray, FloatArray]:
    """Times of day in file order carried over midnight, and each row's day number.

    A step back of more than 12 hours is a new day if the times after it stay there
    (the median of the next five is more than 12 hours before that of the five before
    it): one damaged time of day starts no new day. Smaller steps back are jitter or
    reordering and stay on the same day. A time more than an hour from the median of
    the 11 around it is a damaged number, and becomes missing (NaN).
    """
    carried = np.full(time_of_day_s.shape, np.nan)
    days = np.full(time_of_day_s.shape, np.nan)
    valid = np.flatnonzero(np.isfinite(time_of_day_s))
    if valid.size == 0:
        return carried, days
    v = time_of_day_s[valid]
    wraps = np.zeros(v.size, dtype=bool)
    for k in (np.flatnonzero(np.diff(v) < -_HALF_DAY_S) + 1).tolist():
        before = float(np.median(v[max(0, k - _MIDNIGHT_ROWS) : k]))
        after = float(np.median(v[k : k + _MIDNIGHT_ROWS]))
        wraps[k] = after < before - _HALF_DAY_S
    day = np.cumsum(wraps).astype(np.float64)
    on_day = v + 86400.0 * day
    stray = np.abs(on_day - centred_median(on_day, 11)) > _STRAY_S
    carried[valid] = np.where(stray, np.nan, on_day)
    days[valid] = np.where(stray, np.nan, day)
    return carried, days


def time_bounds_s(origin: dt.datetime | None) -> tuple[float, float]:
    """(lowest, highest) seconds from `origin` (UTC) that a recording's clock can show:
    between EARLIEST and LATEST; without an origin (an unknown start), no farther from
    it than that span."""
    if origin is None:
        span_s = (LATEST - EARLIEST).total_seconds()
        return -span_s, span_s
    return (EARLIEST - origin).total_seconds(), (LATEST - origin).total_seconds()


def valid_times(t_s: FloatArray, origin: dt.datetime | None) -> npt.NDArray[np.bool_]:
    """Which times (seconds from `origin`) are within `time_bounds_s`; not NaN or inf."""
    lowest, highest = time_bounds_s(origin)
    return np.asarray((t_s >= lowest) & (t_s <= highest))


def position_or_nan(lat: FloatArray, lon: FloatArray) -> tuple[FloatArray, FloatArray]:
    """Latitude and longitude with impossible values and the 0,0 'no fix' marker as NaN.

    A position is both or neither: one coordinate alone is NaN in both.
    """
    bad = ((lat == 0.0) & (lon == 0.0)) | ~(np.abs(lat) <= 90.0) | ~(np.abs(lon) <= 180.0)
    if not bad.any():
        return lat, lon
    return np.where(bad, np.nan, lat), np.where(bad, np.nan, lon)


def build(
    format: str,
    t: FloatArray,
    lat: FloatArray,
    lon: FloatArray,
    *,
    core: Mapping[str, FloatArray],
    channels: Mapping[str, Channel],
    origin: dt.datetime | None,
    metadata: Mapping[str, str],
    device_id: str | None = None,
    what: str = "The file",
    start_finish_hint: StartFinishHint | None = None,
) -> Telemetry:
    """Sort the rows by time, make `t_s` start at 0, and build the Telemetry.

    `t` is in seconds from `origin` (a UTC time), or from an unknown instant if `origin`
    is None. Rows without a valid time (`valid_times`) are dropped; the sort is stable,
    so rows with equal times keep the file's order.
    """
    keep = valid_times(t, origin)
    if not keep.any():
        raise MalformedFileError(f"{what} has no data rows with a valid time.")
    order = np.flatnonzero(keep)
    order = order[np.argsort(t[order], kind="stable")]
    t_sorted = t[order]
    t0 = float(t_sorted[0])
    # Rounding to the microsecond removes float noise from large absolute times
    # (unix seconds) without touching any logger's real resolution.
    t_s = np.round(t_sorted - t0, 6)
    started_at = None if origin is None else origin + dt.timedelta(seconds=round(t0, 6))
    return Telemetry.build(
        format,
        t_s,
        lat[order],
        lon[order],
        channels={
            name: Channel(c.values[order], unit=c.unit, kind=c.kind) for name, c in channels.items()
        },
        started_at=started_at,
        device_id=device_id,
        metadata=metadata,
        start_finish_hint=start_finish_hint,
        **{name: values[order] for name, values in core.items()},
    )
