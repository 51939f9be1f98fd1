"""NMEA 0183 logs: RMC and GGA sentences from any talker (GP, GN, GL, GA, BD, ...).

    $GNRMC,093000.00,A,5204.15926,N,00101.33176,W,43.2,271.5,040524,,,A*61
    $GNGGA,093000.00,5204.15926,N,00101.33176,W,1,12,0.8,153.2,M,47.1,M,,*6C

Units: time of day UTC hhmmss.ss; latitude ddmm.mmmm and longitude dddmm.mmmm with
N/S and E/W (converted to signed degrees); RMC speed over ground in knots (converted
to m/s) and course in degrees true; RMC date ddmmyy; GGA fix quality, satellites in
use, HDOP, altitude above mean sea level in metres.

Every sentence's checksum is verified and a sentence that fails it (or has none, as a
line cut off by a power loss) is skipped. RMC and GGA of the same epoch are merged by
their UTC time of day; a step back of more than 12 hours in file order is midnight,
and the day carries on. `started_at` is the first sample's time on the date of the
first RMC with a date. A row without a valid fix (RMC status V, GGA quality 0) has no
position, speed or altitude.

Logs are 1-25 Hz, so an hour is up to 180,000 sentences: the checksums are verified
with NumPy over the whole buffer, and the fields are converted column by column.
"""

from __future__ import annotations

import datetime as dt
import re

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from racesense.analysis.telemetry import Channel, FloatArray, Telemetry
from racesense.ingest import _common
from racesense.ingest.errors import MalformedFileError

FORMAT = "nmea-0183"
BoolArray = npt.NDArray[np.bool_]
IntArray = npt.NDArray[np.int64]
IndexArray = npt.NDArray[np.intp]

_TAIL = re.compile(rb"\*[0-9A-Fa-f]{2}$")
_BODY = r"\$[A-Z]{2}(?P<kind>RMC|GGA),(?P<body>[^*]*)\*"

_SENTENCE = re.compile(rb"\$([A-Z]{2})(RMC|GGA),[^*\r\n]*\*([0-9A-Fa-f]{2})")
_HEX = np.full(256, -1, dtype=np.int16)
for _i, _c in enumerate(b"0123456789ABCDEF"):
    _HEX[_c] = _i
for _i, _c in enumerate(b"abcdef"):
    _HEX[_c] = 10 + _i
_DOLLAR, _STAR, _NEWLINE = ord("$"), ord("*"), ord("\n")


def _checksum_ok(sentence: bytes) -> bool:
    body, _, given = sentence[1:].partition(b"*")
    value = 0
    for byte in body:
        value ^= byte
    return given[:2].upper() == f"{value:02X}".encode()


def sniff(head: bytes) -> bool:
    lines = [line.strip() for line in head.lstrip(b"\xef\xbb\xbf").splitlines() if line.strip()]
    # A serial capture may start inside a sentence, and the sniff window may cut the last.
    if lines and not lines[0].startswith(b"$") and _TAIL.search(lines[0]):
        lines = lines[1:]
    lines = lines[:-1] if len(lines) > 2 else lines
    if not lines:
        return False
    sentences = sum(line.startswith((b"$", b"!")) for line in lines)
    if sentences < 0.9 * len(lines):
        return False
    return any(
        (found := _SENTENCE.match(line)) is not None and _checksum_ok(found.group(0))
        for line in lines[:200]
    )


def _valid_lines(data: bytes) -> npt.NDArray[np.bool_]:
    """For each line of `data`, whether it holds a sentence with a right checksum."""
    buf = np.frombuffer(data, dtype=np.uint8)
    newlines = np.flatnonzero(buf == _NEWLINE)
    starts = np.concatenate([[0], newlines + 1])
    ends = np.concatenate([newlines, [buf.size]])
    line_ok = np.zeros(starts.size, dtype=bool)
    dollars = np.flatnonzero(buf == _DOLLAR)
    stars = np.flatnonzero(buf == _STAR)
    if dollars.size == 0 or stars.size == 0:
        return line_ok
    # The first '$' and the last '*' of each line.
    d = dollars[np.minimum(np.searchsorted(dollars, starts), dollars.size - 1)]
    s = stars[np.maximum(np.searchsorted(stars, ends) - 1, 0)]
    ok = np.flatnonzero((d >= starts) & (d < ends) & (s > d) & (s + 2 < ends))
    d, s = d[ok], s[ok]
    high, low = _HEX[buf[s + 1]], _HEX[buf[s + 2]]
    # XOR of the bytes between '$' and '*' from a running XOR over the whole file.
    running = np.bitwise_xor.accumulate(buf)
    computed = running[s - 1] ^ running[d]
    line_ok[ok[(high >= 0) & (low >= 0) & (computed == high * 16 + low)]] = True
    return line_ok


