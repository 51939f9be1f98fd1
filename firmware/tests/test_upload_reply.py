"""upload_reply: the laptop's answer read and judged, under pytest and the MicroPython unix
port alike. The proof's expected value is computed here from RFC 2104 again, not from
upload_proof, so a wrong HMAC there would fail these tests too."""

import hashlib
import json

from net_conn import UploadError
from rs_protocol import E_HTTP, E_SERVER_HASH, E_SERVER_PROOF
from upload_reply import check_reply, content_length, parse_reply

SHA = "ab" * 32
KEY = bytes(range(32))


def _hmac_sha256_hex(key, message):
    block = 64
    key = key + bytes(block - len(key))
    inner = hashlib.sha256(bytes(b ^ 0x36 for b in key) + message).digest()
    outer = hashlib.sha256(bytes(b ^ 0x5C for b in key) + inner).digest()
    return "".join(f"{b:02x}" for b in outer)


def _reply(status, obj, extra=b""):
    body = json.dumps(obj).encode()
    head = f"HTTP/1.1 {status} X\r\nContent-Type: application/json\r\n"
    head += f"Content-Length: {len(body)}\r\n\r\n"
    return head.encode() + body + extra


def _raises(code, fn, *args):
    try:
        fn(*args)
    except UploadError as exc:
        assert exc.code == code, exc.code
        return exc
    raise AssertionError("no UploadError " + code)


def test_parse_reply_reads_status_and_json_up_to_content_length():
    raw = _reply(201, {"files": [{"sha256": SHA}]}, extra=b"trailing bytes of the next reply")
    assert parse_reply(raw) == (201, {"files": [{"sha256": SHA}]})


def test_parse_reply_without_json_or_http():
    assert parse_reply(b"HTTP/1.0 502 Bad Gateway\r\n\r\n<html>") == (502, None)
    assert parse_reply(b"SSH-2.0-OpenSSH\r\n\r\n") == (0, None)
    assert parse_reply(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n") == (0, None)  # no end


def test_content_length():
    assert content_length(b"HTTP/1.1 200 OK\r\ncontent-length:  17 \r\nX: y") == 17
    assert content_length(b"HTTP/1.1 200 OK\r\nContent-Length: many") is None
    assert content_length(b"HTTP/1.1 200 OK\r\nX-Content-Length-Note: 5") is None


def test_an_echoed_hash_without_a_sync_key_is_acknowledged():
    reply = {"files": [{"sha256": SHA, "duplicate": True, "session_id": "s1"}]}
    assert check_reply(200, reply, SHA, 10) == {
        "sha256": SHA,
        "bytes": 10,
        "duplicate": True,
        "status": 200,
        "session_id": "s1",
        "proven": False,
    }


def test_a_sync_needs_the_proof_of_its_key():
    proof = _hmac_sha256_hex(KEY, (SHA + ":1234").encode())
    reply = {"files": [{"sha256": SHA, "proof": proof.upper()}]}
    assert check_reply(201, reply, SHA, 1234, KEY)["proven"] is True
    # The same proof for another size, none at all, or a stranger's key: never sent.
    for size, file_reply in (
        (1235, {"sha256": SHA, "proof": proof}),
        (1234, {"sha256": SHA}),
        (1234, {"sha256": SHA, "proof": _hmac_sha256_hex(b"k" * 32, (SHA + ":1234").encode())}),
    ):
        error = _raises(E_SERVER_PROOF, check_reply, 201, {"files": [file_reply]}, SHA, size, KEY)
        assert error.final is True


def test_another_hash_or_none_is_a_server_hash_error():
    _raises(E_SERVER_HASH, check_reply, 201, {"files": [{"sha256": "cd" * 32}]}, SHA, 1)
    _raises(E_SERVER_HASH, check_reply, 201, {"files": []}, SHA, 1)
    _raises(E_SERVER_HASH, check_reply, 201, None, SHA, 1)


def test_http_errors_say_the_status_and_the_servers_words():
    error = _raises(E_HTTP, check_reply, 401, {"error": "unauthorized"}, SHA, 1)
    assert error.status == 401 and "fresh token" in error.detail
    error = _raises(E_HTTP, check_reply, 413, {"error": "too_large"}, SHA, 1)
    assert error.status == 413 and "too_large" in error.detail
    error = _raises(E_HTTP, check_reply, 0, None, SHA, 1)
    assert "not an HTTP reply" in error.detail
