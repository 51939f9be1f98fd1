"""ble_provisioning (protocol v2): the GATT service against a fake radio, a simulated phone
and a fake sync.

Runs under pytest and under MicroPython (mpy_run.py): plain functions and asserts. The
phone below does what the web UI will (docs/ble-protocol.md): read info, run the CPace
handshake with tests/phone.py's independent crypto, then seal, frame and write; it opens
the device's notifications and status reads with its own keys, so anything a device
without the code sends is refused where the browser would refuse it.
"""

import json

import phone as phone_crypto
import rs_frames
import rs_pake
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
)
from rs_crypto import CryptoError
from rs_pairing import Pairing
from rs_protocol import (
    AUTH_TIMEOUT_MS,
    CONTROL_UUID,
    E_AUTH,
    E_BUSY,
    E_FRAME,
    E_MESSAGE,
    E_RATE_LIMIT,
    E_REPLAY,
    E_SESSION,
    E_STORAGE,
    E_URL,
    INFO_UUID,
    MSG_ACK,
    MSG_CANCEL,
    MSG_CONFIRM,
    MSG_DONE,
    MSG_ERROR,
    MSG_PAKE_A,
    MSG_PAKE_B,
    MSG_PROGRESS,
    MSG_SEALED,
    MSG_STATE,
    MSG_STATUS_REQUEST,
    MSG_SYNC_REQUEST,
    SERVICE_UUID,
    STATUS_UUID,
)

CODE = "12345678"
DEVICE_ID = "RS-Core-7F3A"
CONN = 64
ACK_KEY = phone_crypto.b64url(bytes(range(32)))


class FakeRadio:
    """The adapter interface, recording what the service does with it."""

    def __init__(self):
        self.services = []
        self.buffers = {}
        self.values = {}
        self.notified = []  # (conn, handle, bytes)
        self.events = []
        self.advertising = 0
        self.disconnected = []
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

    def disconnect(self, conn):
        self.disconnected.append(conn)

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
    def __init__(self, step_ms=0):
        self.now_ms = 0
        self.step_ms = step_ms  # added on every read: work that takes time

    def __call__(self):
        self.now_ms += self.step_ms
        return self.now_ms


class Phone:
    """What the browser does: frames, the handshake, sealed requests, and reading back."""

    def __init__(self, radio, prov, code=CODE, conn=CONN):
        self.radio = radio
        self.prov = prov
        self.code = code
        self.conn = conn
        self.session = None
        self.msg_id = 0
        self.inbox = rs_frames.Reassembler()
        self.seen = len(radio.notified)
        self.refused = []  # (what, CryptoError code) the phone would not accept

    def connect(self):
        self.radio.events.append((EV_CONNECT, self.conn, 0, None))
        self.prov.poll()
        self.session = None
        self.inbox.reset()
        self.seen = len(self.radio.notified)

    def disconnect(self):
        self.radio.events.append((EV_DISCONNECT, self.conn, 0, None))
        self.prov.poll()

    def info(self):
        return json.loads(self.radio.values[10])

    def frames(self, msg_type, body, msg_id=None, write_bytes=None):
        if msg_id is None:
            self.msg_id = (self.msg_id + 1) & 0xFF
            msg_id = self.msg_id
        if not isinstance(body, bytes):
            body = json.dumps(body).encode()
        write_bytes = write_bytes or self.info()["max_write"]
        return rs_frames.split(bytes((msg_type,)) + body, msg_id, write_bytes)

    def write(self, frames):
        for frame in frames:
            self.radio.events.append((EV_WRITE, self.conn, 11, frame))
        while self.prov.poll():
            pass
        return self.received()

    def send(self, msg_type, body, msg_id=None, write_bytes=None):
        """Write one message; returns the device messages notified meanwhile."""
        return self.write(self.frames(msg_type, body, msg_id, write_bytes))

    def sealed(self, inner_type, obj, counter=None):
        return self.session.seal(inner_type, obj, counter)

    def send_sealed(self, inner_type, obj, counter=None, msg_id=None):
        return self.send(MSG_SEALED, self.sealed(inner_type, obj, counter), msg_id)

    def decode(self, message, polled=False):
        """(type, body, sealed) of one device message, or None if the phone refuses it."""
        kind = message[0]
        if kind != MSG_SEALED:
            return (kind, json.loads(message[1:]), False)
        if self.session is None or self.session.keys is None:
            self.refused.append(("sealed without a session", None))
            return None
        try:
            opened = self.session.open(message[1:], polled=polled)
        except CryptoError as exc:
            self.refused.append(("sealed", exc.code))
            return None
        if opened is None:
            return None  # a polled value seen before
        return (opened[0], opened[1], True)

    def received(self):
        """New device messages as (type, body, sealed), decoded from the notifications."""
        out = []
        while self.seen < len(self.radio.notified):
            conn, handle, frame = self.radio.notified[self.seen]
            self.seen += 1
            assert handle == 12 and conn == self.conn
            assert len(frame) <= self.info()["max_write"]
            if self.inbox.feed(frame) == rs_frames.COMPLETE:
                got = self.decode(bytes(self.inbox.message()))
                if got is not None:
                    out.append(got)
        return out

    def read_status(self):
        """A polling read of the status value (phones without notifications)."""
        value = self.radio.values[12]
        if not value:
            return None
        r = rs_frames.Reassembler()
        assert r.feed(value) == rs_frames.COMPLETE
        return self.decode(bytes(r.message()), polled=True)

    def handshake(self, check=True):
        """pake_a, pake_b, confirm, and the sealed ack: a paired session (or the refusal)."""
        self.session = phone_crypto.PhoneSession(self.code, self.info()["device_id"])
        got = self.send(MSG_PAKE_A, self.session.pake_a())
        assert len(got) == 1, got
        kind, body, sealed = got[0]
        if kind != MSG_PAKE_B:
            return body  # a plain ack: E_RATE_LIMIT, E_MESSAGE...
        assert not sealed and body["msg_id"] == self.msg_id
        try:
            confirm = self.session.on_pake_b(body)
        except CryptoError as exc:
            assert not check, exc
            return exc.code
        got = self.send(MSG_CONFIRM, confirm)
        assert len(got) == 1 and got[0][0] == MSG_ACK, got
        if check:
            assert got[0][2], "the confirm's ack is the first sealed message"
            assert got[0][1] == {"msg_id": self.msg_id, "result": "ok"}
        return got[0][1]


