"""Pairing-code crypto for the BLE sync request (docs/ble-protocol.md, "Crypto").

The hotspot password and the upload token must not cross the air in clear (Improv Wi-Fi
sends them in clear). MicroPython offers hashlib.sha256, cryptolib AES-CBC and os.urandom,
and nothing for key agreement, so both sides derive keys from a shared secret: the pairing
code printed on the device's label.

    keys = PBKDF2-HMAC-SHA256(code, b"racesense-ble-v1" + device_id, 2000) -> 64 bytes
           aes_key = [0:16], mac_key = [16:64]
    blob = iv(16) || AES-128-CBC(aes_key, iv, PKCS#7(plaintext)) || mac(32)
    mac  = HMAC-SHA256(mac_key, nonce || counter u32 BE || iv || ciphertext || ad)

nonce: 16 random bytes the device picks per connection and publishes; counter: chosen by
the browser, strictly increasing within a connection; ad binds the cleartext fields of the
message (see bound_data). HMAC and PBKDF2 are written here on hashlib.sha256: MicroPython
has no pbkdf2 and micropython-lib's hmac may not be installed.
"""

import hashlib
import struct
from os import urandom as _os_urandom

import cryptolib

from rs_protocol import (
    AES_KEY_BYTES,
    E_AUTH,
    E_MESSAGE,
    E_REPLAY,
    IV_BYTES,
    KDF_ITERATIONS,
    KDF_OUTPUT_BYTES,
    KDF_SALT_PREFIX,
    MAC_BYTES,
    NONCE_BYTES,
    PAIRING_CODE_ALPHABET,
    PAIRING_CODE_CHARS,
)

_AES_MODE_CBC = 2  # cryptolib's mode number for CBC
_AES_BLOCK_BYTES = 16
_SHA256_BLOCK_BYTES = 64
_SHA256_BYTES = 32
_COUNTER_MAX = 0xFFFFFFFF  # the counter travels as u32


class CryptoError(Exception):
    """A message failed a crypto check; .code is E_AUTH, E_REPLAY or E_MESSAGE."""

    def __init__(self, code, detail):
        super().__init__(code, detail)
        self.code = code
        self.detail = detail


class HmacSha256:
    """HMAC-SHA256 (RFC 2104) under one key, with the padded keys computed once: PBKDF2
    runs thousands of HMACs under the same key, and MicroPython's sha256 cannot copy()."""

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


def pbkdf2_hmac_sha256(password, salt, iterations, length_bytes):
    """PBKDF2 (RFC 8018) with HMAC-SHA256."""
    if iterations < 1 or length_bytes < 1:
        raise ValueError("iterations and length must be positive")
    prf = HmacSha256(password)
    out = bytearray()
    block = 1
    while len(out) < length_bytes:
        u = prf.digest((salt, struct.pack(">I", block)))
        # XOR of 32-byte strings as one big integer: far fewer bytecodes than a byte loop
        acc = int.from_bytes(u, "big")
        for _ in range(iterations - 1):
            u = prf.digest((u,))
            acc ^= int.from_bytes(u, "big")
        out += acc.to_bytes(_SHA256_BYTES, "big")
        block += 1
    return bytes(out[:length_bytes])


def equal_ct(a, b):
    """Compare two byte strings in time that depends only on their lengths, so a forger
    cannot learn a MAC byte by byte from response timing."""
    if len(a) != len(b):
        return False
    diff = 0
    for i in range(len(a)):
        diff |= a[i] ^ b[i]
    return diff == 0


# -- pairing code ---------------------------------------------------------------------------


def normalize_pairing_code(text):
    """The canonical 10-character code from what a person typed: case-insensitive, '-' and
    spaces ignored, O read as 0 and I/L as 1 (Crockford base32). ValueError if invalid."""
    code = text.upper().replace("-", "").replace(" ", "")
    code = code.replace("O", "0").replace("I", "1").replace("L", "1")
    if len(code) != PAIRING_CODE_CHARS:
        raise ValueError("pairing code must have 10 characters")
    for ch in code:
        if ch not in PAIRING_CODE_ALPHABET:
            raise ValueError("pairing code has a character outside Crockford base32")
    return code


def new_pairing_code(urandom=_os_urandom):
    """A fresh code: 50 random bits as 10 Crockford base32 characters."""
    bits = int.from_bytes(urandom(7), "big")  # 56 bits; the top 6 are dropped
    chars = []
    for _ in range(PAIRING_CODE_CHARS):
        chars.append(PAIRING_CODE_ALPHABET[bits & 31])
        bits >>= 5
    return "".join(chars)


def format_pairing_code(code):
    """XXXXX-XXXXX, as printed on the label and shown on first boot."""
    code = normalize_pairing_code(code)
    return code[:5] + "-" + code[5:]


# -- keys and sealing -----------------------------------------------------------------------


