"""rs_crypto: HMAC, PBKDF2, AES-CBC sealing, replay guard, pairing codes.

Runs under pytest and under MicroPython (mpy_run.py): plain functions and asserts. Known
answers come from RFC 4231 / RFC 7914 / NIST SP 800-38A; where CPython's own hmac and
hashlib.pbkdf2_hmac exist they are compared with as well.
"""

import hashlib
from binascii import hexlify, unhexlify

import cryptolib

import rs_crypto
from rs_protocol import E_AUTH, E_MESSAGE, E_REPLAY, PAIRING_CODE_ALPHABET

CODE = "7K3M9QX2ZA"
DEVICE_ID = "rs-00ab12"
NONCE = bytes(range(16))
_keys = []


def keys():
    # derived once per test module: 2000 iterations are slow-ish under MicroPython
    if not _keys:
        _keys.append(rs_crypto.derive_keys(CODE, DEVICE_ID))
    return _keys[0]


def crypto_error(fn, *args):
    """The CryptoError code fn(*args) raises (fails if it returns)."""
    try:
        fn(*args)
    except rs_crypto.CryptoError as exc:
        return exc.code
    raise AssertionError("no CryptoError")


def value_error(fn, *args):
    try:
        fn(*args)
    except ValueError:
        return True
    return False


def fixed_urandom(n):
    return bytes((0xA5 + i) & 0xFF for i in range(n))


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


def test_pbkdf2_rfc7914_vector():
    out = rs_crypto.pbkdf2_hmac_sha256(b"passwd", b"salt", 1, 64)
    assert hexlify(out) == (
        b"55ac046e56e3089fec1691c22544b605f94185216dde0465e68b9d57c20dacbc"
        b"49ca9cccf179b645991664b39d77ef317c71b845b1e30bd509112041d3a19783"
    )
    out = rs_crypto.pbkdf2_hmac_sha256(b"password", b"salt", 4096, 32)
    assert hexlify(out) == b"c5e478d59288c841aa530db6845c4c8d962893a001ce4e11a4963873aa98134a"


def test_pbkdf2_matches_hashlib_when_present():
    if not hasattr(hashlib, "pbkdf2_hmac"):  # MicroPython: the vectors above suffice
        return
    for password, salt, iterations, length in (
        (b"", b"", 1, 1),
        (b"x" * 70, b"salty", 3, 33),
        (b"7K3M9QX2ZA", b"racesense-ble-v1rs-1", 50, 64),
        (b"p", b"s" * 100, 2, 100),
    ):
        expected = hashlib.pbkdf2_hmac("sha256", password, salt, iterations, length)
        assert rs_crypto.pbkdf2_hmac_sha256(password, salt, iterations, length) == expected
    assert value_error(rs_crypto.pbkdf2_hmac_sha256, b"p", b"s", 0, 32)


def test_derive_keys_known_answer_and_spellings():
    k = keys()
    okm = unhexlify(
        "fc16d3c872daa2856365692272a8990147a7ff59b366fd03ff4ea64b776d9b44"
        "51ab17d0f595b348eb82c87d5484be2866d57fb1dbfc8526ab5e486ef5b60cbd"
    )  # PBKDF2-HMAC-SHA256(b"7K3M9QX2ZA", b"racesense-ble-v1rs-00ab12", 2000, 64)
    assert k.aes_key == okm[:16]
    assert k.mac_key == okm[16:]
    # how people type it: lower case, a dash, O for 0 would all give the same keys
    same = rs_crypto.derive_keys("7k3m9-qx2za", DEVICE_ID)
    assert same.aes_key == k.aes_key and same.mac_key == k.mac_key
    other_device = rs_crypto.derive_keys(CODE, "rs-00ab13", iterations=2)
    assert other_device.aes_key != rs_crypto.derive_keys(CODE, DEVICE_ID, iterations=2).aes_key


def test_aes_cbc_nist_vector():
    # NIST SP 800-38A F.2.1, CBC-AES128.Encrypt: checks cryptolib itself (real or stub)
    key = unhexlify("2b7e151628aed2a6abf7158809cf4f3c")
    iv = unhexlify("000102030405060708090a0b0c0d0e0f")
    plain = unhexlify("6bc1bee22e409f96e93d7e117393172aae2d8a571e03ac9c9eb76fac45af8e51")
    cipher = unhexlify("7649abac8119b246cee98e9b12e9197d5086cb9b507219ee95db113a917678b2")
    assert cryptolib.aes(key, 2, iv).encrypt(plain) == cipher
    assert cryptolib.aes(key, 2, iv).decrypt(cipher) == plain


