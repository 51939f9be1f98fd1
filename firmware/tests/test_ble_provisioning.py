"""ble_provisioning: the GATT service against a fake radio, a simulated phone and a fake sync.

Runs under pytest and under MicroPython (mpy_run.py): plain functions and asserts. The
phone below does what the web UI will: read info, seal the secrets, frame, write; it
decodes the device's notifications with the same frame codec.
"""

import json
from binascii import b2a_base64, hexlify, unhexlify

import rs_crypto
import rs_frames
from ble_provisioning import (
    EV_CONNECT,
    EV_DISCONNECT,
    EV_MTU,
    EV_WRITE,
    FLAG_NOTIFY,
    FLAG_READ,
    FLAG_WRITE,
    Provisioning,
    device_name,
    valid_url,
)
from rs_protocol import (
    BOUND_CANCEL,
    BOUND_SYNC_REQUEST,
    CONTROL_UUID,
    E_AUTH,
    E_BUSY,
    E_FRAME,
    E_MESSAGE,
    E_REPLAY,
    E_STORAGE,
    E_URL,
    INFO_UUID,
    MSG_ACK,
    MSG_CANCEL,
    MSG_DONE,
    MSG_ERROR,
    MSG_PROGRESS,
    MSG_STATE,
    MSG_STATUS_REQUEST,
    MSG_SYNC_REQUEST,
    SERVICE_UUID,
    STATUS_UUID,
)

CODE = "7K3M9-QX2ZA"
DEVICE_ID = "rs-00ab12"
CONN = 64
_keys = []


def keys(code=CODE):
    if code != CODE:
        return rs_crypto.derive_keys(code, DEVICE_ID)
    if not _keys:  # 2000 PBKDF2 iterations: once per module
        _keys.append(rs_crypto.derive_keys(CODE, DEVICE_ID))
    return _keys[0]


class FakeRadio:
    """The adapter interface, recording what the service does with it."""

    def __init__(self):
        self.services = []
        self.buffers = {}
        self.values = {}
        self.notified = []  # (conn, handle, bytes)
        self.events = []
        self.advertising = 0
        self.fail_notify = False

    def register(self, service_uuid, characteristics):
        self.services.append((service_uuid, characteristics))
        return tuple(range(10, 10 + len(characteristics)))

    def set_buffer(self, handle, size_bytes):
        self.buffers[handle] = size_bytes

    def write(self, handle, data):
        self.values[handle] = bytes(data)

    def notify(self, conn, handle, data):
        if self.fail_notify:
            raise OSError(12)  # what a full NimBLE queue gives
        self.notified.append((conn, handle, bytes(data)))  # the caller reuses its buffer

    def advertise(self):
        self.advertising += 1

    def next_event(self):
        return self.events.pop(0) if self.events else None


class FakeSync:
    def __init__(self):
        self.started = []
        self.cancels = 0
        self.running = False
        self.refuse = None
        self.prov = None
        self.report_on_start = True
        self.current = {"type": "state", "state": "idle"}

    def start(self, request):
        if self.refuse:
            return self.refuse
        self.started.append(request)
        # like sync.Sync: busy once its task runs, which here is when it first reports
        self.running = self.report_on_start
        if self.report_on_start:
            self.report({"type": "state", "state": "request_received"})
        return object()  # like asyncio.create_task's Task: not an error

    def cancel(self):
        self.cancels += 1
        return True

    def report(self, status):
        self.current = status
        if status.get("state") in ("done", "failed", "cancelled"):
            self.running = False
        self.prov.relay(status)


class Clock:
    def __init__(self):
        self.now_ms = 0

    def __call__(self):
        return self.now_ms


