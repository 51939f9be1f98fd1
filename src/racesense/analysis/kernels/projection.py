"""Compiled projection of each lap's fixes onto the reference lap's path, and delta-T
(delta.py describes the method). Releases the GIL, so two threads can share a
session's laps (traces.py).
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
from numba import njit

from racesense.analysis.telemetry import FloatArray


@njit(cache=True, error_model="numpy", nogil=True)
def project_and_delta(
    ref_x: FloatArray,
    ref_y: FloatArray,
    ref_tx: FloatArray,
    ref_ty: FloatArray,
    ref_t: FloatArray,
    step_m: float,
    x: FloatArray,
    y: FloatArray,
    guess_m: FloatArray,
    elapsed_s: FloatArray,
    newton_steps: int,
    max_step_m: float,
    smooth_half: int,
) -> tuple[FloatArray, FloatArray]:
    """(position along the reference, delta-T) of each point of one lap.

    Newton steps along the local tangent from `guess_m` (each capped at `max_step_m`),
    then a centred moving average over 2*smooth_half+1 points (shrinking symmetrically
    at the ends), then a running maximum (cars do not go backwards), then delta-T
    against the reference's time at that position.
    """
    n = x.shape[0]
    n_ref = ref_x.shape[0]
    length = step_m * (n_ref - 1)
    per_m = 1.0 / step_m
    raw = np.empty(n)
    for i in range(n):
        raw[i] = min(max(guess_m[i], 0.0), length)
    # One pass per Newton step rather than every step of a point in turn: a step
    # depends on the last one (position -> grid cell -> load), and in separate passes
    # the processor overlaps that chain across many points. 40% faster, same result.
    for _ in range(newton_steps):
        for i in range(n):
            pos = raw[i]
            cell = min(int(pos * per_m), n_ref - 2)
            u = pos * per_m - cell
            px = ref_x[cell] + u * (ref_x[cell + 1] - ref_x[cell])
            py = ref_y[cell] + u * (ref_y[cell + 1] - ref_y[cell])
            k = cell + 1 if u > 0.5 else cell
            move = (x[i] - px) * ref_tx[k] + (y[i] - py) * ref_ty[k]
            move = min(max(move, -max_step_m), max_step_m)
            raw[i] = min(max(pos + move, 0.0), length)
    prefix = np.empty(n + 1)
    prefix[0] = 0.0
    for i in range(n):
        prefix[i + 1] = prefix[i] + raw[i]
    pos_out = np.empty(n)
    delta = np.empty(n)
    running = -1.0
    for i in range(n):
        reach = min(smooth_half, i, n - 1 - i)
        p = (prefix[i + reach + 1] - prefix[i - reach]) / (2 * reach + 1)
        running = max(running, p)
        pos_out[i] = running
        cell = min(int(running * per_m), n_ref - 2)
        u = running * per_m - cell
        delta[i] = elapsed_s[i] - (ref_t[cell] + u * (ref_t[cell + 1] - ref_t[cell]))
    return pos_out, delta


@njit(cache=True, error_model="numpy", nogil=True)
def project_and_delta_ranges(
    ref_x: FloatArray,
    ref_y: FloatArray,
    ref_tx: FloatArray,
    ref_ty: FloatArray,
    ref_t: FloatArray,
    step_m: float,
    x: FloatArray,
    y: FloatArray,
    dist_m: FloatArray,
    t: FloatArray,
    starts: npt.NDArray[np.intp],
    ends: npt.NDArray[np.intp],
    start_times_s: FloatArray,
    newton_steps: int,
    max_step_m: float,
    smooth_half: int,
    pos_out: FloatArray,
    delta_out: FloatArray,
) -> None:
    """`project_and_delta` for each lap [starts[k], ends[k]) in one call, writing into
    pos_out and delta_out. Each lap's first guess is its own distance scaled to the
    reference length."""
    length = step_m * (ref_x.shape[0] - 1)
    for k in range(starts.shape[0]):
        lo, hi = starts[k], ends[k]
        if hi <= lo:
            continue
        lap_len = dist_m[hi - 1] - dist_m[lo]
        scale = length / lap_len if lap_len > 0 else 1.0
        guess = (dist_m[lo:hi] - dist_m[lo]) * scale
        elapsed = t[lo:hi] - start_times_s[k]
        pos, delta = project_and_delta(
            ref_x,
            ref_y,
            ref_tx,
            ref_ty,
            ref_t,
            step_m,
            x[lo:hi],
            y[lo:hi],
            guess,
            elapsed,
            newton_steps,
            max_step_m,
            smooth_half,
        )
        pos_out[lo:hi] = pos
        delta_out[lo:hi] = delta
