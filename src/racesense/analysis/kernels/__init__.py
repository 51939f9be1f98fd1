"""Compiled inner loops (numba) for the work that NumPy can only do in many passes over
the data, or in a Python loop per lap.

Each is a plain loop, compiled once and cached on disk (`cache=True`), so the server's
worker processes load it instead of compiling it. The algorithms are the ones described
in the analysis modules that call them; these are their loops, nothing more:

- fixes.py: cleaning (clean.py)
- lines.py: timing lines and crossings (crossings.py, track.py)
- projection.py: position along the reference lap and delta-T (delta.py)
- lttb.py: trace downsampling (traces.py)

The per-lap ones release the GIL (`nogil=True`), so the two halves of a long session's
laps are traced on two cores.
"""

from racesense.analysis.kernels.fixes import (
    any_far,
    course_from_gnss,
    distance_from_speed,
    impossible_steps,
    local_xy,
    rows_in_order,
    speed_from_gnss,
    valid_position_rows,
)
from racesense.analysis.kernels.lines import estimate_crossings, line_steps, nearest_sq_m2
from racesense.analysis.kernels.lttb import lttb, lttb_ranges
from racesense.analysis.kernels.projection import project_and_delta, project_and_delta_ranges

__all__ = [
    "any_far",
    "course_from_gnss",
    "distance_from_speed",
    "estimate_crossings",
    "impossible_steps",
    "line_steps",
    "local_xy",
    "lttb",
    "lttb_ranges",
    "nearest_sq_m2",
    "project_and_delta",
    "project_and_delta_ranges",
    "rows_in_order",
    "speed_from_gnss",
    "valid_position_rows",
]
