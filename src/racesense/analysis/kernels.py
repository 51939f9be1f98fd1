"""Compiled inner loops (numba) for the per-lap work that NumPy can only do in many
passes over the data: projecting fixes onto the reference path, and choosing trace points.

Each is a plain loop over one lap, compiled once and cached on disk (`cache=True`), so the
server's worker processes load it instead of compiling it. The per-lap ones release the
GIL (`nogil=True`), so the two halves of a session's laps can run on two cores. The
algorithms are the ones described in delta.py and traces.py; these are their loops,
nothing more.
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
def lttb(x: FloatArray, y: FloatArray, threshold: int) -> npt.NDArray[np.int64]:
    """Largest-Triangle-Three-Buckets (Steinarsson 2013): indices of at most
    `threshold` points of (x, y) that keep its shape; first and last always kept."""
    n = x.shape[0]
    if threshold >= n or n <= 2:
        return np.arange(n)
    threshold = max(threshold, 3)
    out = np.empty(threshold, dtype=np.int64)
    out[0] = 0
    every = (n - 2) / (threshold - 2)
    a = 0
    for b in range(threshold - 2):
        lo = int(b * every) + 1
        hi = int((b + 1) * every) + 1
        if hi - lo == 1:
            # A bucket of one point has no choice to make. When a lap has few more
            # points than the threshold, most buckets are like this.
            out[b + 1] = lo
            a = lo
            continue
        # The next bucket's mean (the last point, for the last bucket).
        nlo = hi
        nhi = min(int((b + 2) * every) + 1, n)
        if nlo >= nhi:
            cx, cy = x[n - 1], y[n - 1]
        else:
            cx = 0.0
            cy = 0.0
            for j in range(nlo, nhi):
                cx += x[j]
                cy += y[j]
            cx /= nhi - nlo
            cy /= nhi - nlo
        ax, ay = x[a], y[a]
        best = -1.0
        chosen = lo
        for j in range(lo, hi):
            area = abs((ax - cx) * (y[j] - ay) - (ax - x[j]) * (cy - ay))
            if area > best:
                best = area
                chosen = j
        out[b + 1] = chosen
        a = chosen
    out[threshold - 1] = n - 1
    return out


@njit(cache=True, error_model="numpy")
def estimate_crossings(
    t: FloatArray,
    x: FloatArray,
    y: FloatArray,
    nx: float,
    ny: float,
    offset_m: float,
    speed: FloatArray,
    course_deg: FloatArray,
    gap_after: npt.NDArray[np.bool_],
    idx: npt.NDArray[np.intp],
    half: int,
    normal_deg: float,
) -> FloatArray:
    """Crossing time for each crossing step idx[j] -> idx[j]+1, from the fixes within
    `half` fixes either side (not across a gap); NaN where the model cannot say.
    A fix's distance from the line is x*nx + y*ny - offset_m. The model is described
    in crossings.py."""
    n = t.shape[0]
    out = np.full(idx.shape[0], np.nan)
    normal = np.radians(normal_deg)
    for j in range(idx.shape[0]):
        i = idx[j]
        lo = max(0, i - half)
        for k in range(i - 1, lo - 1, -1):  # stop at a gap before the crossing
            if gap_after[k]:
                lo = k + 1
                break
        hi = min(n, i + 2 + half)
        for k in range(i + 1, hi - 1):  # and at one after it
            if gap_after[k]:
                hi = k + 1
                break
        m = hi - lo
        if m < 4:
            continue
        moved = np.empty(m)
        residual = np.empty(m)
        moved[0] = 0.0
        rate_prev = speed[lo] * max(np.cos(np.radians(course_deg[lo]) - normal), 0.0)
        for k in range(1, m):
            rate = speed[lo + k] * max(np.cos(np.radians(course_deg[lo + k]) - normal), 0.0)
            moved[k] = moved[k - 1] + 0.5 * (rate_prev + rate) * (t[lo + k] - t[lo + k - 1])
            rate_prev = rate
        for k in range(m):
            across = x[lo + k] * nx + y[lo + k] * ny - offset_m
            residual[k] = across - moved[k]
        median = np.median(residual)
        spread = np.median(np.abs(residual - median)) * 1.4826
        total = 0.0
        count = 0
        for k in range(m):
            if abs(residual[k] - median) <= 3.0 * spread + 0.5:
                total += residual[k]
                count += 1
        if count < 4:
            continue
        target = -total / count
        for k in range(1, m):
            if moved[k] >= target:
                if moved[k] > moved[k - 1] and moved[k - 1] <= target:
                    f = (target - moved[k - 1]) / (moved[k] - moved[k - 1])
                    out[j] = t[lo + k - 1] + f * (t[lo + k] - t[lo + k - 1])
                break
    return out


@njit(cache=True, error_model="numpy", nogil=True)
def lttb_ranges(
    x: FloatArray,
    y: FloatArray,
    starts: npt.NDArray[np.intp],
    ends: npt.NDArray[np.intp],
    threshold: int,
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """`lttb` over each range [starts[k], ends[k]) at once: the chosen absolute indices
    of every range, concatenated, and the offsets where each range's indices begin."""
    count = starts.shape[0]
    offsets = np.zeros(count + 1, dtype=np.int64)
    for k in range(count):
        offsets[k + 1] = offsets[k] + min(ends[k] - starts[k], max(threshold, 3))
    out = np.empty(offsets[count], dtype=np.int64)
    for k in range(count):
        lo, hi = starts[k], ends[k]
        chosen = lttb(x[lo:hi], y[lo:hi], threshold)
        for j in range(chosen.shape[0]):
            out[offsets[k] + j] = chosen[j] + lo
    return out, offsets


