"""The acknowledgement proof: what lets the logger trust the laptop's "stored".

proof = hex of HMAC-SHA256(ack_key, "<sha256 hex>:<size>") (docs/api.md). Any host on
the hotspot can echo a hash; only the laptop that made the sync knows the key.
MicroPython has hashlib but no hmac, so HMAC is written out here (RFC 2104).
"""

import binascii
import hashlib


def sha256_hex(data):
    return binascii.hexlify(hashlib.sha256(data).digest()).decode()


def ack_proof(key, sha256_hex_text, size_bytes):
    """Hex HMAC-SHA256(key, "<sha256>:<size>"): what the backend answers for a sync."""
    message = (sha256_hex_text + ":" + str(size_bytes)).encode()
    return binascii.hexlify(_hmac_sha256(key, message)).decode()


def _hmac_sha256(key, message):
    # RFC 2104 over SHA-256 (block 64 bytes): MicroPython has hashlib but no hmac.
    if len(key) > 64:
        key = hashlib.sha256(key).digest()
    key = bytes(key) + bytes(64 - len(key))
    inner = hashlib.sha256(bytes(b ^ 0x36 for b in key))
    inner.update(message)
    outer = hashlib.sha256(bytes(b ^ 0x5C for b in key))
    outer.update(inner.digest())
    return outer.digest()


def equal_ct(a, b):
    """a == b for two strings, in time that does not depend on where they differ."""
    if len(a) != len(b):
        return False
    a = a.encode()
    b = b.encode()
    diff = 0
    for i in range(len(a)):
        diff |= a[i] ^ b[i]
    return diff == 0
