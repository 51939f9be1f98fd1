"""Framing for the BLE control and status characteristics (docs/ble-protocol.md).

A message (1 type byte + payload, at most MAX_MESSAGE_BYTES) travels as frames
[msg_id u8][seq u8][flags u8] + payload, each no longer than the write size the link allows
(20 bytes until a larger MTU is negotiated). seq counts from 0; flags bit 0 marks the last
frame; the other flag bits are reserved and must be 0.

Pure code on bytes/bytearray/memoryview: the encoder writes into a caller's buffer and the
Reassembler copies payloads into one preallocated buffer, so a long message costs no
allocation per frame (the ESP32 heap is about 130 KB and fragments).
"""

from rs_protocol import (
    E_FRAME,
    FLAG_LAST,
    FRAME_HEADER_BYTES,
    MAX_FRAME_BYTES,
    MAX_MESSAGE_BYTES,
    RECENT_MSG_IDS,
)

# Reassembler.feed() results
PENDING = 0  # frame taken (or quietly dropped): nothing to do yet
COMPLETE = 1  # a message is complete: .msg_id, .message()
DUPLICATE = 2  # a repeat of a recently completed msg_id: .msg_id, .ack (the first answer)
ERROR = 3  # frame rejected: .msg_id (-1 if unknown), .error (E_FRAME), .detail

_MAX_FRAMES = 256  # seq is one byte


def frame_count(message_bytes, write_bytes):
    """Frames needed for a message of `message_bytes` at `write_bytes` per frame."""
    payload_bytes = write_bytes - FRAME_HEADER_BYTES
    if payload_bytes < 1:
        raise ValueError("write_bytes too small")
    if message_bytes <= 0:
        return 1
    return (message_bytes + payload_bytes - 1) // payload_bytes


def write_frame(out, message, msg_id, seq, write_bytes):
    """Write frame `seq` of `message` into `out` (a bytearray of at least `write_bytes`);
    returns the frame's length in bytes. Allocates nothing but a memoryview."""
    payload_bytes = write_bytes - FRAME_HEADER_BYTES
    if payload_bytes < 1:
        raise ValueError("write_bytes too small")
    total = len(message)
    start = seq * payload_bytes
    if seq < 0 or seq >= _MAX_FRAMES or (start >= total and seq > 0):
        raise ValueError("seq out of range")
    end = min(start + payload_bytes, total)
    out[0] = msg_id & 0xFF
    out[1] = seq
    out[2] = FLAG_LAST if end == total else 0
    n = end - start
    if n:
        out[FRAME_HEADER_BYTES : FRAME_HEADER_BYTES + n] = memoryview(message)[start:end]
    return FRAME_HEADER_BYTES + n


def split(message, msg_id, write_bytes):
    """All frames of `message` as a list of bytes (tests, tools and one-off sends)."""
    if not 1 <= len(message) <= MAX_MESSAGE_BYTES:
        raise ValueError("message length out of range")
    count = frame_count(len(message), write_bytes)
    if count > _MAX_FRAMES:
        raise ValueError("message needs more than 256 frames at this write size")
    buf = bytearray(write_bytes)
    frames = []
    for seq in range(count):
        n = write_frame(buf, message, msg_id, seq, write_bytes)
        frames.append(bytes(buf[:n]))
    return frames


