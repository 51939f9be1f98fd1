"""Closed plane curves: a periodic cubic spline, smoothing and uniform resampling.

A circuit centreline is a closed loop. `PeriodicSpline` interpolates points given at a
uniform parameter step with a C2 cubic spline, so position, tangent and curvature (and
the derivative of curvature) exist everywhere and are evaluated in closed form.
`resample_closed_curve` turns a rough polygon (a surveyed centreline, a hand-made layout)
into points at a uniform arc-length step after a periodic Gaussian low-pass, which keeps
the curvature of a 5 m survey from being dominated by noise.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

_MIN_POINTS = 8


def _periodic_second_derivatives(values: FloatArray, step: float) -> FloatArray:
    """Second derivatives at the knots of the periodic cubic spline through `values`.

    The continuity conditions M[i-1] + 4 M[i] + M[i+1] = 6 (y[i+1] - 2 y[i] + y[i-1]) / h^2
    form a circulant system, which the discrete Fourier transform diagonalises: its
    eigenvalues 4 + 2 cos(2 pi k / n) lie in [2, 6], so the solve is always well posed.
    """
    n = values.shape[0]
    rhs = 6.0 * (np.roll(values, -1) - 2.0 * values + np.roll(values, 1)) / step**2
    eigen = 4.0 + 2.0 * np.cos(2.0 * np.pi * np.arange(n) / n)
    return np.asarray(np.fft.ifft(np.fft.fft(rhs) / eigen).real, dtype=np.float64)


@dataclass(frozen=True)
class CurveDerivatives:
    """A closed curve's position and derivatives with respect to its parameter."""

    x: FloatArray
    y: FloatArray
    dx: FloatArray
    dy: FloatArray
    ddx: FloatArray
    ddy: FloatArray
    dddx: FloatArray
    dddy: FloatArray


class PeriodicSpline:
    """C2 periodic cubic spline through (x[i], y[i]) at parameter values i * step.

    The parameter is periodic with period n * step; any real parameter is accepted.
    """

    def __init__(self, x: npt.ArrayLike, y: npt.ArrayLike, step: float) -> None:
        self._x = np.array(x, dtype=np.float64)
        self._y = np.array(y, dtype=np.float64)
        n = self._x.shape[0]
        if self._x.shape != (n,) or self._y.shape != (n,) or n < _MIN_POINTS:
            raise ValueError(f"need two 1-D arrays of the same length >= {_MIN_POINTS}")
        if not step > 0.0:
            raise ValueError("step must be positive")
        self.step = float(step)
        self.period = float(n * self.step)
        self._mx = _periodic_second_derivatives(self._x, self.step)
        self._my = _periodic_second_derivatives(self._y, self.step)

    def _locate(self, u: npt.ArrayLike) -> tuple[IntArray, IntArray, FloatArray]:
        scaled = np.asarray(u, dtype=np.float64) / self.step
        whole = np.floor(scaled)
        frac = scaled - whole
        n = self._x.shape[0]
        i = whole.astype(np.int64) % n
        return i, (i + 1) % n, frac

    def evaluate(self, u: npt.ArrayLike) -> CurveDerivatives:
        """Position and the first three derivatives at parameter values `u`."""
        i, j, t = self._locate(u)
        h = self.step
        s = 1.0 - t
        out: list[FloatArray] = []
        for p, m in ((self._x, self._mx), (self._y, self._my)):
            pi, pj, mi, mj = p[i], p[j], m[i], m[j]
            out.append(s * pi + t * pj + h * h / 6.0 * ((s**3 - s) * mi + (t**3 - t) * mj))
            out.append(
                (pj - pi) / h + h / 6.0 * ((1.0 - 3.0 * s**2) * mi + (3.0 * t**2 - 1.0) * mj)
            )
            out.append(s * mi + t * mj)
            out.append((mj - mi) / h)
        x, dx, ddx, dddx = out[:4]
        y, dy, ddy, dddy = out[4:]
        return CurveDerivatives(x, y, dx, dy, ddx, ddy, dddx, dddy)


