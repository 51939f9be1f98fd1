"""The racesense-csv 1 writer."""

from __future__ import annotations

import datetime as dt
import re
import time

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from racesense.analysis.telemetry import Telemetry
from racesense.synth import Circuit, SyntheticSession, make_session, to_rscore_csv
from racesense.synth.rscore_csv import HEADER, _fixed

COLUMNS = HEADER.split(",")
# One pattern per column: the decimals of the format's example row; '' is a missing value.
FIELD = {
    "time_ms": r"\d+",
    "lat_deg": r"-?\d+\.\d{7}",
    "lon_deg": r"-?\d+\.\d{7}",
    "alt_m": r"-?\d+\.\d",
    "speed_kmh": r"\d+\.\d",
    "heading_deg": r"\d+\.\d",
    "sats": r"\d+",
    "hdop": r"\d+\.\d",
    "ax_g": r"-?\d+\.\d\d",
    "ay_g": r"-?\d+\.\d\d",
    "az_g": r"-?\d+\.\d\d",
    "gz_dps": r"-?\d+\.\d",
}


def _table(data: bytes) -> tuple[list[str], np.ndarray]:
    lines = data.decode("utf-8").split("\n")
    assert lines[-1] == ""  # every line ends with a newline
    header = lines[:5]
    cells = np.array([line.split(",") for line in lines[5:-1]])
    return header, cells


def test_layout_and_every_field(noisy_session: SyntheticSession) -> None:
    tm = noisy_session.telemetry
    data = to_rscore_csv(tm, device_id="RS-Core-7F3A", firmware="0.1.0")
    header, cells = _table(data)
    started = tm.started_at
    assert started is not None
    assert header == [
        "# racesense-csv 1",
        "# device_id=RS-Core-7F3A",
        "# firmware=0.1.0",
        "# session_start_utc=" + started.strftime("%Y-%m-%dT%H:%M:%S.000Z"),
        "time_ms,lat_deg,lon_deg,alt_m,speed_kmh,heading_deg,sats,hdop,ax_g,ay_g,az_g,gz_dps",
    ]
    assert cells.shape == (len(tm), 12)
    for name, column in zip(COLUMNS, cells.T, strict=True):
        pattern = re.compile(FIELD[name])
        assert all(pattern.fullmatch(cell) for cell in column), name
        assert not any(re.fullmatch(r"-0+(\.0+)?", cell) for cell in column), name
    values = cells.astype(np.float64)
    assert values[:, 5].max() < 360.0
    g = 9.80665
    assert np.array_equal(values[:, 0], np.rint(tm.t_s * 1000.0))
    expected = [
        (tm.lat_deg, 1e-7),
        (tm.lon_deg, 1e-7),
        (tm.alt_m, 0.1),
        (tm.speed_mps * 3.6, 0.1),
        (tm.heading_deg - 360.0 * (tm.heading_deg >= 359.95), 0.1),
        (tm.sats, 1.0),
        (tm.hdop, 0.1),
        (tm.accel_lon_mps2 / g, 0.01),
        (tm.accel_lat_mps2 / g, 0.01),
        (tm.accel_vert_mps2 / g, 0.01),
        (tm.yaw_rate_dps, 0.1),
    ]
    for k, (original, resolution) in enumerate(expected, start=1):
        assert np.abs(values[:, k] - original).max() <= 0.5 * resolution * (1 + 1e-6), k


def test_missing_values_are_empty_fields(demo: Circuit) -> None:
    tm = make_session(demo, rate_hz=5, laps=1, seed=4, imu=False).telemetry
    _, cells = _table(to_rscore_csv(tm))
    assert np.all(cells[:, 8:] == "")
    assert np.all(cells[:, :8] != "")
    first_row = to_rscore_csv(tm).decode().split("\n")[5]
    assert first_row.endswith(",,,,")


def test_a_hand_made_telemetry() -> None:
    nan = np.nan
    tm = Telemetry.build(
        "test",
        [0.0, 0.041, 1.5],
        [52.069321, nan, -0.00000004],
        [-1.022196, nan, 179.99999996],
        alt_m=[153.25, nan, -0.04],
        speed_mps=[0.0, 10.0, nan],
        accel_lon_mps2=[0.0980665, -0.0490332, nan],
        started_at=dt.datetime(2026, 2, 14, 10, 30, tzinfo=dt.timezone(dt.timedelta(hours=1))),
    )
    lines = to_rscore_csv(tm).decode().split("\n")
    assert lines[3] == "# session_start_utc=2026-02-14T09:30:00.000Z"
    assert lines[5] == "0,52.0693210,-1.0221960,153.2,0.0,,,,0.01,,,"
    assert lines[6] == "41,,,,36.0,,,,0.00,,,"  # -0.005 g rounds to 0.00, never to -0.00
    assert lines[7] == "1500,0.0000000,180.0000000,0.0,,,,,,,,"
    assert lines[8] == ""


def test_start_time_below_a_millisecond_moves_into_time_ms() -> None:
    started = dt.datetime(2026, 2, 14, 9, 30, 0, 250_600, tzinfo=dt.UTC)
    tm = Telemetry.build("test", [0.0, 0.1], [1.0, 1.0], [2.0, 2.0], started_at=started)
    lines = to_rscore_csv(tm).decode().split("\n")
    assert lines[3] == "# session_start_utc=2026-02-14T09:30:00.250Z"
    assert [line.split(",")[0] for line in lines[5:7]] == ["1", "101"]


def test_refuses_what_it_cannot_write() -> None:
    tm = Telemetry.build("test", [0.0], [1.0], [2.0])
    with pytest.raises(ValueError, match="start time"):
        to_rscore_csv(tm)
    tm = Telemetry.build("test", [0.0], [1.0], [2.0], started_at=dt.datetime.now(dt.UTC))
    with pytest.raises(ValueError, match="single line"):
        to_rscore_csv(tm, device_id="RS\nCore")


@given(
    st.lists(
        st.floats(-1e6, 1e6) | st.just(np.nan) | st.just(-0.0),
        min_size=1,
        max_size=20,
    ),
    st.integers(0, 7),
)
def test_fixed_point_fields(values: list[float], decimals: int) -> None:
    array = np.array(values, dtype=np.float64)
    field = _fixed(array, decimals)
    texts = [bytes(row[row != 0]).decode() for row in field]
    pattern = re.compile(r"-?\d+" + (rf"\.\d{{{decimals}}}" if decimals else ""))
    for value, text in zip(array, texts, strict=True):
        if np.isnan(value):
            assert text == ""
            continue
        assert pattern.fullmatch(text), text
        assert not re.fullmatch(r"-0+(\.0*)?", text)
        assert abs(float(text) - value) <= 0.5 * 10.0**-decimals + abs(value) * 1e-15


def test_ninety_thousand_rows_well_under_a_second(demo: Circuit) -> None:
    tm = make_session(demo, rate_hz=25, laps=37, seed=3).telemetry
    assert len(tm) >= 89_000
    best = min(_timed(tm) for _ in range(3))
    assert best < 0.5


def _timed(tm: Telemetry) -> float:
    start = time.perf_counter()
    to_rscore_csv(tm)
    return time.perf_counter() - start
