"""firmware/nmea.py: the streaming RMC + GGA parser. Runs under pytest and MicroPython."""

from nmea import NmeaParser, civil_from_days, days_from_civil


def sentence(body):
    """`$body*CS\\r\\n` with its checksum, as bytes."""
    checksum = 0
    for c in body.encode():
        checksum ^= c
    return ("$" + body + "*" + f"{checksum:02X}" + "\r\n").encode()


RMC = "GNRMC,123519.40,A,4807.0381234,N,01131.0004567,E,22.4,084.4,230326,003.1,W,A"
GGA = "GNGGA,123519.40,4807.0381234,N,01131.0004567,E,1,08,0.9,545.4,M,46.9,M,,"


def parse_all(data):
    """The fixes in `data` as a recorded stream: the last epoch included."""
    parser = NmeaParser()
    fixes = list(parser.feed(data))
    last = parser.flush()
    return fixes + [last] if last is not None else fixes


def epoch(time, date="140226", lat="5204.159260", lon="00101.331760", knots="50.0"):
    rmc = f"GPRMC,{time},A,{lat},N,{lon},W,{knots},90.0,{date},,,A"
    gga = f"GPGGA,{time},{lat},N,{lon},W,1,14,0.7,153.2,M,,M,,"
    return sentence(rmc) + sentence(gga)


def test_rmc_and_gga_of_one_epoch_make_one_fix():
    fixes = parse_all(sentence(RMC) + sentence(GGA))
    assert len(fixes) == 1
    fix = fixes[0]
    assert fix.valid
    assert fix.time_ms == ((12 * 60 + 35) * 60 + 19) * 1000 + 400
    assert fix.date == (2026, 3, 23)
    # 48 deg 07.0381234' = 48.117302056..., 11 deg 31.0004567' = 11.516674278...
    assert fix.lat_e7 == 481173021
    assert fix.lon_e7 == 115166743
    assert abs(fix.speed_kmh - 22.4 * 1.852) < 1e-3
    assert abs(fix.course_deg - 84.4) < 1e-3
    assert fix.sats == 8
    assert abs(fix.hdop - 0.9) < 1e-6
    assert abs(fix.alt_m - 545.4) < 1e-3
    assert abs(fix.lat_deg - 48.1173021) < 1e-5


def test_every_talker_is_accepted():
    for talker in ("GP", "GN", "GL", "GA", "BD", "GB", "QZ"):
        fixes = parse_all(sentence(talker + RMC[2:]) + sentence(talker + GGA[2:]))
        assert len(fixes) == 1, talker
        assert fixes[0].valid and fixes[0].sats == 8, talker


