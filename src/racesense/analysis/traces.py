"""Per-lap traces for the UI, downsampled to keep their shape.

A phone draws 2,000 points per lap without effort; a 25 Hz lap of three minutes has
4,500. Downsampling by "largest triangle" (Largest-Triangle-Three-Buckets, in
kernels.lttb) keeps the peaks and troughs of the speed trace, the braking points and
apexes a driver looks for, that plain decimation drops.
"""

from __future__ import annotations

import numpy as np

from racesense.analysis import kernels
from racesense.analysis.clean import Fixes
from racesense.analysis.delta import ReferencePath, delta_for_laps
from racesense.analysis.laps import LapSpan
from racesense.analysis.results import LapTrace
from racesense.analysis.telemetry import STANDARD_GRAVITY_MPS2

MAX_TRACE_POINTS = 2000
MPS_TO_KMH = 3.6


def lap_traces(
    fixes: Fixes, spans: list[LapSpan], ref: ReferencePath | None, t0: float
) -> tuple[LapTrace, ...]:
    """Every lap's trace. Delta-T for complete laps; positions along the reference for
    the out-lap too (by the distance it still had to go); points chosen for all laps in
    one pass, then every channel gathered once and sliced per lap."""
    spans = [s for s in spans if s.end_index > s.start_index]
    if not spans:
        return ()
    n = len(fixes)
    pos = np.full(n, np.nan)  # every lap fills its own part below
    delta = np.full(n, np.nan)  # NaN where a lap is not complete
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
    t_s, pos_k, speed_k = fixes.t_s[keep], pos[keep], fixes.speed_mps[keep] * MPS_TO_KMH
    lat, lon, delta_k = fixes.lat_deg[keep], fixes.lon_deg[keep], delta[keep]
    g_lat = fixes.accel_lat_mps2[keep] / STANDARD_GRAVITY_MPS2
    g_lon = fixes.accel_lon_mps2[keep] / STANDARD_GRAVITY_MPS2
    g_source = "imu" if fixes.accel_from_imu else "gps"
    traces = []
    for k, span in enumerate(spans):
        a, b = int(offsets[k]), int(offsets[k + 1])
        traces.append(
            LapTrace(
                number=span.number,
                t_s=t_s[a:b] - (span.start_s + t0),
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
