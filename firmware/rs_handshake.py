"""One connection's handshake, the device's side (docs/ble-protocol.md, "pake_a", "pake_b",
"confirm"): pake_a starts it, its arithmetic runs in slices, pake_b answers, and a confirm
whose tag verifies opens the sealed channel. The messages' JSON, the throttle and the
slicing live here; the CPace itself is rs_pake's, the channel rs_channel's.

    hs = Handshake(pairing, throttle)
    hs.start(msg_id, body, now_ms, ticks_diff)   # Reject (E_MESSAGE, E_RATE_LIMIT)
    while hs.working: done = hs.run(clock_ms, ticks_diff, budget_ms)   # one slice a poll
    msg_id, answer = done          # pake_b's JSON dict, or a CryptoError (E_AUTH)
    channel = hs.confirm(body)     # Reject (E_SESSION, E_MESSAGE), CryptoError (E_AUTH)
"""

from os import urandom as _os_urandom

import rs_channel
import rs_pake
import rs_request
from rs_crypto import CryptoError
from rs_protocol import (
    CONFIRM_BYTES,
    E_AUTH,
    E_MESSAGE,
    E_RATE_LIMIT,
    E_SESSION,
    POINT_BYTES,
    SID_BYTES,
)
from rs_request import Reject

SCALAR_BYTES = 32


class RateLimited(Reject):
    """A pake_a refused by the throttle: .retry_ms goes into the ack."""

    def __init__(self, retry_ms):
        super().__init__(E_RATE_LIMIT, "too many failed handshakes")
        self.retry_ms = retry_ms


def b64url_field(obj, name, size_bytes):
    """Exactly `size_bytes` bytes from an unpadded base64url field, or Reject(E_MESSAGE)."""
    value = obj.get(name)
    if isinstance(value, str):
        try:
            raw = rs_request.decode_b64url(value)
            if len(raw) == size_bytes:
                return raw
        except ValueError:
            pass
    raise Reject(E_MESSAGE, name + ": " + str(size_bytes) + " bytes as unpadded base64url")


class Handshake:
    """The handshake state of one connection: nothing, computing, or waiting for the
    phone's confirm. A new start() replaces whatever was there."""

    def __init__(self, pairing, throttle, urandom=_os_urandom):
        self._pairing = pairing
        self._throttle = throttle
        self._urandom = urandom
        self._responder = None
        self._work = None
        self.msg_id = None  # the pake_a being answered

    @property
    def working(self):
        return self._work is not None

    def start(self, msg_id, body, now_ms, ticks_diff):
        """Check a pake_a and start computing its answer. From here until its confirm
        verifies, the attempt counts as failed for the throttle."""
        obj = rs_request.parse_object(body)
        sid = b64url_field(obj, "sid", SID_BYTES)
        ya = b64url_field(obj, "ya", POINT_BYTES)
        wait_ms = self._throttle.wait_ms(now_ms, ticks_diff)
        if wait_ms > 0:
            raise RateLimited(wait_ms)
        self._throttle.attempt(now_ms)
        self._responder = rs_pake.Responder(
            self._pairing.code, self._pairing.device_id, sid, ya, self._urandom(SCALAR_BYTES)
        )
        self._work = self._responder.steps()
        self.msg_id = msg_id

    def run(self, clock_ms, ticks_diff, budget_ms):
        """Run steps until done or `budget_ms` has passed. None while there is more to do;
        when done: (msg_id, pake_b's JSON dict) or (msg_id, CryptoError)."""
        start = clock_ms()
        while True:
            try:
                next(self._work)
            except StopIteration:
                break
            if ticks_diff(clock_ms(), start) >= budget_ms:
                return None
        self._work = None
        hs = self._responder
        if hs.error is not None:
            self._responder = None
            return self.msg_id, hs.error
        return self.msg_id, {
            "msg_id": self.msg_id,
            "sid": rs_request.encode_b64url(hs.sid),
            "yb": rs_request.encode_b64url(hs.yb_point),
            "tb": rs_request.encode_b64url(hs.keys.confirm_b),
        }

    def confirm(self, body):
        """The sealed channel, if the phone's tag Ta verifies. Either way the handshake is
        over: a wrong code needs a new pake_a (and stays counted by the throttle)."""
        hs = self._responder
        if hs is None or hs.keys is None:
            raise Reject(E_SESSION, "confirm without a finished pake_a on this connection")
        ta = b64url_field(rs_request.parse_object(body), "ta", CONFIRM_BYTES)
        self._responder = None
        if not hs.confirm_ok(ta):
            raise CryptoError(E_AUTH, "key confirmation failed: wrong pairing code")
        self._throttle.success()
        return rs_channel.Channel(hs.keys, device=True)
