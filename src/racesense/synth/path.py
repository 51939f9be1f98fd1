"""The path the car follows: the centreline, or a lane offset sideways from it.

A point of the path is r(s) + d n(s): the centreline point at station s moved by a
lateral offset d (metres, positive to the left of the direction of travel) along the
unit left normal n(s). With d = 0 it is the centreline. Because the offset point lies on
the normal at s, the path crosses a timing line drawn along the normal at station s_line
exactly when the car's station equals s_line, with or without an offset; that is how the
ground truth stays exact on a pit lane.

Derivatives are taken with respect to the station and computed in closed form from the
centreline spline (which is C2, so the path's curvature is continuous).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from racesense.synth.circuit import Circuit

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True)
class PathPoint:
    """Position and its first two derivatives with respect to the station."""

    x_m: FloatArray
    y_m: FloatArray
    dx: FloatArray
    dy: FloatArray
    ddx: FloatArray
    ddy: FloatArray

    @property
    def stretch(self) -> FloatArray:
        """|dr/ds|: metres of path per metre of station."""
        return np.asarray(np.hypot(self.dx, self.dy), dtype=np.float64)

    @property
    def curvature_1pm(self) -> FloatArray:
        """Signed curvature of the path, positive to the left."""
        return np.asarray(
            (self.dx * self.ddy - self.dy * self.ddx) / self.stretch**3, dtype=np.float64
        )


def _rotate_left(vx: FloatArray, vy: FloatArray) -> tuple[FloatArray, FloatArray]:
    return -vy, vx


def path_point(
    circuit: Circuit,
    s_m: npt.ArrayLike,
    offset_m: npt.ArrayLike = 0.0,
    offset_d1: npt.ArrayLike = 0.0,
    offset_d2: npt.ArrayLike = 0.0,
) -> PathPoint:
    """The path at stations `s_m` with lateral offset d and its derivatives d', d''."""
    c = circuit.geometry(s_m)
    d = np.asarray(offset_m, dtype=np.float64)
    d1 = np.asarray(offset_d1, dtype=np.float64)
    d2 = np.asarray(offset_d2, dtype=np.float64)
    g = np.hypot(c.dx, c.dy)
    g1 = (c.dx * c.ddx + c.dy * c.ddy) / g
    g2 = (c.ddx**2 + c.ddy**2 + c.dx * c.dddx + c.dy * c.dddy - g1**2) / g
    # u = r'/g is the unit tangent; n = J u with J the +90 degree rotation.
    u = (c.dx / g, c.dy / g)
    u1 = (c.ddx / g - c.dx * g1 / g**2, c.ddy / g - c.dy * g1 / g**2)
    u2 = tuple(
        r3 / g - 2.0 * r2 * g1 / g**2 - r1 * g2 / g**2 + 2.0 * r1 * g1**2 / g**3
        for r1, r2, r3 in ((c.dx, c.ddx, c.dddx), (c.dy, c.ddy, c.dddy))
    )
    n = _rotate_left(*u)
    n1 = _rotate_left(*u1)
    n2 = _rotate_left(u2[0], u2[1])
    return PathPoint(
        x_m=c.x + d * n[0],
        y_m=c.y + d * n[1],
        dx=c.dx + d1 * n[0] + d * n1[0],
        dy=c.dy + d1 * n[1] + d * n1[1],
        ddx=c.ddx + d2 * n[0] + 2.0 * d1 * n1[0] + d * n2[0],
        ddy=c.ddy + d2 * n[1] + 2.0 * d1 * n1[1] + d * n2[1],
    )


def _smootherstep(u: FloatArray) -> tuple[FloatArray, FloatArray, FloatArray]:
    """6u^5 - 15u^4 + 10u^3 on [0, 1] (0 before, 1 after) and its two derivatives; its
    first and second derivatives vanish at both ends, so the lane change is C2."""
    inside = (u > 0.0) & (u < 1.0)
    v = np.clip(u, 0.0, 1.0)
    value = v**3 * (10.0 - 15.0 * v + 6.0 * v**2)
    first = np.where(inside, 30.0 * v**2 * (1.0 - v) ** 2, 0.0)
    second = np.where(inside, 60.0 * v * (1.0 - v) * (1.0 - 2.0 * v), 0.0)
    return value, first, second


@dataclass(frozen=True)
class LaneExcursion:
    """A move sideways to `offset_m` (positive left) and back, along distance travelled:
    the offset ramps over `ramp_m` from `start_m`, holds for `hold_m`, then ramps back."""

    start_m: float
    ramp_m: float
    hold_m: float
    offset_m: float

    @property
    def end_m(self) -> float:
        return self.start_m + 2.0 * self.ramp_m + self.hold_m

    @property
    def middle_m(self) -> float:
        return self.start_m + self.ramp_m + 0.5 * self.hold_m

    def offset(self, distance_m: npt.ArrayLike) -> tuple[FloatArray, FloatArray, FloatArray]:
        """Lateral offset and its first two derivatives at distances travelled."""
        d = np.asarray(distance_m, dtype=np.float64)
        up, up1, up2 = _smootherstep((d - self.start_m) / self.ramp_m)
        down, down1, down2 = _smootherstep((self.end_m - d) / self.ramp_m)
        # Where one factor changes the other is 1, so the product is the two ramps.
        k = self.offset_m
        r = self.ramp_m
        value = k * up * down
        first = k * (up1 * down - up * down1) / r
        second = k * (up2 * down - 2.0 * up1 * down1 + up * down2) / r**2
        return value, first, second


def lane_offset(
    excursions: tuple[LaneExcursion, ...], distance_m: npt.ArrayLike
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Total lateral offset of `excursions` and its first two derivatives by distance."""
    d = np.asarray(distance_m, dtype=np.float64)
    total = [np.zeros_like(d), np.zeros_like(d), np.zeros_like(d)]
    for excursion in excursions:
        for acc, part in zip(total, excursion.offset(d), strict=True):
            acc += part
    return total[0], total[1], total[2]