def test_seal_unseal_round_trip_all_lengths():
    k = keys()
    for n in (0, 1, 15, 16, 17, 31, 32, 100):
        plain = bytes(i & 0xFF for i in range(n))
        blob = rs_crypto.seal(k, NONCE, 7, plain, b"ad", urandom=fixed_urandom)
        assert len(blob) == 16 + (n // 16 + 1) * 16 + 32  # PKCS#7 always adds a byte
        assert rs_crypto.unseal(k, NONCE, 7, blob, b"ad") == plain
    # a random IV per message: the same secret never gives the same blob
    assert rs_crypto.seal(k, NONCE, 1, b"pw") != rs_crypto.seal(k, NONCE, 1, b"pw")


def test_wrong_pairing_code_is_e_auth():
    blob = rs_crypto.seal(keys(), NONCE, 1, b'{"password":"x"}')
    wrong = rs_crypto.derive_keys("7K3M9QX2ZB", DEVICE_ID)
    assert crypto_error(rs_crypto.unseal, wrong, NONCE, 1, blob, b"") == E_AUTH


def test_any_tampering_is_e_auth():
    k = keys()
    blob = rs_crypto.seal(k, NONCE, 5, b"secret secret secret", b"ad")
    for i in (0, 15, 16, len(blob) - 33, len(blob) - 1):  # iv, ciphertext, mac
        bad = bytearray(blob)
        bad[i] ^= 1
        assert crypto_error(rs_crypto.unseal, k, NONCE, 5, bytes(bad), b"ad") == E_AUTH
    assert crypto_error(rs_crypto.unseal, k, NONCE, 6, blob, b"ad") == E_AUTH  # counter
    assert crypto_error(rs_crypto.unseal, k, bytes(16), 5, blob, b"ad") == E_AUTH  # nonce
    assert crypto_error(rs_crypto.unseal, k, NONCE, 5, blob, b"aD") == E_AUTH  # bound data


def test_impossible_blob_lengths_are_e_message():
    k = keys()
    for n in (0, 47, 48, 63, 65, 79):
        assert crypto_error(rs_crypto.unseal, k, NONCE, 1, bytes(n), b"") == E_MESSAGE


def test_bad_padding_under_a_valid_mac_is_e_auth():
    k = keys()
    iv = bytes(16)
    ciphertext = cryptolib.aes(k.aes_key, 2, iv).encrypt(b"A" * 16)  # last byte 0x41 > 16
    mac = k.mac.digest((NONCE, b"\x00\x00\x00\x01", iv, ciphertext, b""))
    assert crypto_error(rs_crypto.unseal, k, NONCE, 1, iv + ciphertext + mac, b"") == E_AUTH


def test_session_counter_must_increase():
    k = keys()
    session = rs_crypto.Session(k, NONCE)

    def sealed(counter):
        return rs_crypto.seal(k, NONCE, counter, b"x", b"")

    assert crypto_error(session.unseal, NONCE, 0, sealed(0), b"") == E_REPLAY
    assert session.unseal(NONCE, 1, sealed(1), b"") == b"x"
    assert crypto_error(session.unseal, NONCE, 1, sealed(1), b"") == E_REPLAY  # replay
    assert session.unseal(NONCE, 5, sealed(5), b"") == b"x"  # gaps are fine
    assert crypto_error(session.unseal, NONCE, 3, sealed(3), b"") == E_REPLAY  # older
    assert session.last_counter == 5
    # a forged message with a high counter does not burn counters
    assert crypto_error(session.unseal, NONCE, 100, sealed(99), b"") == E_AUTH
    assert session.last_counter == 5
    assert session.unseal(NONCE, 6, sealed(6), b"") == b"x"
    assert crypto_error(session.unseal, NONCE, 1 << 32, sealed(7), b"") == E_MESSAGE


def test_session_rejects_another_connections_nonce():
    k = keys()
    old = rs_crypto.Session(k, NONCE)
    blob = rs_crypto.seal(k, NONCE, 1, b"x", b"")
    assert old.unseal(NONCE, 1, blob, b"") == b"x"
    # the same bytes replayed into a later connection (new nonce): stale, nothing applied
    new = rs_crypto.Session(k, rs_crypto.new_nonce())
    assert crypto_error(new.unseal, NONCE, 1, blob, b"") == E_REPLAY
    assert new.last_counter == 0


def test_bound_data_layout():
    ad = rs_crypto.bound_data(1, ("ab", None, 1700000000, "é"))
    assert ad == b"\x01\x00\x02ab\x00\x00\x00\x0a1700000000\x00\x02\xc3\xa9"
    assert rs_crypto.bound_data(1, ("ab", "c")) != rs_crypto.bound_data(1, ("a", "bc"))
    assert rs_crypto.bound_data(1, ("",)) == rs_crypto.bound_data(1, (None,))
    assert rs_crypto.bound_data(1, ()) != rs_crypto.bound_data(2, ())


def test_equal_ct():
    assert rs_crypto.equal_ct(b"abc", b"abc")
    assert rs_crypto.equal_ct(b"", b"")
    assert not rs_crypto.equal_ct(b"abc", b"abd")
    assert not rs_crypto.equal_ct(b"abc", b"ab")
    assert rs_crypto.equal_ct(memoryview(b"xabc")[1:], b"abc")


def test_new_pairing_code_is_10_crockford_characters():
    seen = set()
    for _ in range(20):
        code = rs_crypto.new_pairing_code()
        assert len(code) == 10
        for ch in code:
            assert ch in PAIRING_CODE_ALPHABET
        assert rs_crypto.normalize_pairing_code(code) == code
        seen.add(code)
    assert len(seen) == 20
    # 50 bits: 7 random bytes, the top 6 bits dropped
    assert rs_crypto.new_pairing_code(lambda n: b"\xff" * n) == "ZZZZZZZZZZ"
    assert rs_crypto.new_pairing_code(lambda n: b"\x00" * n) == "0000000000"
    assert rs_crypto.new_pairing_code(lambda n: b"\x00" * (n - 1) + b"\x01") == "1000000000"


def test_pairing_code_spellings():
    assert rs_crypto.normalize_pairing_code("7k3m9-qx2za") == CODE
    assert rs_crypto.normalize_pairing_code(" 7K3M9 QX2ZA ") == CODE
    assert rs_crypto.normalize_pairing_code("ABCDE-FGHOI") == "ABCDEFGH01"
    assert rs_crypto.normalize_pairing_code("lllll00000") == "1111100000"
    assert rs_crypto.format_pairing_code("7k3m9qx2za") == "7K3M9-QX2ZA"
    for bad in ("", "7K3M9QX2Z", "7K3M9QX2ZAB", "7K3M9QX2ZU", "7K3M9QX2Z!"):
        assert value_error(rs_crypto.normalize_pairing_code, bad), bad