class Phone:
    """What the browser does: read info, seal, frame, write; decode notifications."""

    def __init__(self, radio, prov, code=CODE):
        self.radio = radio
        self.prov = prov
        self.keys = keys(code)
        self.counter = 0
        self.msg_id = 0
        self.inbox = rs_frames.Reassembler()
        self.seen = 0

    def connect(self, conn=CONN):
        self.radio.events.append((EV_CONNECT, conn, 0, None))
        self.prov.poll()
        self.counter = 0
        self.inbox.reset()

    def info(self):
        return json.loads(self.radio.values[10])

    def nonce(self):
        return unhexlify(self.info()["nonce"])

    def seal_fields(self, obj, msg_type, bound_names, plaintext, counter=None, nonce=None):
        if counter is None:
            self.counter += 1
            counter = self.counter
        nonce = nonce or self.nonce()
        bound = [obj.get(name) for name in bound_names]
        ad = rs_crypto.bound_data(msg_type, bound)
        blob = rs_crypto.seal(self.keys, nonce, counter, plaintext, ad)
        obj["nonce"] = hexlify(nonce).decode()
        obj["counter"] = counter
        return b2a_base64(blob).strip().decode()

    def sync_request(self, password="hunter22", token="tok-123", counter=None, **fields):
        obj = {
            "ssid": "Pit Hotspot",
            "url": "https://laptop.local:8443/api/upload",
            "ip_fallback": "https://192.168.43.10:8443/api/upload",
            "sync_id": "s-001",
            "cert_sha256": "AB" * 32,
            "time_utc": 1767225600,
        }
        for name in fields:
            obj[name] = fields[name]
        secrets = json.dumps({"password": password, "token": token}).encode()
        obj["secrets"] = self.seal_fields(
            obj, MSG_SYNC_REQUEST, BOUND_SYNC_REQUEST, secrets, counter
        )
        return obj

    def cancel(self, sync_id="s-001", counter=None):
        obj = {"sync_id": sync_id}
        obj["auth"] = self.seal_fields(obj, MSG_CANCEL, BOUND_CANCEL, b"", counter)
        return obj

    def frames(self, msg_type, body, msg_id=None, write_bytes=None):
        if msg_id is None:
            self.msg_id = (self.msg_id + 1) & 0xFF
            msg_id = self.msg_id
        if not isinstance(body, bytes):
            body = json.dumps(body).encode()
        write_bytes = write_bytes or self.info()["max_write"]
        return rs_frames.split(bytes((msg_type,)) + body, msg_id, write_bytes)

    def write(self, frames, conn=CONN):
        for frame in frames:
            self.radio.events.append((EV_WRITE, conn, 11, frame))
        while self.prov.poll():
            pass
        return self.received()

    def send(self, msg_type, body, msg_id=None, write_bytes=None):
        """Write one message; returns the device messages notified meanwhile."""
        return self.write(self.frames(msg_type, body, msg_id, write_bytes))

    def received(self):
        """New device messages as (type, dict), decoded from the notifications."""
        out = []
        while self.seen < len(self.radio.notified):
            conn, handle, frame = self.radio.notified[self.seen]
            self.seen += 1
            assert handle == 12 and conn == CONN
            assert len(frame) <= self.info()["max_write"]
            if self.inbox.feed(frame) == rs_frames.COMPLETE:
                message = bytes(self.inbox.message())
                out.append((message[0], json.loads(message[1:])))
        return out

    def read_status(self):
        """A polling read of the status value (phones without notifications)."""
        r = rs_frames.Reassembler()
        assert r.feed(self.radio.values[12]) == rs_frames.COMPLETE
        message = bytes(r.message())
        return message[0], json.loads(message[1:])


def setup(sync_busy=True, device_info=None, **kwargs):
    radio = FakeRadio()
    sync = FakeSync()
    clock = Clock()
    logs = []

    def info():
        return {
            "device_id": DEVICE_ID,
            "firmware": "0.1.0",
            "pending_files": 3,
            "pending_bytes": 123456,
            "free_bytes": 987654321,
        }

    prov = Provisioning(
        radio,
        device_info or info,
        keys(),
        start_sync=sync.start,
        cancel_sync=sync.cancel,
        sync_busy=(lambda: sync.running) if sync_busy else None,
        sync_status=lambda: sync.current,
        clock_ms=clock,
        log=logs.append,
        **kwargs,
    )
    sync.prov = prov
    phone = Phone(radio, prov)
    phone.connect()
    return Rig(radio, prov, sync, phone, clock)


class Rig:
    def __init__(self, radio, prov, sync, phone, clock):
        self.radio = radio
        self.prov = prov
        self.sync = sync
        self.phone = phone
        self.clock = clock


def acks(messages):
    return [body for kind, body in messages if kind == MSG_ACK]


def only_ack(messages):
    found = acks(messages)
    assert len(found) == 1, messages
    return found[0]


# -- GATT layout and info ------------------------------------------------------------------


def test_registers_the_service_and_publishes_info():
    t = setup()
    uuid, chars = t.radio.services[0]
    assert uuid == SERVICE_UUID
    assert chars[0] == (INFO_UUID, FLAG_READ)
    assert chars[1] == (CONTROL_UUID, FLAG_WRITE)
    assert chars[2] == (STATUS_UUID, FLAG_READ | FLAG_NOTIFY)
    assert t.radio.buffers == {10: 512, 11: 512, 12: 512}
    assert t.radio.advertising == 1
    info = t.phone.info()
    assert info["device_id"] == DEVICE_ID and info["firmware"] == "0.1.0"
    assert info["protocol"] == 1 and info["max_write"] == 20
    assert info["pending_files"] == 3 and info["pending_bytes"] == 123456
    assert info["free_bytes"] == 987654321
    assert len(info["nonce"]) == 32 and unhexlify(info["nonce"]) == t.prov.nonce
    assert t.phone.read_status() == (MSG_STATE, {"state": "idle"})
    assert t.prov.connected


def test_storage_error_still_publishes_info():
    def broken():
        raise OSError(5)

    t = setup(device_info=broken)
    info = t.phone.info()
    assert info["storage_error"] == E_STORAGE and info["pending_files"] is None
    assert len(info["nonce"]) == 32


def test_each_connection_gets_a_new_nonce():
    t = setup()
    first = t.phone.nonce()
    t.radio.events.append((EV_DISCONNECT, CONN, 0, None))
    t.prov.poll()
    t.phone.connect()
    assert t.phone.nonce() != first
    assert t.radio.advertising == 2  # advertising again after the disconnect


def test_mtu_exchange_raises_max_write():
    t = setup()
    t.radio.events.append((EV_MTU, CONN, 0, 188))
    t.prov.poll()
    assert t.phone.info()["max_write"] == 185
    t.radio.events.append((EV_MTU, CONN, 0, 517))
    t.prov.poll()
    assert t.phone.info()["max_write"] == 512  # capped: one buffer, Web Bluetooth's max
    t.radio.events.append((EV_MTU, CONN, 0, 10))
    t.prov.poll()
    assert t.phone.info()["max_write"] == 20