def setup(sync_busy=True, device_info=None, clock=None, **kwargs):
    radio = FakeRadio()
    sync = FakeSync()
    clock = clock or Clock()
    logs = []

    def info():
        return {
            "firmware": "0.1.0",
            "pending_files": 3,
            "pending_bytes": 123456,
            "free_bytes": 987654321,
        }

    prov = Provisioning(
        radio,
        device_info or info,
        kwargs.pop("pairing", Pairing(DEVICE_ID, CODE)),
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
    return Rig(radio, prov, sync, phone, clock, logs)


def paired(**kwargs):
    t = setup(**kwargs)
    t.phone.handshake()
    return t


class Rig:
    def __init__(self, radio, prov, sync, phone, clock, logs):
        self.radio = radio
        self.prov = prov
        self.sync = sync
        self.phone = phone
        self.clock = clock
        self.logs = logs


def request(**fields):
    obj = {
        "ssid": "Pit Hotspot",
        "password": "hunter22",
        "url": "https://laptop.local:8443/api/upload",
        "ip_fallback": "https://192.168.43.10:8443/api/upload",
        "token": "tok-123",
        "sync_id": "s-001",
        "cert_sha256": "AB" * 32,
        "time_utc": 1767225600,
        "ack_key": ACK_KEY,
    }
    for name in fields:
        if fields[name] is None:
            del obj[name]
        else:
            obj[name] = fields[name]
    return obj


def acks(messages):
    return [body for kind, body, _ in messages if kind == MSG_ACK]


def only_ack(messages, sealed=True):
    found = [(body, s) for kind, body, s in messages if kind == MSG_ACK]
    assert len(found) == 1, messages
    assert found[0][1] == sealed, messages
    return found[0][0]


def result(messages, sealed=True):
    return only_ack(messages, sealed)["result"]


# -- GATT layout, info, the handshake -------------------------------------------------------


def test_registers_the_v2_service_and_publishes_public_info():
    t = setup()
    uuid, chars = t.radio.services[0]
    assert uuid == SERVICE_UUID
    assert chars[0] == (INFO_UUID, FLAG_READ)
    assert chars[1] == (CONTROL_UUID, FLAG_WRITE)
    assert chars[2] == (STATUS_UUID, FLAG_READ | FLAG_NOTIFY)
    assert t.radio.buffers == {10: 512, 11: 512, 12: 512}
    info = t.phone.info()
    assert info == {
        "device_id": DEVICE_ID,
        "firmware": "0.1.0",
        "protocol": 2,
        "max_write": 20,
        "pending_files": 3,
        "pending_bytes": 123456,
        "free_bytes": 987654321,
    }
    assert t.phone.read_status() is None  # nothing before a handshake
    assert t.prov.connected and not t.prov.authenticated


def test_pairing_is_made_after_the_radio_is_registered():
    order = []
    radio = FakeRadio()
    register = radio.register

    def registering(uuid, chars):
        order.append("radio")
        return register(uuid, chars)

    radio.register = registering

    def make_pairing():
        order.append("code")
        return Pairing(DEVICE_ID, CODE)

    Provisioning(radio, dict, make_pairing, lambda r: None, lambda: None, log=order.append)
    assert order == ["radio", "code"]


def test_storage_error_still_publishes_info():
    def broken():
        raise OSError(5)

    t = setup(device_info=broken)
    info = t.phone.info()
    assert info["storage_error"] == E_STORAGE and info["pending_files"] is None
    assert info["device_id"] == DEVICE_ID and info["protocol"] == 2


def test_handshake_at_20_byte_writes_opens_a_sealed_session():
    t = setup()
    assert t.phone.handshake() == {"msg_id": t.phone.msg_id, "result": "ok"}
    assert t.prov.authenticated
    # the readable value is now sealed too (with the answer to our confirm)
    kind, status, sealed = t.phone.read_status()
    assert sealed and kind == MSG_STATE and status["state"] == "idle"
    assert status["last_ack"] == {"msg_id": t.phone.msg_id, "result": "ok"}


def test_pake_b_is_readable_for_phones_without_notifications():
    t = setup()
    t.phone.session = phone_crypto.PhoneSession(CODE, DEVICE_ID)
    frames = t.phone.frames(MSG_PAKE_A, t.phone.session.pake_a())
    t.radio.fail_notify = True  # nothing arrives as a notification
    assert t.phone.write(frames) == []
    kind, body, sealed = t.phone.read_status()
    assert kind == MSG_PAKE_B and not sealed and body["msg_id"] == t.phone.msg_id
    confirm = t.phone.session.on_pake_b(body)
    assert t.phone.send(MSG_CONFIRM, confirm) == []
    kind, status, sealed = t.phone.read_status()
    assert sealed and status["last_ack"]["result"] == "ok"


def test_wrong_code_fails_on_both_sides_and_nothing_is_applied():
    t = setup()
    intruder = Phone(t.radio, t.prov, code="12345670")
    # the phone refuses the device's confirmation: it never sends a secret
    assert intruder.handshake(check=False) == E_AUTH
    # a phone that sends its (wrong) confirmation anyway is refused by the device
    wrong = phone_crypto.PhoneSession("12345670", DEVICE_ID)
    got = intruder.send(MSG_PAKE_A, wrong.pake_a())
    pake_b = got[0][1]
    ta = rs_pake.Initiator("12345670", DEVICE_ID, wrong.sid, bytes(32))  # any scalar
    forged = {"ta": phone_crypto.b64url(ta.finish(phone_crypto.unb64url(pake_b["yb"])).confirm_a)}
    ack = only_ack(intruder.send(MSG_CONFIRM, forged), sealed=False)
    assert ack["result"] == E_AUTH
    assert not t.prov.authenticated
    # nothing sealed is taken, and no sync started
    assert result(intruder.send(MSG_SYNC_REQUEST, request()), sealed=False) == E_SESSION
    assert result(intruder.send(MSG_SEALED, bytes(40)), sealed=False) == E_SESSION
    assert t.sync.started == [] and t.sync.cancels == 0
    # the right code still works afterwards (within the throttle's free attempts)
    t.phone.seen = len(t.radio.notified)
    t.phone.msg_id = 100
    t.phone.handshake()
    assert t.prov.authenticated


def test_confirm_needs_a_finished_pake_a_and_right_sizes():
    t = setup()
    assert result(t.phone.send(MSG_CONFIRM, {"ta": "AAAA"}), sealed=False) == E_SESSION
    for bad in ({}, {"sid": "AAAA", "ya": "AAAA"}, {"sid": phone_crypto.b64url(bytes(16))}):
        assert result(t.phone.send(MSG_PAKE_A, bad), sealed=False) == E_MESSAGE
    assert result(t.phone.send(MSG_PAKE_A, b"not json"), sealed=False) == E_MESSAGE


def test_low_order_point_ends_the_handshake():
    t = setup()
    body = {"sid": phone_crypto.b64url(bytes(16)), "ya": phone_crypto.b64url(bytes(32))}
    ack = only_ack(t.phone.send(MSG_PAKE_A, body), sealed=False)
    assert ack["result"] == E_AUTH and not t.prov.authenticated


def test_messages_before_the_handshake_are_e_session():
    t = setup()
    for kind, body in (
        (MSG_SYNC_REQUEST, json.dumps(request()).encode()),
        (MSG_CANCEL, b'{"sync_id": "s-001"}'),
        (MSG_STATUS_REQUEST, b""),
        (MSG_SEALED, bytes(64)),
    ):
        assert result(t.phone.send(kind, body), sealed=False) == E_SESSION
    assert t.sync.started == []


def test_handshake_work_is_spread_over_polls():
    """Each poll does at most work_budget_ms of the handshake's arithmetic (a clock that
    advances 5 ms per read plays a slow board), so the loop keeps reading the GNSS."""
    clock = Clock(step_ms=5)
    t = setup(clock=clock, work_budget_ms=20)
    t.phone.session = phone_crypto.PhoneSession(CODE, DEVICE_ID)
    for frame in t.phone.frames(MSG_PAKE_A, t.phone.session.pake_a()):
        t.radio.events.append((EV_WRITE, CONN, 11, frame))
    polls = 0
    t.prov.poll()
    assert t.prov.working
    while not t.phone.received():
        before = clock.now_ms
        t.prov.poll()
        polls += 1
        assert clock.now_ms - before <= 20 + 3 * 5  # the budget plus a step and overhead
    assert polls >= 8 and not t.prov.working
    assert t.phone.read_status()[0] == MSG_PAKE_B


def test_a_new_pake_a_replaces_the_session():
    t = paired()
    t.phone.msg_id = 50
    t.phone.handshake()
    assert t.prov.authenticated


# -- rate limiting and the unauthenticated timeout ------------------------------------------


def test_failed_handshakes_are_throttled_with_a_growing_delay():
    t = setup()
    intruder = Phone(t.radio, t.prov, code="00000000")
    for _ in range(3):  # three free attempts
        assert intruder.handshake(check=False) == E_AUTH
    ack = intruder.handshake(check=False)
    assert ack["result"] == E_RATE_LIMIT and ack["retry_ms"] == 1000
    t.clock.now_ms += 1000
    assert intruder.handshake(check=False) == E_AUTH
    ack = intruder.handshake(check=False)
    assert ack["result"] == E_RATE_LIMIT and ack["retry_ms"] == 2000
    # not a lockout: the owner gets in once the delay has passed, and that clears it
    t.clock.now_ms += 2000
    t.phone.seen = len(t.radio.notified)
    t.phone.msg_id = 100
    t.phone.handshake()
    assert t.prov.authenticated
    t.phone.msg_id = 120
    t.phone.handshake()  # no delay any more


def test_throttle_is_per_device_not_per_connection():
    t = setup()
    intruder = Phone(t.radio, t.prov, code="00000000", conn=CONN + 1)
    for _ in range(3):
        intruder.connect()
        assert intruder.handshake(check=False) == E_AUTH
        intruder.disconnect()
    intruder.connect()
    assert intruder.handshake(check=False)["result"] == E_RATE_LIMIT


def test_unauthenticated_connection_is_dropped_and_advertising_goes_on():
    t = setup()
    advertised = t.radio.advertising
    t.clock.now_ms += AUTH_TIMEOUT_MS - 1
    t.prov.poll()
    assert t.radio.disconnected == []
    t.clock.now_ms += 1
    t.prov.poll()
    t.prov.poll()
    assert t.radio.disconnected == [CONN]  # once
    t.phone.disconnect()
    assert not t.prov.connected and t.radio.advertising == advertised + 1


def test_a_paired_connection_is_not_dropped():
    t = paired()
    t.clock.now_ms += 10 * AUTH_TIMEOUT_MS
    t.prov.poll()
    assert t.radio.disconnected == [] and t.prov.authenticated


def test_newcomers_replace_an_unpaired_connection_but_not_a_paired_one():
    t = setup()
    other = Phone(t.radio, t.prov, conn=CONN + 1)
    other.connect()  # the first one never paired: it yields
    assert t.radio.disconnected == [CONN]
    other.handshake()
    third = Phone(t.radio, t.prov, conn=CONN + 2)
    third.connect()
    assert t.radio.disconnected == [CONN, CONN + 2]  # the paired phone keeps the device
    assert t.prov.authenticated
    other.send_sealed(MSG_STATUS_REQUEST, {})


# -- stale state across reconnects ----------------------------------------------------------


def test_a_reconnecting_phone_never_gets_the_previous_connections_state():
    t = setup()
    t.phone.session = phone_crypto.PhoneSession(CODE, DEVICE_ID)
    t.phone.send(MSG_PAKE_A, t.phone.session.pake_a())
    old_pake_b = t.radio.values[12]
    # the link drops and the phone reconnects at once: it reads before the device has
    # handled either event (they wait in the radio's queue)
    t.radio.events.append((EV_DISCONNECT, CONN, 0, None))
    t.radio.events.append((EV_CONNECT, CONN, 0, None))
    fresh = phone_crypto.PhoneSession(CODE, DEVICE_ID)
    kind, stale, _ = t.phone.decode(old_pake_b[3:])
    assert kind == MSG_PAKE_B
    try:
        fresh.on_pake_b(stale)
        raise AssertionError("accepted a stale pake_b")
    except phone_crypto.FakeDeviceError:
        pass  # another handshake's answer: ignored, the phone keeps waiting
    t.prov.poll()
    assert t.radio.values[12] == b""  # nothing of the old connection is readable
    # and the device will not confirm the old handshake on the new connection
    confirm = t.phone.session.on_pake_b(stale)
    assert result(t.phone.send(MSG_CONFIRM, confirm), sealed=False) == E_SESSION


def test_sealed_state_of_an_earlier_session_is_refused_after_reconnect():
    t = paired()
    assert result(t.phone.send_sealed(MSG_SYNC_REQUEST, request())) == "ok"
    old_value = t.radio.values[12]
    old_frames = t.phone.frames(MSG_SEALED, t.phone.sealed(MSG_CANCEL, {"sync_id": "s-001"}))
    t.phone.disconnect()
    t.phone.connect()
    t.phone.handshake()
    # a status read that raced the reconnect: sealed under the old keys, refused
    r = rs_frames.Reassembler()
    r.feed(old_value)
    assert t.phone.decode(bytes(r.message()), polled=True) is None
    assert t.phone.refused[-1] == ("sealed", E_AUTH)
    # an eavesdropper's replay of the old connection's cancel: another session's keys
    assert result(t.phone.write(old_frames)) == E_AUTH
    assert t.sync.cancels == 0


# -- sealed sync requests -------------------------------------------------------------------


def test_sync_request_starts_the_sync_with_the_ack_key_as_text():
    t = paired()
    got = t.phone.send_sealed(MSG_SYNC_REQUEST, request())
    assert got == [  # the answer first, then what the sync reported meanwhile
        (MSG_ACK, {"msg_id": t.phone.msg_id, "result": "ok", "counter": 1}, True),
        (MSG_STATE, {"state": "request_received", "sync_id": "s-001"}, True),
    ]
    assert t.sync.started == [
        {
            "ssid": "Pit Hotspot",
            "password": "hunter22",
            "url": "https://laptop.local:8443/api/upload",
            "ip_fallback": "https://192.168.43.10:8443/api/upload",
            "token": "tok-123",
            "sync_id": "s-001",
            "cert_sha256": "ab" * 32,
            "time_utc": 1767225600,
            "ack_key": ACK_KEY,
        }
    ]
    kind, status, sealed = t.phone.read_status()
    assert sealed and kind == MSG_STATE and status["state"] == "request_received"
    assert status["last_ack"]["counter"] == 1


def test_sync_request_at_185_byte_writes():
    t = paired()
    t.radio.events.append((EV_MTU, CONN, 0, 188))
    t.prov.poll()
    frames = t.phone.frames(MSG_SEALED, t.phone.sealed(MSG_SYNC_REQUEST, request(token="t" * 256)))
    assert len(frames) >= 3 and all(len(f) <= 185 for f in frames)
    assert result(t.phone.write(frames)) == "ok"
    assert t.sync.started[0]["token"] == "t" * 256
    assert max(len(n[2]) for n in t.radio.notified) <= 185


def test_optional_fields_may_be_absent():
    t = paired()
    obj = request(ip_fallback=None, cert_sha256=None, password="")
    assert result(t.phone.send_sealed(MSG_SYNC_REQUEST, obj)) == "ok"
    started = t.sync.started[0]
    assert started["ip_fallback"] is None and started["cert_sha256"] is None
    assert started["password"] == ""


def test_request_fields_are_checked():
    t = paired()

    def result_of(obj):
        return result(t.phone.send_sealed(MSG_SYNC_REQUEST, obj))

    assert result_of(b"not json") == E_MESSAGE
    assert result_of(b"\xff\xfe") == E_MESSAGE
    assert result_of(b"[1, 2]") == E_MESSAGE
    for name in ("ssid", "url", "sync_id", "time_utc", "token", "password", "ack_key"):
        assert result_of(request(**{name: None})) == E_MESSAGE, name
    for name, value in (
        ("ssid", "x" * 33),
        ("ssid", "é" * 17),  # 34 UTF-8 bytes: the limit is in bytes
        ("ssid", 5),
        ("time_utc", 1767225600000),  # milliseconds, not seconds
        ("time_utc", True),
        ("time_utc", "1767225600"),
        ("sync_id", "s/../x"),
        ("sync_id", "s" * 33),
        ("cert_sha256", "ab" * 31),
        ("cert_sha256", "g" * 64),
        ("token", "t" * 257),
        ("password", "p" * 65),
        ("ack_key", ACK_KEY[:-1]),
        ("ack_key", ACK_KEY + "A"),
        ("ack_key", ACK_KEY[:-1] + "="),
        ("ack_key", ACK_KEY[:-1] + "+"),
        ("ack_key", 7),
    ):
        assert result_of(request(**{name: value})) == E_MESSAGE, (name, value)
    assert result_of(request(ssid="é" * 16)) == "ok"  # 32 bytes
    assert len(t.sync.started) == 1


def test_bad_urls_are_e_url():
    t = paired()
    for url in ("ftp://laptop/upload", "laptop.local/upload", "http://", "https:///x"):
        assert result(t.phone.send_sealed(MSG_SYNC_REQUEST, request(url=url))) == E_URL, url
    bare_ip = request(ip_fallback="10.0.0.1")  # a URL, like url: parsed the same way
    assert result(t.phone.send_sealed(MSG_SYNC_REQUEST, bare_ip)) == E_URL
    assert t.sync.started == []


def test_replayed_and_reordered_requests_are_e_replay():
    t = paired(sync_busy=False)
    t.sync.report_on_start = False
    first = t.phone.frames(MSG_SEALED, t.phone.sealed(MSG_SYNC_REQUEST, request()))
    second = t.phone.frames(MSG_SEALED, t.phone.sealed(MSG_STATUS_REQUEST, {}))
    assert result(t.phone.write(second)) == "ok"  # counter 2 first
    assert result(t.phone.write(first)) == E_REPLAY  # counter 1 after it: reordered
    assert t.sync.started == []
    assert result(t.phone.send_sealed(MSG_SYNC_REQUEST, request())) == "ok"
    t.sync.report({"type": "error", "state": "failed", "error": "E_NO_IP"})
    # the same sealed bytes under a new msg_id: its counter is used up
    replay = t.phone.sealed(MSG_SYNC_REQUEST, request(sync_id="s-2"), counter=3)
    assert result(t.phone.send(MSG_SEALED, replay)) == E_REPLAY
    assert len(t.sync.started) == 1


def test_tampered_sealed_messages_are_e_auth_and_burn_no_counter():
    t = paired()
    sealed = bytearray(t.phone.sealed(MSG_SYNC_REQUEST, request()))
    sealed[10] ^= 1
    assert result(t.phone.send(MSG_SEALED, bytes(sealed))) == E_AUTH
    assert t.sync.started == []
    t.phone.session.sent = 0  # the failed message did not use counter 1 up
    assert result(t.phone.send_sealed(MSG_SYNC_REQUEST, request())) == "ok"


def test_repeated_msg_id_is_idempotent():
    t = paired()
    frames = t.phone.frames(MSG_SEALED, t.phone.sealed(MSG_SYNC_REQUEST, request()))
    first = only_ack(t.phone.write(frames))
    again = t.phone.write(frames)  # the ack was lost: the very same frames again
    assert acks(again) == [first]
    assert len(t.sync.started) == 1


def test_same_sync_while_running_is_not_started_twice():
    t = paired()
    assert result(t.phone.send_sealed(MSG_SYNC_REQUEST, request())) == "ok"
    ack = only_ack(t.phone.send_sealed(MSG_SYNC_REQUEST, request()))
    assert ack["result"] == "ok" and ack["detail"] == "already running"
    assert result(t.phone.send_sealed(MSG_SYNC_REQUEST, request(sync_id="s-002"))) == E_BUSY
    t.sync.report({"type": "done", "state": "done", "files_sent": 3, "bytes": 10})
    assert result(t.phone.send_sealed(MSG_SYNC_REQUEST, request(sync_id="s-002"))) == "ok"
    assert len(t.sync.started) == 2


def test_second_request_before_the_first_report_is_busy():
    t = paired()
    t.sync.report_on_start = False  # like sync.start(): a task that has not run yet
    first = t.phone.frames(MSG_SEALED, t.phone.sealed(MSG_SYNC_REQUEST, request()))
    second = t.phone.frames(MSG_SEALED, t.phone.sealed(MSG_SYNC_REQUEST, request(sync_id="s-002")))
    got = t.phone.write(first + second)  # both in one poll()
    assert [a["result"] for a in acks(got)] == ["ok", E_BUSY]
    assert len(t.sync.started) == 1


def test_start_sync_may_refuse_with_an_error_code():
    t = paired()
    t.sync.refuse = E_STORAGE
    assert result(t.phone.send_sealed(MSG_SYNC_REQUEST, request())) == E_STORAGE
    t.sync.refuse = None
    assert result(t.phone.send_sealed(MSG_SYNC_REQUEST, request(sync_id="s-2"))) == "ok"
    assert len(t.sync.started) == 1


def test_unknown_types_are_e_message():
    t = paired()
    for msg_type in (0, 7, MSG_ACK, MSG_DONE, 255):
        ack = only_ack(t.phone.send(msg_type, b"{}"))
        assert ack["result"] == E_MESSAGE and ack["msg_id"] == t.phone.msg_id
    assert result(t.phone.send_sealed(MSG_ACK, {})) == E_MESSAGE  # sealed, wrong way


# -- frames ---------------------------------------------------------------------------------


def test_out_of_order_frames_are_e_frame_then_a_resend_works():
    t = paired()
    frames = t.phone.frames(MSG_SEALED, t.phone.sealed(MSG_SYNC_REQUEST, request()))
    ack = only_ack(t.phone.write([frames[0], frames[2]] + frames[3:]))
    assert ack == {"msg_id": t.phone.msg_id, "result": E_FRAME, "detail": "frame out of order"}
    assert result(t.phone.write(frames)) == "ok"  # the whole message again
    assert len(t.sync.started) == 1


def test_truncated_frames_and_garbage_never_start_a_sync():
    t = setup()
    ack = only_ack(t.phone.write([b""]), sealed=False)
    assert ack["result"] == E_FRAME and ack["msg_id"] is None
    seed = 12345
    for n in range(300):
        seed = (seed * 1103515245 + 12345) & 0x7FFFFFFF
        length = seed % 24
        frame = bytes(((seed >> (i % 23)) + i * 7) & 0xFF for i in range(length))
        if n % 3 == 0 and length >= 3:
            frame = bytes((frame[0], 0, 1)) + frame[3:]  # complete one-frame messages
        t.phone.write([frame])
    assert t.sync.started == [] and t.sync.cancels == 0
    assert not t.prov.authenticated


def test_writes_from_elsewhere_are_ignored_and_polls_are_bounded():
    t = setup()
    for frame in t.phone.frames(MSG_PAKE_A, b"{}"):
        t.radio.events.append((EV_WRITE, CONN, 10, frame))  # the info handle
        t.radio.events.append((EV_WRITE, CONN + 1, 11, frame))  # another connection
    while t.prov.poll():
        pass
    assert t.phone.received() == []
    for _ in range(100):
        t.radio.events.append((EV_WRITE, CONN, 11, b"\x01\x05\x00x"))
    assert t.prov.poll() == 32


def test_mtu_exchange_raises_max_write():
    t = setup()
    for mtu, expected in ((188, 185), (517, 512), (10, 20)):
        t.radio.events.append((EV_MTU, CONN, 0, mtu))
        t.prov.poll()
        assert t.phone.info()["max_write"] == expected


# -- status relay ---------------------------------------------------------------------------


def test_every_status_is_relayed_sealed_and_readable():
    t = paired()
    assert result(t.phone.send_sealed(MSG_SYNC_REQUEST, request())) == "ok"
    for state in ("scanning", "joining", "joined", "uploading"):
        t.sync.report({"type": "state", "state": state})
        assert t.phone.received() == [(MSG_STATE, {"state": state, "sync_id": "s-001"}, True)]
        kind, status, sealed = t.phone.read_status()
        assert sealed and (kind, status["state"]) == (MSG_STATE, state)
    t.clock.now_ms += 1000
    t.sync.report({"type": "progress", "state": "uploading", "sync_bytes": 4096})
    got = t.phone.received()
    assert got[0][0] == MSG_PROGRESS and got[0][1]["sync_bytes"] == 4096
    long_detail = "x" * 500
    t.sync.report({"type": "error", "state": "failed", "error": "E_NO_IP", "detail": long_detail})
    kind, body, sealed = t.phone.received()[0]
    assert kind == MSG_ERROR and sealed and len(body["detail"]) == 120
    assert t.phone.read_status()[0] == MSG_ERROR


def test_progress_is_rate_limited_and_the_latest_sent():
    t = paired(progress_interval_ms=500)
    assert result(t.phone.send_sealed(MSG_SYNC_REQUEST, request())) == "ok"
    t.clock.now_ms = 10000
    for i in range(50):
        t.sync.report({"type": "progress", "state": "uploading", "sync_bytes": i * 4096})
        t.clock.now_ms += 5
    assert [b["sync_bytes"] for k, b, s in t.phone.received()] == [0]
    t.clock.now_ms = 10500
    t.prov.poll()
    assert [b["sync_bytes"] for k, b, s in t.phone.received()] == [49 * 4096]
    t.sync.report({"type": "progress", "state": "uploading", "sync_bytes": 1})
    t.sync.report({"type": "done", "state": "done"})
    t.clock.now_ms += 1000
    t.prov.poll()
    assert [k for k, b, s in t.phone.received()] == [MSG_DONE]


def test_status_request_answers_with_the_current_status():
    t = paired()
    got = t.phone.send_sealed(MSG_STATUS_REQUEST, {})
    assert got == [
        (MSG_ACK, {"msg_id": t.phone.msg_id, "result": "ok", "counter": 1}, True),
        (MSG_STATE, {"state": "idle"}, True),
    ]
    t.sync.current = {"type": "state", "state": "joining", "sync_id": "s-7"}
    got = t.phone.send_sealed(MSG_STATUS_REQUEST, {})
    assert got[1] == (MSG_STATE, {"state": "joining", "sync_id": "s-7"}, True)


def test_status_is_not_told_before_pairing():
    t = setup()
    t.sync.report({"type": "state", "state": "joining"})
    assert t.radio.notified == [] and t.phone.read_status() is None
    t.phone.handshake()
    _, status, sealed = t.phone.read_status()
    assert sealed and status["state"] == "joining"


def test_disconnect_mid_sync_does_not_stop_it_and_the_end_stays_readable():
    t = paired()
    disconnects = []
    t.prov._on_disconnect = lambda: disconnects.append(1)
    assert result(t.phone.send_sealed(MSG_SYNC_REQUEST, request())) == "ok"
    t.sync.report({"type": "state", "state": "uploading"})
    t.phone.disconnect()
    assert not t.prov.connected and disconnects == [1]
    assert t.sync.cancels == 0 and t.sync.running
    sent_before = len(t.radio.notified)
    t.sync.report({"type": "done", "state": "done", "files_sent": 3, "bytes": 123456})
    assert len(t.radio.notified) == sent_before  # nobody to notify
    t.phone.connect()
    t.phone.handshake()
    kind, status, _ = t.phone.read_status()
    assert kind == MSG_DONE and status["files_sent"] == 3 and status["sync_id"] == "s-001"
    got = t.phone.send_sealed(MSG_STATUS_REQUEST, {})
    assert got[1][0] == MSG_DONE


def test_notify_failure_never_reaches_the_sync():
    t = paired()
    assert result(t.phone.send_sealed(MSG_SYNC_REQUEST, request())) == "ok"
    t.radio.fail_notify = True
    t.sync.report({"type": "state", "state": "joining"})  # would raise if relay raised
    assert t.prov.notify_failures == 1
    assert t.phone.read_status()[1]["state"] == "joining"


def test_relay_rejects_unknown_types():
    t = setup()
    try:
        t.prov.relay({"type": "ack", "state": "x"})
    except ValueError:
        return
    raise AssertionError("no ValueError")


# -- cancel ---------------------------------------------------------------------------------


def test_cancel_is_sealed_idempotent_and_names_the_running_sync():
    t = paired()
    assert result(t.phone.send_sealed(MSG_SYNC_REQUEST, request())) == "ok"
    assert result(t.phone.send_sealed(MSG_CANCEL, {"sync_id": "s-other"})) == E_MESSAGE
    frames = t.phone.frames(MSG_SEALED, t.phone.sealed(MSG_CANCEL, {"sync_id": "s-001"}))
    assert result(t.phone.write(frames)) == "ok"
    assert result(t.phone.write(frames)) == "ok"  # lost ack: answered, not applied twice
    assert t.sync.cancels == 1
    t.sync.report({"type": "state", "state": "cancelled", "error": "E_CANCELLED"})
    ack = only_ack(t.phone.send_sealed(MSG_CANCEL, {"sync_id": "s-001"}))
    assert ack["detail"] == "no sync running" and t.sync.cancels == 1
    assert result(t.phone.send_sealed(MSG_CANCEL, {})) == E_MESSAGE


# -- what a device without the code can do to the phone: nothing ----------------------------


def test_a_fake_device_gets_nothing_accepted_by_the_phone():
    """A fake RS-Core (same name, same UUIDs) without the code: the phone's handshake fails
    at the device's confirmation, so it sends no secret; and whatever the fake notifies
    into a genuine session (clear messages, its own sealing, replays) is refused."""
    fake = setup(pairing=Pairing(DEVICE_ID, "99999999"))
    assert fake.phone.handshake(check=False) == E_AUTH
    assert fake.phone.session.keys is None  # no keys: nothing could be sealed or opened
    # the genuine device and a paired phone; the fake injects into the phone's inbox
    t = paired()
    assert result(t.phone.send_sealed(MSG_SYNC_REQUEST, request())) == "ok"
    genuine = list(t.radio.notified)
    forged = [
        bytes((MSG_STATE,)) + b'{"state":"done","files_sent":9}',  # in clear
        bytes((MSG_DONE,)) + b'{"state":"done"}',
        bytes((MSG_SEALED,)) + bytes(40),  # garbage sealed
    ]
    impostor = phone_crypto.PhoneSession(CODE, DEVICE_ID)  # its own keys, not ours
    impostor.keys = {"aes_d2p": bytes(16), "mac_d2p": bytes(32)}
    impostor.keys["aes_p2d"] = impostor.keys["aes_d2p"]
    impostor.keys["mac_p2d"] = impostor.keys["mac_d2p"]
    forged.append(bytes((MSG_SEALED,)) + impostor.seal(MSG_DONE, {"state": "done"}, 99))
    inbox = rs_frames.Reassembler()
    replays = []
    for _, _, frame in genuine:  # replays of the genuine notifications, whole messages
        if inbox.feed(frame) == rs_frames.COMPLETE:
            replays.append(bytes(inbox.message()))
    assert len(replays) == 4  # pake_b, the confirm's ack, the request's ack, its state
    got = [t.phone.decode(message) for message in forged + replays]
    # in clear (two forged states, the replayed pake_b): never the device's word after
    # pairing, the UI drops them; sealed: none accepted
    assert [d[0] for d in got if d is not None] == [MSG_STATE, MSG_DONE, MSG_PAKE_B]
    assert [d for d in got if d is not None and d[2]] == []
    codes = [code for what, code in t.phone.refused if what == "sealed"]
    assert codes == [E_AUTH, E_AUTH, E_REPLAY, E_REPLAY, E_REPLAY]


# -- names and the board adapter ------------------------------------------------------------


def test_device_name():
    assert device_name("rs-00ab12") == "RS-Core-AB12"
    assert device_name("a1") == "RS-Core-A1"
    assert device_name("24:6f:28:aa:bb:cc") == "RS-Core-BBCC"


def _uuid_bytes(text):
    from binascii import unhexlify

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
        self.disconnected = []
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

    def gap_disconnect(self, conn):
        self.disconnected.append(conn)
        return True

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
        # nor a board.ble_radio bound to them: the next import gets a fresh one
        sys.modules.pop("board.ble_radio", None)
        board = sys.modules.get("board")
        if board is not None and hasattr(board, "ble_radio"):
            try:
                delattr(board, "ble_radio")
            except (AttributeError, TypeError):
                pass
    return ble_radio


def test_board_adapter_registers_buffers_advertises_and_disconnects():
    ble_radio = board_radio_module()
    ble = FakeBLE()
    radio = ble_radio.BleRadio("RS-Core-7F3A", ble=ble)
    assert ble.is_active and ble.configured["gap_name"] == "RS-Core-7F3A"
    assert ble.configured["mtu"] == 515
    Provisioning(radio, dict, Pairing(DEVICE_ID, CODE), lambda r: None, lambda: None)
    service_uuid, chars = ble.services[0]
    assert service_uuid == _uuid_bytes(SERVICE_UUID)
    assert chars[1] == (_uuid_bytes(CONTROL_UUID), FLAG_WRITE)
    assert ble.buffers == {20: (512, False), 21: (512, False), 22: (512, False)}
    assert json.loads(ble.values[20])["protocol"] == 2
    interval_us, adv, resp, connectable = ble.advertised[-1]
    assert interval_us == 250000 and connectable
    assert len(adv) <= 31 and len(resp) <= 31
    assert adv == b"\x02\x01\x06\x11\x07" + _uuid_bytes(SERVICE_UUID)
    assert resp == b"\x0d\x09RS-Core-7F3A"
    radio.disconnect(CONN)
    assert ble.disconnected == [CONN]


def test_board_adapter_irq_only_queues_and_the_service_works_through_it():
    ble_radio = board_radio_module()
    ble = FakeBLE()
    wakeups = []
    radio = ble_radio.BleRadio("RS-Core-7F3A", ble=ble, on_event=lambda: wakeups.append(1))
    sync = FakeSync()
    prov = Provisioning(
        radio,
        dict,
        Pairing(DEVICE_ID, CODE),
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
    assert json.loads(ble.values[20])["max_write"] == 185
    # the phone's side, its frames written through the IRQ; answers read from the fake
    fake_radio = FakeRadio()
    phone = Phone(fake_radio, prov)
    phone.session = phone_crypto.PhoneSession(CODE, DEVICE_ID)

    def exchange(msg_type, body):
        fake_radio.values[10] = ble.values[20]
        for frame in phone.frames(msg_type, body):
            ble.central_writes(CONN, 21, frame)
        while prov.poll():
            pass
        inbox = rs_frames.Reassembler()
        out = []
        for conn, handle, frame in ble.notified:
            assert conn == CONN and handle == 22 and len(frame) <= 185
            if inbox.feed(frame) == rs_frames.COMPLETE:
                out.append(phone.decode(bytes(inbox.message())))
        ble.notified = []
        return out

    pake_b = exchange(MSG_PAKE_A, phone.session.pake_a())[0][1]
    assert exchange(MSG_CONFIRM, phone.session.on_pake_b(pake_b))[0][1]["result"] == "ok"
    got = exchange(MSG_SEALED, phone.sealed(MSG_SYNC_REQUEST, request()))
    assert [(k, s) for k, b, s in got] == [(MSG_ACK, True), (MSG_STATE, True)]
    assert len(sync.started) == 1 and sync.started[0]["password"] == "hunter22"
    assert len(wakeups) >= 4
    advertised = len(ble.advertised)
    ble.handler(2, (CONN, 0, b"\x00" * 6))
    prov.poll()
    assert len(ble.advertised) == advertised + 1
    assert ble.values[22] == b""  # nothing of the old connection stays readable


def test_board_adapter_queue_is_bounded():
    ble_radio = board_radio_module()
    ble = FakeBLE()
    radio = ble_radio.BleRadio("RS-Core-7F3A", ble=ble)
    radio.register(SERVICE_UUID, ((CONTROL_UUID, FLAG_WRITE),))
    for i in range(70):
        ble.central_writes(CONN, 20, bytes((i,)))
    assert radio.dropped_events == 6
    assert radio.next_event() == (EV_WRITE, CONN, 20, b"\x00")
