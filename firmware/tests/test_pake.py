"""rs_pake (CPace and its key schedule), rs_x25519 edge cases, rs_pairing, the throttle.

Runs under pytest and under MicroPython (mpy_run.py): plain functions and asserts. The
published vectors are in test_pake_vectors.py; here: behaviour.
"""

import os

import phone
import rs_crypto
import rs_pairing
import rs_pake
import rs_x25519
from rs_protocol import E_AUTH, E_MESSAGE

CODE = "12345678"
DEVICE_ID = "RS-Core-7F3A"


def crypto_error(fn, *args):
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


def handshake(phone_code=CODE, device_code=CODE, sid=None):
    """A whole handshake between phone.py and the firmware's Responder."""
    ph = phone.PhoneSession(phone_code, DEVICE_ID, sid=sid)
    dev = rs_pake.Responder(device_code, DEVICE_ID, ph.sid, ph.ya_point, os.urandom(32))
    dev.run()
    pake_b = {
        "sid": phone.b64url(ph.sid),
        "yb": phone.b64url(dev.yb_point),
        "tb": phone.b64url(dev.keys.confirm_b),
    }
    return ph, dev, pake_b


def test_right_code_agrees_both_ways():
    ph, dev, pake_b = handshake()
    confirm = ph.on_pake_b(pake_b)
    assert dev.confirm_ok(phone.unb64url(confirm["ta"]))
    assert ph.keys["aes_p2d"] == dev.keys.aes_p2d and ph.keys["mac_d2p"] == dev.keys.mac_d2p


def test_wrong_code_fails_confirmation_on_both_sides():
    ph, _, pake_b = handshake(phone_code="12345679")
    # the phone sees the device's tag fail: it sends nothing further
    assert crypto_error(ph.on_pake_b, pake_b) == E_AUTH
    assert ph.keys is None
    # and a phone that went on anyway would fail the device's check
    ini = rs_pake.Initiator("12345679", DEVICE_ID, ph.sid, os.urandom(32))
    dev2 = rs_pake.Responder(CODE, DEVICE_ID, ph.sid, ini.ya_point, os.urandom(32)).run()
    assert not dev2.confirm_ok(ini.finish(dev2.yb_point).confirm_a)
    assert not dev2.confirm_ok(b"")


def test_another_device_id_fails_confirmation():
    ph = phone.PhoneSession(CODE, "RS-Core-0001")
    dev = rs_pake.Responder(CODE, DEVICE_ID, ph.sid, ph.ya_point, os.urandom(32)).run()
    pake_b = {"sid": phone.b64url(ph.sid), "yb": phone.b64url(dev.yb_point)}
    pake_b["tb"] = phone.b64url(dev.keys.confirm_b)
    assert crypto_error(ph.on_pake_b, pake_b) == E_AUTH


def test_fresh_ephemerals_each_time_and_no_key_from_the_transcript():
    """A recorded handshake cannot be decrypted later even with the code: the session key
    needs one side's ephemeral scalar, which never leaves the device or the phone."""
    ph, dev, pake_b = handshake()
    ph.on_pake_b(pake_b)
    recorded = (ph.sid, ph.ya_point, dev.yb_point)
    # an attacker who learns the code replays the public transcript with fresh scalars
    for _ in range(2):
        guess = rs_pake.Responder(CODE, DEVICE_ID, recorded[0], recorded[1], os.urandom(32))
        guess.run()
        assert guess.yb_point != recorded[2]
        assert guess.keys.aes_p2d != dev.keys.aes_p2d
        ini = rs_pake.Initiator(CODE, DEVICE_ID, recorded[0], os.urandom(32))
        assert ini.ya_point != recorded[1]
        assert ini.finish(recorded[2]).aes_d2p != dev.keys.aes_d2p
    # the code and the generator alone (what the transcript's public values give with the
    # code) are not the key: K needs a discrete log
    g = rs_pake.calculate_generator(CODE.encode(), rs_pake.channel_identifier(DEVICE_ID), ph.sid)
    for k_guess in (g, recorded[1], recorded[2], rs_x25519.x25519(bytes(32), g)):
        isk = rs_pake.intermediate_session_key(ph.sid, k_guess, recorded[1], b"", recorded[2], b"")
        assert isk != ph.isk
    # and two handshakes of the same phone with the same code share nothing
    ph2, _, pake_b2 = handshake(sid=ph.sid)
    ph2.on_pake_b(pake_b2)
    assert ph2.ya_point != ph.ya_point and ph2.isk != ph.isk


