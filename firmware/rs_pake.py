"""CPace (draft-irtf-cfrg-cpace-21, suite CPACE-X25519-SHA512) and Racesense's use of it:
the pairing code becomes a session key without ever being guessable offline
(docs/ble-protocol.md, "Crypto").

CPace, initiator-responder: the phone is A (it speaks first), the device is B.

    g   = Elligator2(SHA-512(generator_string(b"CPace255", PRS, CI, sid))[:32])
    Ya  = X25519(ya, g)            Yb = X25519(yb, g)             (32 random bytes each)
    K   = X25519(ya, Yb) = X25519(yb, Ya); abort if K is all zero (low-order point)
    ISK = SHA-512(lv_cat(b"CPace255_ISK", sid, K) || lv_cat(Ya, ADa) || lv_cat(Yb, ADb))

Racesense's inputs: PRS = the 8 ASCII digits of the pairing code; CI = lv_cat(CI_LABEL,
device_id); sid = 16 random bytes the phone sends in pake_a; ADa = ADb = b"". Then
keys = HKDF-SHA256(ISK, salt=sid, info=HKDF_INFO, 160 bytes) give two confirmation keys and
the channel's keys (rs_channel.py), and each side proves it holds them with
T = HMAC-SHA256(confirm key, transcript) before anything secret moves.

The device's half (Responder) runs as a generator of small steps, so the BLE service can
spread a handshake over several polls of the loop that also reads the GNSS.
"""

import rs_crypto
import rs_x25519
from rs_protocol import (
    AES_KEY_BYTES,
    CI_LABEL,
    CONFIRM_BYTES,
    DELAY_BASE_MS,
    DELAY_MAX_MS,
    E_AUTH,
    E_MESSAGE,
    FREE_FAILURES,
    HKDF_INFO,
    KEY_SCHEDULE_BYTES,
    MAC_KEY_BYTES,
    POINT_BYTES,
    SID_BYTES,
)
from rs_sha512 import sha512

DSI = b"CPace255"
DSI_ISK = b"CPace255_ISK"
HASH_BLOCK_BYTES = 128  # SHA-512's input block: s_in_bytes of the generator string
IDENTITY = bytes(POINT_BYTES)  # G.I: X25519's all-zero output for low-order points
LADDER_BITS_PER_STEP = 8  # one step of Responder.steps(): about 1/32 of a ladder


def _hash_in_blocks(h, data):
    """Feed `data` to the hash one input block at a time, yielding after each, so a
    pure-Python SHA-512 never costs more than a block per step."""
    for i in range(0, len(data), HASH_BLOCK_BYTES):
        h.update(data[i : i + HASH_BLOCK_BYTES])
        yield


def prepend_len(data):
    """The LEB128 length of `data`, then `data`."""
    n = len(data)
    out = bytearray()
    while True:
        if n < 128:
            out.append(n)
            break
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    return bytes(out) + bytes(data)


def lv_cat(*parts):
    out = b""
    for part in parts:
        out += prepend_len(part)
    return out


def generator_string(dsi, prs, ci, sid, s_in_bytes=HASH_BLOCK_BYTES):
    """lv_cat(DSI, PRS, zero padding, CI, sid): the padding fills the hash's first block
    so the work done on the password does not depend on its length."""
    zpad = max(0, s_in_bytes - 1 - len(prepend_len(prs)) - len(prepend_len(dsi)))
    return lv_cat(dsi, prs, bytes(zpad), ci, sid)


def transcript_ir(ya, ada, yb, adb):
    return lv_cat(ya, ada) + lv_cat(yb, adb)


def channel_identifier(device_id):
    return lv_cat(CI_LABEL, device_id.encode())


def generator_hash(prs, ci, sid):
    """SHA-512 of the generator string, cut to the field's 32 bytes."""
    return sha512(generator_string(DSI, prs, ci, sid)).digest()[:POINT_BYTES]


def calculate_generator(prs, ci, sid):
    """G.calculate_generator for X25519: the generator's u-coordinate, 32 bytes."""
    x, z = rs_x25519.map_to_curve(generator_hash(prs, ci, sid))
    return rs_x25519.encode_projective(x, z)


def scalar_mult_vfy(y, point):
    """X25519(y, point): G.I (all zero) when the point has low order."""
    return rs_x25519.x25519(y, point)


def intermediate_session_key(sid, k, ya, ada, yb, adb):
    return sha512(lv_cat(DSI_ISK, sid, k) + transcript_ir(ya, ada, yb, adb)).digest()


class SessionKeys:
    """What the key schedule derives from ISK: the two confirmation tags expected, and the
    channel's keys for each direction (p2d: phone to device, d2p: device to phone)."""

    def __init__(self, isk, sid, transcript):
        okm = rs_crypto.hkdf_sha256(isk, sid, HKDF_INFO, KEY_SCHEDULE_BYTES)
        i = 2 * CONFIRM_BYTES
        self.confirm_a = rs_crypto.hmac_sha256(okm[:CONFIRM_BYTES], transcript)
        self.confirm_b = rs_crypto.hmac_sha256(okm[CONFIRM_BYTES:i], transcript)
        self.aes_p2d = okm[i : i + AES_KEY_BYTES]
        i += AES_KEY_BYTES
        self.aes_d2p = okm[i : i + AES_KEY_BYTES]
        i += AES_KEY_BYTES
        self.mac_p2d = okm[i : i + MAC_KEY_BYTES]
        i += MAC_KEY_BYTES
        self.mac_d2p = okm[i : i + MAC_KEY_BYTES]


