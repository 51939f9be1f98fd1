"""Streaming NMEA 0183 parser for the GNSS UART: RMC and GGA from any talker (GP, GN, GL,
GA, BD, ...), checksums verified, RMC and GGA of the same epoch merged into one `Fix`.

    parser = NmeaParser()
    for fix in parser.feed(uart_bytes):      # any chunking: lines may span reads
        ...
    n = uart.readinto(buf); parser.feed(buf, n)   # the allocation-free way

Why it looks the way it does:
- Bytes are handled one at a time into a preallocated line buffer, with the checksum and
  the field offsets worked out on the way: a UART read never allocates, whatever it holds
  (GSV, GSA, noise). Only a complete RMC or GGA allocates: its values and its Fix.
- Latitude and longitude stay integers (1e-7 degree units, about 1 cm): the ESP32 port's
  floats are single precision, 7 significant digits, which is 50 cm at 52 degrees.
- A fix is emitted when its epoch has every sentence kind (RMC, GGA) that the earlier
  epochs had, or else when the next epoch begins. The first epoch waits for the second,
  which is how the parser learns what the receiver sends: a receiver sending only RMC
  needs no setting, and one that drops a GGA delays that fix by one epoch, not forever.
- The date comes from RMC; a fix without an RMC of its own takes the last date seen,
  advanced by a day when the time of day wraps past midnight.
"""

try:
    from micropython import const
except ImportError:  # CPython (host tests)

    def const(value):
        return value


_LINE_MAX = const(100)  # NMEA's limit is 82 characters; receivers with extra decimals go beyond
_FIELDS_MAX = const(24)
_DOLLAR = const(0x24)
_STAR = const(0x2A)
_COMMA = const(0x2C)
_DOT = const(0x2E)
_CR = const(0x0D)
_LF = const(0x0A)
_ZERO = const(0x30)

_RMC = const(1)
_GGA = const(2)

_KMH_PER_KNOT = 1.852
_HALF_DAY_MS = const(43200000)
_NO_FIXES = ()


class Fix:
    """One GNSS epoch. Units in the names; None where the receiver gave no value.

    time_ms: milliseconds since UTC midnight; date: (year, month, day) UTC or None;
    valid: the receiver reports a position fix (RMC status A and GGA quality > 0);
    lat_e7 / lon_e7: WGS84 degrees times 10**7 as integers (north / east positive);
    speed_kmh, course_deg (true, clockwise from north), sats (used in the fix), hdop,
    alt_m (above mean sea level).
    """

    def __init__(self, time_ms):
        self.time_ms = time_ms
        self.date = None
        self.valid = False
        self.lat_e7 = None
        self.lon_e7 = None
        self.speed_kmh = None
        self.course_deg = None
        self.sats = None
        self.hdop = None
        self.alt_m = None
        self.kinds = 0  # which sentences (_RMC | _GGA) filled it
        self._rmc_valid = True
        self._gga_valid = True

    @property
    def lat_deg(self):
        return None if self.lat_e7 is None else self.lat_e7 / 10000000

    @property
    def lon_deg(self):
        return None if self.lon_e7 is None else self.lon_e7 / 10000000

    def __repr__(self):
        return "Fix({} {} {} {},{} {} km/h)".format(
            self.time_ms,
            self.date,
            "valid" if self.valid else "invalid",
            self.lat_e7,
            self.lon_e7,
            self.speed_kmh,
        )


def days_from_civil(year, month, day):
    """Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm)."""
    year -= month <= 2
    era = year // 400
    yoe = year - era * 400
    doy = (153 * (month + (-3 if month > 2 else 9)) + 2) // 5 + day - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    return era * 146097 + doe - 719468


