"""The simulated field test runs whole: a short session synced over a shaped link, tap
to lap table, every phase measured, nothing lost; the table names the emulation.
(Speed goals are the benchmark's, bench/bench_fieldtest.py, not checked here.)"""

from __future__ import annotations

import pytest

from racesense.fieldtest import harness
from racesense.fieldtest.simulate import simulate, table


@pytest.fixture(autouse=True)
def _can_run() -> None:
    reason = harness.skip_reason()
    if reason:
        pytest.skip(reason)


@pytest.mark.parametrize(
    ("preset", "in_process", "compress"),
    [("good", False, "off"), ("poor", True, "on")],
    ids=["good-netns-identity", "poor-inprocess-gzip"],
)
def test_one_sync_tap_to_lap_table_over_a_shaped_link(
    preset: str, in_process: bool, compress: str
) -> None:
    outcome = simulate([preset], [1.5], 1, in_process=in_process, compress_modes=(compress,))
    (result,) = outcome.results
    assert result.failure is None, result.failure
    assert set(result.phases_ms) == set(harness.PHASES), result.phases_ms
    assert all(v >= 0 for v in result.phases_ms.values())
    # The phases add up inside the total: nothing measured twice or out of order.
    inside = sum(result.phases_ms[p] for p in ("ble_handshake", "credentials", "join"))
    assert inside <= result.phases_ms["total"]
    assert result.files_sent == 1 and result.lost_or_twice == 0
    # BLE alone: the bytes as the logger sent them (its report), compressed or not.
    assert result.wire_bytes is not None
    assert result.ble_alone_ms == pytest.approx(result.wire_bytes / harness.BLE_RATE_BYTES_S * 1000)
    if compress == "on":
        assert result.encoding == "gzip" and result.wire_bytes < result.bytes / 2
    else:
        assert result.encoding == "identity" and result.wire_bytes > result.bytes  # + multipart
    label = "gzip" if compress == "on" else "identity"
    text = table(outcome)
    assert f"{preset} 1.5 min {label} (1 sync)" in text and "BLE alone" in text
    emulation = outcome.emulations[preset]
    assert (
        ("in-process" in emulation or "in process" in emulation)
        if in_process
        else "relay" in emulation
    )
