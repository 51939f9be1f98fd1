"""The telemetry model every importer produces and the analysis consumes.

One time base, one row per sample. A value that a row does not carry is NaN: a logger
with 25 Hz IMU and 10 Hz GNSS (RaceCapture) gives rows where only some channels are set.
All units are SI except angles, which stay in degrees because that is how every
format and every map speaks them. The names carry the units.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
LatLon = tuple[float, float]

STANDARD_GRAVITY_MPS2 = 9.80665

# Physical limits of the channels. A value beyond them is a damaged number, not a
# measurement, and whatever reads the channel takes it as missing. Each is set well
# beyond what any car does, so that no real reading comes near it:
# - ground speed: 150 m/s (540 km/h), above the fastest car ever timed on a road
#   (490 km/h) and any circuit car (about 380 km/h);
MAX_SPEED_MPS = 150.0
# - acceleration: 50 g, eight times an F1 car's braking (about 6 g) and beyond the
#   full scale of the accelerometers loggers carry (16 g, 32 g at most);
MAX_ACCEL_MPS2 = 50.0 * STANDARD_GRAVITY_MPS2
# - yaw rate: 5000 deg/s, beyond the full scale of any logger's gyro (2000-4000 deg/s).
MAX_YAW_RATE_DPS = 5000.0


@dataclass(frozen=True)
class ChannelInfo:
    """What a channel holds: unit, and how it may be resampled."""

    unit: str
    description: str
    # "continuous" channels may be linearly interpolated between samples; "discrete"
    # ones (counters, flags) may only be sampled-and-held.
    kind: str = "continuous"


# The core channels of `Telemetry`, documented once (docs/formats.md lists the same).
CORE_CHANNELS: Mapping[str, ChannelInfo] = {
    "t_s": ChannelInfo("s", "time since the first sample; GNSS time where the file has it"),
    "lat_deg": ChannelInfo("deg", "WGS84 latitude, positive north"),
    "lon_deg": ChannelInfo("deg", "WGS84 longitude, positive east"),
    "alt_m": ChannelInfo("m", "altitude above mean sea level"),
    "speed_mps": ChannelInfo("m/s", "GNSS ground speed"),
    "heading_deg": ChannelInfo("deg", "GNSS course over ground, clockwise from true north"),
    "sats": ChannelInfo("1", "satellites used in the fix", "discrete"),
    "hdop": ChannelInfo("1", "horizontal dilution of precision"),
    "accel_lon_mps2": ChannelInfo("m/s^2", "longitudinal acceleration, vehicle x (forward)"),
    "accel_lat_mps2": ChannelInfo("m/s^2", "lateral acceleration, vehicle y (left)"),
    "accel_vert_mps2": ChannelInfo(
        "m/s^2", "vertical acceleration, vehicle z (up), gravity included (+9.81 at rest)"
    ),
    "yaw_rate_dps": ChannelInfo("deg/s", "yaw rate about vehicle z, counter-clockwise positive"),
}


@dataclass(frozen=True)
class Channel:
    """An extra channel a file carries (rpm, throttle, water temperature, ...)."""

    values: FloatArray
    unit: str = ""
    kind: str = "continuous"


@dataclass(frozen=True)
class StartFinishHint:
    """Where a file itself says its start/finish is: a line from `p1` to `p2`, or the
    point `p1` alone (`p2` None). WGS84 (latitude, longitude) in degrees.

    Only a hint: a file's line may lie along the track rather than across it, or
    belong to another venue. The analysis uses it only after checking it against the
    session's path (`racesense.analysis.autodetect.start_finish_from_hint`). `what`
    says, for people, what in the file it came from ("VBO [laptiming] Start line").
    """

    p1: LatLon
    p2: LatLon | None = None
    what: str = ""

    def __post_init__(self) -> None:
        for lat, lon in (self.p1,) if self.p2 is None else (self.p1, self.p2):
            if not (math.isfinite(lat) and math.isfinite(lon)):
                raise ValueError(f"a start/finish hint needs finite coordinates: {lat}, {lon}")
            if not (abs(lat) <= 90.0 and abs(lon) <= 180.0):
                raise ValueError(f"({lat}, {lon}) is not a latitude and longitude")

    def midpoint(self) -> LatLon:
        if self.p2 is None:
            return self.p1
        return ((self.p1[0] + self.p2[0]) / 2.0, (self.p1[1] + self.p2[1]) / 2.0)


def _nan(n: int) -> FloatArray:
    return np.full(n, np.nan, dtype=np.float64)


@dataclass(frozen=True, eq=False)
class Telemetry:
    """A recorded session, in one time base. Every array has the same length.

    Build it with `Telemetry.build(...)`, which fills absent channels with NaN and
    checks the shapes; the analysis never has to ask whether a channel exists.
    """

    format: str
    t_s: FloatArray
    lat_deg: FloatArray
    lon_deg: FloatArray
    alt_m: FloatArray
    speed_mps: FloatArray
    heading_deg: FloatArray
    sats: FloatArray
    hdop: FloatArray
    accel_lon_mps2: FloatArray
    accel_lat_mps2: FloatArray
    accel_vert_mps2: FloatArray
    yaw_rate_dps: FloatArray
    channels: Mapping[str, Channel] = field(default_factory=dict)
    started_at: dt.datetime | None = None
    device_id: str | None = None
    metadata: Mapping[str, str] = field(default_factory=dict)
    start_finish_hint: StartFinishHint | None = None

    @classmethod
    def build(
        cls,
        format: str,
        t_s: npt.ArrayLike,
        lat_deg: npt.ArrayLike,
        lon_deg: npt.ArrayLike,
        *,
        channels: Mapping[str, Channel] | None = None,
        started_at: dt.datetime | None = None,
        device_id: str | None = None,
        metadata: Mapping[str, str] | None = None,
        start_finish_hint: StartFinishHint | None = None,
        **core: npt.ArrayLike | None,
    ) -> Telemetry:
        """Make a Telemetry; `core` takes the optional core channels by name."""
        t = np.asarray(t_s, dtype=np.float64)
        n = t.shape[0]
        arrays: dict[str, FloatArray] = {
            "t_s": t,
            "lat_deg": np.asarray(lat_deg, dtype=np.float64),
            "lon_deg": np.asarray(lon_deg, dtype=np.float64),
        }
        for name in CORE_CHANNELS:
            if name in arrays:
                continue
            value = core.pop(name, None)
            arrays[name] = _nan(n) if value is None else np.asarray(value, dtype=np.float64)
        if core:
            raise TypeError(f"unknown core channels: {sorted(core)}")
        extra = dict(channels or {})
        for name, array in [*arrays.items(), *((k, c.values) for k, c in extra.items())]:
            if array.shape != (n,):
                raise ValueError(f"channel {name!r} has shape {array.shape}, expected ({n},)")
        if started_at is not None and started_at.tzinfo is None:
            raise ValueError("started_at must be timezone-aware (UTC)")
        return cls(
            format=format,
            channels=extra,
            started_at=started_at,
            device_id=device_id,
            metadata=dict(metadata or {}),
            start_finish_hint=start_finish_hint,
            **arrays,
        )

    def __len__(self) -> int:
        return int(self.t_s.shape[0])

    def has(self, name: str) -> bool:
        """True if the core channel `name` holds at least one value."""
        values: FloatArray = getattr(self, name)
        return bool(np.isfinite(values).any())