def test_low_order_points_end_the_handshake():
    sid = os.urandom(16)
    for u in (bytes(32), bytes((1,)) + bytes(31), b"\xec" + b"\xff" * 30 + b"\x7f"):
        dev = rs_pake.Responder(CODE, DEVICE_ID, sid, u, os.urandom(32))
        for _ in dev.steps():
            pass
        assert dev.error is not None and dev.error.code == E_AUTH and dev.keys is None
        assert not dev.confirm_ok(bytes(32))
        ini = rs_pake.Initiator(CODE, DEVICE_ID, sid, os.urandom(32))
        assert crypto_error(ini.finish, u) == E_AUTH


def test_responder_checks_sizes_and_code():
    assert crypto_error(rs_pake.Responder, CODE, DEVICE_ID, bytes(15), bytes(32), bytes(32))
    code = crypto_error(rs_pake.Responder, CODE, DEVICE_ID, bytes(16), bytes(31), bytes(32))
    assert code == E_MESSAGE
    for bad in ("1234567", "123456789", "1234567a", 12345678, "１２３４５６７８"):
        assert value_error(rs_pake.check_code, bad), bad


def test_responder_steps_are_small():
    """The device's work comes in many small steps (poll() runs a few per call)."""
    ph = phone.PhoneSession(CODE, DEVICE_ID)
    dev = rs_pake.Responder(CODE, DEVICE_ID, ph.sid, ph.ya_point, os.urandom(32))
    n = 0
    for _ in dev.steps():
        n += 1
    # two ladders of 255 bits in 16-bit slices, plus hashing and the map
    assert n >= 2 * 255 // rs_pake.LADDER_BITS_PER_STEP
    assert dev.keys is not None and dev.error is None


def test_x25519_ignores_the_top_bit_and_takes_u_mod_p():
    k = os.urandom(32)
    u = bytearray(os.urandom(32))
    u[31] &= 0x7F
    high = bytearray(u)
    high[31] |= 0x80
    assert rs_x25519.x25519(k, bytes(u)) == rs_x25519.x25519(k, bytes(high))
    # p + 9 is 9
    p_plus_9 = ((1 << 255) - 19 + 9).to_bytes(32, "little")
    nine = bytes((9,)) + bytes(31)
    assert rs_x25519.x25519(k, p_plus_9) == rs_x25519.x25519(k, nine)
    assert phone.x25519(k, nine) == rs_x25519.x25519(k, nine)
    assert value_error(rs_x25519.x25519, bytes(31), nine)
    assert value_error(rs_x25519.x25519, k, bytes(33))


def test_elligator2_matches_the_affine_map_on_many_inputs():
    for i in range(40):
        r = int.from_bytes(os.urandom(32), "little") & ((1 << 255) - 1)
        if i == 0:
            r = 0
        x, z = rs_x25519.map_to_curve(r.to_bytes(32, "little"))
        assert rs_x25519.encode_projective(x, z) == phone.elligator2_u(r % rs_x25519.P).to_bytes(
            32, "little"
        )


def test_the_ladder_in_slices_equals_one_run():
    k = rs_x25519.decode_scalar(os.urandom(32))
    u = rs_x25519.decode_u(os.urandom(32))
    whole = rs_x25519.Ladder(k, u)
    whole.run()
    sliced = rs_x25519.Ladder(k, u)
    steps = 0
    while not sliced.run(7):
        steps += 1
    assert sliced.result() == whole.result() and steps == 255 // 7
    assert sliced.run() and sliced.done


# -- the throttle ---------------------------------------------------------------------------


def _diff(a, b):
    return a - b


def test_throttle_grows_and_caps_never_locks_out():
    t = rs_pake.Throttle(free=3, base_ms=1000, max_ms=30000)
    now = 0
    delays = []
    for _ in range(12):
        assert t.wait_ms(now, _diff) == 0  # each attempt waits for its delay, then runs
        t.attempt(now)
        delays.append(t.delay_ms())
        now += t.delay_ms()
    assert delays == [0, 0, 1000, 2000, 4000, 8000, 16000, 30000, 30000, 30000, 30000, 30000]
    assert t.wait_ms(now - 1, _diff) == 1
    t.success()
    assert t.delay_ms() == 0 and t.wait_ms(now, _diff) == 0


