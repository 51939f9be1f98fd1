"""Protocol v2's test vectors (tests/vectors/protocol_v2.json), checked against the firmware's
modules and the phone's side (tests/phone.py): the CPace draft's published vectors, RFC 7748,
FIPS 180 SHA-512, RFC 5869 HKDF, then Racesense's handshakes, sealed messages and negative
cases. The web UI's tests read the same file.

Runs under pytest and under MicroPython (mpy_run.py): plain functions and asserts.
"""

import json
from binascii import unhexlify

import phone
import rs_channel
import rs_crypto
import rs_pake
import rs_sha512
import rs_x25519
from rs_protocol import E_AUTH, E_REPLAY

_HERE = __file__.rsplit("/", 1)[0] if "/" in __file__ else "."
_cache = []


def vectors():
    if not _cache:
        with open(_HERE + "/vectors/protocol_v2.json") as f:
            _cache.append(json.load(f))
    return _cache[0]


def h(text):
    return unhexlify(text)


def crypto_error(fn, *args):
    try:
        fn(*args)
    except rs_crypto.CryptoError as exc:
        return exc.code
    raise AssertionError("no CryptoError")


# -- published vectors ----------------------------------------------------------------------


def test_cpace_string_functions():
    v = vectors()["cpace_strings"]
    for case in v["prepend_len"]:
        assert rs_pake.prepend_len(h(case["in"])) == h(case["out"])
        assert phone.leb128_prefixed(h(case["in"])) == h(case["out"])
    parts = [h(x) for x in v["lv_cat"]["in"]]
    assert rs_pake.lv_cat(*parts) == h(v["lv_cat"]["out"])
    for case in v["transcript_ir"]:
        ya, ada, yb, adb = [h(x) for x in case["in"]]
        assert rs_pake.transcript_ir(ya, ada, yb, adb) == h(case["out"])


def test_cpace_draft_generator():
    v = vectors()["cpace_draft"]
    prs, ci, sid = h(v["prs"]), h(v["ci"]), h(v["sid"])
    gen_str = rs_pake.generator_string(rs_pake.DSI, prs, ci, sid)
    assert len(gen_str) == 170 and gen_str == h(v["generator_string"])
    assert rs_pake.generator_hash(prs, ci, sid) == h(v["generator_hash"])
    assert rs_pake.calculate_generator(prs, ci, sid) == h(v["g"])
    # the phone's independent Elligator 2 (affine, RFC 9380 as written)
    u = int.from_bytes(h(v["generator_hash"]), "little") & ((1 << 255) - 1)
    assert phone.elligator2_u(u).to_bytes(32, "little") == h(v["g"])


def test_cpace_draft_messages_and_isk():
    v = vectors()["cpace_draft"]
    g = h(v["g"])
    assert rs_pake.scalar_mult_vfy(h(v["ya"]), g) == h(v["Ya"])
    assert rs_pake.scalar_mult_vfy(h(v["yb"]), g) == h(v["Yb"])
    assert phone.x25519(h(v["ya"]), g) == h(v["Ya"])
    k = h(v["K"])
    assert rs_pake.scalar_mult_vfy(h(v["ya"]), h(v["Yb"])) == k
    assert rs_pake.scalar_mult_vfy(h(v["yb"]), h(v["Ya"])) == k
    ya_pt, yb_pt, ada, adb = h(v["Ya"]), h(v["Yb"]), h(v["ada"]), h(v["adb"])
    assert rs_pake.transcript_ir(ya_pt, ada, yb_pt, adb) == h(v["transcript_ir"])
    isk = rs_pake.intermediate_session_key(h(v["sid"]), k, ya_pt, ada, yb_pt, adb)
    assert isk == h(v["isk_ir"])


def test_cpace_draft_low_order_points():
    v = vectors()["cpace_low_order"]
    s = h(v["s"])
    for u, q, aborts in v["cases"]:
        out = rs_pake.scalar_mult_vfy(s, h(u))
        if aborts:
            assert out == rs_pake.IDENTITY, u
        else:
            assert out == h(q), u
        assert phone.x25519(s, h(u)) == out, u


def test_rfc7748_x25519():
    v = vectors()["rfc7748"]
    for case in v["x25519"]:
        assert rs_x25519.x25519(h(case["scalar"]), h(case["u"])) == h(case["out"])
        assert phone.x25519(h(case["scalar"]), h(case["u"])) == h(case["out"])
    nine = bytes((9,)) + bytes(31)
    assert rs_x25519.x25519(h(v["alice_private"]), nine) == h(v["alice_public"])
    assert rs_x25519.x25519(h(v["bob_private"]), nine) == h(v["bob_public"])
    shared = rs_x25519.x25519(h(v["alice_private"]), h(v["bob_public"]))
    assert shared == h(v["shared"])
    assert rs_x25519.x25519(h(v["bob_private"]), h(v["alice_public"])) == shared


def test_rfc7748_iterated():
    v = vectors()["rfc7748"]
    k = u = bytes((9,)) + bytes(31)
    for i in range(1000):
        k, u = rs_x25519.x25519(k, u), k
        if i == 0:
            assert k == h(v["iterated_1"])
    assert k == h(v["iterated_1000"])


def test_sha512_fips_examples():
    for case in vectors()["sha512"]:
        data = case["text"].encode()
        assert rs_sha512.Sha512(data).digest() == h(case["out"])
        assert rs_sha512.sha512(data).digest() == h(case["out"])


