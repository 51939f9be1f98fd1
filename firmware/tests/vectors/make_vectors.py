"""Write firmware/tests/vectors/protocol_v2.json: test vectors for every implementation of
BLE protocol v2 (the firmware, firmware/tests/phone.py, the web UI's JavaScript).

    .venv/bin/python firmware/tests/vectors/make_vectors.py          # rewrite the file
    .venv/bin/python firmware/tests/vectors/make_vectors.py --check  # exit 1 if stale

Published vectors are copied as data (CPace draft-irtf-cfrg-cpace-21 appendix B.1,
RFC 7748 5.2 and 6.1, FIPS 180-2 examples, RFC 5869 A.1); Racesense's own (handshakes,
sealed messages, negative cases) are computed by the phone's side (tests/phone.py, on
`cryptography` and hashlib) and checked against the firmware's before they are written.
All byte strings are lower-case hex unless the key ends in _b64url or _text.
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
TESTS = HERE.parent
FIRMWARE = TESTS.parent
for _p in (TESTS / "stubs", TESTS, FIRMWARE):
    if str(_p) not in sys.path:
        sys.path.insert(0, str(_p))

import phone  # noqa: E402
import rs_channel  # noqa: E402
import rs_pake  # noqa: E402
from rs_protocol import (  # noqa: E402
    MSG_ACK,
    MSG_CANCEL,
    MSG_STATE,
    MSG_STATUS_REQUEST,
    MSG_SYNC_REQUEST,
)

TARGET = HERE / "protocol_v2.json"


def fixed(label: str, n: int = 32) -> bytes:
    """Reproducible 'random' bytes for a vector: SHA-512 of a label."""
    return hashlib.sha512(b"racesense vector " + label.encode()).digest()[:n]


CPACE_DRAFT = {
    "source": "draft-irtf-cfrg-cpace-21, appendix B.1 (CPACE-X25519-SHA512); unchanged since -13",
    "prs": "50617373776f7264",
    "ci": "0b415f696e69746961746f720b425f726573706f6e646572",
    "sid": "7e4b4791d6a8ef019b936c79fb7f2c57",
    "generator_string": (
        "0843506163653235350850617373776f72646d000000000000000000"
        + "00" * 28 * 3
        + "00000000000000000000000000000000180b415f696e69746961746f"
        "720b425f726573706f6e646572107e4b4791d6a8ef019b936c79fb7f2c57"
    ),
    "generator_hash": "03998087bdb1a2617bbe25ef5a7c18cd4f84f902328701790958755ee4aed1d3",
    "g": "d04bf6d41f6a289632a2e929fa29bebd51092512a7829fdde7d314b62f05a73f",
    "ya": "21b4f4bd9e64ed355c3eb676a28ebedaf6d8f17bdc365995b319097153044080",
    "ada": "414461",
    "Ya": "1d13c89278cdadd826f6d8d7f887701430f8380ddc17611cdd6dc989ce0c9f32",
    "yb": "848b0779ff415f0af4ea14df9dd1d3c29ac41d836c7808896c4eba19c51ac40a",
    "adb": "414462",
    "Yb": "248cccf6d5cdc3646f0ad593f9e6cef4e69d4945f8372e623512ecea32185623",
    "K": "5b067effbdc0b2a0e1d907b21ebb25cfedb96a852179a847c37e43ee71322c6b",
    "transcript_ir": (
        "201d13c89278cdadd826f6d8d7f887701430f8380ddc17611cdd6dc989ce0c9f32034144612024"
        "8cccf6d5cdc3646f0ad593f9e6cef4e69d4945f8372e623512ecea3218562303414462"
    ),
    "isk_ir": (
        "6e19b875f7a561d6b3ca3dbb9ef42ac55de3e717881018204b8922b4d5e53bb2"
        "aa82c300bea7b65d2b671da71922ddf6472301b79bc270adfa8bf413285f2263"
    ),
}

CPACE_STRINGS = {
    "prepend_len": [
        {"in": "", "out": "00"},
        {"in": "31323334", "out": "0431323334"},
        {"in": bytes(range(127)).hex(), "out": "7f" + bytes(range(127)).hex()},
        {"in": bytes(range(128)).hex(), "out": "8001" + bytes(range(128)).hex()},
    ],
    "lv_cat": {"in": ["31323334", "35", "", "363738"], "out": "043132333401350003363738"},
    "transcript_ir": [
        {
            "in": ["313233", "506172747941", "323334", "506172747942"],
            "out": "03313233065061727479410332333406506172747942",
        },
        {
            "in": ["33343536", "506172747941", "32333435", "506172747942"],
            "out": "043334353606506172747941043233343506506172747942",
        },
    ],
}

# G_X25519.scalar_mult_vfy(s, u) from the draft; abort: the point must end a handshake.
LOW_ORDER = {
    "s": "af46e36bf0527c9d3b16154b82465edd62144c0ac1fc5a18506a2244ba449aff",
    "cases": [
        ["0000000000000000000000000000000000000000000000000000000000000000", None, True],
        ["0100000000000000000000000000000000000000000000000000000000000000", None, True],
        ["ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f", None, True],
        ["e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800", None, True],
        ["5f9c95bca3508c24b1d0b1559c83ef5b04445cc4581c8e86d8224eddd09f1157", None, True],
        ["edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f", None, True],
        [
            "daffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff",
            "d8e2c776bbacd510d09fd9278b7edcd25fc5ae9adfba3b6e040e8d3b71b21806",
            False,
        ],
        ["eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f", None, True],
        [
            "dbffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff",
            "c85c655ebe8be44ba9c0ffde69f2fe10194458d137f09bbff725ce58803cdb38",
            False,
        ],
        [
            "d9ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff",
            "db64dafa9b8fdd136914e61461935fe92aa372cb056314e1231bc4ec12417456",
            False,
        ],
        [
            "cdeb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b880",
            "e062dcd5376d58297be2618c7498f55baa07d7e03184e8aada20bca28888bf7a",
            False,
        ],
        [
            "4c9c95bca3508c24b1d0b1559c83ef5b04445cc4581c8e86d8224eddd09f11d7",
            "993c6ad11c4c29da9a56f7691fd0ff8d732e49de6250b6c2e80003ff4629a175",
            False,
        ],
    ],
}

RFC7748 = {
    "x25519": [
        {
            "scalar": "a546e36bf0527c9d3b16154b82465edd62144c0ac1fc5a18506a2244ba449ac4",
            "u": "e6db6867583030db3594c1a424b15f7c726624ec26b3353b10a903a6d0ab1c4c",
            "out": "c3da55379de9c6908e94ea4df28d084f32eccf03491c71f754b4075577a28552",
        },
        {
            "scalar": "4b66e9d4d1b4673c5ad22691957d6af5c11b6421e0ea01d42ca4169e7918ba0d",
            "u": "e5210f12786811d3f4b7959d0538ae2c31dbe7106fc03c3efc4cd549c715a493",
            "out": "95cbde9476e8907d7aade45cb4b873f88b595a68799fa152e6f8f7647aac7957",
        },
    ],
    "iterated_1": "422c8e7a6227d7bca1350b3e2bb7279f7897b87bb6854b783c60e80311ae3079",
    "iterated_1000": "684cf59ba83309552800ef566f2f4d3c1c3887c49360e3875f2eb94d99532c51",
    "alice_private": "77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a",
    "alice_public": "8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a",
    "bob_private": "5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb",
    "bob_public": "de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f",
    "shared": "4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742",
}

SHA512 = [
    {
        "text": "abc",
        "out": "ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a"
        "2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f",
    },
    {
        "text": "",
        "out": "cf83e1357eefb8bdf1542850d66d8007d620e4050b5715dc83f4a921d36ce9ce"
        "47d0d13c5d85f2b0ff8318d2877eec2f63b931bd47417a81a538327af927da3e",
    },
    {
        "text": "abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmno"
        "ijklmnopjklmnopqklmnopqrlmnopqrsmnopqrstnopqrstu",
        "out": "8e959b75dae313da8cf4f72814fc143f8f7779c6eb9f7fa17299aeadb6889018"
        "501d289e4900f7e4331b99dec4b5433ac7d329eeb6dd26545e96e55b874be909",
    },
]

HKDF = {
    "source": "RFC 5869 A.1",
    "ikm": "0b" * 22,
    "salt": "000102030405060708090a0b0c",
    "info": "f0f1f2f3f4f5f6f7f8f9",
    "length": 42,
    "okm": "3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865",
}


def handshake(name: str, code: str, device_id: str) -> dict:
    sid = fixed(name + " sid", 16)
    ya = fixed(name + " ya")
    yb = fixed(name + " yb")
    ph = phone.PhoneSession(code, device_id, sid=sid, ya=ya)
    dev = rs_pake.Responder(code, device_id, sid, ph.ya_point, yb).run()
    pake_b = {
        "msg_id": 1,
        "sid": phone.b64url(sid),
        "yb": phone.b64url(dev.yb_point),
        "tb": phone.b64url(dev.keys.confirm_b),
    }
    confirm = ph.on_pake_b(pake_b)
    assert dev.confirm_ok(phone.unb64url(confirm["ta"])), name
    okm = phone.hkdf(ph.isk, sid, b"racesense-ble-v2 keys", 160)
    channel = rs_channel.Channel(dev.keys, device=True)
    sealed = []
    for inner, obj in (
        (
            MSG_SYNC_REQUEST,
            {
                "ssid": "Pit Hotspot",
                "password": "hunter22",
                "url": "https://laptop.local:8443/api/upload",
                "ip_fallback": "https://192.168.43.10:8443/api/upload",
                "token": "tok-123",
                "sync_id": "s-001",
                "cert_sha256": "ab" * 32,
                "time_utc": 1767225600,
                "ack_key": phone.b64url(fixed(name + " ack_key")),
            },
        ),
        (MSG_STATUS_REQUEST, {}),
        (MSG_CANCEL, {"sync_id": "s-001"}),
    ):
        text = json.dumps(obj, separators=(",", ":"))
        body = ph.seal(inner, text.encode())
        assert channel.open(body) == (inner, text.encode()), name
        sealed.append(
            {
                "direction": "p2d",
                "counter": ph.sent,
                "inner_type": inner,
                "plaintext_text": text,
                "sealed": body.hex(),
            }
        )
    for inner, obj in (
        (MSG_ACK, {"msg_id": 2, "result": "ok"}),
        (MSG_ACK, {"msg_id": 3, "result": "ok", "counter": 1}),
        (MSG_STATE, {"state": "request_received", "sync_id": "s-001"}),
    ):
        text = json.dumps(obj, separators=(",", ":"))
        body = channel.seal(inner, text.encode())
        assert ph.open(body) == (inner, obj), name
        sealed.append(
            {
                "direction": "d2p",
                "counter": channel.sent,
                "inner_type": inner,
                "plaintext_text": text,
                "sealed": body.hex(),
            }
        )
    return {
        "name": name,
        "code": code,
        "prs": code.encode().hex(),
        "device_id": device_id,
        "ci": rs_pake.channel_identifier(device_id).hex(),
        "sid": sid.hex(),
        "ya": ya.hex(),
        "yb": yb.hex(),
        "generator": phone.generator(code, device_id, sid).hex(),
        "Ya": ph.ya_point.hex(),
        "Yb": dev.yb_point.hex(),
        "transcript": (rs_pake.transcript_ir(ph.ya_point, b"", dev.yb_point, b"")).hex(),
        "isk": ph.isk.hex(),
        "okm": okm.hex(),
        "ta": ph.ta.hex(),
        "tb": dev.keys.confirm_b.hex(),
        "messages": {"pake_a": ph.pake_a(), "pake_b": pake_b, "confirm": confirm},
        "sealed": sealed,
    }


def negative(good: dict) -> list[dict]:
    code = good["code"]
    wrong = "87654321" if code != "87654321" else "12345678"
    sid = bytes.fromhex(good["sid"])
    ph = phone.PhoneSession(wrong, good["device_id"], sid=sid, ya=bytes.fromhex(good["ya"]))
    dev = rs_pake.Responder(code, good["device_id"], sid, ph.ya_point, bytes.fromhex(good["yb"]))
    dev.run()
    out = [
        {
            "name": "wrong code: the phone holds phone_code, the device code",
            "phone_code": wrong,
            "code": code,
            "device_id": good["device_id"],
            "sid": good["sid"],
            "ya": good["ya"],
            "yb": good["yb"],
            "Ya": ph.ya_point.hex(),
            "Yb": dev.yb_point.hex(),
            "tb_from_device": dev.keys.confirm_b.hex(),
            "expect": "the phone's check of tb fails (E_AUTH); a ta the phone would send "
            "fails the device's check; nothing is sealed or applied",
        }
    ]
    first_p2d = good["sealed"][0]
    tampered = bytearray(bytes.fromhex(first_p2d["sealed"]))
    tampered[-1] ^= 1
    out.append(
        {
            "name": "tampered tag (p2d, handshake 0's keys)",
            "direction": "p2d",
            "sealed": tampered.hex(),
            "expect": "E_AUTH",
        }
    )
    flipped = bytearray(bytes.fromhex(first_p2d["sealed"]))
    flipped[6] ^= 0x20
    out.append(
        {
            "name": "flipped ciphertext bit (p2d)",
            "direction": "p2d",
            "sealed": flipped.hex(),
            "expect": "E_AUTH",
        }
    )
    out.append(
        {
            "name": "replayed counter: p2d messages opened in the order given",
            "direction": "p2d",
            "sequence": [
                good["sealed"][0]["sealed"],
                good["sealed"][1]["sealed"],
                good["sealed"][1]["sealed"],
                good["sealed"][0]["sealed"],
                good["sealed"][2]["sealed"],
            ],
            "expect": ["ok", "ok", "E_REPLAY", "E_REPLAY", "ok"],
        }
    )
    d2p = [s for s in good["sealed"] if s["direction"] == "d2p"]
    out.append(
        {
            "name": "reordered d2p messages, opened by the phone in the order given",
            "direction": "d2p",
            "sequence": [d2p[1]["sealed"], d2p[0]["sealed"], d2p[2]["sealed"]],
            "expect": ["ok", "E_REPLAY", "ok"],
        }
    )
    out.append(
        {
            "name": "reflected: a p2d message fed back to the phone as if from the device",
            "direction": "d2p",
            "sealed": first_p2d["sealed"],
            "expect": "E_AUTH",
        }
    )
    return out


def generate() -> dict:
    hs = [
        handshake("handshake 0", "12345678", "RS-Core-7F3A"),
        handshake("handshake 1", "00000000", "RS-Core-00AB"),
    ]
    return {
        "about": "Test vectors of Racesense BLE protocol v2 (docs/ble-protocol.md). Hex unless "
        "a key ends in _b64url or _text; JSON messages are given as objects. Written by "
        "firmware/tests/vectors/make_vectors.py; do not edit by hand.",
        "cpace_draft": CPACE_DRAFT,
        "cpace_strings": CPACE_STRINGS,
        "cpace_low_order": LOW_ORDER,
        "rfc7748": RFC7748,
        "sha512": SHA512,
        "hkdf_sha256": HKDF,
        "handshakes": hs,
        "negative": negative(hs[0]),
    }


def text() -> str:
    return json.dumps(generate(), indent=1, ensure_ascii=False) + "\n"


def main(argv: list[str]) -> int:
    out = text()
    if "--check" in argv:
        if not TARGET.exists() or TARGET.read_text(encoding="utf-8") != out:
            print(f"{TARGET} is stale: run {Path(__file__).name}", file=sys.stderr)
            return 1
        return 0
    TARGET.write_text(out, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