def test_south_west_and_below_sea_level():
    rmc = "GPRMC,000001.00,A,3352.1234,S,15112.5000,W,0.0,,010126,,,A"
    gga = "GPGGA,000001.00,3352.1234,S,15112.5000,W,1,5,1.5,-12.5,M,,M,,"
    fix = parse_all(sentence(rmc) + sentence(gga))[0]
    assert fix.lat_e7 == -(33 * 10**7 + (521234 * 10**3 + 30) // 60)
    assert fix.lon_e7 == -(151 * 10**7 + 125000 * 10**3 // 60)
    assert abs(fix.alt_m + 12.5) < 1e-6
    assert fix.course_deg is None  # empty field at standstill
    assert fix.speed_kmh == 0.0


def test_bad_checksum_is_dropped_and_counted():
    good = sentence(RMC)
    bad = good.replace(b"4807.038", b"4807.039")  # payload changed, checksum kept
    parser = NmeaParser()
    assert len(parser.feed(bad)) == 0
    assert parser.bad_checksums == 1
    assert parser.flush() is None
    parser.feed(good)
    assert parser.flush().lat_e7 == 481173021


def test_missing_or_malformed_checksum_is_dropped():
    parser = NmeaParser()
    body = b"$" + RMC.encode()
    assert len(parser.feed(body + b"\r\n")) == 0  # no '*hh'
    assert len(parser.feed(body + b"*G1\r\n")) == 0  # not hex
    assert len(parser.feed(sentence(RMC)[:-2] + b"x\r\n")) == 0  # junk after the checksum
    assert parser.bad_checksums == 3
    assert parser.flush() is None
    # Lower-case hex digits are fine.
    for second in range(10):
        good = sentence(RMC.replace("123519.40", f"12351{second}.40"))
        if not good[-4:-2].isdigit():
            parser.feed(good[:-4] + good[-4:-2].lower() + b"\r\n")
            assert parser.flush() is not None
            break
    else:
        raise AssertionError("no checksum with a letter")


def test_lines_split_anywhere_across_reads():
    stream = epoch("100000.00") + epoch("100000.10") + epoch("100000.20")
    whole = [f.time_ms for f in NmeaParser().feed(stream)]
    assert whole == [36000000, 36000100, 36000200]  # the first waits for the second
    for size in (1, 2, 3, 7, 13, 64):
        parser = NmeaParser()
        times = []
        for start in range(0, len(stream), size):
            times += [f.time_ms for f in parser.feed(stream[start : start + size])]
        assert times == whole, size


def test_feed_with_a_length_reads_only_that_much_of_a_reused_buffer():
    data = epoch("100000.00") + epoch("100000.10")
    buf = bytearray(512)
    buf[: len(data)] = data
    buf[len(data) :] = b"\n" * (512 - len(data))  # stale bytes after the length
    parser = NmeaParser()
    assert [f.time_ms for f in parser.feed(buf, len(data) - 2)] == [36000000]  # no CR LF
    assert parser.feed(b"\r\n")[0].time_ms == 36000100


def test_midnight_rollover_takes_the_new_date_from_rmc():
    stream = epoch("235959.90", date="311225") + epoch("000000.00", date="010126")
    fixes = parse_all(stream)
    assert [(f.time_ms, f.date) for f in fixes] == [
        (86399900, (2025, 12, 31)),
        (0, (2026, 1, 1)),
    ]


def test_gga_only_fixes_carry_the_date_over_midnight():
    gga = "GPGGA,%s,5204.159260,N,00101.331760,W,1,14,0.7,153.2,M,,M,,"
    stream = epoch("235959.80", date="280224")  # 2024 is a leap year
    stream += sentence(gga % "235959.90") + sentence(gga % "000000.00")
    fixes = parse_all(stream)
    assert [f.date for f in fixes] == [(2024, 2, 28), (2024, 2, 28), (2024, 2, 29)]


def test_no_fix_yet():
    rmc = "GNRMC,081500.00,V,,,,,,,140226,,,N"
    gga = "GNGGA,081500.00,,,,,0,00,99.99,,,,,,"
    fixes = parse_all(sentence(rmc) + sentence(gga))
    assert len(fixes) == 1
    fix = fixes[0]
    assert not fix.valid
    assert fix.lat_e7 is None and fix.lon_e7 is None and fix.speed_kmh is None
    assert fix.sats == 0 and fix.date == (2026, 2, 14)


def test_position_with_invalid_status_is_not_valid():
    rmc = RMC.replace(",A,4807", ",V,4807")
    assert not parse_all(sentence(rmc) + sentence(GGA))[0].valid
    gga = GGA.replace(",E,1,08", ",E,0,08")
    assert not parse_all(sentence(RMC) + sentence(gga))[0].valid


def test_sentence_without_time_is_ignored():
    rmc = "GPRMC,,V,,,,,,,,,,N"
    assert len(parse_all(sentence(rmc))) == 0


def test_rmc_only_receiver_gets_each_fix_at_once():
    parser = NmeaParser()
    rmc = "GPRMC,%s,A,5204.159260,N,00101.331760,W,50.0,90.0,140226,,,A"
    assert len(parser.feed(sentence(rmc % "100000.00"))) == 0  # learning what comes
    assert len(parser.feed(sentence(rmc % "100000.10"))) == 2
    assert len(parser.feed(sentence(rmc % "100000.20"))) == 1


def test_missing_gga_releases_the_epoch_when_the_next_begins():
    parser = NmeaParser()
    assert len(parser.feed(epoch("100000.00") + epoch("100000.10"))) == 2  # both kinds
    rmc_only = epoch("100000.20")[: epoch("100000.20").index(b"$GPGGA")]
    assert len(parser.feed(rmc_only)) == 0  # waits for its GGA
    fixes = parser.feed(epoch("100000.30"))
    assert [f.time_ms for f in fixes] == [36000200, 36000300]
    assert fixes[0].sats is None and fixes[0].valid


def test_repeated_sentence_does_not_make_a_second_fix():
    parser = NmeaParser()
    assert len(parser.feed(epoch("100000.00") + epoch("100000.10"))) == 2
    assert len(parser.feed(sentence(GGA.replace("123519.40", "100000.10")))) == 0
    assert parser.flush() is None


def test_noise_other_sentences_and_overlong_lines():
    parser = NmeaParser()
    junk = b"\x00\xff garbage\r\n" + sentence("GPGSV,3,1,11,10,63,137,17") + b"$GP" + b"X" * 200
    stream = junk + b"\n" + epoch("100000.00") + epoch("100000.10") + b"$GPRMC,1000"
    fixes = parser.feed(stream)
    assert len(fixes) == 2
    assert parser.overlong >= 1
    # A sentence cut off by a new '$' is dropped; the new one is read.
    cut = b"$GPGGA,100000.15,5204.15" + epoch("100000.20")
    assert [f.time_ms for f in parser.feed(cut)] == [36000200]


def test_coordinate_precision_is_kept_in_integers():
    # 5204.159260' -> 52 + 4.15926 / 60 = 52.069321 exactly; 7 decimals of minutes too.
    fix = parse_all(epoch("100000.00"))[0]
    assert fix.lat_e7 == 520693210
    assert fix.lon_e7 == -10221960
    # 0.000006' is 1e-7 degree; 179 deg 59.9999999' rounds to 180 degrees.
    fix = parse_all(epoch("100000.00", lat="5204.1592660", lon="17959.9999999"))[0]
    assert fix.lat_e7 == 520693211
    assert fix.lon_e7 == -1800000000


def test_parsing_other_sentences_allocates_nothing():
    try:
        import micropython
    except ImportError:
        return  # only meaningful on MicroPython
    parser = NmeaParser()
    data = sentence("GPGSV,3,1,11,10,63,137,17,07,61,098,15") + b"noise\r\n$GPRMC,12"
    buf = bytearray(data)
    parser.feed(buf)  # warm up
    micropython.heap_lock()
    try:
        parser.feed(buf)
        parser.feed(buf, 10)
    finally:
        micropython.heap_unlock()


def test_civil_day_numbers():
    assert days_from_civil(1970, 1, 1) == 0
    assert days_from_civil(2000, 3, 1) == 11017
    for day in (0, 59, 60, 11016, 11017, 19782, 20513, -1, 40000):
        y, m, d = civil_from_days(day)
        assert days_from_civil(y, m, d) == day
    assert civil_from_days(days_from_civil(2024, 2, 28) + 1) == (2024, 2, 29)
    assert civil_from_days(days_from_civil(2025, 2, 28) + 1) == (2025, 3, 1)
