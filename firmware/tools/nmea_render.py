"""Render GNSS fixes as the NMEA 0183 stream a receiver would send (RMC + GGA per epoch).

A host tool (CPython): the replay test feeds its output through firmware/nmea.py and
firmware/logger.py, and a bench setup can play it into an RS-Core's GNSS UART.

    python firmware/tools/nmea_render.py --laps 3 --seed 7 --rate 10 > session.nmea

Positions are written with 7 decimals of minutes (about 0.2 mm), more than any receiver
gives, so the rendering adds no error of its own to what the logger is tested on.
"""

from __future__ import annotations

import argparse
import datetime as dt
import math
import sys
from collections.abc import Iterator
from typing import Any

KNOTS_PER_MPS = 3600.0 / 1852.0
MINUTE_DECIMALS = 7


def sentence(body: str) -> bytes:
    """`$body*CS\\r\\n`, CS being the XOR of the body's bytes in two hex digits."""
    checksum = 0
    for c in body.encode("ascii"):
        checksum ^= c
    return f"${body}*{checksum:02X}\r\n".encode("ascii")


def _angle(value_deg: float, degree_digits: int) -> str:
    """(d)ddmm.mmmmmmm of |value_deg|, rounded once, in integers."""
    scale = 10**MINUTE_DECIMALS
    minutes_scaled = round(abs(value_deg) * 60.0 * scale)
    degrees, rest = divmod(minutes_scaled, 60 * scale)
    whole, fraction = divmod(rest, scale)
    return f"{degrees:0{degree_digits}d}{whole:02d}.{fraction:0{MINUTE_DECIMALS}d}"


def _optional(value: float | None, spec: str) -> str:
    if value is None or not math.isfinite(value):
        return ""
    return format(value, spec)


def render_epoch(
    when: dt.datetime,
    lat_deg: float,
    lon_deg: float,
    *,
    alt_m: float | None = None,
    speed_mps: float | None = None,
    course_deg: float | None = None,
    sats: int | None = None,
    hdop: float | None = None,
    talker: str = "GN",
) -> bytes:
    """One epoch, RMC then GGA, at UTC time `when` (centisecond resolution, as receivers
    send it)."""
    utc = when.astimezone(dt.UTC)
    centis = round(utc.microsecond / 10000)
    if centis == 100:  # 59.995 s and later round into the next second
        utc = utc.replace(microsecond=0) + dt.timedelta(seconds=1)
        centis = 0
    time = f"{utc:%H%M%S}.{centis:02d}"
    date = f"{utc:%d%m%y}"
    lat = _angle(lat_deg, 2) + ("," + ("N" if lat_deg >= 0 else "S"))
    lon = _angle(lon_deg, 3) + ("," + ("E" if lon_deg >= 0 else "W"))
    knots = None if speed_mps is None else speed_mps * KNOTS_PER_MPS
    course = None if course_deg is None else course_deg % 360.0
    rmc = f"{talker}RMC,{time},A,{lat},{lon},{_optional(knots, '.3f')},"
    rmc += f"{_optional(course, '.2f')},{date},,,A"
    gga = f"{talker}GGA,{time},{lat},{lon},1,{'' if sats is None else f'{sats:02d}'},"
    gga += f"{_optional(hdop, '.1f')},{_optional(alt_m, '.1f')},M,0.0,M,,"
    return sentence(rmc) + sentence(gga)


def render_telemetry(telemetry: Any) -> Iterator[tuple[float, bytes]]:
    """(t_s, epoch bytes) for every row of a racesense Telemetry with a position; needs
    `telemetry.started_at`."""
    if telemetry.started_at is None:
        raise ValueError("NMEA needs UTC times: the telemetry has no started_at")

    def value(name: str, i: int) -> float | None:
        v = float(getattr(telemetry, name)[i])
        return v if math.isfinite(v) else None

    for i in range(len(telemetry)):
        lat, lon = value("lat_deg", i), value("lon_deg", i)
        if lat is None or lon is None:
            continue
        t_s = float(telemetry.t_s[i])
        sats = value("sats", i)
        yield (
            t_s,
            render_epoch(
                telemetry.started_at + dt.timedelta(seconds=t_s),
                lat,
                lon,
                alt_m=value("alt_m", i),
                speed_mps=value("speed_mps", i),
                course_deg=value("heading_deg", i),
                sats=None if sats is None else round(sats),
                hdop=value("hdop", i),
            ),
        )


def main(argv: list[str] | None = None) -> int:
    from racesense.synth import demo_circuit, make_session

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--laps", type=int, default=3)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--rate", type=float, default=10.0, help="fixes per second")
    args = parser.parse_args(argv)
    session = make_session(demo_circuit(), rate_hz=args.rate, laps=args.laps, seed=args.seed)
    out = sys.stdout.buffer
    for _t_s, epoch in render_telemetry(session.telemetry):
        out.write(epoch)
    return 0


if __name__ == "__main__":
    sys.exit(main())