# -- sync request --------------------------------------------------------------------------


def test_sync_request_at_20_byte_writes_starts_the_sync():
    t = setup()
    frames = t.phone.frames(MSG_SYNC_REQUEST, t.phone.sync_request())
    assert len(frames) > 20 and all(len(f) <= 20 for f in frames)
    got = t.phone.write(frames)
    assert got == [  # the answer first, then what the sync reported meanwhile
        (MSG_ACK, {"msg_id": t.phone.msg_id, "result": "ok"}),
        (MSG_STATE, {"state": "request_received", "sync_id": "s-001"}),
    ]
    assert len(t.sync.started) == 1
    request = t.sync.started[0]
    assert request == {
        "ssid": "Pit Hotspot",
        "password": "hunter22",
        "url": "https://laptop.local:8443/api/upload",
        "ip_fallback": "https://192.168.43.10:8443/api/upload",
        "token": "tok-123",
        "sync_id": "s-001",
        "cert_sha256": "ab" * 32,
        "time_utc": 1767225600,
    }
    # the readable value: the latest status plus the answer to our message
    kind, status = t.phone.read_status()
    assert kind == MSG_STATE and status["state"] == "request_received"
    assert status["sync_id"] == "s-001"
    assert status["last_ack"] == {"msg_id": t.phone.msg_id, "result": "ok"}


def test_sync_request_at_185_byte_writes():
    t = setup()
    t.radio.events.append((EV_MTU, CONN, 0, 188))
    t.prov.poll()
    frames = t.phone.frames(MSG_SYNC_REQUEST, t.phone.sync_request(token="t" * 200))
    assert len(frames) >= 3 and all(len(f) <= 185 for f in frames)
    assert len(frames[0]) == 185
    assert only_ack(t.phone.write(frames))["result"] == "ok"
    assert t.sync.started[0]["token"] == "t" * 200
    # the device notifies in frames of the same size
    assert max(len(n[2]) for n in t.radio.notified) <= 185


def test_optional_fields_may_be_absent():
    t = setup()
    obj = {"ssid": "Pit", "url": "http://192.168.43.10:8000/api/upload", "sync_id": "s-1"}
    obj["time_utc"] = 1767225600
    # absent optional fields are bound as empty strings
    obj["secrets"] = t.phone.seal_fields(
        obj,
        MSG_SYNC_REQUEST,
        BOUND_SYNC_REQUEST,
        json.dumps({"password": "", "token": "x"}).encode(),
    )
    assert only_ack(t.phone.send(MSG_SYNC_REQUEST, obj))["result"] == "ok"
    assert t.sync.started[0]["ip_fallback"] is None
    assert t.sync.started[0]["cert_sha256"] is None
    assert t.sync.started[0]["password"] == ""


def test_repeated_msg_id_is_idempotent():
    t = setup()
    frames = t.phone.frames(MSG_SYNC_REQUEST, t.phone.sync_request())
    first = only_ack(t.phone.write(frames))
    # the ack was lost: the phone writes the very same frames again
    again = t.phone.write(frames)
    assert acks(again) == [first]
    assert len(t.sync.started) == 1
    assert t.phone.read_status()[1]["last_ack"] == first


def test_same_sync_while_running_is_not_started_twice():
    t = setup()
    assert only_ack(t.phone.send(MSG_SYNC_REQUEST, t.phone.sync_request()))["result"] == "ok"
    # a new message (new msg_id, counter) for the same sync_id: one sync
    ack = only_ack(t.phone.send(MSG_SYNC_REQUEST, t.phone.sync_request()))
    assert ack["result"] == "ok" and ack["detail"] == "already running"
    assert len(t.sync.started) == 1
    # another sync while one runs
    ack = only_ack(t.phone.send(MSG_SYNC_REQUEST, t.phone.sync_request(sync_id="s-002")))
    assert ack["result"] == E_BUSY
    assert len(t.sync.started) == 1
    # after it ended, a new request starts a new sync
    t.sync.report({"type": "done", "state": "done", "files_sent": 3, "bytes": 10})
    assert only_ack(t.phone.send(MSG_SYNC_REQUEST, t.phone.sync_request(sync_id="s-002")))[
        "result"
    ] == ("ok")
    assert len(t.sync.started) == 2


def test_second_request_before_the_first_report_is_busy():
    t = setup()
    t.sync.report_on_start = False  # like sync.start(): a task that has not run yet
    first = t.phone.frames(MSG_SYNC_REQUEST, t.phone.sync_request())
    second = t.phone.frames(MSG_SYNC_REQUEST, t.phone.sync_request(sync_id="s-002"))
    got = t.phone.write(first + second)  # both in one poll()
    assert [a["result"] for a in acks(got)] == ["ok", E_BUSY]
    assert len(t.sync.started) == 1


