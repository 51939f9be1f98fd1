"""Per-lap traces for the UI, downsampled to keep their shape.

A phone draws 2,000 points per lap without effort; a 25 Hz lap of three minutes has
4,500. Downsampling by "largest triangle" (Largest-Triangle-Three-Buckets, in
kernels.lttb) keeps the peaks and troughs of the speed trace, the braking points and
apexes a driver looks for, that plain decimation drops.
"""

from __future__ import annotations

import os
import threading

import numpy as np

from racesense.analysis import kernels
from racesense.analysis.clean import Fixes
from racesense.analysis.delta import ReferencePath, delta_for_laps
from racesense.analysis.laps import LapSpan
from racesense.analysis.results import GSource, LapTrace
from racesense.analysis.telemetry import STANDARD_GRAVITY_MPS2, FloatArray

MAX_TRACE_POINTS = 2000
MPS_TO_KMH = 3.6


# Below this many fixes, a second thread costs more than it saves.
_PARALLEL_MIN_FIXES = 20_000


def lap_traces(
    fixes: Fixes, spans: list[LapSpan], ref: ReferencePath | None, t0: float
) -> tuple[LapTrace, ...]:
    """Every lap's trace. Delta-T for complete laps; positions along the reference for
    the out-lap too (by the distance it still had to go).

    Laps are independent and their compiled loops release the GIL, so a long session's
    laps are split in two halves of about equal fixes, the first half traced in a
    second thread while this one traces the second: the pit laptop has the cores.
    """
    spans = [s for s in spans if s.end_index > s.start_index]
    if not spans:
        return ()
    n = len(fixes)
    pos = np.full(n, np.nan)  # every lap fills its own part
    delta = np.full(n, np.nan)  # NaN where a lap is not complete
    cut = _halfway(spans) if n >= _PARALLEL_MIN_FIXES and (os.cpu_count() or 1) > 1 else 0
    if cut == 0:
        return _traces(fixes, spans, ref, t0, pos, delta)
    first: list[tuple[LapTrace, ...]] = []
    failure: list[BaseException] = []

    def trace_first_half() -> None:
        try:
            first.append(_traces(fixes, spans[:cut], ref, t0, pos, delta))
        except BaseException as exc:  # re-raised in the caller's thread
            failure.append(exc)

    helper = threading.Thread(target=trace_first_half, name="racesense-traces")
    helper.start()
    try:
        second = _traces(fixes, spans[cut:], ref, t0, pos, delta)
    finally:
        helper.join()
    if failure:
        raise failure[0]
    return first[0] + second


def _halfway(spans: list[LapSpan]) -> int:
    """The index that splits `spans` into two runs of about equal fixes (0: no split)."""
    sizes = np.array([s.end_index - s.start_index for s in spans])
    cut = int(np.searchsorted(np.cumsum(sizes), sizes.sum() / 2.0))
    return cut if 0 < cut < len(spans) else 0


def _traces(
    fixes: Fixes,
    spans: list[LapSpan],
    ref: ReferencePath | None,
    t0: float,
    pos: FloatArray,
    delta: FloatArray,
) -> tuple[LapTrace, ...]:
    """The traces of `spans`, writing their parts of `pos` and `delta` (indexed like
    `fixes`): positions and deltas first, then the points each lap keeps, then every
    channel gathered at once and sliced per lap."""
    complete = [s for s in spans if s.complete]
    if ref is not None and complete:
        delta_for_laps(ref, fixes, complete, t0, pos, delta)
    for span in spans:
        if ref is not None and span.complete:
            continue
        lo, hi = span.start_index, span.end_index
        own = fixes.dist_m[lo:hi] - fixes.dist_m[lo]
        if ref is not None and span.kind == "out":
            pos[lo:hi] = np.maximum(ref.length_m - (own[-1] - own), 0.0)
        else:
            pos[lo:hi] = own
    starts = np.array([s.start_index for s in spans], dtype=np.intp)
    ends = np.array([s.end_index for s in spans], dtype=np.intp)
    # Elapsed time differs from t_s by a constant per lap, and km/h from m/s by a
    # factor: the same points have the largest triangles either way.
    keep, offsets = kernels.lttb_ranges(fixes.t_s, fixes.speed_mps, starts, ends, MAX_TRACE_POINTS)
    columns = (
        fixes.t_s,
        pos,
        fixes.speed_mps,
        fixes.lat_deg,
        fixes.lon_deg,
        fixes.accel_lat_mps2,
        fixes.accel_lon_mps2,
        delta,
    )
    # One block for every channel's kept points: one allocation, not one per channel.
    rows = np.empty((len(columns), keep.shape[0]))
    for column, row in zip(columns, rows, strict=True):
        np.take(column, keep, out=row)
    t_s, pos_k, speed_k, lat, lon, g_lat, g_lon, delta_k = rows
    speed_k *= MPS_TO_KMH
    g_lat /= STANDARD_GRAVITY_MPS2
    g_lon /= STANDARD_GRAVITY_MPS2
    g_source: GSource = "imu" if fixes.accel_from_imu else "gps"
    traces = []
    for k, span in enumerate(spans):
        a, b = int(offsets[k]), int(offsets[k + 1])
        elapsed = t_s[a:b]
        elapsed -= span.start_s + t0
        traces.append(
            LapTrace(
                number=span.number,
                t_s=elapsed,
                distance_m=pos_k[a:b],
                speed_kmh=speed_k[a:b],
                lat_deg=lat[a:b],
                lon_deg=lon[a:b],
                g_lat=g_lat[a:b],
                g_lon=g_lon[a:b],
                delta_s=delta_k[a:b],
                g_source=g_source,
            )
        )
    return tuple(traces)
