"""Generate firmware/rs_protocol.py from firmware/protocol.json (run with CPython).

    python firmware/tools/gen_protocol.py          # rewrite firmware/rs_protocol.py
    python firmware/tools/gen_protocol.py --check  # exit 1 if the file is stale

protocol.json is the protocol's single source of truth: the board cannot be assumed to
carry (or afford to parse) a JSON file, so its constants are compiled into a module. The
web UI reads the same JSON. firmware/tests/test_protocol_source.py fails when the
generated file and the JSON disagree.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Any

FIRMWARE = Path(__file__).resolve().parents[1]
SOURCE = FIRMWARE / "protocol.json"
TARGET = FIRMWARE / "rs_protocol.py"

HEADER = '''\
"""BLE protocol constants. GENERATED from firmware/protocol.json by
firmware/tools/gen_protocol.py: do not edit; change the JSON and re-run the tool.
The meaning of every value is in docs/ble-protocol.md.
"""

try:
    from micropython import const
except ImportError:  # CPython (tests, tools): const() is the identity

    def const(value):
        return value


'''


def _ident(name: str) -> str:
    """protocol.json key -> UPPER_SNAKE identifier."""
    ident = re.sub(r"[^0-9A-Za-z]+", "_", name).strip("_").upper()
    if not ident or ident[0].isdigit():
        raise ValueError(f"cannot make an identifier of {name!r}")
    return ident


def _int(name: str, value: Any) -> str:
    if type(value) is not int:
        raise ValueError(f"{name} must be an integer, not {value!r}")
    return f"{name} = const({value})"


def _str(name: str, value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError(f"{name} must be a string, not {value!r}")
    return f"{name} = {json.dumps(value)}"


def _bytes(name: str, value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError(f"{name} must be a string, not {value!r}")
    value.encode("ascii")  # a bytes literal: keep it ASCII
    return f"{name} = b{json.dumps(value)}"


def _tuple(items: list[str]) -> str:
    inner = ", ".join(items)
    return f"({inner},)" if len(items) == 1 else f"({inner})"


def _wrapped_tuple(name: str, items: list[str]) -> list[str]:
    """`NAME = (a, b)` on one line if it fits ruff's 100 columns, else one item a line."""
    line = f"{name} = {_tuple(items)}"
    if len(line) <= 100:
        return [line]
    return [f"{name} = ("] + [f"    {item}," for item in items] + [")"]


def generate(spec: dict[str, Any]) -> str:
    """The text of rs_protocol.py for a parsed protocol.json."""
    out: list[str] = []

    def section(title: str) -> None:
        out.append("")
        out.append(f"# {title}")

    section("version and GATT layout")
    out.append(_int("PROTOCOL_VERSION", spec["protocol_version"]))
    out.append(_str("SERVICE_UUID", spec["service_uuid"]))
    for name, char in spec["characteristics"].items():
        out.append(_str(f"{_ident(name)}_UUID", char["uuid"]))
    out.append(_str("DEVICE_NAME_PREFIX", spec["device_name_prefix"]))

    section("framing: [msg_id u8][seq u8][flags u8] + payload")
    frame = spec["frame"]
    out.append(_int("FRAME_HEADER_BYTES", frame["header_bytes"]))
    for key in ("default_write_bytes", "max_frame_bytes", "max_message_bytes"):
        out.append(_int(_ident(key), frame[key]))
    out.append(_int("FLAG_LAST", frame["flag_last"]))
    out.append(_int("RECENT_MSG_IDS", frame["recent_msg_ids"]))

    section("message types (first byte of a reassembled message)")
    types = spec["message_types"]
    for name, number in types.items():
        out.append(_int(f"MSG_{_ident(name)}", number))

    section("sync states (the `state` field of state messages)")
    for state in spec["states"]:
        out.append(_str(f"STATE_{_ident(state)}", state))
    out.extend(_wrapped_tuple("RUNNING_STATES", [json.dumps(s) for s in spec["running_states"]]))

    section("results: `ok` or an error code")
    out.append(_str("ACK_OK", spec["ack_ok"]))
    for code in spec["errors"]:
        out.append(_str(_ident(code), code))

    section("sealed messages: the inner types each side may seal")
    for side, names in spec["sealed_types"].items():
        for msg in names:
            if msg not in types:
                raise ValueError(f"sealed_types names unknown message {msg!r}")
        numbers = [f"MSG_{_ident(msg)}" for msg in names]
        out.extend(_wrapped_tuple(f"SEALED_FROM_{_ident(side)}", numbers))

    section("crypto: CPace, key schedule, sealing (docs/ble-protocol.md, Crypto)")
    crypto = spec["crypto"]
    for key in ("qr_prefix",):
        out.append(_str(_ident(key), crypto[key]))
    for key in ("ci_label", "hkdf_info", "label_p2d", "label_d2p"):
        out.append(_bytes(_ident(key), crypto[key]))
    for key in (
        "pairing_code_digits",
        "sid_bytes",
        "point_bytes",
        "isk_bytes",
        "confirm_bytes",
        "key_schedule_bytes",
        "aes_key_bytes",
        "mac_key_bytes",
        "tag_bytes",
        "counter_bytes",
        "ack_key_bytes",
    ):
        out.append(_int(_ident(key), crypto[key]))

    section("handshake: unauthenticated connections and failed attempts")
    for key, value in spec["handshake"].items():
        out.append(_int(_ident(key), value))

    section("timing")
    out.append(_int("SYNC_JOIN_DEADLINE_MS", spec["sync_join_deadline_ms"]))
    out.append(_int("PROGRESS_INTERVAL_MS", spec["progress_interval_ms"]))

    return HEADER + "\n".join(out).lstrip("\n") + "\n"


def main(argv: list[str]) -> int:
    text = generate(json.loads(SOURCE.read_text(encoding="utf-8")))
    if "--check" in argv:
        current = TARGET.read_text(encoding="utf-8") if TARGET.exists() else ""
        if current != text:
            print(f"{TARGET} is stale: run python {Path(__file__).name}", file=sys.stderr)
            return 1
        return 0
    TARGET.write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
