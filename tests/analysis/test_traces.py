import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from racesense.analysis.traces import largest_triangle


def test_short_series_are_kept_whole():
    x = np.arange(10.0)
    assert largest_triangle(x, x, 2000).tolist() == list(range(10))


def test_keeps_ends_and_the_peaks():
    x = np.arange(10000.0)
    y = np.sin(x / 500.0)
    y[3333] = 50.0  # a spike that plain decimation would miss
    y[7777] = -50.0
    keep = largest_triangle(x, y, 2000)
    assert len(keep) <= 2000
    assert keep[0] == 0 and keep[-1] == 9999
    assert 3333 in keep and 7777 in keep
    assert np.all(np.diff(keep) > 0)


@given(n=st.integers(3, 5000), threshold=st.integers(3, 3000))
def test_never_more_than_asked_and_strictly_increasing(n, threshold):
    x = np.arange(n, dtype=float)
    y = np.cos(x)
    keep = largest_triangle(x, y, threshold)
    assert len(keep) <= max(threshold, 3)
    assert keep[0] == 0 and keep[-1] == n - 1
    assert np.all(np.diff(keep) > 0)