def _degrees(value: FloatArray, negative: BoolArray, known: BoolArray) -> FloatArray:
    """ddmm.mmmm (or dddmm.mmmm) to signed degrees; NaN without a hemisphere letter."""
    whole = np.floor(value / 100.0)
    degrees = whole + (value - whole * 100.0) / 60.0
    return np.where(known, np.where(negative, -degrees, degrees), np.nan)


class _Sentences:
    """The comma-separated fields of one sentence type, as pyarrow string columns."""

    def __init__(self, bodies: pa.Array, line: npt.NDArray[np.intp], n_fields: int) -> None:
        lists = pc.split_pattern(bodies, ",")
        keep = np.asarray(
            pc.greater_equal(pc.list_value_length(lists), n_fields).to_numpy(zero_copy_only=False)
        )
        self.lists = lists.filter(pa.array(keep))
        self.line = line[keep]

    def __len__(self) -> int:
        return int(self.line.size)

    def text(self, i: int) -> pa.Array:
        return pc.list_element(self.lists, i)

    def number(self, i: int) -> FloatArray:
        return _common.floats(self.text(i))

    def degrees(self, i: int, negative: str, positive: str) -> FloatArray:
        hemisphere = self.text(i + 1)
        south_or_west = _common.equals(hemisphere, negative)
        known = south_or_west | _common.equals(hemisphere, positive)
        return _degrees(self.number(i), south_or_west, known)


def _sentences(data: bytes) -> tuple[_Sentences, _Sentences]:
    """RMC and GGA sentences with right checksums, each with its line number."""
    line_ok = _valid_lines(data)
    text = data.decode("utf-8", "replace")
    lines = pc.list_flatten(pc.split_pattern(pa.array([text]), "\n"))
    if len(lines) != line_ok.size:  # cannot happen: both split at every '\n'
        raise MalformedFileError("The NMEA log's lines could not be read.")
    line = np.flatnonzero(line_ok)
    parts = pc.extract_regex(lines.take(pa.array(line)), _BODY)
    kind, bodies = parts.field("kind"), parts.field("body")
    rmc, gga = _common.equals(kind, "RMC"), _common.equals(kind, "GGA")
    # Fields after the sentence name: RMC up to the date (9), GGA up to altitude (9).
    return (
        _Sentences(bodies.filter(pa.array(rmc)), line[rmc], 9),
        _Sentences(bodies.filter(pa.array(gga)), line[gga], 9),
    )


def _first_per_epoch(keys: IntArray, epochs: IntArray) -> tuple[IndexArray, IndexArray]:
    """For each epoch that has a sentence: (row in `epochs`, first sentence with that key)."""
    unique, first = np.unique(keys, return_index=True)
    return np.searchsorted(epochs, unique), first