def civil_from_days(days):
    """(year, month, day) of a day number since 1970-01-01."""
    days += 719468
    era = days // 146097
    doe = days - era * 146097
    yoe = (doe - doe // 1460 + doe // 36524 - doe // 146096) // 365
    doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
    mp = (5 * doy + 2) // 153
    day = doy - (153 * mp + 2) // 5 + 1
    month = mp + (3 if mp < 10 else -9)
    return (yoe + era * 400 + (month <= 2), month, day)


def _hex_value(b):
    if 0x30 <= b <= 0x39:
        return b - 0x30
    if 0x41 <= b <= 0x46:
        return b - 0x37
    if 0x61 <= b <= 0x66:
        return b - 0x57
    return -1


class NmeaParser:
    """Feed it bytes as they come; it returns the fixes they complete."""

    def __init__(self):
        self._line = bytearray(_LINE_MAX)
        self._n = 0  # bytes in _line; 0 = outside a sentence (waiting for '$')
        self._xor = 0
        self._star = -1  # index of '*' in _line, -1 before it
        self._starts = [0] * (_FIELDS_MAX + 1)  # index where each field begins
        self._nfields = 0
        self._pending = None  # the Fix of the epoch being assembled
        self._out = _NO_FIXES  # fixes completed during the current feed()
        self._kinds_seen = 0  # sentence kinds of the epochs emitted so far
        self._last_time_ms = -1  # time of the last fix emitted
        self._date = None  # last known UTC date, for fixes without an RMC
        self._date_time_ms = 0  # the time of day that date belongs to
        # Counters for diagnostics (device info, tests).
        self.sentences = 0
        self.bad_checksums = 0
        self.overlong = 0

    def feed(self, data, length=-1):
        """Parse `data[:length]` (all of it by default). Returns the completed fixes, oldest
        first (an empty tuple, allocated once, when there are none)."""
        if length < 0:
            length = len(data)
        line = self._line
        starts = self._starts
        n = self._n
        xor = self._xor
        star = self._star
        nfields = self._nfields
        self._out = _NO_FIXES
        for i in range(length):
            b = data[i]
            if b == _DOLLAR:  # a new sentence; anything unterminated before it was cut off
                line[0] = b
                n = 1
                xor = 0
                star = -1
                starts[0] = 1
                nfields = 1
                continue
            if b == _CR or b == _LF:  # noqa: SIM109 (a tuple here would allocate per byte)
                if n:
                    self._star = star
                    self._nfields = nfields
                    self._end_sentence(n, xor)
                    n = 0
                continue
            if n == 0:
                continue  # noise between sentences
            if n >= _LINE_MAX:
                self.overlong += 1
                n = 0
                continue
            line[n] = b
            if star < 0:
                if b == _STAR:
                    star = n
                else:
                    xor ^= b
                    if b == _COMMA and nfields < _FIELDS_MAX:
                        starts[nfields] = n + 1
                        nfields += 1
            n += 1
        self._n = n
        self._xor = xor
        self._star = star
        self._nfields = nfields
        out = self._out
        self._out = _NO_FIXES
        return out

    def flush(self):
        """The fix being assembled, if any (at the end of a recorded stream)."""
        fix = self._pending
        self._pending = None
        if fix is not None:
            self._finish(fix)
        return fix

    def _emit(self, fix):
        self._kinds_seen |= fix.kinds
        self._finish(fix)
        if self._out is _NO_FIXES:
            self._out = [fix]
        else:
            self._out.append(fix)

    # -- one sentence -----------------------------------------------------------------

    def _end_sentence(self, n, xor):
        line = self._line
        star = self._star
        if star < 0 or n != star + 3:
            self.bad_checksums += 1  # no checksum, or junk after it
            return
        hi = _hex_value(line[star + 1])
        lo = _hex_value(line[star + 2])
        if hi < 0 or lo < 0 or (hi << 4 | lo) != xor:
            self.bad_checksums += 1
            return
        self.sentences += 1
        # Address field: 2-letter talker + 3-letter type, e.g. GNRMC.
        if self._field_end(0) != 6:
            return
        t0, t1, t2 = line[3], line[4], line[5]
        if t0 == 0x52 and t1 == 0x4D and t2 == 0x43:  # RMC
            kind = _RMC
        elif t0 == 0x47 and t1 == 0x47 and t2 == 0x41:  # GGA
            kind = _GGA
        else:
            return
        time_ms = self._time_ms(1)
        if time_ms >= 0:  # no time yet (receiver starting up): nothing to merge on
            self._merge(kind, time_ms)

    def _merge(self, kind, time_ms):
        fix = self._pending
        if fix is not None and fix.time_ms != time_ms:
            self._pending = None
            self._emit(fix)  # the next epoch began before this one was complete
            fix = None
        if fix is None:
            if time_ms == self._last_time_ms:
                return  # a late or repeated sentence of an epoch already emitted
            fix = Fix(time_ms)
            self._pending = fix
        if kind == _RMC:
            self._fill_rmc(fix)
        else:
            self._fill_gga(fix)
        fix.kinds |= kind
        if fix.kinds == self._kinds_seen:
            self._pending = None
            self._emit(fix)

    def _finish(self, fix):
        fix.valid = fix._rmc_valid and fix._gga_valid and fix.lat_e7 is not None
        if fix.date is None and self._date is not None:
            date = self._date
            if fix.time_ms + _HALF_DAY_MS < self._date_time_ms:  # past midnight
                date = civil_from_days(days_from_civil(date[0], date[1], date[2]) + 1)
            fix.date = date
        if fix.date is not None:
            self._date = fix.date
            self._date_time_ms = fix.time_ms
        self._last_time_ms = fix.time_ms

    def _fill_rmc(self, fix):
        # 1 time, 2 status, 3-6 position, 7 speed kn, 8 course, 9 date, 10-11 var, 12 mode
        line = self._line
        fix._rmc_valid = self._field_len(2) == 1 and line[self._starts[2]] == 0x41  # 'A'
        if self._field_len(12) == 1 and line[self._starts[12]] == 0x4E:  # mode N: no fix
            fix._rmc_valid = False
        self._fill_position(fix, 3)
        knots = self._float(7)
        if knots is not None:
            fix.speed_kmh = knots * _KMH_PER_KNOT
        fix.course_deg = self._float(8)
        day = self._uint(9, 0, 2)
        month = self._uint(9, 2, 4)
        year = self._uint(9, 4, 6)
        if self._field_len(9) == 6 and 0 < day <= 31 and 0 < month <= 12 and year >= 0:
            fix.date = (2000 + year, month, day)  # 2-digit years: this logger is post-2000

    def _fill_gga(self, fix):
        # 1 time, 2-5 position, 6 quality, 7 sats, 8 hdop, 9 altitude, 10 'M'
        quality = self._uint(6, 0, 1)
        fix._gga_valid = quality > 0
        if fix.lat_e7 is None:
            self._fill_position(fix, 2)
        sats = self._uint(7, 0, 2)
        fix.sats = sats if sats >= 0 else None
        fix.hdop = self._float(8)
        fix.alt_m = self._float(9)

    def _fill_position(self, fix, first):
        lat = self._coord_e7(first)
        lon = self._coord_e7(first + 2)
        if lat is None or lon is None:
            return
        line = self._line
        if self._field_len(first + 1) != 1 or self._field_len(first + 3) != 1:
            return
        ns = line[self._starts[first + 1]]
        ew = line[self._starts[first + 3]]
        if ns not in (0x4E, 0x53) or ew not in (0x45, 0x57):
            return
        fix.lat_e7 = -lat if ns == 0x53 else lat
        fix.lon_e7 = -lon if ew == 0x57 else lon

    # -- fields, read in place ------------------------------------------------------------

    def _field_end(self, k):
        return self._starts[k + 1] - 1 if k + 1 < self._nfields else self._star

    def _field_len(self, k):
        if k >= self._nfields:
            return 0
        return self._field_end(k) - self._starts[k]

    def _uint(self, k, lo, hi):
        """Digits lo..hi of field k as an int; -1 when missing or not digits."""
        if self._field_len(k) < hi:
            return -1
        a = self._starts[k]
        line = self._line
        value = 0
        for i in range(a + lo, a + hi):
            d = line[i] - _ZERO
            if not 0 <= d <= 9:
                return -1
            value = value * 10 + d
        return value

    def _decimal(self, k):
        """Field k as (integer mantissa, decimals, index of '.' or end); None if it is not a
        plain decimal. A leading '-' (altitudes below sea level) makes the mantissa
        negative and is not counted in the index of '.'."""
        if self._field_len(k) <= 0:
            return None
        line = self._line
        a = self._starts[k]
        b = self._field_end(k)
        negative = line[a] == 0x2D
        if negative:
            a += 1
        mantissa = 0
        decimals = 0
        dot = b
        for i in range(a, b):
            c = line[i]
            if c == _DOT and dot == b:
                dot = i
                continue
            d = c - _ZERO
            if not 0 <= d <= 9:
                return None
            mantissa = mantissa * 10 + d
            if dot != b:
                decimals += 1
        if a == b or (dot == a and b == a + 1):
            return None  # a lone '-' or '.'
        return (-mantissa if negative else mantissa), decimals, dot - (1 if negative else 0)

    def _float(self, k):
        parsed = self._decimal(k)
        return None if parsed is None else parsed[0] / 10 ** parsed[1]

    def _time_ms(self, k):
        """hhmmss[.s...] as milliseconds since midnight; -1 when missing or malformed."""
        parsed = self._decimal(k)
        if parsed is None or parsed[0] < 0 or parsed[2] - self._starts[k] != 6:
            return -1
        mantissa, decimals, _ = parsed
        scale = 10**decimals
        hhmmss = mantissa // scale
        fraction_ms = (mantissa % scale) * 1000 // scale
        hh, mm, ss = hhmmss // 10000, hhmmss // 100 % 100, hhmmss % 100
        if hh > 23 or mm > 59 or ss > 60:  # 60: a leap second
            return -1
        return ((hh * 60 + mm) * 60 + ss) * 1000 + fraction_ms

    def _coord_e7(self, k):
        """(d)ddmm.mmmm as degrees times 10**7, rounded; None when missing or malformed.
        Integer arithmetic only (see the module docstring); the intermediate values stay
        within a 31-bit small int for up to 7 decimals of minutes."""
        parsed = self._decimal(k)
        if parsed is None or parsed[0] < 0:
            return None
        mantissa, decimals, dot = parsed
        if dot - self._starts[k] < 3:
            return None
        scale = 10**decimals
        degrees = mantissa // (100 * scale)
        minutes_scaled = mantissa % (100 * scale)  # minutes times `scale`
        if minutes_scaled >= 60 * scale:
            return None
        # minutes / 60 degrees = minutes_scaled * 10**7 / (60 * scale)
        if decimals <= 7:
            numerator = minutes_scaled * 10 ** (7 - decimals)
        else:
            numerator = minutes_scaled // 10 ** (decimals - 7)
        return degrees * 10000000 + (numerator + 30) // 60
