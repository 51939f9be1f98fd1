"""The crossing estimator against analytic truth: braking, accelerating and a speed
kink on a straight, circular arcs, glitching course channels, stops, noise; and the
compiled loop against the model written plainly."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from racesense.analysis.clean import clean_fixes
from racesense.analysis.crossings import crossings, orient
from racesense.analysis.geo import LocalFrame
from racesense.analysis.kernels.lines import estimate_passes
from racesense.analysis.telemetry import Telemetry
from racesense.analysis.track import Gate, gate_xy

FRAME = LocalFrame(52.07, -1.02)
LINE_X_M = 400.0
Motion = Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]]  # t -> (s, v)


def braking_run(rate_hz: float, noise_m: float, seed: int, with_speed: bool = True):
    """East along y=0 at 60 m/s, braking at 8 m/s^2 from t=4 s. Returns (tel, truth)."""
    rng = np.random.default_rng(seed)
    t = np.arange(0.0, 12.0, 1.0 / rate_hz) + rng.uniform(0, 1.0 / rate_hz)
    v0, a, tb = 60.0, -8.0, 4.0
    x = np.where(t < tb, v0 * t, v0 * tb + v0 * (t - tb) + 0.5 * a * (t - tb) ** 2)
    v = np.where(t < tb, v0, v0 + a * (t - tb))
    # Truth: solve x(t) = LINE_X_M in the braking phase.
    dx = LINE_X_M - v0 * tb
    truth = tb + (-v0 + math.sqrt(v0 * v0 + 2 * a * dx)) / a
    xn = x + rng.normal(0, noise_m, t.shape)
    yn = rng.normal(0, noise_m, t.shape)
    lat, lon = FRAME.to_latlon(xn, yn)
    speed = v + rng.normal(0, 0.1, t.shape) if with_speed else None
    heading = np.full(t.shape, 90.0) if with_speed else None
    return Telemetry.build("test", t, lat, lon, speed_mps=speed, heading_deg=heading), truth


def line_gate():
    lat, lon = FRAME.to_latlon([LINE_X_M, LINE_X_M], [-20.0, 20.0])
    return Gate((lat[0], lon[0]), (lat[1], lon[1]))


def _found(tel: Telemetry, gate: Gate, **kwargs: float) -> list[float]:
    fixes = clean_fixes(tel)
    return [c.t_s for c in crossings(fixes, orient(fixes, gate_xy(gate, fixes.frame)), **kwargs)]


@pytest.mark.parametrize(("rate_hz", "tolerance_s"), [(25, 0.01), (10, 0.02), (5, 0.04)])
def test_estimate_beats_noise(rate_hz, tolerance_s):
    errors = []
    for seed in range(20):
        tel, truth = braking_run(rate_hz, 1.0, seed)
        found = _found(tel, line_gate())
        assert len(found) == 1
        errors.append(found[0] - truth)
    assert max(abs(e) for e in errors) < tolerance_s


def _two_fix_interpolation(tel: Telemetry, truth: float) -> float:
    """The crossing between the two fixes either side of the line, interpolated."""
    fixes = clean_fixes(tel)
    gate = orient(fixes, gate_xy(line_gate(), fixes.frame))
    d = fixes.x_m * gate.nx + fixes.y_m * gate.ny - (gate.ax_m * gate.nx + gate.ay_m * gate.ny)
    steps = np.flatnonzero((d[:-1] < 0.0) & (d[1:] >= 0.0))
    i = steps[np.argmin(np.abs(fixes.t_s[steps] - truth))]
    return float(fixes.t_s[i] + (fixes.t_s[i + 1] - fixes.t_s[i]) * -d[i] / (d[i + 1] - d[i]))


def test_without_speed_the_fit_still_beats_two_point_interpolation():
    fit_errors, linear_errors = [], []
    for seed in range(20):
        tel, truth = braking_run(25, 1.0, seed, with_speed=False)
        found = _found(tel, line_gate())
        assert len(found) == 1
        fit_errors.append(abs(found[0] - truth))
        linear_errors.append(abs(_two_fix_interpolation(tel, truth) - truth))
    assert np.sqrt(np.mean(np.square(fit_errors))) < 0.6 * np.sqrt(
        np.mean(np.square(linear_errors))
    )


def test_only_crossings_in_the_direction_of_travel_count():
    tel, _ = braking_run(10, 0.0, 0)
    fixes = clean_fixes(tel)
    gate = orient(fixes, gate_xy(line_gate(), fixes.frame))
    assert len(crossings(fixes, gate)) == 1
    assert crossings(fixes, gate.reversed()) == []


def test_a_line_the_car_passes_beside_is_not_crossed():
    tel, _ = braking_run(10, 0.0, 0)
    fixes = clean_fixes(tel)
    lat, lon = FRAME.to_latlon([LINE_X_M, LINE_X_M], [10.0, 40.0])  # starts 10 m to the side
    gate = orient(fixes, gate_xy(Gate((lat[0], lon[0]), (lat[1], lon[1])), fixes.frame))
    assert crossings(fixes, gate) == []


# --- Analytic paths: a straight or a circular arc, any motion along it. ---------------


@dataclass(frozen=True)
class Path:
    """A path by arc length s: straight east along y = 0, or (radius_m) a circle turning
    left from the origin, heading east. The line lies across it at s = line_s_m."""

    radius_m: float | None = None
    line_s_m: float = 300.0

    def at(self, s: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """x, y and the bearing of travel (degrees clockwise from north)."""
        if self.radius_m is None:
            return s, np.zeros_like(s), np.full_like(s, 90.0)
        r, phi = self.radius_m, s / self.radius_m
        return r * np.sin(phi), r * (1.0 - np.cos(phi)), np.degrees(np.pi / 2 - phi) % 360.0

    def gate(self, half_m: float = 15.0) -> Gate:
        x, y, bearing = (float(v[0]) for v in self.at(np.array([self.line_s_m])))
        b = math.radians(bearing)
        # Across travel: the direction of travel turned by 90 degrees either way.
        gx, gy = -math.cos(b), math.sin(b)
        lat, lon = FRAME.to_latlon(
            [x - half_m * gx, x + half_m * gx], [y - half_m * gy, y + half_m * gy]
        )
        return Gate((lat[0], lon[0]), (lat[1], lon[1]))


def constant(v0: float, a: float) -> Motion:
    """Constant acceleration from v0; braking ends at rest."""
    stop = -v0 / a if a < 0.0 else math.inf

    def motion(t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        tt = np.minimum(t, stop)
        return v0 * tt + 0.5 * a * tt * tt, v0 + a * tt

    return motion


def kink(v0: float, a: float, t_kink: float) -> Motion:
    """Constant speed until t_kink, then constant acceleration (a pit limiter, then full
    throttle)."""

    def motion(t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        after = np.maximum(t - t_kink, 0.0)
        return v0 * t + 0.5 * a * after * after, v0 + a * after

    return motion


def record(
    path: Path,
    motion: Motion,
    rate_hz: float,
    *,
    after_s: float = 8.0,
    phase: float = 0.37,
    with_speed: bool = True,
    noise_m: float = 0.0,
    seed: int = 0,
) -> tuple[Telemetry, float]:
    """Fixes of `motion` along `path` from t = 0 to `after_s` past the crossing (GNSS
    speed and course exact, or absent), and the true crossing time, found by bisection
    on the motion itself."""
    lo, hi = 0.0, 100.0
    for _ in range(100):
        mid = 0.5 * (lo + hi)
        lo, hi = (mid, hi) if motion(np.array([mid]))[0][0] < path.line_s_m else (lo, mid)
    t = (np.arange(int((lo + after_s) * rate_hz)) + phase) / rate_hz
    s, v = motion(t)
    x, y, bearing = path.at(s)
    rng = np.random.default_rng(seed)
    x = x + rng.normal(0.0, noise_m, t.shape) if noise_m else x
    y = y + rng.normal(0.0, noise_m, t.shape) if noise_m else y
    lat, lon = FRAME.to_latlon(x, y)
    speed, heading = (v, bearing) if with_speed else (None, None)
    return Telemetry.build("test", t, lat, lon, speed_mps=speed, heading_deg=heading), lo


CASES = {
    # name: (path, motion); lines at s = 300 m.
    "braking at 1 g": (Path(), constant(80.0, -9.8)),
    "accelerating at 0.6 g from 17 m/s": (Path(), constant(17.0, 5.9)),
    "pit limiter, then full throttle at the line": (Path(), kink(16.7, 5.9, 300.0 / 16.7)),
    "350 m curve, 55 m/s": (Path(radius_m=350.0), constant(55.0, 0.0)),
    "150 m curve, accelerating at 0.4 g": (Path(radius_m=150.0), constant(25.0, 3.9)),
    "60 m corner, braking at 0.8 g": (Path(radius_m=60.0), constant(30.0, -1.2)),
}


@pytest.mark.parametrize("rate_hz", [25, 10, 5])
@pytest.mark.parametrize("name", CASES)
def test_noiseless_paths_are_timed_to_a_millisecond(name: str, rate_hz: int) -> None:
    path, motion = CASES[name]
    tel, truth = record(path, motion, rate_hz)
    found = _found(tel, path.gate())
    assert len(found) == 1
    assert abs(found[0] - truth) < 1e-3, f"{(found[0] - truth) * 1000:.2f} ms"


@pytest.mark.parametrize("rate_hz", [25, 10, 5])
@pytest.mark.parametrize(
    "name", ["braking at 1 g", "accelerating at 0.6 g from 17 m/s", "350 m curve, 55 m/s"]
)
def test_noiseless_paths_without_a_speed_channel_are_timed_to_a_millisecond(
    name: str, rate_hz: int
) -> None:
    path, motion = CASES[name]
    tel, truth = record(path, motion, rate_hz, with_speed=False)
    found = _found(tel, path.gate())
    assert len(found) == 1
    assert abs(found[0] - truth) < 1e-3, f"{(found[0] - truth) * 1000:.2f} ms"


def test_a_line_before_a_hairpin_is_timed_through_the_turn() -> None:
    # An 8 m hairpin right after the line: within the window the car turns back
    # towards the line, so its distance from the line shrinks again. The model follows
    # it (the cosine is signed), and the path's way back, 16 m away, is not a crossing
    # of this line.
    path = Path(radius_m=8.0, line_s_m=2.0)
    tel, truth = record(path, constant(12.0, 0.0), 10, after_s=2.0)
    found = _found(tel, path.gate(half_m=6.0))
    assert len(found) == 1
    assert abs(found[0] - truth) < 1e-3


def test_a_glitching_course_channel_does_not_move_the_crossing() -> None:
    # Some loggers' headings swing by -36 and then +144 degrees for two samples, every
    # few seconds. Each such pair, integrated, would shift the model by 1.4 m from there
    # on (here 0.4 s after the line); with 1 m of GNSS noise nothing tells that shift
    # from noise, and the crossing would move by a third of it (20 ms).
    path, motion = Path(), constant(23.0, 0.5)
    errors = []
    for seed in range(12):
        tel, truth = record(path, motion, 20, noise_m=1.0, seed=seed, phase=seed / 12)
        heading = tel.heading_deg.copy()
        for after_s in (-2.3, 0.4):
            at = int(np.searchsorted(tel.t_s, truth + after_s))
            heading[at] -= 36.0
            heading[at + 1] += 144.0
        glitched = Telemetry.build(
            "test", tel.t_s, tel.lat_deg, tel.lon_deg, speed_mps=tel.speed_mps, heading_deg=heading
        )
        found = _found(glitched, path.gate())
        assert len(found) == 1
        errors.append(found[0] - truth)
    assert abs(float(np.mean(errors))) < 0.003, f"mean {np.mean(errors) * 1000:.1f} ms"


def test_a_launch_near_the_line_ignores_the_speed_of_a_car_at_rest() -> None:
    # Standing 10 s, 1.5 m before the line: at rest a GNSS speed is noise folded to
    # positive values (here 0.1 m/s), which integrated would move the crossing.
    path = Path(line_s_m=1.5)

    def launch(t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        moving = np.maximum(t - 10.0, 0.0)
        return 2.5 * moving * moving, 5.0 * moving

    tel, truth = record(path, launch, 25)
    at_rest = tel.speed_mps < 0.05
    speed = np.where(at_rest, 0.1, tel.speed_mps)
    noisy = Telemetry.build(
        "test", tel.t_s, tel.lat_deg, tel.lon_deg, speed_mps=speed, heading_deg=tel.heading_deg
    )
    found = _found(noisy, path.gate())
    assert len(found) == 1
    assert abs(found[0] - truth) < 5e-4


def test_a_slow_crossing_averages_as_many_metres_as_it_needs() -> None:
    # A pit exit at 60 km/h, 1.5 m of noise per axis, 20 Hz: a fixed 1.5 s window times
    # it to about 12 ms (1.5 m over sqrt(60 fixes), at 16.7 m/s); the estimator widens
    # its window until the noise averages down to a few milliseconds.
    path = Path()
    errors = []
    for seed in range(24):
        tel, truth = record(
            path, kink(16.7, 5.0, 300.0 / 16.7), 20, noise_m=1.5, seed=seed, phase=seed / 24
        )
        found = _found(tel, path.gate())
        assert len(found) == 1
        errors.append(found[0] - truth)
    rms = float(np.sqrt(np.mean(np.square(errors))))
    assert rms < 0.007, f"rms {rms * 1000:.1f} ms"
    assert abs(float(np.mean(errors))) < 0.004


def test_noise_that_jitters_across_the_line_makes_one_crossing_in_the_right_step() -> None:
    # At 5 m/s and 25 Hz, with 1.5 m of noise, the fixes cross the line back and forth
    # for half a second: one crossing, and its index is the step that holds its time.
    path = Path(line_s_m=60.0)
    for seed in range(10):
        tel, truth = record(path, constant(5.0, 0.0), 25, noise_m=1.5, seed=seed)
        fixes = clean_fixes(tel)
        found = crossings(fixes, orient(fixes, gate_xy(path.gate(), fixes.frame)))
        assert len(found) == 1
        c = found[0]
        assert fixes.t_s[c.index] <= c.t_s <= fixes.t_s[c.index + 1]
        assert abs(c.t_s - truth) < 0.1


# --- The compiled loop against the model written plainly. ----------------------------


def _root_in_step(g0: float, r0: float, r1: float, h: float) -> float:
    """The smallest s in [0, h] where g0 + r0 s + (r1 - r0) s^2 / (2 h) = 0."""
    roots = np.roots([(r1 - r0) / (2.0 * h), r0, g0]) if r1 != r0 else np.array([-g0 / r0])
    real = sorted(float(r.real) for r in np.atleast_1d(roots) if abs(r.imag) < 1e-12)
    inside = [r for r in real if -1e-12 <= r <= h * (1 + 1e-12)]
    return inside[0] if inside else h * -g0 / (0.5 * (r0 + r1) * h)


def passes_by_the_book(
    t,
    x,
    y,
    nx,
    ny,
    offset_m,
    speed,
    course_deg,
    gap_after,
    first,
    last,
    centre_s,
    half,
    max_half,
    normal_deg,
    precision_s,
    stop_mps,
):
    """Each pass's crossing time, written plainly from crossings.py's description with
    NumPy's median, to check the compiled loop (its medians, window and roots)."""
    n = len(t)
    normal = math.radians(normal_deg)

    def window(h: int) -> tuple[int, int]:
        lo = max(0, f - h)
        for k in range(f - 1, lo - 1, -1):
            if gap_after[k] or speed[k] < stop_mps:
                lo = k + 1
                break
        hi = min(n, la + 2 + h)
        for k in range(la + 1, hi - 1):
            if gap_after[k]:
                hi = k + 1
                break
        for k in range(la + 2, hi):
            if speed[k] < stop_mps:
                hi = k
                break
        return lo, hi

    def fit(lo: int, hi: int):  # type: ignore[no-untyped-def]
        raw = speed[lo:hi] * np.array(
            [math.cos(math.radians(c) - normal) for c in course_deg[lo:hi]]
        )
        m = hi - lo
        rate = raw.copy()
        for k in range(m):
            reach = 2 if 2 <= k < m - 2 else 1 if 1 <= k < m - 1 else 0
            if reach:
                middle = float(np.median(raw[k - reach : k + reach + 1]))
                if abs(raw[k] - middle) > 0.1 * speed[lo + k] + 0.5:
                    rate[k] = middle
        moved = np.concatenate(([0.0], np.cumsum(0.5 * (rate[1:] + rate[:-1]) * np.diff(t[lo:hi]))))
        residual = x[lo:hi] * nx + y[lo:hi] * ny - offset_m - moved
        median = np.median(residual)
        spread = 1.4826 * np.median(np.abs(residual - median))
        step = np.diff(residual)
        white = 1.4826 / math.sqrt(2.0) * np.median(np.abs(step - np.median(step)))
        keep = residual[np.abs(residual - median) <= 3.0 * spread + 0.5]
        c = math.fsum(keep) / len(keep) if len(keep) >= 4 else math.nan
        return c, white, rate, moved

    out = []
    for f, la, centre in zip(first, last, centre_s, strict=True):
        lo, hi = window(half)
        if hi - lo < 4:
            out.append(math.nan)
            continue
        c, white, rate, moved = fit(lo, hi)
        if math.isnan(c):
            out.append(math.nan)
            continue
        along = np.mean(
            [speed[k] * math.cos(math.radians(course_deg[k]) - normal) for k in range(f, la + 2)]
        )
        if along > 0.0:
            need_half = math.ceil(0.5 * (white / (precision_s * along)) ** 2)
            if need_half > half:
                lo2, hi2 = window(min(need_half, max_half))
                if hi2 - lo2 > hi - lo:
                    lo, hi = lo2, hi2
                    c, white, rate, moved = fit(lo, hi)
        g = moved + c
        rises = [k for k in range(hi - lo - 1) if g[k] < 0.0 <= g[k + 1]]
        if not rises:
            out.append(math.nan)
            continue
        tt = t[lo:hi]
        when = [tt[k] + (tt[k + 1] - tt[k]) * -g[k] / (g[k + 1] - g[k]) for k in rises]
        k = rises[int(np.argmin(np.abs(np.array(when) - centre)))]
        out.append(tt[k] + _root_in_step(g[k], rate[k], rate[k + 1], tt[k + 1] - tt[k]))
    return np.array(out)


