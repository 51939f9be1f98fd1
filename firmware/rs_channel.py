"""The sealed channel a handshake opens (docs/ble-protocol.md, "Sealed messages"): every
message after the handshake, both ways, is encrypted and authenticated under keys only
the two ends of this handshake hold.

    sealed = counter (u32 BE) || ciphertext || tag
    ciphertext = AES-128-CTR(aes_dir, counter block = counter (u32 BE) || 12 zero bytes,
                             plaintext)             the block counter is the last 4 bytes
    tag = HMAC-SHA256(mac_dir, label_dir || counter (u32 BE) || ciphertext)[:16]
    plaintext = inner message type (1 byte) || UTF-8 JSON

Encrypt-then-MAC; the tag is checked (in constant time) before anything is decrypted.
Each direction has its own keys and label (p2d: phone to device, d2p: device to phone)
and its own counter, which starts at 1 and must strictly increase: a replayed or
reordered message is refused, and no (key, counter) ever encrypts twice.

AES-CTR is built on cryptolib's ECB (MicroPython's cryptolib has ECB and CBC on every
port, CTR on few): the counter blocks are encrypted in one call and XORed as integers.
WebCrypto's AES-CTR with {counter: iv, length: 32} gives the same bytes.
"""

import cryptolib

from rs_crypto import CryptoError, HmacSha256, equal_ct
from rs_protocol import (
    COUNTER_BYTES,
    E_AUTH,
    E_MESSAGE,
    E_REPLAY,
    LABEL_D2P,
    LABEL_P2D,
    TAG_BYTES,
)

_AES_MODE_ECB = 1
_BLOCK_BYTES = 16
COUNTER_MAX = 0xFFFFFFFF
OVERHEAD_BYTES = COUNTER_BYTES + TAG_BYTES  # what sealing adds to a plaintext


def ctr_block0(counter):
    """The first AES-CTR counter block of message `counter`."""
    return counter.to_bytes(COUNTER_BYTES, "big") + bytes(_BLOCK_BYTES - COUNTER_BYTES)


def aes_ctr(key, counter, data):
    """AES-128-CTR of `data` (any length) for message `counter`; its own inverse."""
    n = len(data)
    if n == 0:
        return b""
    blocks = (n + _BLOCK_BYTES - 1) // _BLOCK_BYTES
    stream_in = bytearray(blocks * _BLOCK_BYTES)
    head = counter.to_bytes(COUNTER_BYTES, "big")
    for i in range(blocks):
        j = i * _BLOCK_BYTES
        stream_in[j : j + COUNTER_BYTES] = head
        stream_in[j + 12 : j + 16] = i.to_bytes(4, "big")
    stream = cryptolib.aes(key, _AES_MODE_ECB).encrypt(stream_in)
    x = int.from_bytes(bytes(data), "big") ^ int.from_bytes(stream[:n], "big")
    return x.to_bytes(n, "big")


class Direction:
    """One direction's keys: seals with, or opens under, (aes_key, mac_key, label)."""

    def __init__(self, aes_key, mac_key, label):
        self._aes_key = bytes(aes_key)
        self._mac = HmacSha256(mac_key)
        self._label = label

    def tag(self, counter_bytes, ciphertext):
        return self._mac.digest((self._label, counter_bytes, ciphertext))[:TAG_BYTES]

    def seal(self, counter, plaintext):
        counter_bytes = counter.to_bytes(COUNTER_BYTES, "big")
        ciphertext = aes_ctr(self._aes_key, counter, plaintext)
        return counter_bytes + ciphertext + self.tag(counter_bytes, ciphertext)

    def open(self, sealed):
        """(counter, plaintext); CryptoError E_MESSAGE (too short) or E_AUTH (bad tag)."""
        n = len(sealed)
        if n < OVERHEAD_BYTES + 1:
            raise CryptoError(E_MESSAGE, "sealed message too short")
        view = memoryview(sealed)
        counter_bytes = bytes(view[:COUNTER_BYTES])
        ciphertext = bytes(view[COUNTER_BYTES : n - TAG_BYTES])
        if not equal_ct(self.tag(counter_bytes, ciphertext), view[n - TAG_BYTES :]):
            raise CryptoError(E_AUTH, "sealed message failed its MAC")
        counter = int.from_bytes(counter_bytes, "big")
        return counter, aes_ctr(self._aes_key, counter, ciphertext)


class Channel:
    """Both directions of one session, from one side's point of view.

    keys: rs_pake.SessionKeys. device=True: seals d2p and opens p2d (the firmware);
    False: the phone's view (tests). seal(type, payload) -> bytes; open(bytes) ->
    (type, payload bytes), raising CryptoError: E_MESSAGE, E_AUTH, E_REPLAY. A failed
    open changes nothing (a forger cannot burn counters)."""

    def __init__(self, keys, device=True):
        p2d = Direction(keys.aes_p2d, keys.mac_p2d, LABEL_P2D)
        d2p = Direction(keys.aes_d2p, keys.mac_d2p, LABEL_D2P)
        self._out, self._in = (d2p, p2d) if device else (p2d, d2p)
        self.sent = 0  # the counter of the last message sealed
        self.received = 0  # the counter of the last message opened

    def seal(self, msg_type, payload):
        if self.sent >= COUNTER_MAX:
            raise CryptoError(E_REPLAY, "counter exhausted: run a new handshake")
        self.sent += 1
        return self._out.seal(self.sent, bytes((msg_type,)) + bytes(payload))

    def open(self, sealed):
        counter, plaintext = self._in.open(sealed)
        if counter <= self.received:
            raise CryptoError(E_REPLAY, "counter not above the last accepted one")
        self.received = counter
        return plaintext[0], plaintext[1:]
