"""The browser's half of protocol v2, in Python, for tests (docs/ble-protocol.md): what the
web UI will do, written from the document and not from the firmware's modules, so the two
check each other.

- X25519 comes from the `cryptography` package (OpenSSL) under CPython; MicroPython has no
  such package, so there it falls back to rs_x25519 (the vectors pin both).
- Elligator 2 is written here again, affine and straight from RFC 9380 6.7.1.
- SHA-512, HMAC, HKDF and AES-CTR come from hashlib, hmac and `cryptography` under
  CPython, from the firmware's modules under MicroPython.

    phone = PhoneSession("12345678", info["device_id"])
    pake_a = phone.pake_a()                 # JSON dict for message pake_a
    confirm = phone.on_pake_b(pake_b)       # JSON dict for confirm; CryptoError if Tb fails
    sealed = phone.seal(MSG_SYNC_REQUEST, {...})      # body of a `sealed` message
    inner_type, obj = phone.open(sealed_body)          # CryptoError unless genuine and new
"""

import json
from binascii import a2b_base64, b2a_base64
from os import urandom

try:
    import hashlib
    import hmac as _hmac

    from cryptography.hazmat.primitives.asymmetric.x25519 import (
        X25519PrivateKey,
        X25519PublicKey,
    )
    from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

    def x25519(scalar, point):
        try:
            return X25519PrivateKey.from_private_bytes(scalar).exchange(
                X25519PublicKey.from_public_bytes(point)
            )
        except ValueError:  # OpenSSL refuses an all-zero result (a low-order point)
            return bytes(32)

    def sha512(data):
        return hashlib.sha512(data).digest()

    def hmac_sha256(key, data):
        return _hmac.new(key, data, "sha256").digest()

    def aes_ctr(key, iv16, data):
        enc = Cipher(algorithms.AES(key), modes.CTR(iv16)).encryptor()
        return enc.update(data) + enc.finalize()

    INDEPENDENT = True
except ImportError:  # MicroPython: the firmware's primitives
    import rs_channel
    import rs_crypto
    import rs_sha512
    import rs_x25519

    x25519 = rs_x25519.x25519

    def sha512(data):
        return rs_sha512.sha512(data).digest()

    hmac_sha256 = rs_crypto.hmac_sha256

    def aes_ctr(key, iv16, data):
        return rs_channel.aes_ctr(key, int.from_bytes(iv16[:4], "big"), data)

    INDEPENDENT = False

from rs_crypto import CryptoError  # the firmware's error type, so tests can share helpers
from rs_protocol import E_AUTH, E_MESSAGE, E_REPLAY

P = 2**255 - 19


class FakeDeviceError(Exception):
    pass


def b64url(data):
    return b2a_base64(bytes(data)).decode().strip().rstrip("=").replace("+", "-").replace("/", "_")


def unb64url(text):
    std = text.replace("-", "+").replace("_", "/")
    return a2b_base64(std + "=" * (-len(std) % 4))


def leb128_prefixed(data):
    n = len(data)
    head = []
    while n >= 128:
        head.append(0x80 | (n & 0x7F))
        n >>= 7
    head.append(n)
    return bytes(head) + bytes(data)


def lv(*parts):
    return b"".join([leb128_prefixed(p) for p in parts])


