"""Local tangent-plane projection between a metric x/y frame and WGS84 latitude/longitude.

The frame is the plane tangent to the WGS84 ellipsoid at an origin: x east, y north,
in metres. A point of the plane stands for the point on the ellipsoid surface (ellipsoidal
height 0) whose orthographic projection onto the plane it is, i.e. `from_wgs84` is the
exact geodetic -> ECEF -> ENU conversion with the up component dropped, and `to_wgs84` is
its inverse, solved by a few fixed-point steps to far below a millimetre. Over a few km a
distance in the plane differs from the distance on the ellipsoid by less than a millimetre
(the relative error grows as (d / R)^2), so a circuit drawn in metres keeps its shape.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]

WGS84_A_M = 6_378_137.0
WGS84_F = 1.0 / 298.257223563
WGS84_E2 = WGS84_F * (2.0 - WGS84_F)

_REFINE_STEPS = 4


def _ecef(lat_rad: FloatArray, lon_rad: FloatArray) -> tuple[FloatArray, FloatArray, FloatArray]:
    """ECEF coordinates of points on the ellipsoid surface."""
    sin_lat = np.sin(lat_rad)
    n = WGS84_A_M / np.sqrt(1.0 - WGS84_E2 * sin_lat**2)
    return (
        n * np.cos(lat_rad) * np.cos(lon_rad),
        n * np.cos(lat_rad) * np.sin(lon_rad),
        n * (1.0 - WGS84_E2) * sin_lat,
    )


@dataclass(frozen=True)
class LocalTangentPlane:
    """The tangent plane at (origin_lat_deg, origin_lon_deg); x east, y north, metres."""

    origin_lat_deg: float
    origin_lon_deg: float

    def __post_init__(self) -> None:
        if not -89.0 <= self.origin_lat_deg <= 89.0:
            raise ValueError(f"origin latitude {self.origin_lat_deg} is outside [-89, 89]")
        if not -180.0 <= self.origin_lon_deg <= 180.0:
            raise ValueError(f"origin longitude {self.origin_lon_deg} is outside [-180, 180]")

    def from_wgs84(
        self, lat_deg: npt.ArrayLike, lon_deg: npt.ArrayLike
    ) -> tuple[FloatArray, FloatArray]:
        """Plane coordinates (x_m east, y_m north) of WGS84 points at ellipsoidal height 0."""
        lat0 = np.radians(self.origin_lat_deg)
        lon0 = np.radians(self.origin_lon_deg)
        x0, y0, z0 = _ecef(np.asarray(lat0), np.asarray(lon0))
        px, py, pz = _ecef(
            np.radians(np.asarray(lat_deg, dtype=np.float64)),
            np.radians(np.asarray(lon_deg, dtype=np.float64)),
        )
        dx, dy, dz = px - x0, py - y0, pz - z0
        east = -np.sin(lon0) * dx + np.cos(lon0) * dy
        north = (
            -np.sin(lat0) * np.cos(lon0) * dx - np.sin(lat0) * np.sin(lon0) * dy + np.cos(lat0) * dz
        )
        return np.asarray(east, dtype=np.float64), np.asarray(north, dtype=np.float64)

    def to_wgs84(self, x_m: npt.ArrayLike, y_m: npt.ArrayLike) -> tuple[FloatArray, FloatArray]:
        """WGS84 (lat_deg, lon_deg) of plane points; the exact inverse of `from_wgs84`."""
        x = np.asarray(x_m, dtype=np.float64)
        y = np.asarray(y_m, dtype=np.float64)
        lat0 = np.radians(self.origin_lat_deg)
        sin0 = np.sin(lat0)
        # Radii of curvature at the origin give the first guess; each refinement step
        # shrinks the error by a factor of about d / R (< 1e-3 for a circuit).
        w = np.sqrt(1.0 - WGS84_E2 * sin0**2)
        meridian_m = WGS84_A_M * (1.0 - WGS84_E2) / w**3
        normal_m = WGS84_A_M / w
        lat = self.origin_lat_deg + np.degrees(y / meridian_m)
        lon = self.origin_lon_deg + np.degrees(x / (normal_m * np.cos(lat0)))
        for _ in range(_REFINE_STEPS):
            ex, ey = self.from_wgs84(lat, lon)
            lat = lat + np.degrees((y - ey) / meridian_m)
            lon = lon + np.degrees((x - ex) / (normal_m * np.cos(np.radians(lat))))
        lon = (lon + 180.0) % 360.0 - 180.0
        return np.asarray(lat, dtype=np.float64), np.asarray(lon, dtype=np.float64)
