"""Types of the compiled lines.pyx (arrays of any stride; float64, bool and intp only)."""

import numpy as np
import numpy.typing as npt

from racesense.analysis.telemetry import FloatArray

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
) -> tuple[npt.NDArray[np.intp], FloatArray]: ...
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
) -> FloatArray: ...
def estimate_passes(
    t: FloatArray,
    x: FloatArray,
    y: FloatArray,
    nx: float,
    ny: float,
    offset_m: float,
    speed: FloatArray,
    course_deg: FloatArray,
    gap_after: npt.NDArray[np.bool_],
    first: npt.NDArray[np.intp],
    last: npt.NDArray[np.intp],
    centre_s: FloatArray,
    half: int,
    max_half: int,
    normal_deg: float,
    precision_s: float,
    stop_mps: float,
) -> FloatArray: ...
def nearest_sq_m2(x: FloatArray, y: FloatArray, px: float, py: float) -> float: ...