class Reassembler:
    """Collects frames into messages, one message at a time (the browser serialises its
    GATT writes, so frames of two messages never interleave).

    * seq 0 always (re)starts a message: a browser whose write failed resends the whole
      message under the same msg_id.
    * A frame that does not continue the message in progress (wrong seq, too long, too
      many frames, reserved flag bits, shorter than a header) is an ERROR; the rest of
      that message is then dropped quietly until its last frame or a new seq 0, so one
      broken message yields one E_FRAME.
    * A message whose msg_id completed recently (the last RECENT_MSG_IDS) is a DUPLICATE:
      the lost-ack case. The caller answers with .ack, the answer it stored with
      set_ack() the first time, and applies nothing.
    """

    def __init__(
        self,
        max_message_bytes=MAX_MESSAGE_BYTES,
        max_frame_bytes=MAX_FRAME_BYTES,
        recent=RECENT_MSG_IDS,
    ):
        self._buf = bytearray(max_message_bytes)
        self._view = memoryview(self._buf)
        self._max_frame_bytes = max_frame_bytes
        self._recent_ids = [-1] * recent
        self._recent_acks = [None] * recent
        self.reset()

    def reset(self):
        """Forget everything (a new connection: msg_ids start over)."""
        self._cur_id = -1
        self._next_seq = 0
        self._len = 0
        self._dup_index = -1
        self._discard_id = -1
        for i in range(len(self._recent_ids)):
            self._recent_ids[i] = -1
            self._recent_acks[i] = None
        self._recent_next = 0
        self._complete_len = 0
        self.msg_id = -1
        self.ack = None
        self.error = None
        self.detail = None

    def message(self):
        """The completed message (type byte + payload) as a memoryview into the buffer:
        valid until the next feed()."""
        return self._view[: self._complete_len]

    def set_ack(self, msg_id, ack):
        """Store the answer to a completed message, for its duplicates."""
        i = self._recent_index(msg_id)
        if i >= 0:
            self._recent_acks[i] = ack

    def _recent_index(self, msg_id):
        ids = self._recent_ids
        for i in range(len(ids)):
            if ids[i] == msg_id:
                return i
        return -1

    def _remember(self, msg_id):
        i = self._recent_index(msg_id)
        if i < 0:
            i = self._recent_next
            self._recent_next = (i + 1) % len(self._recent_ids)
            self._recent_ids[i] = msg_id
        self._recent_acks[i] = None

    def _reject(self, msg_id, last, detail):
        if msg_id == self._cur_id:
            self._cur_id = -1
        # drop the rest of this message quietly unless this was its last frame
        self._discard_id = -1 if last or msg_id < 0 else msg_id
        self.msg_id = msg_id
        self.error = E_FRAME
        self.detail = detail
        return ERROR

    def feed(self, frame):
        """Take one frame (bytes, bytearray or memoryview); returns PENDING, COMPLETE,
        DUPLICATE or ERROR (see the module constants)."""
        n = len(frame)
        if n < FRAME_HEADER_BYTES:
            return self._reject(frame[0] if n else -1, False, "frame shorter than its header")
        msg_id = frame[0]
        seq = frame[1]
        flags = frame[2]
        last = flags & FLAG_LAST
        if n > self._max_frame_bytes:
            return self._reject(msg_id, last, "frame longer than the write size")
        if flags & ~FLAG_LAST:
            return self._reject(msg_id, last, "reserved flag bits set")
        if seq == 0:
            self._discard_id = -1
            self._cur_id = msg_id
            self._next_seq = 0
            self._len = 0
            self._dup_index = self._recent_index(msg_id)
        elif msg_id == self._discard_id:
            if last:
                self._discard_id = -1
            return PENDING
        elif msg_id != self._cur_id or seq != self._next_seq:
            return self._reject(msg_id, last, "frame out of order")
        payload_bytes = n - FRAME_HEADER_BYTES
        if self._len + payload_bytes > len(self._buf):
            return self._reject(msg_id, last, "message longer than the maximum")
        if self._dup_index < 0 and payload_bytes:
            # one copy, straight into the preallocated buffer
            self._view[self._len : self._len + payload_bytes] = memoryview(frame)[
                FRAME_HEADER_BYTES:n
            ]
        self._len += payload_bytes
        if not last:
            if seq == _MAX_FRAMES - 1:
                return self._reject(msg_id, False, "more than 256 frames")
            self._next_seq = seq + 1
            return PENDING
        self._cur_id = -1
        self.msg_id = msg_id
        if self._dup_index >= 0:
            self.ack = self._recent_acks[self._dup_index]
            return DUPLICATE
        if self._len == 0:
            return self._reject(msg_id, True, "empty message")
        self._remember(msg_id)
        self._complete_len = self._len
        return COMPLETE
