# cpython-only: reads protocol.json and imports the CPython generator (mpy_run.py skips it)
"""firmware/rs_protocol.py must be exactly what firmware/protocol.json generates."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from types import ModuleType
from typing import Any

FIRMWARE = Path(__file__).resolve().parents[1]


def _generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "gen_protocol", FIRMWARE / "tools" / "gen_protocol.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _spec() -> dict[str, Any]:
    return json.loads((FIRMWARE / "protocol.json").read_text(encoding="utf-8"))


def test_generated_module_is_up_to_date() -> None:
    expected = _generator().generate(_spec())
    actual = (FIRMWARE / "rs_protocol.py").read_text(encoding="utf-8")
    assert actual == expected, "run: python firmware/tools/gen_protocol.py"


def test_generated_values_match_the_json() -> None:
    import rs_protocol as p

    spec = _spec()
    assert spec["protocol_version"] == p.PROTOCOL_VERSION
    assert spec["service_uuid"] == p.SERVICE_UUID
    assert spec["characteristics"]["control"]["uuid"] == p.CONTROL_UUID
    assert spec["frame"]["max_message_bytes"] == p.MAX_MESSAGE_BYTES
    for name, number in spec["message_types"].items():
        assert getattr(p, "MSG_" + name.upper()) == number
    for code in spec["errors"]:
        assert getattr(p, code) == code
    assert tuple(spec["states"]) == tuple(getattr(p, "STATE_" + s.upper()) for s in spec["states"])
    assert set(spec["running_states"]) <= set(spec["states"])
    crypto = spec["crypto"]
    # the key schedule's layout: two confirmation keys, then AES and MAC keys each way
    layout = 2 * crypto["confirm_bytes"] + 2 * crypto["aes_key_bytes"] + 2 * crypto["mac_key_bytes"]
    assert layout == crypto["key_schedule_bytes"] == p.KEY_SCHEDULE_BYTES
    assert crypto["ci_label"].encode() == p.CI_LABEL
    assert crypto["qr_prefix"] == p.QR_PREFIX
    assert spec["handshake"]["auth_timeout_ms"] == p.AUTH_TIMEOUT_MS
    for side, names in spec["sealed_types"].items():
        numbers = tuple(spec["message_types"][n] for n in names)
        assert numbers == getattr(p, "SEALED_FROM_" + side.upper())


def test_message_type_numbers_are_unique_bytes() -> None:
    numbers = list(_spec()["message_types"].values())
    assert len(set(numbers)) == len(numbers)
    assert all(0 <= n <= 255 for n in numbers)


def test_v2_layout_has_its_own_uuids() -> None:
    """Android caches GATT layouts: protocol 2 must not reuse version 1's service UUID."""
    spec = _spec()
    assert spec["protocol_version"] == 2
    v1 = "7a3e0001-52c1-4d0b-9a6e-5f2b8c1d0e11"
    uuids = [spec["service_uuid"]] + [c["uuid"] for c in spec["characteristics"].values()]
    assert v1 not in uuids and len(set(uuids)) == len(uuids)


def test_every_error_code_is_documented() -> None:
    doc = (FIRMWARE.parent / "docs" / "ble-protocol.md").read_text(encoding="utf-8")
    spec = _spec()
    for code in spec["errors"]:
        assert code in doc, code
    for state in spec["states"]:
        assert f"`{state}`" in doc, state
    for name in spec["message_types"]:
        assert f"`{name}`" in doc, name


def test_vectors_file_is_up_to_date() -> None:
    """tests/vectors/protocol_v2.json is what make_vectors.py writes (the JavaScript
    client's tests read it: it must not drift from the firmware)."""
    spec = importlib.util.spec_from_file_location(
        "make_vectors", FIRMWARE / "tests" / "vectors" / "make_vectors.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    on_disk = (FIRMWARE / "tests" / "vectors" / "protocol_v2.json").read_text(encoding="utf-8")
    assert on_disk == module.text(), "run: python firmware/tests/vectors/make_vectors.py"