def test_busy_falls_back_to_the_relayed_state():
    t = setup(sync_busy=False)
    assert only_ack(t.phone.send(MSG_SYNC_REQUEST, t.phone.sync_request()))["result"] == "ok"
    t.sync.report({"type": "state", "state": "joining"})
    ack = only_ack(t.phone.send(MSG_SYNC_REQUEST, t.phone.sync_request(sync_id="s-9")))
    assert ack["result"] == E_BUSY
    t.sync.report({"type": "error", "state": "failed", "error": "E_AP_NOT_FOUND"})
    ack = only_ack(t.phone.send(MSG_SYNC_REQUEST, t.phone.sync_request(sync_id="s-9")))
    assert ack["result"] == "ok"


def test_start_sync_may_refuse_with_an_error_code():
    t = setup()
    t.sync.refuse = E_STORAGE
    ack = only_ack(t.phone.send(MSG_SYNC_REQUEST, t.phone.sync_request()))
    assert ack["result"] == E_STORAGE
    t.sync.refuse = None
    ack = only_ack(t.phone.send(MSG_SYNC_REQUEST, t.phone.sync_request(sync_id="s-2")))
    assert ack["result"] == "ok"
    assert len(t.sync.started) == 1


# -- refused requests: nothing applied -----------------------------------------------------


def test_wrong_pairing_code_is_e_auth():
    t = setup()
    intruder = Phone(t.radio, t.prov, code="7K3M9-QX2ZB")
    intruder.seen = len(t.radio.notified)
    intruder.msg_id = 100  # its own msg_ids: a repeated id would be answered as a repeat
    ack = only_ack(intruder.send(MSG_SYNC_REQUEST, intruder.sync_request()))
    assert ack["result"] == E_AUTH
    assert t.sync.started == []
    t.phone.seen = len(t.radio.notified)  # (both phones hear the same notifications)
    # the right code still works afterwards: a failed MAC burns no counter
    assert only_ack(t.phone.send(MSG_SYNC_REQUEST, t.phone.sync_request()))["result"] == "ok"


def test_replayed_counter_is_e_replay():
    t = setup(sync_busy=False)
    t.sync.report_on_start = False
    request = t.phone.sync_request()
    assert only_ack(t.phone.send(MSG_SYNC_REQUEST, request))["result"] == "ok"
    t.sync.report({"type": "error", "state": "failed", "error": "E_NO_IP"})
    # the same sealed request under a new msg_id: its counter is used up
    assert only_ack(t.phone.send(MSG_SYNC_REQUEST, request))["result"] == E_REPLAY
    # a lower counter, freshly sealed, too
    older = t.phone.sync_request(counter=1, sync_id="s-2")
    assert only_ack(t.phone.send(MSG_SYNC_REQUEST, older))["result"] == E_REPLAY
    assert len(t.sync.started) == 1


def test_replay_into_a_later_connection_is_e_replay():
    t = setup()
    frames = t.phone.frames(MSG_SYNC_REQUEST, t.phone.sync_request())
    assert only_ack(t.phone.write(frames))["result"] == "ok"
    t.sync.report({"type": "done", "state": "done"})
    t.radio.events.append((EV_DISCONNECT, CONN, 0, None))
    t.prov.poll()
    t.phone.connect()
    # an eavesdropper replays the recorded frames: the nonce is stale
    ack = only_ack(t.phone.write(frames))
    assert ack["result"] == E_REPLAY
    assert len(t.sync.started) == 1


def test_tampering_is_e_auth():
    t = setup()
    obj = t.phone.sync_request()
    blob = bytearray(rs_crypto_blob(obj))
    blob[20] ^= 1  # a ciphertext bit
    obj["secrets"] = b2a_base64(bytes(blob)).strip().decode()
    assert only_ack(t.phone.send(MSG_SYNC_REQUEST, obj))["result"] == E_AUTH
    # a cleartext field changed after sealing: the upload URL redirected elsewhere
    obj = t.phone.sync_request()
    obj["url"] = "https://evil.example/upload"
    assert only_ack(t.phone.send(MSG_SYNC_REQUEST, obj))["result"] == E_AUTH
    obj = t.phone.sync_request()
    obj["counter"] += 1  # the counter is inside the MAC too
    assert only_ack(t.phone.send(MSG_SYNC_REQUEST, obj))["result"] == E_AUTH
    assert t.sync.started == []


def rs_crypto_blob(obj):
    from binascii import a2b_base64

    return a2b_base64(obj["secrets"])


def test_bad_url_scheme_is_e_url():
    t = setup()
    for url in ("ftp://laptop/upload", "laptop.local/upload", "http://", "https:///x"):
        ack = only_ack(t.phone.send(MSG_SYNC_REQUEST, t.phone.sync_request(url=url)))
        assert ack["result"] == E_URL, url
    ack = only_ack(t.phone.send(MSG_SYNC_REQUEST, t.phone.sync_request(ip_fallback="10.0.0.1")))
    assert ack["result"] == E_URL
    assert t.sync.started == []


def test_valid_url():
    assert valid_url("http://laptop.local:8000/api/upload")
    assert valid_url("https://192.168.43.10/api")
    assert valid_url("http://[fe80::1]:8000/")
    assert valid_url("http://host?x=1")
    assert not valid_url("HTTP://host/")  # browsers send lower case
    assert not valid_url("javascript:alert(1)")
    assert not valid_url("http://host name/")
    assert not valid_url("http://host/\x00")
    assert not valid_url("http://:80/")
    assert not valid_url("http://user@host/")
    assert not valid_url(None)
    assert not valid_url("http://" + "a" * 600)


