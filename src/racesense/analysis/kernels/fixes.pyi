"""Types of the compiled fixes.pyx (arrays of any stride; float64, bool and intp only)."""

import numpy as np
import numpy.typing as npt

from racesense.analysis.telemetry import FloatArray

def valid_position_rows(
    t: FloatArray, lat: FloatArray, lon: FloatArray
) -> npt.NDArray[np.bool_]: ...
def rows_in_order(
    t: FloatArray, lat: FloatArray, lon: FloatArray, min_step_s: float
) -> tuple[int, bool]: ...
def any_far(values: FloatArray, center: float, limit: float) -> bool: ...
def local_xy(
    lat: FloatArray, lon: FloatArray, lat0: float, lon0: float, kx: float, ky: float
) -> tuple[FloatArray, FloatArray]: ...
def speed_from_gnss(gnss_speed: FloatArray) -> tuple[FloatArray, npt.NDArray[np.intp]]: ...
def course_from_gnss(
    heading_deg: FloatArray, speed: FloatArray, min_speed_mps: float
) -> tuple[FloatArray, npt.NDArray[np.intp]]: ...
def impossible_steps(
    t: FloatArray,
    x: FloatArray,
    y: FloatArray,
    speed: FloatArray,
    speed_margin: float,
    speed_floor_mps: float,
    max_speed_mps: float,
    noise_m: float,
) -> npt.NDArray[np.bool_]: ...
def distance_from_speed(
    t: FloatArray,
    x: FloatArray,
    y: FloatArray,
    speed: FloatArray,
    gap_after: npt.NDArray[np.bool_],
) -> FloatArray: ...