@njit(cache=True, error_model="numpy")
def impossible_steps(
    t: FloatArray,
    x: FloatArray,
    y: FloatArray,
    speed: FloatArray,
    speed_margin: float,
    speed_floor_mps: float,
    max_speed_mps: float,
    noise_m: float,
) -> npt.NDArray[np.bool_]:
    """bad[i]: the step from fix i to i+1 is farther than the car could go at the
    larger of the two recorded speeds (times a margin, plus a floor; capped), plus
    GNSS noise. Compared squared: no square roots."""
    n = t.shape[0]
    bad = np.zeros(max(n - 1, 0), dtype=np.bool_)
    for i in range(n - 1):
        v = max(speed[i], speed[i + 1])
        if np.isfinite(v):
            v = min(v * speed_margin + speed_floor_mps, max_speed_mps)
        else:
            v = max_speed_mps
        reach = v * (t[i + 1] - t[i]) + noise_m
        dx = x[i + 1] - x[i]
        dy = y[i + 1] - y[i]
        bad[i] = dx * dx + dy * dy > reach * reach
    return bad


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


@njit(cache=True, error_model="numpy")
def valid_position_rows(t: FloatArray, lat: FloatArray, lon: FloatArray) -> npt.NDArray[np.bool_]:
    """Rows with a time and a plausible position. 0,0 is what many receivers report
    before their first fix, so it is no position."""
    n = t.shape[0]
    ok = np.empty(n, dtype=np.bool_)
    for i in range(n):
        a, b = lat[i], lon[i]
        ok[i] = (
            np.isfinite(t[i])
            and abs(a) <= 90.0  # False for NaN, like every comparison
            and abs(b) <= 180.0
            and not (abs(a) < 1e-6 and abs(b) < 1e-6)
        )
    return ok


@njit(cache=True, error_model="numpy")
def line_steps(
    x: FloatArray,
    y: FloatArray,
    ax: float,
    ay: float,
    bx: float,
    by: float,
    nx: float,
    ny: float,
    tolerance_m: float,
    forward: bool,
) -> tuple[npt.NDArray[np.intp], FloatArray]:
    """Steps i -> i+1 whose path crosses the segment a-b (extended by tolerance_m at
    both ends) going along the normal (nx, ny), or against it if not `forward`: their
    indices, and the fraction of each step at which it crosses. No whole-session
    temporaries: one pass finds the steps that change side, a second keeps those that
    pass between the line's ends."""
    offset = ax * nx + ay * ny
    sign = 1.0 if forward else -1.0
    n = x.shape[0]
    changes = 0
    for i in range(n - 1):
        prev = sign * (x[i] * nx + y[i] * ny - offset)
        cur = sign * (x[i + 1] * nx + y[i + 1] * ny - offset)
        changes += (prev < 0.0) & (cur >= 0.0)
    found = np.empty(changes, dtype=np.intp)
    fracs = np.empty(changes)
    if changes == 0:
        return found, fracs
    length = np.hypot(bx - ax, by - ay)
    gx, gy = (bx - ax) / length, (by - ay) / length
    count = 0
    for i in range(n - 1):
        prev = sign * (x[i] * nx + y[i] * ny - offset)
        cur = sign * (x[i + 1] * nx + y[i + 1] * ny - offset)
        if prev < 0.0 and cur >= 0.0:
            frac = prev / (prev - cur)
            a0 = (x[i] - ax) * gx + (y[i] - ay) * gy
            a1 = (x[i + 1] - ax) * gx + (y[i + 1] - ay) * gy
            at = a0 + frac * (a1 - a0)
            if at >= -tolerance_m and at <= length + tolerance_m:
                found[count] = i
                fracs[count] = frac
                count += 1
    return found[:count], fracs[:count]


@njit(cache=True, error_model="numpy")
def nearest_sq_m2(x: FloatArray, y: FloatArray, px: float, py: float) -> float:
    """The smallest squared distance from (px, py) to any point (x, y)."""
    best = np.inf
    for i in range(x.shape[0]):
        dx = x[i] - px
        dy = y[i] - py
        d = dx * dx + dy * dy
        best = d if d < best else best
    return best


