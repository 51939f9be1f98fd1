"""Shared helpers for the synthetic-session tests."""

from __future__ import annotations

from pathlib import Path
from typing import TypedDict

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]

TUMFTM_TRACKS = Path(__file__).resolve().parents[2].parent / "shared/data/tumftm_centerlines/tracks"


class NoiseArgs(TypedDict):
    gps_noise_m: float
    speed_noise_mps: float
    heading_noise_deg: float
    accel_noise_mps2: float
    yaw_rate_noise_dps: float


NOISELESS = NoiseArgs(
    gps_noise_m=0.0,
    speed_noise_mps=0.0,
    heading_noise_deg=0.0,
    accel_noise_mps2=0.0,
    yaw_rate_noise_dps=0.0,
)


def segment_crossings(
    t_s: FloatArray,
    lat_deg: FloatArray,
    lon_deg: FloatArray,
    line: tuple[tuple[float, float], tuple[float, float]],
) -> FloatArray:
    """Times where the polyline of fixes crosses the segment `line`, interpolated
    linearly between fixes. Works in degrees: intersection fractions are invariant under
    the (locally affine) map to metres, so no projection is needed for a 30 m line."""
    (alat, alon), (blat, blon) = line
    ex, ey = blon - alon, blat - alat
    px, py = lon_deg - alon, lat_deg - alat
    side = ex * py - ey * px
    times: list[float] = []
    for i in np.flatnonzero(np.sign(side[:-1]) * np.sign(side[1:]) < 0):
        f = side[i] / (side[i] - side[i + 1])
        qx = px[i] + f * (px[i + 1] - px[i])
        qy = py[i] + f * (py[i + 1] - py[i])
        along = (qx * ex + qy * ey) / (ex * ex + ey * ey)
        if 0.0 <= along <= 1.0:
            times.append(float(t_s[i] + f * (t_s[i + 1] - t_s[i])))
    return np.array(times)


def distance_to_segment_m(
    x: FloatArray, y: FloatArray, a: tuple[float, float], b: tuple[float, float]
) -> FloatArray:
    ax, ay = a
    bx, by = b
    ex, ey = bx - ax, by - ay
    f = np.clip(((x - ax) * ex + (y - ay) * ey) / (ex * ex + ey * ey), 0.0, 1.0)
    return np.asarray(np.hypot(x - (ax + f * ex), y - (ay + f * ey)), dtype=np.float64)