class Keys:
    """The two keys one pairing code yields for one device."""

    def __init__(self, aes_key, mac_key):
        if len(aes_key) != AES_KEY_BYTES:
            raise ValueError("aes_key must be 16 bytes")
        self.aes_key = bytes(aes_key)
        self.mac_key = bytes(mac_key)
        self.mac = HmacSha256(self.mac_key)


def derive_keys(pairing_code, device_id, iterations=KDF_ITERATIONS):
    """Keys from the pairing code (any accepted spelling) and the device id (str). Slow on
    purpose (about 8000 SHA-256 blocks): run once at boot, not per connection."""
    password = normalize_pairing_code(pairing_code).encode()
    salt = KDF_SALT_PREFIX + device_id.encode()
    okm = pbkdf2_hmac_sha256(password, salt, iterations, KDF_OUTPUT_BYTES)
    return Keys(okm[:AES_KEY_BYTES], okm[AES_KEY_BYTES:])


def bound_data(msg_type, values):
    """Associated data: the message type byte, then each value as u16 BE length + UTF-8.
    None counts as "" and integers as decimal text, so the browser builds the same bytes
    from the same JSON. Length prefixes keep ("ab", "c") apart from ("a", "bc")."""
    out = bytearray((msg_type,))
    for value in values:
        if value is None:
            text = b""
        elif isinstance(value, str):
            text = value.encode()
        else:
            text = str(value).encode()
        out += struct.pack(">H", len(text))
        out += text
    return bytes(out)


def _mac(keys, nonce, counter, iv, ciphertext, ad):
    return keys.mac.digest((nonce, struct.pack(">I", counter), iv, ciphertext, ad))


def seal(keys, nonce, counter, plaintext, ad=b"", iv=None, urandom=_os_urandom):
    """iv || ciphertext || mac for `plaintext` (what the browser does; tests use it)."""
    if iv is None:
        iv = urandom(IV_BYTES)
    pad = _AES_BLOCK_BYTES - len(plaintext) % _AES_BLOCK_BYTES
    padded = bytes(plaintext) + bytes((pad,)) * pad
    ciphertext = cryptolib.aes(keys.aes_key, _AES_MODE_CBC, iv).encrypt(padded)
    return bytes(iv) + ciphertext + _mac(keys, nonce, counter, iv, ciphertext, ad)


def unseal(keys, nonce, counter, blob, ad=b""):
    """The plaintext of a sealed blob. Raises CryptoError: E_MESSAGE if the blob has an
    impossible length, E_AUTH if the MAC does not verify (wrong pairing code, tampering,
    or a blob sealed for another nonce/counter/ad). The MAC is checked before anything is
    decrypted, so padding errors can never become an oracle."""
    body_bytes = len(blob) - IV_BYTES - MAC_BYTES
    if body_bytes < _AES_BLOCK_BYTES or body_bytes % _AES_BLOCK_BYTES:
        raise CryptoError(E_MESSAGE, "sealed blob has a bad length")
    view = memoryview(blob)
    iv = view[:IV_BYTES]
    ciphertext = view[IV_BYTES : IV_BYTES + body_bytes]
    if not equal_ct(_mac(keys, nonce, counter, iv, ciphertext, ad), view[IV_BYTES + body_bytes :]):
        raise CryptoError(E_AUTH, "MAC mismatch: wrong pairing code or tampered message")
    padded = cryptolib.aes(keys.aes_key, _AES_MODE_CBC, bytes(iv)).decrypt(bytes(ciphertext))
    pad = padded[-1]
    if not 1 <= pad <= _AES_BLOCK_BYTES or padded[-pad:] != bytes((pad,)) * pad:
        raise CryptoError(E_AUTH, "bad padding")  # only a sender with the keys gets here
    return padded[:-pad]


def new_nonce(urandom=_os_urandom):
    return urandom(NONCE_BYTES)


class Session:
    """One connection's replay guard: a message must name this connection's nonce and a
    counter above the last accepted one. The counter advances only after the MAC verified,
    so a forger cannot burn counters."""

    def __init__(self, keys, nonce):
        self.keys = keys
        self.nonce = bytes(nonce)
        self.last_counter = 0

    def unseal(self, nonce, counter, blob, ad):
        """The plaintext, or CryptoError(E_REPLAY / E_AUTH / E_MESSAGE); nothing changes on
        error."""
        if not equal_ct(bytes(nonce), self.nonce):
            raise CryptoError(E_REPLAY, "nonce is not this connection's")
        if counter > _COUNTER_MAX:
            raise CryptoError(E_MESSAGE, "counter above u32")
        if counter <= self.last_counter:
            raise CryptoError(E_REPLAY, "counter not above the last accepted one")
        plaintext = unseal(self.keys, self.nonce, counter, blob, ad)
        self.last_counter = counter
        return plaintext
