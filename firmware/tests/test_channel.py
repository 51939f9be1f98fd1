"""rs_channel: the sealed messages after a handshake, both directions.

Runs under pytest and under MicroPython (mpy_run.py): plain functions and asserts. Under
CPython the AES-CTR is also checked against the `cryptography` package's.
"""

import os

import rs_channel
import rs_crypto
from rs_protocol import E_AUTH, E_MESSAGE, E_REPLAY, MSG_ACK, MSG_SYNC_REQUEST


class Keys:
    def __init__(self):
        self.aes_p2d = os.urandom(16)
        self.aes_d2p = os.urandom(16)
        self.mac_p2d = os.urandom(32)
        self.mac_d2p = os.urandom(32)


def pair():
    keys = Keys()
    return rs_channel.Channel(keys, device=True), rs_channel.Channel(keys, device=False)


def crypto_error(fn, *args):
    try:
        fn(*args)
    except rs_crypto.CryptoError as exc:
        return exc.code
    raise AssertionError("no CryptoError")


def test_round_trip_both_ways_all_lengths():
    device, phone = pair()
    for n in (0, 1, 15, 16, 17, 100, 2000):
        payload = bytes((i * 7) & 0xFF for i in range(n))
        sealed = phone.seal(MSG_SYNC_REQUEST, payload)
        assert len(sealed) == 4 + 1 + n + 16
        assert device.open(sealed) == (MSG_SYNC_REQUEST, payload)
        back = device.seal(MSG_ACK, payload)
        assert phone.open(back) == (MSG_ACK, payload)
    assert device.received == 7 and device.sent == 7 and phone.received == 7


def test_counters_start_at_one_and_are_in_the_clear():
    _, phone = pair()
    first = phone.seal(1, b"{}")
    second = phone.seal(1, b"{}")
    assert first[:4] == b"\x00\x00\x00\x01" and second[:4] == b"\x00\x00\x00\x02"
    assert first[4:] != second[4:]  # same plaintext, new counter: new bytes


def test_replayed_and_reordered_messages_are_refused():
    device, phone = pair()
    m1 = phone.seal(1, b"a")
    m2 = phone.seal(1, b"b")
    m3 = phone.seal(1, b"c")
    assert device.open(m2) == (1, b"b")  # m1 lost: gaps are fine
    assert crypto_error(device.open, m1) == E_REPLAY  # older
    assert crypto_error(device.open, m2) == E_REPLAY  # again
    assert device.open(m3) == (1, b"c")
    assert device.received == 3


def test_tampering_and_wrong_direction_are_e_auth_and_burn_nothing():
    device, phone = pair()
    sealed = phone.seal(1, b"secret secret secret")
    for i in (0, 3, 4, 10, len(sealed) - 17, len(sealed) - 1):  # counter, text, tag
        bad = bytearray(sealed)
        bad[i] ^= 1
        assert crypto_error(device.open, bytes(bad)) == E_AUTH, i
    # a message of the device's direction reflected back to it
    assert crypto_error(device.open, device.seal(1, b"x")) == E_AUTH
    # another session's keys
    other, _ = pair()
    assert crypto_error(other.open, sealed) == E_AUTH
    for n in (0, 4, 20):
        assert crypto_error(device.open, bytes(n)) == E_MESSAGE
    assert device.received == 0  # nothing accepted, no counter burnt
    assert device.open(sealed) == (1, b"secret secret secret")


def test_aes_ctr_matches_cryptography_when_present():
    try:
        from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
    except ImportError:  # MicroPython: the vectors file pins the bytes
        return
    key = os.urandom(16)
    for counter in (1, 2, 0xFFFFFFFF):
        for n in (1, 16, 33, 2047):
            data = os.urandom(n)
            iv = counter.to_bytes(4, "big") + bytes(12)
            enc = Cipher(algorithms.AES(key), modes.CTR(iv)).encryptor()
            assert rs_channel.aes_ctr(key, counter, data) == enc.update(data) + enc.finalize()


def test_counter_exhaustion_refuses_to_seal():
    device, _ = pair()
    device.sent = rs_channel.COUNTER_MAX
    assert crypto_error(device.seal, 1, b"x") == E_REPLAY
