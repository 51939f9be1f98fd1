import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from racesense.analysis.kernels import lttb, lttb_ranges


def test_short_series_are_kept_whole():
    x = np.arange(10.0)
    assert lttb(x, x, 2000).tolist() == list(range(10))


def test_keeps_ends_and_the_peaks():
    x = np.arange(10000.0)
    y = np.sin(x / 500.0)
    y[3333] = 50.0  # a spike that plain decimation would miss
    y[7777] = -50.0
    keep = lttb(x, y, 2000)
    assert len(keep) <= 2000
    assert keep[0] == 0 and keep[-1] == 9999
    assert 3333 in keep and 7777 in keep
    assert np.all(np.diff(keep) > 0)


@given(n=st.integers(3, 5000), threshold=st.integers(3, 3000))
def test_never_more_than_asked_and_strictly_increasing(n, threshold):
    x = np.arange(n, dtype=float)
    y = np.cos(x)
    keep = lttb(x, y, threshold)
    assert len(keep) <= max(threshold, 3)
    assert keep[0] == 0 and keep[-1] == n - 1
    assert np.all(np.diff(keep) > 0)


def lttb_by_the_book(x: np.ndarray, y: np.ndarray, threshold: int) -> list[int]:
    """Largest-Triangle-Three-Buckets written plainly from its description, to check the
    compiled one (and its shortcuts) against."""
    n = len(x)
    if threshold >= n or n <= 2:
        return list(range(n))
    threshold = max(threshold, 3)
    every = (n - 2) / (threshold - 2)
    chosen, a = [0], 0
    for b in range(threshold - 2):
        lo, hi = int(b * every) + 1, int((b + 1) * every) + 1
        nlo, nhi = hi, min(int((b + 2) * every) + 1, n)
        cx, cy = (x[n - 1], y[n - 1]) if nlo >= nhi else (x[nlo:nhi].mean(), y[nlo:nhi].mean())
        areas = [
            abs((x[a] - cx) * (y[j] - y[a]) - (x[a] - x[j]) * (cy - y[a])) for j in range(lo, hi)
        ]
        a = lo + int(np.argmax(areas))
        chosen.append(a)
    return [*chosen, n - 1]


@given(
    n=st.integers(3, 400),
    extra=st.floats(0.0, 3.0),
    seed=st.integers(0, 2**16),
)
def test_matches_lttb_by_the_book(n, extra, seed):
    # Thresholds from just below n (buckets of one point, the compiled shortcut) to a
    # quarter of it.
    rng = np.random.default_rng(seed)
    x = np.cumsum(rng.uniform(0.01, 1.0, n))
    y = rng.normal(0.0, 1.0, n)
    threshold = max(3, int(n / (1.0 + extra)))
    assert lttb(x, y, threshold).tolist() == lttb_by_the_book(x, y, threshold)


@given(bounds=st.lists(st.integers(1, 3000), min_size=1, max_size=6), threshold=st.integers(3, 500))
def test_ranges_are_each_downsampled_on_their_own(bounds, threshold):
    edges = np.concatenate(([0], np.cumsum(bounds)))
    x = np.arange(float(edges[-1]))
    y = np.sin(x / 7.0)
    starts, ends = edges[:-1].astype(np.intp), edges[1:].astype(np.intp)
    keep, offsets = lttb_ranges(x, y, starts, ends, threshold)
    for k in range(len(bounds)):
        part = keep[offsets[k] : offsets[k + 1]]
        expected = lttb(x[starts[k] : ends[k]], y[starts[k] : ends[k]], threshold) + starts[k]
        assert part.tolist() == expected.tolist()


def test_two_threads_trace_a_long_session_exactly_as_one_does(monkeypatch):
    # A session long enough to be split in two halves traced on two threads must give
    # the same traces, bit for bit, as tracing every lap in one pass.
    import threading

    from racesense.analysis import traces
    from racesense.analysis.pipeline import analyse
    from racesense.demo import demo_track
    from racesense.synth import demo_circuit, make_session

    started: list[str] = []

    class CountedThread(threading.Thread):
        def start(self) -> None:
            started.append(self.name)
            super().start()

    monkeypatch.setattr(traces.threading, "Thread", CountedThread)
    monkeypatch.setattr(traces.os, "cpu_count", lambda: 2)
    session = make_session(demo_circuit(), rate_hz=25.0, laps=12, seed=3)
    two_threads = analyse(session.telemetry, tracks=[demo_track()])
    assert started == ["racesense-traces"]
    assert len(two_threads.traces) >= 12

    monkeypatch.setattr(traces, "_PARALLEL_MIN_FIXES", 10**12)
    one_thread = analyse(session.telemetry, tracks=[demo_track()])
    assert started == ["racesense-traces"]  # no second start
    assert [t.number for t in two_threads.traces] == [t.number for t in one_thread.traces]
    for two, one in zip(two_threads.traces, one_thread.traces, strict=True):
        for name in ("t_s", "distance_m", "speed_kmh", "lat_deg", "lon_deg", "g_lat", "delta_s"):
            np.testing.assert_array_equal(getattr(two, name), getattr(one, name), err_msg=name)
