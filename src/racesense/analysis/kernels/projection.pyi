"""Types of the compiled projection.pyx (arrays of any stride; float64 and intp only)."""

import numpy as np
import numpy.typing as npt

from racesense.analysis.telemetry import FloatArray

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
) -> tuple[FloatArray, FloatArray]: ...
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
) -> None: ...
