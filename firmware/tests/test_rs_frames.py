"""rs_frames: splitting messages into frames and reassembling them.

Runs under pytest and under MicroPython (mpy_run.py): plain functions and asserts.
"""

import rs_frames
from rs_frames import COMPLETE, DUPLICATE, ERROR, PENDING, Reassembler
from rs_protocol import E_FRAME, MAX_MESSAGE_BYTES


def message_of(n, salt=0):
    return bytes((i * 31 + salt) & 0xFF for i in range(n))


def feed_all(r, frames):
    """Results of feeding each frame, as a list."""
    return [r.feed(f) for f in frames]


def value_error(fn, *args):
    try:
        fn(*args)
    except ValueError:
        return True
    return False


def test_split_at_20_byte_writes():
    msg = message_of(100)
    frames = rs_frames.split(msg, 42, 20)
    assert len(frames) == 6  # 17 payload bytes a frame
    payload = b""
    for seq, frame in enumerate(frames):
        assert len(frame) <= 20
        assert frame[0] == 42 and frame[1] == seq
        assert frame[2] == (1 if seq == len(frames) - 1 else 0)
        payload += frame[3:]
    assert payload == msg
    assert len(frames[-1]) == 3 + 100 - 5 * 17


def test_split_at_185_byte_writes():
    msg = message_of(MAX_MESSAGE_BYTES)
    frames = rs_frames.split(msg, 0, 185)
    assert len(frames) == (MAX_MESSAGE_BYTES + 181) // 182
    assert all(len(f) == 185 for f in frames[:-1])
    assert b"".join(f[3:] for f in frames) == msg


def test_split_exact_multiples_and_tiny_messages():
    assert len(rs_frames.split(message_of(17), 1, 20)) == 1
    assert len(rs_frames.split(message_of(18), 1, 20)) == 2
    assert len(rs_frames.split(message_of(34), 1, 20)) == 2
    assert rs_frames.split(b"\x03", 9, 20) == [b"\x09\x00\x01\x03"]
    assert rs_frames.frame_count(0, 20) == 1
    assert rs_frames.frame_count(2048, 4) == 2048


def test_split_rejects_bad_sizes():
    assert value_error(rs_frames.split, b"", 1, 20)
    assert value_error(rs_frames.split, message_of(MAX_MESSAGE_BYTES + 1), 1, 20)
    assert value_error(rs_frames.split, b"abc", 1, 3)  # no room for payload
    assert value_error(rs_frames.split, message_of(300), 1, 4)  # 300 frames > 256


def test_write_frame_into_a_reused_buffer():
    msg = bytearray(message_of(40))
    buf = bytearray(20)
    n = rs_frames.write_frame(buf, memoryview(msg), 5, 2, 20)
    assert bytes(buf[:n]) == b"\x05\x02\x01" + bytes(msg[34:])
    assert value_error(rs_frames.write_frame, buf, msg, 5, 3, 20)
    assert value_error(rs_frames.write_frame, buf, msg, 5, -1, 20)


def test_round_trip_at_20_and_185_bytes():
    r = Reassembler()
    msg_id = 0
    for write_bytes in (20, 185, 512):
        for n in (1, 2, 16, 17, 18, 181, 182, 183, 1000, MAX_MESSAGE_BYTES):
            msg_id = (msg_id + 1) & 0xFF
            msg = message_of(n, msg_id)
            results = feed_all(r, rs_frames.split(msg, msg_id, write_bytes))
            assert results[-1] == COMPLETE, (write_bytes, n)
            assert all(x == PENDING for x in results[:-1])
            assert r.msg_id == msg_id
            assert bytes(r.message()) == msg


def test_accepts_bytearray_and_memoryview_frames():
    r = Reassembler()
    frames = rs_frames.split(message_of(60), 3, 20)  # 4 frames
    assert r.feed(bytearray(frames[0])) == PENDING
    assert r.feed(memoryview(b"xx" + frames[1])[2:]) == PENDING
    assert r.feed(frames[2]) == PENDING
    assert r.feed(memoryview(frames[3])) == COMPLETE
    assert bytes(r.message()) == message_of(60)


def test_out_of_order_frame_is_e_frame_then_the_message_is_dropped_quietly():
    r = Reassembler()
    frames = rs_frames.split(message_of(80), 11, 20)  # 5 frames
    assert r.feed(frames[0]) == PENDING
    assert r.feed(frames[2]) == ERROR  # frame 1 lost
    assert r.msg_id == 11 and r.error == E_FRAME and "order" in r.detail
    assert feed_all(r, frames[3:]) == [PENDING, PENDING]  # one E_FRAME per broken message
    # the browser resends the whole message under the same id: accepted
    assert feed_all(r, frames)[-1] == COMPLETE
    assert bytes(r.message()) == message_of(80)


def test_repeated_frame_is_out_of_order():
    r = Reassembler()
    frames = rs_frames.split(message_of(60), 4, 20)
    assert feed_all(r, [frames[0], frames[1], frames[1]]) == [PENDING, PENDING, ERROR]


def test_seq_zero_restarts_the_message():
    r = Reassembler()
    frames = rs_frames.split(message_of(60), 4, 20)
    assert feed_all(r, frames[:2]) == [PENDING, PENDING]
    assert feed_all(r, frames)[-1] == COMPLETE
    assert bytes(r.message()) == message_of(60)