@njit(cache=True, error_model="numpy")
def distance_from_speed(
    t: FloatArray,
    x: FloatArray,
    y: FloatArray,
    speed: FloatArray,
    gap_after: npt.NDArray[np.bool_],
) -> FloatArray:
    """Distance travelled at each fix: the trapezoidal integral of speed over time,
    except that a step across a gap covers at least the straight line between its
    ends."""
    n = t.shape[0]
    dist = np.empty(n)
    if n == 0:
        return dist
    dist[0] = 0.0
    for i in range(n - 1):
        step = 0.5 * (speed[i] + speed[i + 1]) * (t[i + 1] - t[i])
        if gap_after[i]:
            dx = x[i + 1] - x[i]
            dy = y[i + 1] - y[i]
            step = max(step, np.sqrt(dx * dx + dy * dy))
        dist[i + 1] = dist[i] + step
    return dist


@njit(cache=True, error_model="numpy")
def rows_in_order(t: FloatArray, lat: FloatArray, lon: FloatArray) -> tuple[int, bool]:
    """(rows with a valid position, whether those rows' times strictly increase by more
    than 1 us): one read of the three columns, for the common file that needs no
    selecting, sorting or de-duplicating at all. Valid as in valid_position_rows."""
    valid = 0
    increasing = True
    previous = 0.0
    for i in range(t.shape[0]):
        a, b = lat[i], lon[i]
        if not (
            np.isfinite(t[i])
            and abs(a) <= 90.0
            and abs(b) <= 180.0
            and not (abs(a) < 1e-6 and abs(b) < 1e-6)
        ):
            continue
        if valid and not t[i] - previous > 1e-6:
            increasing = False
        previous = t[i]
        valid += 1
    return valid, increasing


@njit(cache=True, error_model="numpy")
def any_far(values: FloatArray, center: float, limit: float) -> bool:
    """True if some |value - center| is not below limit."""
    for i in range(values.shape[0]):  # noqa: SIM110 (numba compiles no generators)
        if not abs(values[i] - center) < limit:
            return True
    return False


@njit(cache=True, error_model="numpy")
def local_xy(
    lat: FloatArray, lon: FloatArray, lat0: float, lon0: float, kx: float, ky: float
) -> tuple[FloatArray, FloatArray]:
    """x = (lon - lon0) * kx, y = (lat - lat0) * ky, with longitude differences taken
    modulo 360 when any reaches 180 degrees (a session across the antimeridian)."""
    n = lat.shape[0]
    wrap = any_far(lon, lon0, 180.0)
    x = np.empty(n)
    y = np.empty(n)
    for i in range(n):
        dlon = lon[i] - lon0
        if wrap:
            dlon = (dlon + 180.0) % 360.0 - 180.0
        x[i] = dlon * kx
        y[i] = (lat[i] - lat0) * ky
    return x, y


@njit(cache=True, error_model="numpy")
def count_finite(values: FloatArray) -> int:
    count = 0
    for i in range(values.shape[0]):
        count += np.isfinite(values[i])
    return count


@njit(cache=True, error_model="numpy")
def speed_from_gnss(gnss_speed: FloatArray) -> tuple[FloatArray, npt.NDArray[np.intp]]:
    """(the GNSS speed with negatives raised to 0, indices where it is missing)."""
    n = gnss_speed.shape[0]
    speed = np.empty(n)
    missing = 0
    for i in range(n):
        v = gnss_speed[i]
        speed[i] = v if not v < 0.0 else 0.0
        missing += not np.isfinite(v)
    where = np.empty(missing, dtype=np.intp)
    k = 0
    for i in range(n if missing else 0):
        if not np.isfinite(gnss_speed[i]):
            where[k] = i
            k += 1
    return speed, where


@njit(cache=True, error_model="numpy")
def course_from_gnss(
    heading_deg: FloatArray, speed: FloatArray, min_speed_mps: float
) -> tuple[FloatArray, npt.NDArray[np.intp]]:
    """(the GNSS course within [0, 360), indices where it is missing or where the car
    is slower than min_speed_mps, so the course must come from positions)."""
    n = heading_deg.shape[0]
    course = np.empty(n)
    derive = 0
    outside = 0
    for i in range(n):
        c = heading_deg[i]
        course[i] = c
        outside += c < 0.0 or c >= 360.0
        derive += not np.isfinite(c) or speed[i] < min_speed_mps
    # Rare, and a float modulo is costly: only where needed, in a loop of its own.
    for i in range(n if outside else 0):
        if course[i] < 0.0 or course[i] >= 360.0:
            course[i] %= 360.0
    where = np.empty(derive, dtype=np.intp)
    k = 0
    for i in range(n if derive else 0):
        if not np.isfinite(heading_deg[i]) or speed[i] < min_speed_mps:
            where[k] = i
            k += 1
    return course, where
