"""The RS-Core firmware (firmware/ in the source checkout), loaded into this process.

The firmware's modules are top-level modules (`import sync`, `import storage`, as on the
board), so they are imported with firmware/ first on sys.path, in a private window: the
modules they load, and the two stand-ins they need on a host, are taken out of
sys.modules again afterwards and whatever was there before is put back. The loaded
modules keep their references to each other, so they work as one firmware; nothing else
in the process (the backend's code, the firmware's own tests in the same pytest run)
sees them or shares their state.

The stand-ins, only inside that window:
- `cryptolib` (MicroPython's AES, which rs_channel uses for AES-CTR over ECB), on the
  `cryptography` package;
- `machine`, which main.py and the board modules import for UART, I2C and the SD card.
  The simulator never uses them (its Hardware hands in a silent GNSS, no IMU and a
  directory for the card), so any use of this stand-in raises.

Nothing here runs at `import racesense`: `load()` is called when a virtual RS-Core starts.
"""

from __future__ import annotations

import importlib
import json
import os
import sys
import threading
import types
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ENV_FIRMWARE_DIR = "RACESENSE_FIRMWARE_DIR"
# What the simulator imports; their own imports come along.
_MODULES = (
    "rs_protocol",
    "clock",
    "storage",
    "logger",
    "ble_provisioning",
    "rs_pairing",
    "sync",
    "uploader",
    "gzip_body",
    "wifi_join",
    "board.net",
    "main",
)
_SHIMS = ("cryptolib", "machine")


class FirmwareUnavailable(RuntimeError):
    """The firmware cannot be loaded here; the message says why and what to do."""


def firmware_dir() -> Path:
    """firmware/ of the source checkout this package runs from (or $RACESENSE_FIRMWARE_DIR).
    Raises FirmwareUnavailable when there is none (an install from a wheel)."""
    given = os.environ.get(ENV_FIRMWARE_DIR)
    if given:
        path = Path(given).expanduser().resolve()
    else:
        # src/racesense/devicesim/firmware.py -> the checkout's root is three levels up
        path = Path(__file__).resolve().parents[3] / "firmware"
    if not (path / "main.py").is_file() or not (path / "protocol.json").is_file():
        raise FirmwareUnavailable(
            f"the virtual RS-Core runs the firmware's own code from a source checkout, and"
            f" there is none at {path}: run it from a clone of the Racesense repository"
            f" (pip install -e .), or set {ENV_FIRMWARE_DIR} to its firmware/ folder"
        )
    return path


def protocol() -> dict[str, Any]:
    """firmware/protocol.json: the BLE protocol's constants, shared by both ends."""
    doc: dict[str, Any] = json.loads((firmware_dir() / "protocol.json").read_text())
    return doc


@dataclass(frozen=True)
class Firmware:
    """The loaded firmware modules (typed Any: they are MicroPython code without hints)."""

    path: Path
    main: Any
    ble_provisioning: Any
    rs_pairing: Any
    rs_protocol: Any
    sync: Any
    uploader: Any
    gzip_body: Any
    storage: Any
    logger: Any
    wifi_join: Any
    clock: Any
    net: Any  # board/net.py


_lock = threading.Lock()
_loaded: Firmware | None = None


def load() -> Firmware:
    """The firmware modules, loaded once per process (see the module docstring)."""
    global _loaded
    with _lock:
        if _loaded is None:
            _loaded = _load(firmware_dir())
        return _loaded


def _load(path: Path) -> Firmware:
    try:
        cryptolib = _cryptolib_shim()
    except ImportError as exc:
        raise FirmwareUnavailable(
            "the virtual RS-Core needs the `cryptography` package for the firmware's AES"
            " (pip install -e '.[dev]')"
        ) from exc
    own = {p.stem for p in path.glob("*.py")} | {"board"} | set(_SHIMS)

    def ours(name: str) -> bool:
        return name.split(".")[0] in own

    saved = {name: module for name, module in sys.modules.items() if ours(name)}
    for name in saved:
        del sys.modules[name]
    sys.modules["cryptolib"] = cryptolib
    sys.modules["machine"] = _machine_shim()
    sys.path.insert(0, str(path))
    try:
        modules = {name: importlib.import_module(name) for name in _MODULES}
    finally:
        sys.path.remove(str(path))
        for name in [n for n in sys.modules if ours(n)]:
            del sys.modules[name]
        sys.modules.update(saved)
    return Firmware(
        path=path,
        main=modules["main"],
        ble_provisioning=modules["ble_provisioning"],
        rs_pairing=modules["rs_pairing"],
        rs_protocol=modules["rs_protocol"],
        sync=modules["sync"],
        uploader=modules["uploader"],
        gzip_body=modules["gzip_body"],
        storage=modules["storage"],
        logger=modules["logger"],
        wifi_join=modules["wifi_join"],
        clock=modules["clock"],
        net=modules["board.net"],
    )


def _cryptolib_shim() -> types.ModuleType:
    """MicroPython's `cryptolib.aes(key, mode, iv)` (ECB and CBC), on `cryptography`."""
    from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

    module = types.ModuleType("cryptolib", "cryptolib on the host (racesense.devicesim)")

    class aes:  # MicroPython's name
        def __init__(self, key: bytes, mode: int, iv: bytes | None = None) -> None:
            chosen: modes.ECB | modes.CBC
            if mode == 1:
                chosen = modes.ECB()
            elif mode == 2:
                chosen = modes.CBC(bytes(iv) if iv is not None else bytes(16))
            else:
                raise ValueError("mode")
            self._cipher: Any = Cipher(algorithms.AES(bytes(key)), chosen)
            self._ctx: Any = None
            self._encrypting: bool | None = None

        def _run(self, encrypting: bool, data: Any, out: Any) -> bytes | None:
            if self._encrypting is None:
                self._encrypting = encrypting
                cipher = self._cipher
                self._ctx = cipher.encryptor() if encrypting else cipher.decryptor()
            elif self._encrypting != encrypting:
                raise ValueError("can't encrypt & decrypt")  # as MicroPython says it
            if len(data) % 16:
                raise ValueError("blksize % 16")
            result: bytes = self._ctx.update(bytes(data))
            if out is None:
                return result
            out[: len(result)] = result
            return None

        def encrypt(self, data: Any, out: Any = None) -> bytes | None:
            return self._run(True, data, out)

        def decrypt(self, data: Any, out: Any = None) -> bytes | None:
            return self._run(False, data, out)

    module.aes = aes  # type: ignore[attr-defined]
    module.MODE_ECB = 1  # type: ignore[attr-defined]
    module.MODE_CBC = 2  # type: ignore[attr-defined]
    return module


def _machine_shim() -> types.ModuleType:
    module = types.ModuleType("machine", "no hardware here (racesense.devicesim)")

    class _Absent:
        def __init__(self, *args: object, **kwargs: object) -> None:
            raise OSError(19, "the virtual RS-Core has no such hardware")  # ENODEV

    for name in ("UART", "I2C", "Pin", "SDCard", "WDT"):
        setattr(module, name, type(name, (_Absent,), {}))

    def unique_id() -> bytes:
        raise OSError(19, "the virtual RS-Core's id comes from its configuration")

    module.unique_id = unique_id  # type: ignore[attr-defined]
    return module
