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
    assert crypto["aes_key_bytes"] + crypto["mac_key_bytes"] == crypto["kdf_output_bytes"]
    assert len(crypto["pairing_code_alphabet"]) == 32


def test_message_type_numbers_are_unique_bytes() -> None:
    numbers = list(_spec()["message_types"].values())
    assert len(set(numbers)) == len(numbers)
    assert all(0 <= n <= 255 for n in numbers)


def test_every_error_code_is_documented() -> None:
    doc = (FIRMWARE.parent / "docs" / "ble-protocol.md").read_text(encoding="utf-8")
    spec = _spec()
    for code in spec["errors"]:
        assert code in doc, code
    for state in spec["states"]:
        assert f"`{state}`" in doc, state
    for name in spec["message_types"]:
        assert f"`{name}`" in doc, name