def parse(data: bytes) -> Telemetry:
    rmc, gga = _sentences(data)
    if not len(rmc) and not len(gga):
        raise MalformedFileError("The NMEA log has no RMC or GGA sentence with a valid checksum.")

    # Time of day of every sentence, carried over midnight in file order.
    tod = _common.hhmmss_to_s(np.concatenate([rmc.number(0), gga.number(0)]))
    order = np.argsort(np.concatenate([rmc.line, gga.line]), kind="stable")
    t_all = np.full(tod.shape, np.nan)
    day_all = np.full(tod.shape, np.nan)
    t_all[order], day_all[order] = _common.unwrap_midnight(tod[order])
    t_rmc, t_gga = t_all[: len(rmc)], t_all[len(rmc) :]
    day_rmc = day_all[: len(rmc)]

    # Epochs keyed to the millisecond: RMC and GGA of one fix carry the same time.
    # A sentence without a valid time gets a key past every epoch and is left out.
    def keys(t: FloatArray) -> IntArray:
        return np.where(np.isfinite(t), np.round(np.nan_to_num(t) * 1000.0), -1).astype(np.int64)

    key_rmc, key_gga = keys(t_rmc), keys(t_gga)
    epochs = np.unique(np.concatenate([key_rmc, key_gga]))
    epochs = epochs[epochs >= 0]
    if epochs.size == 0:
        raise MalformedFileError("The NMEA log has no RMC or GGA sentence with a valid time.")
    n_rows = epochs.size
    nan = np.full(n_rows, np.nan)
    valid = np.zeros(n_rows, dtype=bool)
    invalid = np.zeros(n_rows, dtype=bool)
    lat, lon = nan.copy(), nan.copy()
    core: dict[str, FloatArray] = {}
    channels: dict[str, Channel] = {}

    def spread(values: FloatArray, rows: IndexArray, first: IndexArray) -> FloatArray:
        out = nan.copy()
        out[rows] = values[first]
        return out

    timed = key_gga >= 0
    if timed.any():
        rows, first = _first_per_epoch(key_gga[timed], epochs)
        first = np.flatnonzero(timed)[first]
        quality = spread(gga.number(5), rows, first)
        valid |= quality > 0
        invalid |= quality == 0
        lat = spread(gga.degrees(1, "S", "N"), rows, first)
        lon = spread(gga.degrees(3, "W", "E"), rows, first)
        core["sats"] = spread(gga.number(6), rows, first)
        core["hdop"] = spread(gga.number(7), rows, first)
        core["alt_m"] = spread(gga.number(8), rows, first)
        channels["fix_quality"] = Channel(quality, unit="", kind="discrete")

    origin = None
    timed = key_rmc >= 0
    if timed.any():
        rows, first = _first_per_epoch(key_rmc[timed], epochs)
        first = np.flatnonzero(timed)[first]
        status = rmc.text(1)
        valid[rows] |= _common.equals(status, "A")[first]
        invalid[rows] |= _common.equals(status, "V")[first]
        # RMC's position wins where it has one; GGA's stays where RMC has none.
        rmc_lat = spread(rmc.degrees(2, "S", "N"), rows, first)
        rmc_lon = spread(rmc.degrees(4, "W", "E"), rows, first)
        has = np.isfinite(rmc_lat) & np.isfinite(rmc_lon)
        lat, lon = np.where(has, rmc_lat, lat), np.where(has, rmc_lon, lon)
        core["speed_mps"] = spread(rmc.number(6) * _common.KNOT_MPS, rows, first)
        core["heading_deg"] = spread(rmc.number(7), rows, first)
        origin = _origin(rmc.number(8)[first], day_rmc[first])

    fix = valid & ~invalid
    lat, lon = np.where(fix, lat, np.nan), np.where(fix, lon, np.nan)
    for name in ("speed_mps", "heading_deg", "alt_m"):
        if name in core:
            core[name] = np.where(fix, core[name], np.nan)
    lat, lon = _common.position_or_nan(lat, lon)
    return _common.build(
        FORMAT,
        epochs / 1000.0,
        lat,
        lon,
        core=core,
        channels=channels,
        origin=origin,
        metadata={},
        what="The NMEA log",
    )


def _origin(ddmmyy: FloatArray, day: FloatArray) -> dt.datetime | None:
    """Midnight UTC of day 0, from the first RMC that has a date."""
    for i in np.flatnonzero(np.isfinite(ddmmyy)).tolist():
        value = int(ddmmyy[i])
        year = value % 100
        try:
            date = dt.date(
                2000 + year if year < 80 else 1900 + year, (value // 100) % 100, value // 10000
            )
        except (ValueError, OverflowError):  # a damaged date: try the next
            continue
        return dt.datetime.combine(date, dt.time(), dt.UTC) - dt.timedelta(days=float(day[i]))
    return None
