"""Ground truth of a synthetic session: the exact trajectory and the timing lines.

`Trajectory` is the car's true motion: distance travelled against time (`driver.Motion`,
piecewise constant acceleration, evaluated in closed form), mapped to the circuit station
s = start_s_m + distance and moved sideways by any lane excursion (`path`). Every true
quantity at any time follows from that without interpolation or noise:

- position: the path point; latitude/longitude: its exact tangent-plane projection;
- speed: |d(path)/dt|; heading: direction of the path tangent, clockwise from north
  (defined at rest too);
- acceleration: the second time derivative of the path, split into longitudinal
  (along the tangent) and lateral (positive left); yaw rate: the rate of change of the
  path's direction, counter-clockwise positive.

A timing line is a segment through the centreline point at station s, along the
centreline normal, `length_m` long and centred on the centreline. The true path crosses
it exactly when the car's station passes s while its lateral offset is within half the
line's length; the crossing time is the exact root of the motion at that distance. This
assumes that no other part of the circuit comes within half a line's length of the line
(true of the demo circuit, where separate parts of the track stay over 25 m apart).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from racesense.synth.circuit import Circuit
from racesense.synth.driver import Motion
from racesense.synth.path import LaneExcursion, lane_offset, path_point

FloatArray = npt.NDArray[np.float64]

TIMING_LINE_LENGTH_M = 30.0

LatLon = tuple[float, float]


@dataclass(frozen=True)
class TimingLine:
    """A start/finish or sector line. `endpoints_deg` is ((lat, lon) right of the
    direction of travel, (lat, lon) left of it); `point_deg` is its centre, on the
    centreline. The `_xy_m` fields are the same points in the circuit's frame."""

    s_m: float
    point_deg: LatLon
    endpoints_deg: tuple[LatLon, LatLon]
    point_xy_m: tuple[float, float]
    endpoints_xy_m: tuple[tuple[float, float], tuple[float, float]]
    length_m: float


def timing_line(circuit: Circuit, s_m: float, length_m: float = TIMING_LINE_LENGTH_M) -> TimingLine:
    """The line across the centreline at station `s_m` (taken modulo a lap)."""
    s = float(s_m) % circuit.length_m
    g = circuit.geometry(np.array([s]))
    norm = float(np.hypot(g.dx[0], g.dy[0]))
    nx, ny = -float(g.dy[0]) / norm, float(g.dx[0]) / norm
    cx, cy = float(g.x[0]), float(g.y[0])
    half = 0.5 * length_m
    xs = np.array([cx, cx - half * nx, cx + half * nx])
    ys = np.array([cy, cy - half * ny, cy + half * ny])
    lat, lon = circuit.to_wgs84(xs, ys)
    return TimingLine(
        s_m=s,
        point_deg=(float(lat[0]), float(lon[0])),
        endpoints_deg=((float(lat[1]), float(lon[1])), (float(lat[2]), float(lon[2]))),
        point_xy_m=(cx, cy),
        endpoints_xy_m=((float(xs[1]), float(ys[1])), (float(xs[2]), float(ys[2]))),
        length_m=float(length_m),
    )


@dataclass(frozen=True, eq=False)
class TruthSample:
    """True state at some times (arrays of the same length). Units are in the names;
    `s_m` is the station modulo a lap, `offset_m` the lateral offset (positive left)."""

    t_s: FloatArray
    distance_m: FloatArray
    s_m: FloatArray
    offset_m: FloatArray
    x_m: FloatArray
    y_m: FloatArray
    lat_deg: FloatArray
    lon_deg: FloatArray
    speed_mps: FloatArray
    heading_deg: FloatArray
    accel_lon_mps2: FloatArray
    accel_lat_mps2: FloatArray
    yaw_rate_dps: FloatArray


@dataclass(frozen=True, eq=False)
class Trajectory:
    """The true motion of the car (see the module docstring)."""

    circuit: Circuit
    motion: Motion
    start_s_m: float
    excursions: tuple[LaneExcursion, ...] = ()

    @property
    def duration_s(self) -> float:
        return self.motion.duration_s

    def offset(self, distance_m: npt.ArrayLike) -> tuple[FloatArray, FloatArray, FloatArray]:
        """Lateral offset (positive left) and its first two derivatives by distance."""
        return lane_offset(self.excursions, distance_m)

    def time_at_distance(self, distance_m: npt.ArrayLike) -> FloatArray:
        return self.motion.time_at(distance_m)

    def at(self, t_s: npt.ArrayLike) -> TruthSample:
        """The exact true state at times `t_s`."""
        t = np.asarray(t_s, dtype=np.float64)
        distance, v_s, a_s = self.motion.at(t)
        d, d1, d2 = self.offset(distance)
        station = self.start_s_m + distance
        p = path_point(self.circuit, station, d, d1, d2)
        vx, vy = p.dx * v_s, p.dy * v_s
        ax = p.ddx * v_s**2 + p.dx * a_s
        ay = p.ddy * v_s**2 + p.dy * a_s
        stretch = p.stretch
        ux, uy = p.dx / stretch, p.dy / stretch
        speed = np.hypot(vx, vy)
        # Rate of turn of the velocity: (v x a) / |v|^2 = curvature * speed, zero at rest.
        yaw_rate = p.curvature_1pm * speed
        lat, lon = self.circuit.to_wgs84(p.x_m, p.y_m)
        return TruthSample(
            t_s=t,
            distance_m=distance,
            s_m=np.mod(station, self.circuit.length_m),
            offset_m=d,
            x_m=p.x_m,
            y_m=p.y_m,
            lat_deg=lat,
            lon_deg=lon,
            speed_mps=speed,
            heading_deg=np.mod(np.degrees(np.arctan2(ux, uy)), 360.0),
            accel_lon_mps2=ax * ux + ay * uy,
            accel_lat_mps2=-ax * uy + ay * ux,
            yaw_rate_dps=np.degrees(yaw_rate),
        )

    def line_crossings(self, line: TimingLine) -> FloatArray:
        """Times at which the true path crosses `line`, in increasing order.

        Only passes strictly inside the motion count (a car standing on a line when the
        session begins or ends does not cross it), and a pass whose lateral offset is
        beyond half the line's length goes beside the line, not across it.
        """
        length = self.circuit.length_m
        last = float(self.motion.d_m[-1])
        first_pass = (line.s_m - self.start_s_m) % length
        distances = np.arange(first_pass, last, length)
        distances = distances[distances > float(self.motion.d_m[0])]
        offsets, _, _ = self.offset(distances)
        distances = distances[np.abs(offsets) <= 0.5 * line.length_m]
        return self.motion.time_at(distances)