def test_throttle_counts_an_attempt_until_it_succeeds():
    t = rs_pake.Throttle(free=1, base_ms=500, max_ms=500)
    t.attempt(100)
    assert t.wait_ms(100, _diff) == 500 and t.wait_ms(350, _diff) == 250
    t.success()
    assert t.wait_ms(100, _diff) == 0


# -- pairing codes --------------------------------------------------------------------------


def test_new_codes_are_8_uniform_digits():
    seen = set()
    for _ in range(50):
        code = rs_pairing.new_code()
        assert len(code) == 8 and rs_pairing.normalize(code) == code
        seen.add(code)
    assert len(seen) == 50
    assert rs_pairing.new_code(lambda n: b"\x00" * n) == "00000000"
    # draws at or above the largest multiple of 10^8 below 2^32 are redrawn
    draws = [b"\xff\xff\xff\xff", b"\x00\x00\x00\x2a"]
    assert rs_pairing.new_code(lambda n: draws.pop(0)) == "00000042"


def test_code_spellings_format_and_qr():
    assert rs_pairing.normalize(" 1234-5678 ") == "12345678"
    assert rs_pairing.normalize("1234 5678") == "12345678"
    assert rs_pairing.format_code("12345678") == "1234-5678"
    for bad in ("", "1234567", "123456789", "1234-567a", None, "１２３４５６７８"):
        assert value_error(rs_pairing.normalize, bad), bad
    payload = rs_pairing.qr_payload(DEVICE_ID, "1234-5678")
    assert payload == "RSCORE:RS-Core-7F3A:12345678"
    assert rs_pairing.parse_qr(payload) == (DEVICE_ID, "12345678")
    for bad in ("RSCORE:12345678", "rscore:RS-Core-7F3A:12345678", "RSCORE:x:1234", "x"):
        assert value_error(rs_pairing.parse_qr, bad), bad
    assert value_error(rs_pairing.qr_payload, "a:b", "12345678")


def test_load_or_create_stores_once_and_replaces_a_v1_code():
    logs = []
    first = rs_pairing.load_or_create("code.txt", DEVICE_ID, log=logs.append)
    assert len(first.code) == 8 and first.device_id == DEVICE_ID
    assert logs and first.code[:4] + "-" + first.code[4:] in "\n".join(logs)
    assert ("RSCORE:" + DEVICE_ID + ":" + first.code) in "\n".join(logs)
    again = rs_pairing.load_or_create("code.txt", DEVICE_ID, log=logs.append)
    assert again.code == first.code and len(logs) == 3  # no second announcement
    with open("code.txt", "w") as f:
        f.write("7K3M9QX2ZA\n")  # what protocol v1 stored
    replaced = rs_pairing.load_or_create("code.txt", DEVICE_ID, log=logs.append)
    assert len(replaced.code) == 8 and replaced.code.isdigit() and len(logs) == 6


# -- the device's handshake state (rs_handshake) --------------------------------------------


def test_handshake_state_from_pake_a_to_the_channel():
    import json

    import rs_handshake
    from rs_pairing import Pairing
    from rs_request import Reject

    throttle = rs_pake.Throttle(free=1, base_ms=100, max_ms=100)
    hs = rs_handshake.Handshake(Pairing(DEVICE_ID, CODE), throttle)
    ph = phone.PhoneSession(CODE, DEVICE_ID)
    hs.start(7, json.dumps(ph.pake_a()).encode(), 0, _diff)
    assert hs.working and throttle.failures == 1
    done = None
    while done is None:
        done = hs.run(lambda: 0, _diff, 50)
    msg_id, pake_b = done
    assert msg_id == 7 and pake_b["msg_id"] == 7 and not hs.working
    channel = hs.confirm(json.dumps(ph.on_pake_b(pake_b)).encode())
    assert throttle.failures == 0
    assert channel.open(ph.seal(3, {})) == (3, b"{}")
    # the handshake is spent: a second confirm needs a new pake_a
    try:
        hs.confirm(b'{"ta": "x"}')
        raise AssertionError("confirmed twice")
    except Reject as exc:
        assert exc.code == "E_SESSION"
    # a failed attempt, then the throttle's wait
    wrong = phone.PhoneSession("00000000", DEVICE_ID)
    hs.start(8, json.dumps(wrong.pake_a()).encode(), 1000, _diff)
    try:
        hs.start(9, json.dumps(wrong.pake_a()).encode(), 1050, _diff)
        raise AssertionError("not throttled")
    except rs_handshake.RateLimited as exc:
        assert exc.code == "E_RATE_LIMIT" and exc.retry_ms == 50
