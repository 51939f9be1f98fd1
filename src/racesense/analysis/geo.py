"""A local metric frame: WGS84 degrees <-> metres east/north of an origin.

A circuit spans a few km, so an equirectangular projection with the WGS84 radii of
curvature at the origin is good to centimetres over the distances that matter for
timing (a gate and the fixes within a few hundred metres of it), and it is cheap
and exactly invertible.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from racesense.analysis import kernels
from racesense.analysis.telemetry import FloatArray

WGS84_A_M = 6378137.0
WGS84_E2 = 6.69437999014e-3


@dataclass(frozen=True)
class LocalFrame:
    origin_lat_deg: float
    origin_lon_deg: float

    @property
    def m_per_deg(self) -> tuple[float, float]:
        """Metres per degree of longitude and of latitude at the origin."""
        phi = math.radians(self.origin_lat_deg)
        s = 1.0 - WGS84_E2 * math.sin(phi) ** 2
        meridional_m = WGS84_A_M * (1.0 - WGS84_E2) / s**1.5
        prime_vertical_m = WGS84_A_M / math.sqrt(s)
        m_per_deg_lat = math.radians(1.0) * meridional_m
        m_per_deg_lon = math.radians(1.0) * prime_vertical_m * math.cos(phi)
        return m_per_deg_lon, m_per_deg_lat

    def to_xy(
        self, lat_deg: npt.ArrayLike, lon_deg: npt.ArrayLike
    ) -> tuple[FloatArray, FloatArray]:
        """Metres east and north of the origin, in the shape of the input. Continuous
        across the antimeridian (kernels.local_xy)."""
        lat = np.asarray(lat_deg, dtype=np.float64)
        lon = np.asarray(lon_deg, dtype=np.float64)
        shape = np.broadcast_shapes(lat.shape, lon.shape)
        x, y = kernels.local_xy(
            np.ravel(np.broadcast_to(lat, shape)),
            np.ravel(np.broadcast_to(lon, shape)),
            self.origin_lat_deg,
            self.origin_lon_deg,
            *self.m_per_deg,
        )
        return x.reshape(shape), y.reshape(shape)

    def to_latlon(self, x_m: npt.ArrayLike, y_m: npt.ArrayLike) -> tuple[FloatArray, FloatArray]:
        kx, ky = self.m_per_deg
        lat = self.origin_lat_deg + np.asarray(y_m, dtype=np.float64) / ky
        lon = self.origin_lon_deg + np.asarray(x_m, dtype=np.float64) / kx
        lon = (lon + 180.0) % 360.0 - 180.0
        return lat, lon


EARTH_RADIUS_M = 6371008.8  # WGS84 mean radius


def haversine_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance on a sphere of the WGS84 mean radius."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    h = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(math.sqrt(min(1.0, h)))
