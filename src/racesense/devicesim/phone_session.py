"""The phone's half of the pairing in Python (docs/ble-protocol.md): the CPace handshake
and the sealed channel, written from the document (adapted from the firmware tests'
firmware/tests/phone.py), not from the firmware's modules, so the two check each other;
only protocol.json's constants are shared (`Constants`).

X25519 and AES-CTR come from the `cryptography` package; SHA-512, HMAC and HKDF from the
standard library. phone.py drives it over a link.

    session = PhoneSession("12345678", info["device_id"], Constants.load())
    pake_a = session.pake_a()                  # JSON dict for message pake_a
    confirm = session.on_pake_b(pake_b)        # JSON dict for confirm; PhoneError if Tb fails
    body = session.seal(inner_type, {...})     # body of a `sealed` message
    opened = session.open(body)                # (inner_type, obj), or None if not new
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
from dataclasses import dataclass
from typing import Any

from racesense.devicesim import firmware

P = 2**255 - 19


class PhoneError(Exception):
    """A step that failed: a protocol.json error name (E_...) or "timeout"/"link", and why."""

    def __init__(self, code: str, detail: str = "", retry_ms: int | None = None) -> None:
        super().__init__(code, detail)
        self.code = code
        self.detail = detail
        self.retry_ms = retry_ms

    def __str__(self) -> str:
        return f"{self.code}: {self.detail}" if self.detail else self.code


@dataclass(frozen=True)
class Constants:
    """protocol.json, as the phone uses it."""

    service_uuid: str
    info_uuid: str
    control_uuid: str
    status_uuid: str
    msg: dict[str, int]
    header_bytes: int
    flag_last: int
    ci_label: bytes
    hkdf_info: bytes
    label_p2d: bytes
    label_d2p: bytes

    @classmethod
    def load(cls) -> Constants:
        doc = firmware.protocol()
        chars = doc["characteristics"]
        crypto = doc["crypto"]
        return cls(
            service_uuid=doc["service_uuid"],
            info_uuid=chars["info"]["uuid"],
            control_uuid=chars["control"]["uuid"],
            status_uuid=chars["status"]["uuid"],
            msg=dict(doc["message_types"]),
            header_bytes=doc["frame"]["header_bytes"],
            flag_last=doc["frame"]["flag_last"],
            ci_label=crypto["ci_label"].encode(),
            hkdf_info=crypto["hkdf_info"].encode(),
            label_p2d=crypto["label_p2d"].encode(),
            label_d2p=crypto["label_d2p"].encode(),
        )


# -- crypto ----------------------------------------------------------------------------


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(bytes(data)).rstrip(b"=").decode()


def unb64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _x25519(scalar: bytes, point: bytes) -> bytes:
    from cryptography.hazmat.primitives.asymmetric.x25519 import (
        X25519PrivateKey,
        X25519PublicKey,
    )

    try:
        return X25519PrivateKey.from_private_bytes(scalar).exchange(
            X25519PublicKey.from_public_bytes(point)
        )
    except ValueError:  # OpenSSL refuses an all-zero result (a low-order point)
        return bytes(32)


def _aes_ctr(key: bytes, iv16: bytes, data: bytes) -> bytes:
    from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

    enc = Cipher(algorithms.AES(key), modes.CTR(iv16)).encryptor()
    return enc.update(data) + enc.finalize()


def _sha512(data: bytes) -> bytes:
    return hashlib.sha512(data).digest()


def _hmac_sha256(key: bytes, data: bytes) -> bytes:
    return hmac.new(key, data, "sha256").digest()


def _leb128_prefixed(data: bytes) -> bytes:
    n = len(data)
    head = []
    while n >= 128:
        head.append(0x80 | (n & 0x7F))
        n >>= 7
    head.append(n)
    return bytes(head) + bytes(data)


def _lv(*parts: bytes) -> bytes:
    return b"".join(_leb128_prefixed(p) for p in parts)


def _elligator2_u(r: int) -> int:
    """RFC 9380 map_to_curve_elligator2 for curve25519 (J = 486662, K = 1, Z = 2),
    x-coordinate only, in affine coordinates."""
    j = 486662
    tv = (1 + 2 * r * r) % P
    x1 = (-j * pow(tv, P - 2, P)) % P if tv else (-j) % P
    gx1 = (x1 * x1 * x1 + j * x1 * x1 + x1) % P
    if pow(gx1, (P - 1) // 2, P) in (0, 1):  # is_square
        return x1
    return (-x1 - j) % P


def _generator(code: str, device_id: str, sid: bytes, ci_label: bytes) -> bytes:
    """CPace's calculate_generator for CPACE-X25519-SHA512 with Racesense's inputs."""
    prs = code.encode()
    ci = _lv(ci_label, device_id.encode())
    dsi = b"CPace255"
    zpad = max(0, 128 - 1 - len(_leb128_prefixed(prs)) - len(_leb128_prefixed(dsi)))
    h = bytearray(_sha512(_lv(dsi, prs, bytes(zpad), ci, sid))[:32])
    h[31] &= 0x7F
    u = int.from_bytes(bytes(h), "little") % P
    return _elligator2_u(u).to_bytes(32, "little")


def _hkdf(ikm: bytes, salt: bytes, info: bytes, length: int) -> bytes:
    prk = _hmac_sha256(salt, ikm)
    out = b""
    t = b""
    i = 1
    while len(out) < length:
        t = _hmac_sha256(prk, t + info + bytes((i,)))
        out += t
        i += 1
    return out[:length]


class PhoneSession:
    """One handshake and the channel it opens, from the phone's side."""

    def __init__(self, code: str, device_id: str, constants: Constants) -> None:
        self.c = constants
        self.code = code
        self.device_id = device_id
        self.sid = os.urandom(16)
        self._ya = os.urandom(32)
        self.ya_point = _x25519(self._ya, _generator(code, device_id, self.sid, constants.ci_label))
        self.keys: dict[str, bytes] | None = None
        self.sent = 0  # our counter (p2d)
        self.received = 0  # the highest device counter accepted (d2p)

    def pake_a(self) -> dict[str, str]:
        return {"sid": b64url(self.sid), "ya": b64url(self.ya_point)}

    def on_pake_b(self, obj: dict[str, Any]) -> dict[str, str]:
        """The confirm message for the device's pake_b; PhoneError E_AUTH when the device
        does not hold the code (its Tb fails) or Yb has low order."""
        yb = unb64url(obj["yb"])
        if len(yb) != 32:
            raise PhoneError("E_MESSAGE", "yb is not 32 bytes")
        k = _x25519(self._ya, yb)
        if k == bytes(32):
            raise PhoneError("E_AUTH", "low-order yb")
        transcript = _lv(self.ya_point, b"") + _lv(yb, b"")
        isk = _sha512(_lv(b"CPace255_ISK", self.sid, k) + transcript)
        okm = _hkdf(isk, self.sid, self.c.hkdf_info, 160)
        if not hmac.compare_digest(_hmac_sha256(okm[32:64], transcript), unb64url(obj["tb"])):
            raise PhoneError("E_AUTH", "wrong pairing code, or not this logger")
        self.keys = {
            "aes_p2d": okm[64:80],
            "aes_d2p": okm[80:96],
            "mac_p2d": okm[96:128],
            "mac_d2p": okm[128:160],
        }
        return {"ta": b64url(_hmac_sha256(okm[0:32], transcript))}

    def seal(self, inner_type: int, obj: dict[str, Any]) -> bytes:
        """The body of a `sealed` message: counter || ciphertext || tag."""
        assert self.keys is not None, "not paired"
        self.sent += 1
        c = self.sent.to_bytes(4, "big")
        plain = bytes((inner_type,)) + json.dumps(obj, separators=(",", ":")).encode()
        ct = _aes_ctr(self.keys["aes_p2d"], c + bytes(12), plain)
        tag = _hmac_sha256(self.keys["mac_p2d"], self.c.label_p2d + c + ct)[:16]
        return c + ct + tag

    def open(self, body: bytes, polled: bool = False) -> tuple[int, dict[str, Any]] | None:
        """(inner type, JSON object) of the device's sealed message; None for nothing new
        (an old counter: a polled value read again, or a replay). PhoneError E_AUTH for
        anything not sealed under this session's keys."""
        assert self.keys is not None, "not paired"
        if len(body) < 21:
            raise PhoneError("E_MESSAGE", "sealed message too short")
        c, ct, tag = body[:4], body[4:-16], body[-16:]
        want = _hmac_sha256(self.keys["mac_d2p"], self.c.label_d2p + c + ct)[:16]
        if not hmac.compare_digest(want, tag):
            raise PhoneError("E_AUTH", "not from the paired device")
        counter = int.from_bytes(c, "big")
        if counter <= self.received:
            return None
        self.received = counter
        plain = _aes_ctr(self.keys["aes_d2p"], c + bytes(12), ct)
        return plain[0], json.loads(plain[1:])