def test_hkdf_rfc5869():
    v = vectors()["hkdf_sha256"]
    okm = rs_crypto.hkdf_sha256(h(v["ikm"]), h(v["salt"]), h(v["info"]), v["length"])
    assert okm == h(v["okm"])
    assert phone.hkdf(h(v["ikm"]), h(v["salt"]), h(v["info"]), v["length"]) == h(v["okm"])


# -- Racesense's handshakes -----------------------------------------------------------------


def test_handshakes_device_side():
    for hs in vectors()["handshakes"]:
        assert rs_pake.channel_identifier(hs["device_id"]) == h(hs["ci"])
        assert hs["prs"] == hs["code"].encode().hex()
        sid = h(hs["sid"])
        dev = rs_pake.Responder(hs["code"], hs["device_id"], sid, h(hs["Ya"]), h(hs["yb"]))
        dev.run()
        assert dev.yb_point == h(hs["Yb"])
        assert dev.keys.confirm_b == h(hs["tb"]) and dev.keys.confirm_a == h(hs["ta"])
        okm = h(hs["okm"])
        assert dev.keys.aes_p2d == okm[64:80] and dev.keys.aes_d2p == okm[80:96]
        assert dev.keys.mac_p2d == okm[96:128] and dev.keys.mac_d2p == okm[128:160]
        assert dev.confirm_ok(phone.unb64url(hs["messages"]["confirm"]["ta"]))
        assert hs["messages"]["pake_b"]["tb"] == phone.b64url(h(hs["tb"]))
        # the firmware's own initiator gives the same Ya and keys
        ini = rs_pake.Initiator(hs["code"], hs["device_id"], sid, h(hs["ya"]))
        assert ini.ya_point == h(hs["Ya"])
        assert ini.finish(h(hs["Yb"])).confirm_a == h(hs["ta"])
        g = rs_pake.calculate_generator(hs["code"].encode(), h(hs["ci"]), sid)
        assert g == h(hs["generator"])
        assert rs_pake.transcript_ir(h(hs["Ya"]), b"", h(hs["Yb"]), b"") == h(hs["transcript"])


def test_handshakes_phone_side():
    for hs in vectors()["handshakes"]:
        ph = phone.PhoneSession(hs["code"], hs["device_id"], sid=h(hs["sid"]), ya=h(hs["ya"]))
        assert ph.pake_a() == hs["messages"]["pake_a"]
        assert ph.on_pake_b(hs["messages"]["pake_b"]) == hs["messages"]["confirm"]
        assert ph.isk == h(hs["isk"])


def _channels(hs):
    keys = rs_pake.Responder(hs["code"], hs["device_id"], h(hs["sid"]), h(hs["Ya"]), h(hs["yb"]))
    keys = keys.run().keys
    ph = phone.PhoneSession(hs["code"], hs["device_id"], sid=h(hs["sid"]), ya=h(hs["ya"]))
    ph.on_pake_b(hs["messages"]["pake_b"])
    return keys, ph


def test_sealed_messages_both_ways():
    for hs in vectors()["handshakes"]:
        keys, ph = _channels(hs)
        device = rs_channel.Channel(keys, device=True)
        device_out = rs_channel.Channel(keys, device=True)
        for s in hs["sealed"]:
            body = h(s["sealed"])
            plain = s["plaintext_text"].encode()
            if s["direction"] == "p2d":
                assert device.open(body) == (s["inner_type"], plain)
                assert device.received == s["counter"]
                assert ph.seal(s["inner_type"], plain) == body  # deterministic: CTR
            else:
                assert device_out.seal(s["inner_type"], plain) == body
                assert device_out.sent == s["counter"]
                assert ph.open(body) == (s["inner_type"], json.loads(plain))


def test_negative_cases():
    v = vectors()
    hs = v["handshakes"][0]
    for case in v["negative"]:
        keys, ph = _channels(hs)
        device = rs_channel.Channel(keys, device=True)
        if "phone_code" in case:
            wrong = phone.PhoneSession(
                case["phone_code"], case["device_id"], sid=h(case["sid"]), ya=h(case["ya"])
            )
            assert wrong.ya_point == h(case["Ya"])
            dev = rs_pake.Responder(
                case["code"], case["device_id"], h(case["sid"]), h(case["Ya"]), h(case["yb"])
            ).run()
            assert dev.yb_point == h(case["Yb"]) and dev.keys.confirm_b == h(case["tb_from_device"])
            pake_b = {"sid": phone.b64url(h(case["sid"])), "yb": phone.b64url(dev.yb_point)}
            pake_b["tb"] = phone.b64url(dev.keys.confirm_b)
            assert crypto_error(wrong.on_pake_b, pake_b) == E_AUTH
            # the tag the wrong phone would send does not verify on the device either
            ini = rs_pake.Initiator(
                case["phone_code"], case["device_id"], h(case["sid"]), h(case["ya"])
            )
            assert not dev.confirm_ok(ini.finish(dev.yb_point).confirm_a)
        elif "sequence" in case:
            for i in range(len(case["sequence"])):
                body = case["sequence"][i]
                expect = case["expect"][i]
                opener = device.open if case["direction"] == "p2d" else ph.open
                if expect == "ok":
                    opener(h(body))
                else:
                    assert crypto_error(opener, h(body)) == expect, case["name"]
        else:
            opener = device.open if case["direction"] == "p2d" else ph.open
            assert crypto_error(opener, h(case["sealed"])) == case["expect"], case["name"]
    assert E_REPLAY in [e for c in v["negative"] if "sequence" in c for e in c["expect"]]