def elligator2_u(r):
    """RFC 9380 map_to_curve_elligator2 for curve25519 (J = 486662, K = 1, Z = 2),
    x-coordinate only, in affine coordinates with field inversions."""
    j = 486662
    tv = (1 + 2 * r * r) % P
    x1 = (-j * pow(tv, P - 2, P)) % P if tv else (-j) % P
    gx1 = (x1 * x1 * x1 + j * x1 * x1 + x1) % P
    if pow(gx1, (P - 1) // 2, P) in (0, 1):  # is_square
        return x1
    return (-x1 - j) % P


def generator(code, device_id, sid):
    """CPace's calculate_generator for CPACE-X25519-SHA512 with Racesense's inputs."""
    prs = code.encode()
    ci = lv(b"racesense-ble-v2", device_id.encode())
    dsi = b"CPace255"
    zpad = max(0, 128 - 1 - len(leb128_prefixed(prs)) - len(leb128_prefixed(dsi)))
    gen_str = lv(dsi, prs, bytes(zpad), ci, sid)
    h = bytearray(sha512(gen_str)[:32])
    h[31] &= 0x7F
    u = int.from_bytes(bytes(h), "little") % P
    return elligator2_u(u).to_bytes(32, "little")


def hkdf(ikm, salt, info, length):
    prk = hmac_sha256(salt, ikm)
    out = b""
    t = b""
    i = 1
    while len(out) < length:
        t = hmac_sha256(prk, t + info + bytes((i,)))
        out += t
        i += 1
    return out[:length]


class PhoneSession:
    """One handshake and the channel it opens, from the phone's side."""

    def __init__(self, code, device_id, sid=None, ya=None):
        self.code = code
        self.device_id = device_id
        self.sid = sid if sid is not None else urandom(16)
        self._ya = ya if ya is not None else urandom(32)
        self.ya_point = x25519(self._ya, generator(code, device_id, self.sid))
        self.keys = None
        self.isk = None
        self.sent = 0  # our counter (p2d)
        self.received = 0  # highest device counter accepted (d2p)

    def pake_a(self):
        return {"sid": b64url(self.sid), "ya": b64url(self.ya_point)}

    def on_pake_b(self, obj):
        """The confirm message's JSON for a device's pake_b, after checking its Tb. Raises
        FakeDeviceError for an answer of another handshake (a stale read), CryptoError
        E_AUTH when Tb is wrong (the device does not hold the code) or Yb has low order."""
        if unb64url(obj["sid"]) != self.sid:
            raise FakeDeviceError("pake_b of another handshake")
        yb = unb64url(obj["yb"])
        if len(yb) != 32:
            raise CryptoError(E_MESSAGE, "yb is not 32 bytes")
        k = x25519(self._ya, yb)
        if k == bytes(32):
            raise CryptoError(E_AUTH, "low-order yb")
        transcript = lv(self.ya_point, b"") + lv(yb, b"")
        self.isk = sha512(lv(b"CPace255_ISK", self.sid, k) + transcript)
        okm = hkdf(self.isk, self.sid, b"racesense-ble-v2 keys", 160)
        tb = unb64url(obj["tb"])
        if not _hmac_equal(hmac_sha256(okm[32:64], transcript), tb):
            raise CryptoError(E_AUTH, "the device failed key confirmation")
        self.keys = {
            "aes_p2d": okm[64:80],
            "aes_d2p": okm[80:96],
            "mac_p2d": okm[96:128],
            "mac_d2p": okm[128:160],
        }
        self.ta = hmac_sha256(okm[0:32], transcript)
        self.yb_point = yb
        return {"ta": b64url(self.ta)}

    def seal(self, inner_type, obj, counter=None):
        """The body of a `sealed` message: counter || ciphertext || tag."""
        if counter is None:
            self.sent += 1
            counter = self.sent
        plain = bytes((inner_type,)) + (obj if isinstance(obj, bytes) else json.dumps(obj).encode())
        c = counter.to_bytes(4, "big")
        ct = aes_ctr(self.keys["aes_p2d"], c + bytes(12), plain)
        tag = hmac_sha256(self.keys["mac_p2d"], b"p2d" + c + ct)[:16]
        return c + ct + tag

    def open(self, body, polled=False):
        """(inner type, JSON object) of a device's sealed message. CryptoError: E_AUTH for
        anything not sealed under this session's d2p keys, E_REPLAY for an old counter. A
        polled status read may repeat the last counter: then None (nothing new)."""
        if len(body) < 21:
            raise CryptoError(E_MESSAGE, "too short")
        c = bytes(body[:4])
        ct = bytes(body[4:-16])
        tag = hmac_sha256(self.keys["mac_d2p"], b"d2p" + c + ct)[:16]
        if not _hmac_equal(tag, bytes(body[-16:])):
            raise CryptoError(E_AUTH, "not from the paired device")
        counter = int.from_bytes(c, "big")
        if polled and counter == self.received:
            return None
        if counter <= self.received:
            raise CryptoError(E_REPLAY, "old counter")
        self.received = counter
        plain = aes_ctr(self.keys["aes_d2p"], c + bytes(12), ct)
        return plain[0], json.loads(plain[1:])


def _hmac_equal(a, b):
    if len(a) != len(b):
        return False
    diff = 0
    for i in range(len(a)):
        diff |= a[i] ^ b[i]
    return diff == 0