def test_truncated_message_is_abandoned_by_the_next_one():
    r = Reassembler()
    first = rs_frames.split(message_of(60, 1), 1, 20)
    second = rs_frames.split(message_of(30, 2), 2, 20)
    assert feed_all(r, first[:-1]) == [PENDING] * (len(first) - 1)  # last frame never came
    assert feed_all(r, second)[-1] == COMPLETE
    assert r.msg_id == 2 and bytes(r.message()) == message_of(30, 2)
    # a late last frame of the abandoned message does not complete anything
    assert r.feed(first[-1]) == ERROR


def test_stray_frame_does_not_disturb_the_message_in_progress():
    r = Reassembler()
    frames = rs_frames.split(message_of(60), 8, 20)
    assert r.feed(frames[0]) == PENDING
    assert r.feed(b"\x09\x03\x00abc") == ERROR and r.msg_id == 9
    assert feed_all(r, frames[1:])[-1] == COMPLETE
    assert bytes(r.message()) == message_of(60)


def test_short_frames_are_e_frame():
    r = Reassembler()
    assert r.feed(b"") == ERROR and r.msg_id == -1 and r.error == E_FRAME
    assert r.feed(b"\x07") == ERROR and r.msg_id == 7
    assert r.feed(b"\x07\x00") == ERROR and "header" in r.detail
    # a truncated frame of the message in progress breaks that message
    frames = rs_frames.split(message_of(60), 7, 20)
    assert r.feed(frames[0]) == PENDING
    assert r.feed(frames[1][:2]) == ERROR
    assert feed_all(r, frames[2:]) == [PENDING] * (len(frames) - 2)
    assert feed_all(r, frames)[-1] == COMPLETE


def test_oversized_message_is_e_frame():
    r = Reassembler()
    frames = rs_frames.split(message_of(MAX_MESSAGE_BYTES), 6, 185)
    # one more frame than fits: the last frame, relabelled, carries the excess
    extra = bytearray(frames[-1])
    extra[1] += 1
    frames[-1] = bytes((frames[-1][0], frames[-1][1], 0)) + frames[-1][3:]
    frames.append(bytes(extra))  # (no [*a, b] literals: MicroPython lacks them)
    results = feed_all(r, frames)
    assert results[-1] == ERROR and "longer" in r.detail
    assert all(x == PENDING for x in results[:-1])
    # small buffer, a message one byte too long
    small = Reassembler(max_message_bytes=30)
    assert feed_all(small, rs_frames.split(message_of(31), 1, 20))[-1] == ERROR
    assert feed_all(small, rs_frames.split(message_of(30), 2, 20))[-1] == COMPLETE


def test_frame_longer_than_the_write_size_is_e_frame():
    r = Reassembler(max_frame_bytes=20)
    assert r.feed(bytes(21)) == ERROR and "longer" in r.detail
    assert r.feed(b"\x01\x00\x01" + bytes(17)) == COMPLETE


def test_reserved_flag_bits_are_e_frame():
    r = Reassembler()
    assert r.feed(b"\x01\x00\x02abc") == ERROR and "flag" in r.detail
    assert r.feed(b"\x01\x00\x81abc") == ERROR


def test_empty_message_is_e_frame():
    r = Reassembler()
    assert r.feed(b"\x01\x00\x01") == ERROR and "empty" in r.detail


def test_more_than_256_frames_is_e_frame():
    r = Reassembler(max_message_bytes=4096)
    results = [r.feed(bytes((1, seq, 0, 0xAA))) for seq in range(256)]
    assert results[-1] == ERROR and "256" in r.detail
    assert all(x == PENDING for x in results[:-1])


def test_duplicate_msg_id_returns_the_stored_ack_and_nothing_else():
    r = Reassembler()
    frames = rs_frames.split(message_of(50, 7), 7, 20)
    assert feed_all(r, frames)[-1] == COMPLETE
    r.set_ack(7, b"ack-7")
    # another message, then the browser resends message 7 (its ack was lost)
    assert feed_all(r, rs_frames.split(message_of(10, 8), 8, 20))[-1] == COMPLETE
    results = feed_all(r, frames)
    assert results[-1] == DUPLICATE
    assert all(x == PENDING for x in results[:-1])
    assert r.msg_id == 7 and r.ack == b"ack-7"
    assert bytes(r.message()) == message_of(10, 8)  # the buffer was not touched
    # a duplicate whose ack was never stored reports None
    assert feed_all(r, rs_frames.split(message_of(10, 8), 8, 20))[-1] == DUPLICATE
    assert r.ack is None


def test_duplicates_are_remembered_for_the_last_8_messages():
    r = Reassembler()
    for msg_id in range(9):
        assert feed_all(r, rs_frames.split(message_of(5, msg_id), msg_id, 20))[-1] == COMPLETE
        r.set_ack(msg_id, bytes((msg_id,)))
    # 0 fell out of the window: a new message under id 0 is applied
    assert feed_all(r, rs_frames.split(b"new", 0, 20))[-1] == COMPLETE
    # the new 0 took the oldest slot (1); 2..8 are still remembered
    assert feed_all(r, rs_frames.split(b"x", 8, 20))[-1] == DUPLICATE and r.ack == b"\x08"
    assert feed_all(r, rs_frames.split(b"x", 2, 20))[-1] == DUPLICATE and r.ack == b"\x02"
    assert feed_all(r, rs_frames.split(b"x", 1, 20))[-1] == COMPLETE


def test_reset_forgets_completed_ids_and_partial_messages():
    r = Reassembler()
    frames = rs_frames.split(message_of(40), 3, 20)
    assert feed_all(r, frames)[-1] == COMPLETE
    r.reset()
    assert feed_all(r, frames)[-1] == COMPLETE  # a new connection: not a duplicate
    assert r.feed(frames[0]) == PENDING
    r.reset()
    assert r.feed(frames[1]) == ERROR  # the partial message is gone