def test_malformed_requests_are_e_message():
    t = setup()

    def result_of(body):
        return only_ack(t.phone.send(MSG_SYNC_REQUEST, body))["result"]

    assert result_of(b"not json") == E_MESSAGE
    assert result_of(b"\xff\xfe") == E_MESSAGE
    assert result_of(b"[1, 2]") == E_MESSAGE
    assert result_of(b'{"ssid": "x"') == E_MESSAGE  # truncated JSON
    good = t.phone.sync_request()
    for name in ("ssid", "url", "sync_id", "time_utc", "nonce", "counter", "secrets"):
        obj = dict(good)
        del obj[name]
        assert result_of(obj) == E_MESSAGE, name
    for name, value in (
        ("ssid", "x" * 33),
        ("ssid", 5),
        ("time_utc", 1767225600000),  # milliseconds, not seconds
        ("time_utc", True),
        ("time_utc", "1767225600"),
        ("counter", 0),
        ("counter", 1 << 32),
        ("nonce", "zz" * 16),
        ("nonce", "00" * 15),
        ("sync_id", "s/../x"),
        ("sync_id", "s" * 33),
        ("cert_sha256", "ab" * 31),
        ("secrets", "AAAA"),
        ("secrets", 7),
    ):
        obj = dict(good)
        obj[name] = value
        assert result_of(obj) == E_MESSAGE, (name, value)
    # sealed correctly, but the secrets lack the token
    obj = t.phone.sync_request()
    obj["secrets"] = t.phone.seal_fields(
        obj, MSG_SYNC_REQUEST, BOUND_SYNC_REQUEST, b'{"password": "x"}'
    )
    assert result_of(obj) == E_MESSAGE
    # a cert pin that is 64 characters but not hex, sealed correctly
    assert result_of(t.phone.sync_request(cert_sha256="g" * 64)) == E_MESSAGE
    assert t.sync.started == []


def test_unknown_and_device_direction_types_are_e_message():
    t = setup()
    for msg_type in (0, 4, MSG_ACK, MSG_DONE, 255):
        ack = only_ack(t.phone.send(msg_type, b"{}"))
        assert ack["result"] == E_MESSAGE and ack["msg_id"] == t.phone.msg_id


# -- frames --------------------------------------------------------------------------------


def test_out_of_order_frames_are_e_frame_then_a_resend_works():
    t = setup()
    frames = t.phone.frames(MSG_SYNC_REQUEST, t.phone.sync_request())
    got = t.phone.write([frames[0], frames[2]] + frames[3:])
    ack = only_ack(got)
    assert ack == {"msg_id": t.phone.msg_id, "result": E_FRAME, "detail": "frame out of order"}
    assert t.sync.started == []
    assert only_ack(t.phone.write(frames))["result"] == "ok"  # the whole message again
    assert len(t.sync.started) == 1


def test_oversized_message_is_e_frame():
    t = setup()
    t.radio.events.append((EV_MTU, CONN, 0, 515))
    t.prov.poll()
    frames = []
    for seq in range(5):  # 5 x 509 bytes > 2048
        last = 1 if seq == 4 else 0
        frames.append(bytes((9, seq, last, MSG_SYNC_REQUEST)) + b" " * 508)
    ack = only_ack(t.phone.write(frames))
    assert ack["result"] == E_FRAME and ack["msg_id"] == 9
    assert t.sync.started == []


def test_truncated_frames_and_messages():
    t = setup()
    ack = only_ack(t.phone.write([b""]))
    assert ack["result"] == E_FRAME and ack["msg_id"] is None
    ack = only_ack(t.phone.write([b"\x05\x00"]))
    assert ack["result"] == E_FRAME and ack["msg_id"] == 5
    # a message whose last frame never arrives gets no answer; the next one is served
    frames = t.phone.frames(MSG_SYNC_REQUEST, t.phone.sync_request())
    assert t.phone.write(frames[:-1]) == []
    assert only_ack(t.phone.send(MSG_SYNC_REQUEST, t.phone.sync_request()))["result"] == "ok"
    # valid frames around a cut message body: E_MESSAGE
    cut = json.dumps(t.phone.sync_request()).encode()[:-10]
    assert only_ack(t.phone.send(MSG_SYNC_REQUEST, cut))["result"] == E_MESSAGE
    assert len(t.sync.started) == 1


def test_garbage_frames_never_crash_or_start_a_sync():
    t = setup()
    seed = 12345
    for n in range(400):
        seed = (seed * 1103515245 + 12345) & 0x7FFFFFFF
        length = seed % 24
        frame = bytes(((seed >> (i % 23)) + i * 7) & 0xFF for i in range(length))
        if n % 3 == 0 and length >= 3:
            frame = bytes((frame[0], 0, 1)) + frame[3:]  # complete one-frame messages
        t.phone.write([frame])
    assert t.sync.started == []
    assert t.sync.cancels == 0
    assert t.phone.read_status()[1]["state"] == "idle"


def test_writes_from_elsewhere_are_ignored():
    t = setup()
    frames = t.phone.frames(MSG_SYNC_REQUEST, t.phone.sync_request())
    for frame in frames:
        t.radio.events.append((EV_WRITE, CONN, 10, frame))  # the info handle
        t.radio.events.append((EV_WRITE, CONN + 1, 11, frame))  # another connection
    while t.prov.poll():
        pass
    assert t.phone.received() == []
    assert t.sync.started == []


