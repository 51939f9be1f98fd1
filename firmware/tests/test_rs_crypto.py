"""rs_crypto (HMAC-SHA256, HKDF-SHA256, constant-time compare) and rs_sha512.

Runs under pytest and under MicroPython (mpy_run.py): plain functions and asserts. Known
answers come from RFC 4231, RFC 5869 and FIPS 180; where CPython's hmac and hashlib.sha512
exist they are compared with as well.
"""

import hashlib
from binascii import hexlify, unhexlify

import rs_crypto
import rs_sha512


def test_hmac_rfc4231_vectors():
    mac = rs_crypto.hmac_sha256(b"\x0b" * 20, b"Hi There")
    assert hexlify(mac) == b"b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7"
    # a key longer than the SHA-256 block is hashed first
    mac = rs_crypto.hmac_sha256(
        b"\xaa" * 131, b"Test Using Larger Than Block-Size Key - Hash Key First"
    )
    assert hexlify(mac) == b"60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"


def test_hmac_matches_cpython_hmac_when_present():
    try:
        import hmac
    except ImportError:  # MicroPython without micropython-lib's hmac: vectors above suffice
        return
    for key_len in (0, 1, 32, 48, 63, 64, 65, 200):
        key = bytes(i * 7 & 0xFF for i in range(key_len))
        for msg in (b"", b"abc", bytes(range(256)) * 3):
            expected = hmac.new(key, msg, "sha256").digest()
            assert rs_crypto.hmac_sha256(key, msg) == expected
            # digest() over parts equals the digest of their concatenation
            assert rs_crypto.HmacSha256(key).digest((msg[:5], msg[5:])) == expected


def test_hkdf_rfc5869_vectors():
    # A.1: basic; A.3: no salt, no info
    okm = rs_crypto.hkdf_sha256(
        b"\x0b" * 22, unhexlify("000102030405060708090a0b0c"), unhexlify("f0f1f2f3f4f5f6f7f8f9"), 42
    )
    assert hexlify(okm) == (
        b"3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865"
    )
    okm = rs_crypto.hkdf_sha256(b"\x0b" * 22, b"", b"", 42)
    assert hexlify(okm) == (
        b"8da4e775a563c18f715f802a063c5a31b8a11f5c5ee1879ec3454e5f3c738d2d9d201395faa4b61a96c8"
    )
    for bad in (0, 255 * 32 + 1):
        try:
            rs_crypto.hkdf_sha256(b"k", b"s", b"i", bad)
        except ValueError:
            continue
        raise AssertionError("accepted length " + str(bad))


def test_equal_ct():
    assert rs_crypto.equal_ct(b"abc", b"abc")
    assert rs_crypto.equal_ct(b"", b"")
    assert not rs_crypto.equal_ct(b"abc", b"abd")
    assert not rs_crypto.equal_ct(b"abc", b"ab")
    assert rs_crypto.equal_ct(memoryview(b"xabc")[1:], b"abc")


def test_sha512_every_padding_boundary_matches_hashlib_when_present():
    # lengths around the 112-byte padding limit and the 128-byte block, and updates in
    # pieces; checked against CPython's hashlib (MicroPython has no sha512: the FIPS
    # examples in test_pake_vectors.py pin it there)
    have = hasattr(hashlib, "sha512")
    for n in (0, 1, 55, 111, 112, 113, 127, 128, 129, 239, 240, 255, 256, 300):
        data = bytes((i * 13 + 7) & 0xFF for i in range(n))
        ours = rs_sha512.Sha512(data).digest()
        pieces = rs_sha512.Sha512()
        for i in range(0, n, 37):
            pieces.update(data[i : i + 37])
        assert pieces.digest() == ours
        assert pieces.digest() == ours  # digest() leaves the state alone
        if have:
            assert ours == hashlib.sha512(data).digest(), n


def test_sha512_chooses_hashlibs_when_there():
    if hasattr(hashlib, "sha512"):
        assert rs_sha512.sha512 is hashlib.sha512
    else:
        assert rs_sha512.sha512 is rs_sha512.Sha512