def check_code(code):
    """The PRS from a pairing code: exactly 8 ASCII digits (rs_pairing normalises what a
    person typed)."""
    if not isinstance(code, str) or len(code) != 8:
        raise ValueError("pairing code must be 8 digits")
    for ch in code:
        if ch not in "0123456789":
            raise ValueError("pairing code must be 8 ASCII digits")
    return code.encode()


class Responder:
    """The device's half of one handshake. steps() is a generator: each next() does a
    bounded piece of work; when it is exhausted, .error is None and .yb_point, .keys are
    set, or .error is an rs_crypto.CryptoError (a low-order Ya: E_AUTH)."""

    def __init__(self, code, device_id, sid, ya_point, yb_scalar):
        if len(sid) != SID_BYTES:
            raise rs_crypto.CryptoError(E_MESSAGE, "sid must be 16 bytes")
        if len(ya_point) != POINT_BYTES or len(yb_scalar) != POINT_BYTES:
            raise rs_crypto.CryptoError(E_MESSAGE, "points and scalars are 32 bytes")
        self._prs = check_code(code)
        self._ci = channel_identifier(device_id)
        self.sid = bytes(sid)
        self.ya_point = bytes(ya_point)
        self._yb = rs_x25519.decode_scalar(yb_scalar)
        self.yb_point = None
        self.keys = None
        self.error = None

    def steps(self):
        # Each step is bounded: one SHA-512 block, or LADDER_BITS_PER_STEP ladder bits, or
        # one modular exponentiation (on an ESP32, each is estimated at 15-60 ms).
        h = sha512()
        for _ in _hash_in_blocks(h, generator_string(DSI, self._prs, self._ci, self.sid)):
            yield
        u = h.digest()[:POINT_BYTES]  # the last block, with the padding
        yield
        gx, gz = rs_x25519.map_to_curve(u)
        yield
        ladder = rs_x25519.Ladder(self._yb, gx, gz)
        while not ladder.run(LADDER_BITS_PER_STEP):
            yield
        self.yb_point = ladder.result()
        yield
        ladder = rs_x25519.Ladder(self._yb, rs_x25519.decode_u(self.ya_point))
        while not ladder.run(LADDER_BITS_PER_STEP):
            yield
        k = ladder.result()
        self._yb = None
        if k == IDENTITY:
            self.error = rs_crypto.CryptoError(E_AUTH, "pake_a's point has low order")
            return
        yield
        transcript = transcript_ir(self.ya_point, b"", self.yb_point, b"")
        h = sha512()
        for _ in _hash_in_blocks(h, lv_cat(DSI_ISK, self.sid, k) + transcript):
            yield
        isk = h.digest()
        yield
        self.keys = SessionKeys(isk, self.sid, transcript)

    def run(self):
        """All steps at once (tests, tools)."""
        for _ in self.steps():
            pass
        if self.error is not None:
            raise self.error
        return self

    def confirm_ok(self, tag):
        """Does the phone's confirmation tag Ta verify (constant-time)?"""
        return self.keys is not None and rs_crypto.equal_ct(tag, self.keys.confirm_a)


class Initiator:
    """The phone's half, on this module's own X25519 (MicroPython tests and the vector
    tool; firmware/tests/phone.py is the independent one)."""

    def __init__(self, code, device_id, sid, ya_scalar):
        self.sid = bytes(sid)
        self._ya = bytes(ya_scalar)
        g = calculate_generator(check_code(code), channel_identifier(device_id), self.sid)
        self.ya_point = rs_x25519.x25519(self._ya, g)
        self.keys = None

    def finish(self, yb_point):
        """Keys from the device's Yb; CryptoError(E_AUTH) for a low-order point."""
        k = scalar_mult_vfy(self._ya, yb_point)
        if k == IDENTITY:
            raise rs_crypto.CryptoError(E_AUTH, "pake_b's point has low order")
        isk = intermediate_session_key(self.sid, k, self.ya_point, b"", yb_point, b"")
        transcript = transcript_ir(self.ya_point, b"", yb_point, b"")
        self.keys = SessionKeys(isk, self.sid, transcript)
        return self.keys


class Throttle:
    """Failed handshakes, per device: after FREE_FAILURES failures in a row each new
    attempt waits DELAY_BASE_MS, doubling per failure up to DELAY_MAX_MS. A growing delay,
    never a lockout: the owner can always try again within DELAY_MAX_MS, and a success
    clears it. An attempt counts as failed from its start until its confirmation verifies,
    so walking away after seeing the device's answer costs the attacker the same."""

    def __init__(self, free=FREE_FAILURES, base_ms=DELAY_BASE_MS, max_ms=DELAY_MAX_MS):
        self._free = free
        self._base_ms = base_ms
        self._max_ms = max_ms
        self.failures = 0
        self._last_ms = 0

    def delay_ms(self):
        """The wait after the latest failure before another attempt is allowed."""
        if self.failures < self._free:
            return 0
        delay = self._base_ms
        for _ in range(self.failures - self._free):
            delay *= 2
            if delay >= self._max_ms:
                return self._max_ms
        return min(delay, self._max_ms)

    def wait_ms(self, now_ms, ticks_diff):
        """0 if an attempt may start now, else how long to wait."""
        delay = self.delay_ms()
        if delay == 0:
            return 0
        return max(0, delay - ticks_diff(now_ms, self._last_ms))

    def attempt(self, now_ms):
        """An attempt starts: counted as a failure until success() says otherwise."""
        self.failures += 1
        self._last_ms = now_ms

    def success(self):
        self.failures = 0