def test_one_poll_handles_a_bounded_number_of_events():
    t = setup()
    for _ in range(100):
        t.radio.events.append((EV_WRITE, CONN, 11, b"\x01\x05\x00x"))
    assert t.prov.poll() == 32
    assert len(t.radio.events) == 68


# -- status relay --------------------------------------------------------------------------


def test_every_state_is_relayed_and_readable():
    t = setup()
    assert only_ack(t.phone.send(MSG_SYNC_REQUEST, t.phone.sync_request()))["result"] == "ok"
    for state in ("scanning", "joining", "joined", "uploading"):
        t.sync.report({"type": "state", "state": state})
        assert t.phone.received() == [(MSG_STATE, {"state": state, "sync_id": "s-001"})]
        kind, status = t.phone.read_status()
        assert (kind, status["state"], status["sync_id"]) == (MSG_STATE, state, "s-001")
    t.clock.now_ms += 1000
    progress = {"type": "progress", "state": "uploading", "file": 1, "files": 3}
    progress["sync_bytes"] = 4096
    progress["sync_total"] = 123456
    t.sync.report(progress)
    got = t.phone.received()
    assert got[0][0] == MSG_PROGRESS and got[0][1]["sync_bytes"] == 4096
    assert got[0][1]["sync_id"] == "s-001" and "type" not in got[0][1]
    t.sync.report({"type": "done", "state": "done", "files_sent": 3, "bytes": 123456})
    got = t.phone.received()
    assert got == [
        (MSG_DONE, {"state": "done", "files_sent": 3, "bytes": 123456, "sync_id": "s-001"})
    ]
    kind, status = t.phone.read_status()
    assert kind == MSG_DONE and status["files_sent"] == 3


def test_failure_and_cancel_are_relayed_with_their_codes():
    t = setup()
    assert only_ack(t.phone.send(MSG_SYNC_REQUEST, t.phone.sync_request()))["result"] == "ok"
    long_detail = "x" * 500
    t.sync.report(
        {"type": "error", "state": "failed", "error": "E_WRONG_PASSWORD", "detail": long_detail}
    )
    kind, body = t.phone.received()[0]
    assert kind == MSG_ERROR and body["error"] == "E_WRONG_PASSWORD"
    assert len(body["detail"]) == 120  # bounded: the status must fit one stored value
    assert t.phone.read_status()[0] == MSG_ERROR
    t.sync.report({"type": "state", "state": "cancelled", "error": "E_CANCELLED"})
    assert t.phone.received()[0] == (
        MSG_STATE,
        {"state": "cancelled", "error": "E_CANCELLED", "sync_id": "s-001"},
    )


def test_relay_rejects_unknown_types():
    t = setup()
    try:
        t.prov.relay({"type": "ack", "state": "x"})
    except ValueError:
        return
    raise AssertionError("no ValueError")


def test_progress_is_rate_limited_and_the_latest_sent():
    t = setup(progress_interval_ms=500)
    assert only_ack(t.phone.send(MSG_SYNC_REQUEST, t.phone.sync_request()))["result"] == "ok"
    t.clock.now_ms = 10000
    for i in range(50):  # a 4 KB chunk each, far faster than BLE could carry them
        t.sync.report({"type": "progress", "state": "uploading", "sync_bytes": i * 4096})
        t.clock.now_ms += 5
    got = t.phone.received()
    assert [(k, b["sync_bytes"]) for k, b in got] == [(MSG_PROGRESS, 0)]
    t.prov.poll()
    assert t.phone.received() == []  # within 500 ms of the last one sent
    t.clock.now_ms = 10500
    t.prov.poll()
    got = t.phone.received()
    assert [(k, b["sync_bytes"]) for k, b in got] == [(MSG_PROGRESS, 49 * 4096)]
    # a state change goes out at once, and a stale progress is not sent after it
    t.sync.report({"type": "progress", "state": "uploading", "sync_bytes": 1})
    t.sync.report({"type": "done", "state": "done"})
    t.clock.now_ms += 1000
    t.prov.poll()
    assert [k for k, b in t.phone.received()] == [MSG_DONE]


def test_status_request_answers_with_the_current_status():
    t = setup()
    got = t.phone.send(MSG_STATUS_REQUEST, b"")
    assert got == [
        (MSG_ACK, {"msg_id": t.phone.msg_id, "result": "ok"}),
        (MSG_STATE, {"state": "idle"}),
    ]
    t.sync.current = {"type": "state", "state": "joining", "sync_id": "s-7"}
    got = t.phone.send(MSG_STATUS_REQUEST, b"{}")
    assert got[1] == (MSG_STATE, {"state": "joining", "sync_id": "s-7"})
    assert t.phone.read_status()[1]["state"] == "joining"


