"""The pairing code: 8 random digits on the device's label, typed or scanned into the
phone (docs/ble-protocol.md, "Pairing code"). CPace (rs_pake.py) makes a short code safe:
each guess needs one live handshake with the device, and the device slows those down.

    RSCORE:<device_id>:<8 digits>      the QR code's payload (qr_payload / parse_qr)
    1234-5678                          how the label and the console show it

Made on first boot, after the radio is on: the ESP32's hardware RNG draws its entropy from
the RF subsystem, and os.urandom before Wi-Fi or BLE is up is only pseudo-random
(ble_provisioning asks for the code once the radio is registered). Kept in a file on the
internal flash, not the SD card, which can be swapped.
"""

from os import urandom as _os_urandom

from rs_protocol import PAIRING_CODE_DIGITS, QR_PREFIX

_CODE_SPACE = 10**PAIRING_CODE_DIGITS
# The largest multiple of 10^8 below 2^32: draws at or above it are redrawn, so every
# code is equally likely (a plain modulo would favour the low ones).
_DRAW_LIMIT = (1 << 32) - (1 << 32) % _CODE_SPACE


def new_code(urandom=_os_urandom):
    """8 uniformly random digits, as a string."""
    while True:
        n = int.from_bytes(urandom(4), "big")
        if n < _DRAW_LIMIT:
            text = str(n % _CODE_SPACE)
            return "0" * (PAIRING_CODE_DIGITS - len(text)) + text


def normalize(text):
    """The 8 digits from what a person typed ('1234 5678', '1234-5678'); ValueError."""
    if not isinstance(text, str):
        raise ValueError("pairing code must be text")
    code = text.strip().replace("-", "").replace(" ", "")
    if len(code) != PAIRING_CODE_DIGITS or not code.isdigit():
        raise ValueError("pairing code must be 8 digits")
    for ch in code:
        if ch not in "0123456789":  # isdigit() also takes other scripts' digits
            raise ValueError("pairing code must be 8 digits")
    return code


def format_code(code):
    """1234-5678, as printed on the label."""
    code = normalize(code)
    half = PAIRING_CODE_DIGITS // 2
    return code[:half] + "-" + code[half:]


def qr_payload(device_id, code):
    """RSCORE:<device_id>:<code>: what the label's QR code holds."""
    if ":" in device_id:
        raise ValueError("device_id must not contain ':'")
    return QR_PREFIX + device_id + ":" + normalize(code)


def parse_qr(text):
    """(device_id, code) from a scanned payload; ValueError if it is not one."""
    if not isinstance(text, str) or not text.startswith(QR_PREFIX):
        raise ValueError("not an RS-Core pairing QR code")
    rest = text[len(QR_PREFIX) :]
    cut = rest.rfind(":")
    if cut <= 0:
        raise ValueError("QR payload lacks the device id or the code")
    return rest[:cut], normalize(rest[cut + 1 :])


class Pairing:
    """One device's pairing facts: its id (part of CPace's CI) and its code."""

    def __init__(self, device_id, code):
        if not device_id or ":" in device_id:
            raise ValueError("device_id must be non-empty, without ':'")
        self.device_id = device_id
        self.code = normalize(code)


def load_or_create(path, device_id, urandom=_os_urandom, log=print):
    """The stored code, or a new one written to `path` and announced on the console
    (once: the code is a secret). A stored code that is not 8 digits (a protocol v1
    code) is replaced the same way. Returns a Pairing."""
    try:
        with open(path) as f:
            return Pairing(device_id, f.read().strip())
    except (OSError, ValueError):
        pass
    code = new_code(urandom)
    with open(path, "w") as f:
        f.write(code + "\n")
    log("First boot: write this pairing code on the device's label.")
    log(device_id + " pairing code: " + format_code(code))
    log("QR code payload: " + qr_payload(device_id, code))
    return Pairing(device_id, code)
