"""Types of the compiled lttb.pyx (arrays of any stride; float64 and intp only)."""

import numpy as np
import numpy.typing as npt

from racesense.analysis.telemetry import FloatArray

def lttb(x: FloatArray, y: FloatArray, threshold: int) -> npt.NDArray[np.int64]: ...
def lttb_ranges(
    x: FloatArray,
    y: FloatArray,
    starts: npt.NDArray[np.intp],
    ends: npt.NDArray[np.intp],
    threshold: int,
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]: ...