def signed_curvature(d: CurveDerivatives) -> FloatArray:
    """Signed curvature in 1/m, positive where the curve turns left (counter-clockwise)."""
    speed = np.hypot(d.dx, d.dy)
    return np.asarray((d.dx * d.ddy - d.dy * d.ddx) / speed**3, dtype=np.float64)


def _drop_closing_duplicate(x: FloatArray, y: FloatArray) -> tuple[FloatArray, FloatArray]:
    scale = max(float(np.ptp(x)), float(np.ptp(y)), 1.0)
    if np.hypot(x[-1] - x[0], y[-1] - y[0]) < 1e-9 * scale:
        return x[:-1], y[:-1]
    return x, y


def resample_closed_curve(
    x_m: npt.ArrayLike,
    y_m: npt.ArrayLike,
    *,
    spacing_m: float = 1.0,
    smoothing_m: float = 0.0,
) -> tuple[FloatArray, FloatArray]:
    """Points at a uniform arc-length step along a smoothed closed polygon.

    The polygon (closing edge implied; a repeated first point is dropped) is sampled
    densely, low-passed with a periodic Gaussian of standard deviation `smoothing_m`
    (metres along the curve; 0 keeps the polygon's shape up to the dense spline), and
    then resampled so that consecutive points are `spacing_m` apart along the smoothed
    curve (the step is adjusted slightly so that a whole number of steps fills the loop).
    The first point stays near the first input point.
    """
    x, y = _drop_closing_duplicate(np.asarray(x_m, dtype=np.float64), np.asarray(y_m, np.float64))
    if x.shape != y.shape or x.ndim != 1 or x.shape[0] < 3:
        raise ValueError("a closed curve needs two 1-D arrays of at least 3 points")
    if not (np.isfinite(x).all() and np.isfinite(y).all()):
        raise ValueError("curve coordinates must be finite")
    if not spacing_m > 0.0 or smoothing_m < 0.0:
        raise ValueError("spacing_m must be positive and smoothing_m non-negative")
    chord = np.hypot(np.diff(x, append=x[0]), np.diff(y, append=y[0]))
    if np.any(chord <= 0.0):
        raise ValueError("the curve has repeated consecutive points")
    knots = np.concatenate([[0.0], np.cumsum(chord)])
    perimeter = float(knots[-1])
    # Dense uniform sampling by chord length: fine enough (<= 0.25 m and <= spacing / 4)
    # that the linear interpolation's corners are far above the low-pass cut-off.
    dense_n = max(int(np.ceil(perimeter / min(0.25, spacing_m / 4.0))), 64)
    u = np.arange(dense_n) * (perimeter / dense_n)
    dx = np.interp(u, knots, np.append(x, x[0]))
    dy = np.interp(u, knots, np.append(y, y[0]))
    if smoothing_m > 0.0:
        k = np.fft.fftfreq(dense_n, d=perimeter / dense_n)  # cycles per metre
        gain = np.exp(-0.5 * (2.0 * np.pi * k * smoothing_m) ** 2)
        dx = np.fft.ifft(np.fft.fft(dx) * gain).real
        dy = np.fft.ifft(np.fft.fft(dy) * gain).real
    dense = PeriodicSpline(dx, dy, perimeter / dense_n)
    # Arc length of the dense spline by Simpson's rule on each parameter step.
    ends = dense.evaluate(u)
    mids = dense.evaluate(u + 0.5 * dense.step)
    speed_ends = np.hypot(ends.dx, ends.dy)
    speed_mids = np.hypot(mids.dx, mids.dy)
    pieces = dense.step / 6.0 * (speed_ends + 4.0 * speed_mids + np.roll(speed_ends, -1))
    arc = np.concatenate([[0.0], np.cumsum(pieces)])
    length = float(arc[-1])
    n = max(round(length / spacing_m), _MIN_POINTS)
    targets = np.arange(n) * (length / n)
    params = np.interp(targets, arc, np.append(u, perimeter))
    out = dense.evaluate(params)
    return out.x, out.y
