"""Compiled inner loops (Cython) for the work that NumPy can only do in many passes over
the data, or in a Python loop per lap.

Each is a plain loop in a .pyx file, compiled ahead of time when the package is built or
installed (setup.py): importing all four takes about 2 ms, and nothing compiles at
run time. The algorithms are the ones described in the analysis modules that call
them; these are their loops, nothing more:

- fixes.pyx: cleaning (clean.py)
- lines.pyx: timing lines and crossings (crossings.py, track.py)
- projection.pyx: position along the reference lap and delta-T (delta.py)
- lttb.pyx: trace downsampling (traces.py)

They take float64 arrays (intp for indices, bool for flags) of any stride, read-only
ones included; other dtypes are refused, not converted. The per-lap ones run their loops
without the GIL, so the two halves of a long session's laps are traced on two cores.
Each .pyx has a .pyi beside it for type checkers.
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
