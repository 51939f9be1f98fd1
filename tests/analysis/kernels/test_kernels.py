"""The compiled kernels (Cython) where C's semantics differ from Python's or NumPy's:
the median of a crossing's window, float modulo, division by zero, and the arrays they
accept. The analysis tests cover the rest through the pipeline."""

import math

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from racesense.analysis import kernels


def estimate_by_the_book(
    t, x, y, nx, ny, offset_m, speed, course_deg, gap_after, i, half, normal_deg
):
    """One crossing's time, written plainly from crossings.py's description with NumPy's
    median, to check the compiled loop (and its quickselect) against."""
    n = len(t)
    lo = max(0, i - half)
    for k in range(i - 1, lo - 1, -1):
        if gap_after[k]:
            lo = k + 1
            break
    hi = min(n, i + 2 + half)
    for k in range(i + 1, hi - 1):
        if gap_after[k]:
            hi = k + 1
            break
    if hi - lo < 4:
        return np.nan
    w = slice(lo, hi)
    # math.cos is the C library's cos, as in the kernel (NumPy's may differ in the last bit).
    normal = math.radians(normal_deg)
    cosines = [math.cos(math.radians(c) - normal) for c in course_deg[w]]
    rate = speed[w] * np.maximum(cosines, 0.0)
    moved = np.concatenate(([0.0], np.cumsum(0.5 * (rate[1:] + rate[:-1]) * np.diff(t[w]))))
    residual = x[w] * nx + y[w] * ny - offset_m - moved
    median = np.median(residual)
    spread = np.median(np.abs(residual - median)) * 1.4826
    keep = residual[np.abs(residual - median) <= 3.0 * spread + 0.5]
    if len(keep) < 4:
        return np.nan
    target = -math.fsum(keep) / len(keep)
    for k in range(1, hi - lo):
        if moved[k] >= target:
            if moved[k] > moved[k - 1] and moved[k - 1] <= target:
                f = (target - moved[k - 1]) / (moved[k] - moved[k - 1])
                return t[lo + k - 1] + f * (t[lo + k] - t[lo + k - 1])
            return np.nan
    return np.nan


@given(
    n=st.integers(4, 120),
    half=st.integers(2, 30),
    seed=st.integers(0, 2**16),
    quantised=st.booleans(),
)
def test_estimate_crossings_matches_the_model_with_numpys_median(n, half, seed, quantised):
    # Windows of odd and even length, and (quantised) many equal residuals: the cases a
    # hand-written median gets wrong.
    rng = np.random.default_rng(seed)
    t = np.cumsum(rng.uniform(0.02, 0.06, n))
    speed = rng.uniform(5.0, 50.0, n)
    course = rng.uniform(-30.0, 30.0, n)
    x = rng.normal(0.0, 2.0, n)
    y = np.cumsum(speed * 0.04) - 10.0 + rng.normal(0.0, 1.0, n)
    if quantised:
        x, y, speed, course = np.round(x), np.round(y), np.round(speed), np.round(course, -1)
    gap_after = rng.random(n) < 0.05
    idx = np.sort(rng.choice(n - 1, size=min(5, n - 1), replace=False)).astype(np.intp)
    got = kernels.estimate_crossings(
        t, x, y, 0.0, 1.0, 0.0, speed, course, gap_after, idx, half, 0.0
    )
    expected = [
        estimate_by_the_book(t, x, y, 0.0, 1.0, 0.0, speed, course, gap_after, i, half, 0.0)
        for i in idx
    ]
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-12)


def test_a_nan_in_the_window_gives_no_estimate():
    # NumPy's median of values with a NaN is NaN: the model cannot say, and crossings.py
    # falls back to interpolation.
    n = 40
    t = np.arange(n) * 0.04
    y = np.linspace(-5.0, 5.0, n)
    speed = np.full(n, 10.0)
    course = np.zeros(n)
    course[18] = np.nan
    idx = np.array([19], dtype=np.intp)
    clean = kernels.estimate_crossings(
        t, np.zeros(n), y, 0.0, 1.0, 0.0, speed, np.zeros(n), np.zeros(n, bool), idx, 5, 0.0
    )
    assert np.isfinite(clean[0])
    out = kernels.estimate_crossings(
        t, np.zeros(n), y, 0.0, 1.0, 0.0, speed, course, np.zeros(n, bool), idx, 5, 0.0
    )
    assert np.isnan(out[0])


def test_float_modulo_is_pythons():
    # C's fmod keeps the dividend's sign (-10 -> -10); Python's % gives 350.
    heading = np.array([-10.0, -360.0, 360.0, 720.5, 359.5, -0.0, np.nan])
    course, derive = kernels.course_from_gnss(heading, np.full(7, 30.0), 2.0)
    expected = [h % 360.0 for h in heading]
    np.testing.assert_array_equal(course, expected)
    assert not np.signbit(course[:5]).any()  # 0.0, not -0.0
    assert derive.tolist() == [6]

    lon = np.array([179.9, -179.9, 180.0, -180.0])
    x, _ = kernels.local_xy(np.zeros(4), lon, 0.0, 179.95, 1.0, 1.0)
    np.testing.assert_array_equal(x, [(v - 179.95 + 180.0) % 360.0 - 180.0 for v in lon])


def test_division_by_zero_gives_nan_not_an_error():
    # A line of no length: its direction is 0/0, so no step crosses between its ends.
    x = np.array([0.0, 0.0])
    y = np.array([-1.0, 1.0])
    idx, frac = kernels.line_steps(x, y, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0, 2.0, True)
    assert idx.shape == (0,) and frac.shape == (0,)


def test_read_only_strided_and_broadcast_arrays_are_read():
    # pyarrow's columns are read-only, a column of a 2-D block is strided, a broadcast
    # scalar has stride 0: each gives the result of a contiguous copy.
    rng = np.random.default_rng(0)
    block = rng.normal(0.0, 1.0, (500, 3))
    column = block[:, 1]
    frozen = column.copy()
    frozen.flags.writeable = False
    flat = np.broadcast_to(np.float64(2.0), (500,))
    x = np.cumsum(rng.uniform(0.1, 1.0, 500))
    for values in (column, frozen, flat):
        copy = np.ascontiguousarray(values)
        assert kernels.nearest_sq_m2(values, values, 0.5, 0.5) == kernels.nearest_sq_m2(
            copy, copy, 0.5, 0.5
        )
        np.testing.assert_array_equal(kernels.lttb(x, values, 50), kernels.lttb(x, copy, 50))
        np.testing.assert_array_equal(
            kernels.local_xy(values, values, 0.0, 0.0, 2.0, 3.0),
            kernels.local_xy(copy, copy, 0.0, 0.0, 2.0, 3.0),
        )
