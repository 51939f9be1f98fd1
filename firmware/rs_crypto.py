"""Symmetric building blocks of the BLE protocol (docs/ble-protocol.md, "Crypto"):
HMAC-SHA256, HKDF-SHA256, a constant-time compare, and the error the crypto raises.

Written on hashlib.sha256, which every MicroPython build has: micropython-lib's hmac may
not be installed, and MicroPython has no HKDF. The PAKE is in rs_pake.py, the sealed
channel in rs_channel.py.
"""

import hashlib

_SHA256_BLOCK_BYTES = 64
_SHA256_BYTES = 32


class CryptoError(Exception):
    """A message failed a crypto check; .code is an rs_protocol error code (E_AUTH,
    E_REPLAY, E_MESSAGE), .detail a sentence for the log and the ack."""

    def __init__(self, code, detail):
        super().__init__(code, detail)
        self.code = code
        self.detail = detail


class HmacSha256:
    """HMAC-SHA256 (RFC 2104) under one key, with the padded keys computed once: the
    channel MACs every message under the same key, and MicroPython's sha256 cannot copy()."""

    def __init__(self, key):
        if len(key) > _SHA256_BLOCK_BYTES:
            key = hashlib.sha256(key).digest()
        ipad = bytearray(_SHA256_BLOCK_BYTES)
        opad = bytearray(_SHA256_BLOCK_BYTES)
        for i in range(_SHA256_BLOCK_BYTES):
            b = key[i] if i < len(key) else 0
            ipad[i] = b ^ 0x36
            opad[i] = b ^ 0x5C
        self._ipad = bytes(ipad)
        self._opad = bytes(opad)

    def digest(self, parts):
        """MAC of the concatenation of `parts` (a tuple of buffers), without concatenating."""
        inner = hashlib.sha256(self._ipad)
        for part in parts:
            inner.update(part)
        outer = hashlib.sha256(self._opad)
        outer.update(inner.digest())
        return outer.digest()


def hmac_sha256(key, message):
    return HmacSha256(key).digest((message,))


def hkdf_sha256(ikm, salt, info, length_bytes):
    """HKDF (RFC 5869) with SHA-256: extract with `salt`, expand to `length_bytes`. What
    WebCrypto's deriveBits({name: "HKDF", hash: "SHA-256", salt, info}) gives."""
    if not 0 < length_bytes <= 255 * _SHA256_BYTES:
        raise ValueError("HKDF length out of range")
    prk = hmac_sha256(salt if salt else bytes(_SHA256_BYTES), ikm)
    prf = HmacSha256(prk)
    out = b""
    block = b""
    n = 1
    while len(out) < length_bytes:
        block = prf.digest((block, info, bytes((n,))))
        out += block
        n += 1
    return out[:length_bytes]


def equal_ct(a, b):
    """Compare two byte strings in time that depends only on their lengths, so a forger
    cannot learn a MAC byte by byte from response timing."""
    if len(a) != len(b):
        return False
    diff = 0
    for i in range(len(a)):
        diff |= a[i] ^ b[i]
    return diff == 0