def test_disconnect_mid_sync_does_not_stop_it_and_the_end_stays_readable():
    t = setup()
    disconnects = []
    t.prov._on_disconnect = lambda: disconnects.append(1)
    assert only_ack(t.phone.send(MSG_SYNC_REQUEST, t.phone.sync_request()))["result"] == "ok"
    t.sync.report({"type": "state", "state": "uploading"})
    t.phone.received()
    old_nonce = t.phone.nonce()
    t.radio.events.append((EV_DISCONNECT, CONN, 0, None))
    t.prov.poll()
    assert not t.prov.connected and disconnects == [1]
    assert t.sync.cancels == 0 and t.sync.running
    assert t.radio.advertising == 2
    sent_before = len(t.radio.notified)
    t.clock.now_ms += 1000
    t.sync.report({"type": "progress", "state": "uploading", "sync_bytes": 50000})
    t.sync.report({"type": "done", "state": "done", "files_sent": 3, "bytes": 123456})
    assert len(t.radio.notified) == sent_before  # nobody to notify
    # the phone comes back: a new nonce, and the outcome is readable
    t.phone.connect()
    assert t.phone.nonce() != old_nonce
    kind, status = t.phone.read_status()
    assert kind == MSG_DONE
    assert status == {"state": "done", "files_sent": 3, "bytes": 123456, "sync_id": "s-001"}
    assert "last_ack" not in status  # msg_ids are per connection
    got = t.phone.send(MSG_STATUS_REQUEST, b"")
    assert got[1] == (MSG_DONE, status)


def test_notify_failure_never_reaches_the_sync():
    t = setup()
    assert only_ack(t.phone.send(MSG_SYNC_REQUEST, t.phone.sync_request()))["result"] == "ok"
    t.radio.fail_notify = True
    t.sync.report({"type": "state", "state": "joining"})  # would raise if relay raised
    assert t.prov.notify_failures == 1
    assert t.phone.read_status()[1]["state"] == "joining"


# -- cancel --------------------------------------------------------------------------------


def test_cancel_calls_the_cancel_callback():
    t = setup()
    assert only_ack(t.phone.send(MSG_SYNC_REQUEST, t.phone.sync_request()))["result"] == "ok"
    frames = t.phone.frames(MSG_CANCEL, t.phone.cancel())
    assert only_ack(t.phone.write(frames)) == {"msg_id": t.phone.msg_id, "result": "ok"}
    assert t.sync.cancels == 1
    # the same cancel written again (lost ack): answered, not applied twice
    assert only_ack(t.phone.write(frames))["result"] == "ok"
    assert t.sync.cancels == 1
    t.sync.report({"type": "state", "state": "cancelled", "error": "E_CANCELLED"})
    assert t.phone.received()[0][1]["state"] == "cancelled"
    assert t.phone.read_status()[1]["state"] == "cancelled"
    # cancelling after the end: nothing to do
    ack = only_ack(t.phone.send(MSG_CANCEL, t.phone.cancel()))
    assert ack == {"msg_id": t.phone.msg_id, "result": "ok", "detail": "no sync running"}
    assert t.sync.cancels == 1


def test_cancel_needs_the_pairing_code_and_the_running_sync_id():
    t = setup()
    assert only_ack(t.phone.send(MSG_SYNC_REQUEST, t.phone.sync_request()))["result"] == "ok"
    intruder = Phone(t.radio, t.prov, code="00000-00000")
    intruder.seen = len(t.radio.notified)
    intruder.msg_id = 100  # its own msg_ids: a repeated id would be answered as a repeat
    ack = only_ack(intruder.send(MSG_CANCEL, intruder.cancel(counter=50)))
    assert ack["result"] == E_AUTH
    t.phone.seen = len(t.radio.notified)
    ack = only_ack(t.phone.send(MSG_CANCEL, t.phone.cancel(sync_id="s-other")))
    assert ack["result"] == E_MESSAGE
    # a replayed cancel
    obj = t.phone.cancel()
    assert only_ack(t.phone.send(MSG_CANCEL, obj))["result"] == "ok"
    assert only_ack(t.phone.send(MSG_CANCEL, obj))["result"] == E_REPLAY
    assert t.sync.cancels == 1
    assert only_ack(t.phone.send(MSG_CANCEL, b"{}"))["result"] == E_MESSAGE


# -- names and the board adapter -----------------------------------------------------------


def test_device_name():
    assert device_name("rs-00ab12") == "RS-Core-AB12"
    assert device_name("a1") == "RS-Core-A1"
    assert device_name("24:6f:28:aa:bb:cc") == "RS-Core-BBCC"


def _uuid_bytes(text):
    # bluetooth.UUID's buffer: the 16 bytes little-endian, as they go on the air
    return bytes(reversed(unhexlify(text.replace("-", ""))))


class FakeBLE:
    """bluetooth.BLE as the adapter uses it; central_* play the stack's IRQs."""

    def __init__(self):
        self.handler = None
        self.configured = {}
        self.buffers = {}
        self.values = {}
        self.notified = []
        self.advertised = []
        self.services = None
        self.is_active = False

    def active(self, state=None):
        if state is not None:
            self.is_active = state
        return self.is_active

    def config(self, **settings):
        self.configured.update(settings)

    def irq(self, handler):
        self.handler = handler

    def gatts_register_services(self, services):
        self.services = services
        return (tuple(range(20, 20 + len(services[0][1]))),)

    def gatts_set_buffer(self, handle, size_bytes, append=False):
        self.buffers[handle] = (size_bytes, append)

    def gatts_write(self, handle, data, send_update=False):
        self.values[handle] = bytes(data)

    def gatts_read(self, handle):
        return self.values[handle]

    def gatts_notify(self, conn, handle, data=None):
        self.notified.append((conn, handle, bytes(data)))

    def gap_advertise(self, interval_us, adv_data=None, resp_data=None, connectable=True):
        self.advertised.append((interval_us, adv_data, resp_data, connectable))

    def central_connects(self, conn):
        self.handler(1, (conn, 0, b"\x00" * 6))

    def central_writes(self, conn, handle, data):
        self.values[handle] = bytes(data)
        self.handler(3, (conn, handle))


