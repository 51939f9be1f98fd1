# cython: language_level=3, boundscheck=False, wraparound=False, initializedcheck=False
# cython: cdivision=True
"""Compiled projection of each lap's fixes onto the reference lap's path, and delta-T
(delta.py describes the method). The loops run without the GIL, so two threads can
share a session's laps (traces.py).
"""

import numpy as np


cdef void _project_lap(
    const double[:] ref_x,
    const double[:] ref_y,
    const double[:] ref_tx,
    const double[:] ref_ty,
    const double[:] ref_t,
    double step_m,
    const double[:] x,
    const double[:] y,
    double[:] raw,
    double[:] prefix,
    const double[:] elapsed_from,
    double elapsed_base,
    Py_ssize_t newton_steps,
    double max_step_m,
    Py_ssize_t smooth_half,
    double[:] pos_out,
    double[:] delta_out,
) noexcept nogil:
    # One lap, as project_and_delta describes: raw holds the first guesses on entry
    # (and is scratch, like prefix, which has one more element); a point's elapsed time
    # is elapsed_from[i] - elapsed_base. pos_out and delta_out are the lap's own.
    cdef Py_ssize_t n = x.shape[0], n_ref = ref_x.shape[0]
    cdef double length = step_m * (n_ref - 1)
    cdef double per_m = 1.0 / step_m
    cdef Py_ssize_t i, step, cell, k, reach
    cdef double pos, u, px, py, move, p, running
    for i in range(n):
        raw[i] = min(max(raw[i], 0.0), length)
    # One pass per Newton step rather than every step of a point in turn: a step
    # depends on the last one (position -> grid cell -> load), and in separate passes
    # the processor overlaps that chain across many points. 40% faster, same result.
    for step in range(newton_steps):
        for i in range(n):
            pos = raw[i]
            cell = min(<Py_ssize_t>(pos * per_m), n_ref - 2)
            u = pos * per_m - cell
            px = ref_x[cell] + u * (ref_x[cell + 1] - ref_x[cell])
            py = ref_y[cell] + u * (ref_y[cell + 1] - ref_y[cell])
            k = cell + 1 if u > 0.5 else cell
            move = (x[i] - px) * ref_tx[k] + (y[i] - py) * ref_ty[k]
            move = min(max(move, -max_step_m), max_step_m)
            raw[i] = min(max(pos + move, 0.0), length)
    prefix[0] = 0.0
    for i in range(n):
        prefix[i + 1] = prefix[i] + raw[i]
    running = -1.0
    for i in range(n):
        reach = min(smooth_half, i, n - 1 - i)
        p = (prefix[i + reach + 1] - prefix[i - reach]) / (2 * reach + 1)
        running = max(running, p)
        pos_out[i] = running
        cell = min(<Py_ssize_t>(running * per_m), n_ref - 2)
        u = running * per_m - cell
        delta_out[i] = (elapsed_from[i] - elapsed_base) - (
            ref_t[cell] + u * (ref_t[cell + 1] - ref_t[cell])
        )


def project_and_delta(
    const double[:] ref_x,
    const double[:] ref_y,
    const double[:] ref_tx,
    const double[:] ref_ty,
    const double[:] ref_t,
    double step_m,
    const double[:] x,
    const double[:] y,
    const double[:] guess_m,
    const double[:] elapsed_s,
    Py_ssize_t newton_steps,
    double max_step_m,
    Py_ssize_t smooth_half,
):
    """(position along the reference, delta-T) of each point of one lap.

    Newton steps along the local tangent from `guess_m` (each capped at `max_step_m`),
    then a centred moving average over 2*smooth_half+1 points (shrinking symmetrically
    at the ends), then a running maximum (cars do not go backwards), then delta-T
    against the reference's time at that position.
    """
    cdef Py_ssize_t i, n = x.shape[0]
    pos_arr = np.empty(n)
    delta_arr = np.empty(n)
    cdef double[:] raw = np.empty(n)
    cdef double[:] prefix = np.empty(n + 1)
    cdef double[:] pos_out = pos_arr
    cdef double[:] delta_out = delta_arr
    with nogil:
        for i in range(n):
            raw[i] = guess_m[i]
        _project_lap(
            ref_x, ref_y, ref_tx, ref_ty, ref_t, step_m, x, y, raw, prefix,
            elapsed_s, 0.0, newton_steps, max_step_m, smooth_half, pos_out, delta_out,
        )
    return pos_arr, delta_arr


def project_and_delta_ranges(
    const double[:] ref_x,
    const double[:] ref_y,
    const double[:] ref_tx,
    const double[:] ref_ty,
    const double[:] ref_t,
    double step_m,
    const double[:] x,
    const double[:] y,
    const double[:] dist_m,
    const double[:] t,
    const Py_ssize_t[:] starts,
    const Py_ssize_t[:] ends,
    const double[:] start_times_s,
    Py_ssize_t newton_steps,
    double max_step_m,
    Py_ssize_t smooth_half,
    double[:] pos_out,
    double[:] delta_out,
):
    """`project_and_delta` for each lap [starts[k], ends[k]) in one call, writing into
    pos_out and delta_out. Each lap's first guess is its own distance scaled to the
    reference length."""
    cdef double length = step_m * (ref_x.shape[0] - 1)
    cdef double lap_len, scale
    cdef Py_ssize_t i, k, lo, hi, longest = 0
    for k in range(starts.shape[0]):
        longest = max(longest, ends[k] - starts[k])
    # Scratch for the longest lap, shared by all.
    cdef double[:] raw = np.empty(longest)
    cdef double[:] prefix = np.empty(longest + 1)
    with nogil:
        for k in range(starts.shape[0]):
            lo = starts[k]
            hi = ends[k]
            if hi <= lo:
                continue
            lap_len = dist_m[hi - 1] - dist_m[lo]
            scale = length / lap_len if lap_len > 0 else 1.0
            for i in range(hi - lo):
                raw[i] = (dist_m[lo + i] - dist_m[lo]) * scale
            _project_lap(
                ref_x, ref_y, ref_tx, ref_ty, ref_t, step_m, x[lo:hi], y[lo:hi],
                raw, prefix, t[lo:hi], start_times_s[k], newton_steps, max_step_m,
                smooth_half, pos_out[lo:hi], delta_out[lo:hi],
            )