@settings(max_examples=60, deadline=None)
@given(
    n=st.integers(6, 200),
    half=st.integers(2, 20),
    max_half=st.integers(2, 60),
    seed=st.integers(0, 2**16),
    noise_m=st.sampled_from([0.0, 0.3, 2.0]),
)
def test_estimate_passes_matches_the_model(n, half, max_half, seed, noise_m):
    rng = np.random.default_rng(seed)
    t = np.cumsum(rng.uniform(0.02, 0.2, n))
    speed = np.abs(rng.normal(20.0, 8.0, n))
    speed[rng.random(n) < 0.05] = 0.3  # a stop, now and then
    course = rng.normal(0.0, 20.0, n)
    course[rng.random(n) < 0.05] += 150.0  # a glitch, now and then
    y = np.cumsum(speed * np.gradient(t)) + rng.normal(0.0, noise_m, n)
    y -= y[n // 2]
    x = rng.normal(0.0, 1.0, n)
    gap_after = rng.random(n) < 0.03
    first = np.sort(rng.choice(n - 1, size=min(4, n - 1), replace=False)).astype(np.intp)
    last = np.minimum(first + rng.integers(0, 3, first.shape[0]), n - 2).astype(np.intp)
    centre = t[first] + rng.uniform(0.0, 0.1, first.shape[0])
    args = (
        t,
        x,
        y,
        0.0,
        1.0,
        0.0,
        speed,
        course,
        gap_after,
        first,
        last,
        centre,
        half,
        max_half,
        0.0,
        0.003,
        1.0,
    )
    np.testing.assert_allclose(estimate_passes(*args), passes_by_the_book(*args), rtol=0, atol=1e-9)


@pytest.mark.parametrize("rate_hz", [10, 20, 25])
def test_lap_times_do_not_depend_on_where_the_file_starts(rate_hz: int) -> None:
    """The same driving on a clock that starts elsewhere (a lap exported alone, a
    logger whose clock runs from power-on): the same lap times. At 10 and 20 Hz the
    estimation window's length in fixes once depended on float noise in the median
    period, and moved lap times by a millisecond."""
    from racesense.analysis.pipeline import analyse
    from racesense.analysis.track import Gate, Track
    from racesense.ingest import read_telemetry
    from racesense.synth import demo_circuit, make_session, to_rscore_csv

    session = make_session(demo_circuit(), rate_hz=rate_hz, laps=3, seed=21)
    track = Track("t", start_finish=Gate(*session.start_finish.endpoints_deg))
    lines = to_rscore_csv(session.telemetry).decode().splitlines()
    first = next(k for k, line in enumerate(lines) if line[:1].isdigit())
    times = []
    for offset_ms in (0, 3_600_007, 86_399_123, 123_456_789):
        shifted = lines[:first] + [
            f"{int(line.split(',', 1)[0]) + offset_ms},{line.split(',', 1)[1]}"
            for line in lines[first:]
        ]
        laps = analyse(read_telemetry("\n".join(shifted).encode()), track=track).laps
        times.append([lap.time_s for lap in laps if lap.complete])
    for other in times[1:]:
        assert other == pytest.approx(times[0], abs=1e-4)