class _FakeBluetoothModule:
    UUID = staticmethod(_uuid_bytes)
    BLE = FakeBLE


class _FakeMicropythonModule:
    @staticmethod
    def const(value):
        return value


def board_radio_module():
    """firmware/board/ble_radio.py imported against the fakes above."""
    import sys

    added = []
    for name, fake in (("bluetooth", _FakeBluetoothModule), ("micropython", None)):
        if name in sys.modules:
            continue
        if fake is None:
            try:
                __import__(name)
                continue
            except ImportError:  # CPython
                fake = _FakeMicropythonModule
        sys.modules[name] = fake
        added.append(name)
    try:
        from board import ble_radio
    finally:
        for name in added:  # other tests must not see the fakes
            del sys.modules[name]
    return ble_radio


def test_board_adapter_registers_buffers_and_advertises():
    ble_radio = board_radio_module()
    ble = FakeBLE()
    radio = ble_radio.BleRadio("RS-Core-AB12", ble=ble)
    assert ble.is_active and ble.configured["gap_name"] == "RS-Core-AB12"
    assert ble.configured["mtu"] == 515
    prov = Provisioning(
        radio, lambda: {"device_id": DEVICE_ID}, keys(), lambda r: None, lambda: None
    )
    service_uuid, chars = ble.services[0]
    assert service_uuid == _uuid_bytes(SERVICE_UUID)
    assert chars[1] == (_uuid_bytes(CONTROL_UUID), FLAG_WRITE)
    assert ble.buffers == {20: (512, False), 21: (512, False), 22: (512, False)}
    assert json.loads(ble.values[20])["nonce"] == hexlify(prov.nonce).decode()
    interval_us, adv, resp, connectable = ble.advertised[-1]
    assert interval_us == 250000 and connectable
    assert len(adv) <= 31 and len(resp) <= 31
    assert adv == b"\x02\x01\x06\x11\x07" + _uuid_bytes(SERVICE_UUID)
    assert resp == b"\x0d\x09RS-Core-AB12"


def test_board_adapter_irq_only_queues_and_the_service_works_through_it():
    ble_radio = board_radio_module()
    ble = FakeBLE()
    wakeups = []
    radio = ble_radio.BleRadio("RS-Core-AB12", ble=ble, on_event=lambda: wakeups.append(1))
    sync = FakeSync()
    prov = Provisioning(
        radio,
        lambda: {"device_id": DEVICE_ID},
        keys(),
        start_sync=sync.start,
        cancel_sync=sync.cancel,
        sync_busy=lambda: sync.running,
    )
    sync.prov = prov
    ble.central_connects(CONN)
    ble.handler(21, (CONN, 188))  # MTU exchanged
    ble.handler(99, (CONN,))  # an event the adapter does not use
    assert radio.next_event() == (EV_CONNECT, CONN, 0, None)  # queued, nothing done yet
    assert radio.next_event() == (EV_MTU, CONN, 0, 188)
    assert radio.next_event() is None
    ble.central_connects(CONN)
    ble.handler(21, (CONN, 188))
    prov.poll()
    info = json.loads(ble.values[20])
    assert info["max_write"] == 185
    # the phone writes its frames; each write's value is read in the IRQ, before the next
    phone = Phone(FakeRadio(), prov)
    phone.radio.values[10] = ble.values[20]
    for frame in phone.frames(MSG_SYNC_REQUEST, phone.sync_request()):
        ble.central_writes(CONN, 21, frame)
    assert sync.started == [] and len(wakeups) >= 4
    while prov.poll():
        pass
    assert len(sync.started) == 1 and sync.started[0]["password"] == "hunter22"
    kinds = []
    inbox = rs_frames.Reassembler()
    for conn, handle, frame in ble.notified:
        assert conn == CONN and handle == 22 and len(frame) <= 185
        if inbox.feed(frame) == rs_frames.COMPLETE:
            kinds.append(inbox.message()[0])
    assert kinds == [MSG_ACK, MSG_STATE]
    # the disconnect re-advertises; the status value stays
    advertised = len(ble.advertised)
    ble.handler(2, (CONN, 0, b"\x00" * 6))
    prov.poll()
    assert len(ble.advertised) == advertised + 1
    assert ble.values[22][3] == MSG_STATE


def test_board_adapter_queue_is_bounded():
    ble_radio = board_radio_module()
    ble = FakeBLE()
    radio = ble_radio.BleRadio("RS-Core-AB12", ble=ble)
    radio.register(SERVICE_UUID, ((CONTROL_UUID, FLAG_WRITE),))
    for i in range(70):
        ble.central_writes(CONN, 20, bytes((i,)))
    assert radio.dropped_events == 6
    first = radio.next_event()
    assert first == (EV_WRITE, CONN, 20, b"\x00")
