"""The RS-Core GATT service, protocol v2: a phone's browser proves it knows the pairing code
(CPace, rs_pake.py), then hands the device a sync request over the sealed channel
(rs_channel.py) and follows the sync (docs/ble-protocol.md).

Portable: the radio, the device facts, the pairing code and the sync are all given, so the
same code runs under CPython tests with a fake radio and on the board with
board/ble_radio.py.

The radio adapter (duck-typed; board/ble_radio.py wraps bluetooth.BLE):

    register(service_uuid, ((uuid, flags), ...)) -> value handles, in the same order
    set_buffer(handle, size_bytes)       room for values/writes up to size_bytes
    write(handle, data)                  the value a central reads
    notify(conn_handle, handle, data)    one notification (at most max_write bytes)
    advertise()                          (re)start connectable advertising
    disconnect(conn_handle)              drop a connection (its EV_DISCONNECT follows)
    next_event() -> None or (event, conn_handle, value_handle, data)
        EV_CONNECT / EV_DISCONNECT (data None), EV_WRITE (data: the written bytes),
        EV_MTU (data: the negotiated ATT MTU)

In the aioble spirit the radio's IRQ handler only queues events; poll(), called from the
application's loop, does all the work. A handshake's arithmetic (two X25519 ladders, about
a second on an ESP32) runs in slices of at most work_budget_ms per poll, so the loop that
also reads the GNSS is never held for long.

Wiring with sync.Sync (which reports through a notify callback):

    prov = Provisioning(radio, device_info,
                        lambda: rs_pairing.load_or_create(PATH, device_id),  # radio is on
                        start_sync=sync.start, cancel_sync=sync.cancel,
                        sync_busy=sync.busy, sync_status=sync.status)
    sync = Sync(..., notify=prov.relay)
    while True:
        prov.poll()
        await asyncio.sleep_ms(0 if prov.working else 20)
"""

import json
from os import urandom as os_urandom

try:
    from time import ticks_diff, ticks_ms
except ImportError:  # CPython
    from time import monotonic as _monotonic_s

    def ticks_ms():
        return int(_monotonic_s() * 1000)

    def ticks_diff(new, old):
        return new - old


import rs_channel
import rs_frames
import rs_handshake
import rs_pake
import rs_request
from rs_crypto import CryptoError
from rs_protocol import (
    ACK_OK,
    AUTH_TIMEOUT_MS,
    CONTROL_UUID,
    DEFAULT_WRITE_BYTES,
    DEVICE_NAME_PREFIX,
    E_BUSY,
    E_MESSAGE,
    E_SESSION,
    E_STORAGE,
    INFO_UUID,
    MAX_FRAME_BYTES,
    MAX_MESSAGE_BYTES,
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
    PROGRESS_INTERVAL_MS,
    PROTOCOL_VERSION,
    RUNNING_STATES,
    SERVICE_UUID,
    STATE_IDLE,
    STATUS_UUID,
)
from rs_request import Reject

# Characteristic flags: the values of MicroPython's bluetooth.FLAG_*, so the board adapter
# passes them through.
FLAG_READ = 0x0002
FLAG_WRITE = 0x0008
FLAG_NOTIFY = 0x0010

# Radio events (see the module docstring)
EV_CONNECT = 1
EV_DISCONNECT = 2
EV_WRITE = 3
EV_MTU = 4

ATT_HEADER_BYTES = 3  # an ATT write/notification carries MTU - 3 bytes of value
VALUE_BUFFER_BYTES = MAX_FRAME_BYTES  # info and status values, and one control write
EVENTS_PER_POLL = 32  # bound one poll() so a flood of writes cannot starve the sync task
DETAIL_MAX_CHARS = 120  # keeps every status message within one stored value
WORK_BUDGET_MS = 60  # handshake arithmetic per poll(): the GNSS UART buffers about 1 s

_STATUS_TYPES = {"state": MSG_STATE, "progress": MSG_PROGRESS, "done": MSG_DONE, "error": MSG_ERROR}
# The readable status value is one frame: header, the sealed envelope, the inner type.
_STATUS_PLAIN_MAX_BYTES = MAX_FRAME_BYTES - 3 - 1 - rs_channel.OVERHEAD_BYTES - 1


def device_name(device_id):
    """The advertised name, RS-Core-XXXX: the last 4 letters/digits of the device id, so
    two loggers in one paddock can be told apart in the browser's chooser."""
    tail = ""
    for ch in device_id:
        if ch.isalpha() or ch.isdigit():
            tail = (tail + ch.upper())[-4:]
    return DEVICE_NAME_PREFIX + tail


def _short(text):
    text = str(text)
    return text if len(text) <= DETAIL_MAX_CHARS else text[: DETAIL_MAX_CHARS - 3] + "..."


def _json(payload):
    return json.dumps(payload, separators=(",", ":")).encode()


class Provisioning:
    """The service: publishes device info, runs handshakes, takes sealed control messages,
    starts and cancels syncs, and relays the sync's status back (sealed) as notifications
    and as the readable status value.

    device_info() -> dict with firmware, pending_files, pending_bytes, free_bytes, and
        whatever else the phone should see before pairing (e.g. recording); OSError is
        reported in the info JSON as storage_error, not raised. device_id comes from the
        pairing, so info and the handshake never disagree.
    pairing: rs_pairing.Pairing, or a callable returning one, called once the radio is
        registered (a first boot's code is drawn after the radio is on: the ESP32's RNG
        needs RF entropy).
    start_sync(request): start the sync in the background and return at once; request is
        the dict rs_request.sync_request() builds. A str return value is an error code
        for the ack (anything else means started).
    cancel_sync(): ask the running sync to stop
    sync_busy() -> bool: a sync is running (default: the last relayed state is a running
        one)
    sync_status() -> the sync's latest status dict, as relay() takes (optional)
    throttle: rs_pake.Throttle, shared by every connection (one per device)
    """

    def __init__(
        self,
        radio,
        device_info,
        pairing,
        start_sync,
        cancel_sync,
        sync_busy=None,
        sync_status=None,
        on_disconnect=None,
        urandom=os_urandom,
        clock_ms=ticks_ms,
        progress_interval_ms=PROGRESS_INTERVAL_MS,
        auth_timeout_ms=AUTH_TIMEOUT_MS,
        work_budget_ms=WORK_BUDGET_MS,
        throttle=None,
        log=print,
    ):
        self._radio = radio
        self._device_info = device_info
        self._start_sync = start_sync
        self._cancel_sync = cancel_sync
        self._sync_busy = sync_busy
        self._sync_status = sync_status
        self._on_disconnect = on_disconnect
        self._urandom = urandom
        self._clock_ms = clock_ms
        self._progress_interval_ms = progress_interval_ms
        self._auth_timeout_ms = auth_timeout_ms
        self._work_budget_ms = work_budget_ms
        self._throttle = throttle or rs_pake.Throttle()
        self._log = log

        handles = radio.register(
            SERVICE_UUID,
            (
                (INFO_UUID, FLAG_READ),
                (CONTROL_UUID, FLAG_WRITE),
                (STATUS_UUID, FLAG_READ | FLAG_NOTIFY),
            ),
        )
        self._info_handle, self._control_handle, self._status_handle = handles
        for handle in handles:
            radio.set_buffer(handle, VALUE_BUFFER_BYTES)
        self._pairing = pairing() if callable(pairing) else pairing

        self._reassembler = rs_frames.Reassembler(MAX_MESSAGE_BYTES, MAX_FRAME_BYTES)
        self._frame_buf = bytearray(MAX_FRAME_BYTES)
        self._out_id = 0  # msg_id of the device's own messages
        self._conn = None
        self._conn_ms = 0
        self._max_write = DEFAULT_WRITE_BYTES
        self._sync_id = None  # the sync this device last started
        # start_sync() only schedules the sync: until its first report arrives, count it as
        # running, or a second request in the same poll() would start a second sync.
        self._start_pending = False
        self._status = {"type": "state", "state": STATE_IDLE}
        if sync_status is not None:
            self._status = self._with_sync_id(sync_status() or self._status)
        self._progress_due = False
        self._progress_sent_ms = clock_ms() - progress_interval_ms
        # While a message is handled, reports (a sync starting synchronously) wait for
        # its ack, so the phone always hears the answer first.
        self._handling = False
        self._report_held = False
        self.notify_failures = 0
        self._reset_connection()
        radio.advertise()

    # -- what the application calls --------------------------------------------------------

    @property
    def connected(self):
        return self._conn is not None

    @property
    def authenticated(self):
        return self._channel is not None

    @property
    def working(self):
        """A handshake is computing: poll again soon (sleep_ms(0), not the idle period),
        so its slices follow each other and the phone waits the least."""
        return self._handshake.working

    def poll(self):
        """Handle queued radio events, a slice of handshake work, the unauthenticated
        connection's deadline and due progress. Returns how much it did (0: idle)."""
        handled = 0
        while handled < EVENTS_PER_POLL:
            event = self._radio.next_event()
            if event is None:
                break
            handled += 1
            self._handle_event(event[0], event[1], event[2], event[3])
        if self._handshake.working:
            self._run_work()
            handled += 1
        now = self._clock_ms()
        if (
            self._conn is not None
            and self._channel is None
            and not self._dropping
            and ticks_diff(now, self._conn_ms) >= self._auth_timeout_ms
        ):
            self._log("ble: no handshake within " + str(self._auth_timeout_ms) + " ms: drop")
            self._dropping = True
            self._radio.disconnect(self._conn)
        if (
            self._progress_due
            and self._channel is not None
            and ticks_diff(now, self._progress_sent_ms) >= self._progress_interval_ms
        ):
            self._send_status(now)
        return handled

    def relay(self, status):
        """The sync's report (sync.Sync's notify callback): a dict whose "type" is state,
        progress, done or error. Kept for the phone (sealed: only a paired phone hears it)
        and notified (progress at most every progress_interval_ms). Never raises for a
        lost link: the sync goes on."""
        kind = status.get("type")
        if kind not in _STATUS_TYPES:
            raise ValueError("status type must be state, progress, done or error")
        self._start_pending = False
        self._status = self._with_sync_id(status)
        if self._handling:
            self._report_held = True
            return
        if self._channel is None:
            return  # told to the next paired phone (status value, status_request)
        now = self._clock_ms()
        recent_ms = ticks_diff(now, self._progress_sent_ms)
        if kind == "progress" and recent_ms < self._progress_interval_ms:
            self._progress_due = True  # poll() sends the latest one when due
            return
        self._send_status(now)

    # -- events ----------------------------------------------------------------------------

    def _handle_event(self, event, conn, handle, data):
        if event == EV_WRITE:
            if conn == self._conn and handle == self._control_handle:
                self._on_frame(data)
        elif event == EV_CONNECT:
            self._on_connect(conn)
        elif event == EV_DISCONNECT:
            if conn == self._conn:
                self._conn = None
                # Nothing of this connection survives: its keys, its handshake, its
                # readable answers. The sync is NOT stopped: the files keep going over
                # Wi-Fi and its outcome waits for the phone's return.
                self._reset_connection()
                if self._on_disconnect is not None:
                    self._on_disconnect()
            self._advertise()
        elif event == EV_MTU and conn == self._conn:
            # The phone may now write (and we notify) longer frames; it learns this from
            # the info value, since Web Bluetooth has no MTU API.
            self._max_write = max(
                DEFAULT_WRITE_BYTES, min(data - ATT_HEADER_BYTES, MAX_FRAME_BYTES)
            )
            self._publish_info()

    def _on_connect(self, conn):
        if self._conn is not None and self._conn != conn:
            if self._channel is not None:
                # A paired phone keeps the device: the newcomer is turned away.
                self._log("ble: connection " + str(conn) + " refused: a paired phone is on")
                self._radio.disconnect(conn)
                return
            # An unpaired connection yields to the newcomer, so a stranger who connects
            # and waits cannot keep the owner out.
            self._log("ble: connection " + str(self._conn) + " replaced by " + str(conn))
            self._radio.disconnect(self._conn)
        self._conn = conn
        self._conn_ms = self._clock_ms()
        self._reset_connection()
        self._advertise()  # still visible to others until a phone pairs

    def _advertise(self):
        try:
            self._radio.advertise()
        except OSError as exc:  # a stack that cannot advertise while connected
            self._log("ble: advertise failed: " + repr(exc))

    def _reset_connection(self):
        self._channel = None
        self._handshake = rs_handshake.Handshake(self._pairing, self._throttle, self._urandom)
        self._dropping = False
        self._max_write = DEFAULT_WRITE_BYTES
        self._last_ack = None
        self._progress_due = False
        self._reassembler.reset()
        self._radio.write(self._status_handle, b"")  # no answer of an earlier connection
        self._publish_info()

    def _publish_info(self):
        info = {
            "firmware": None,
            "pending_files": None,
            "pending_bytes": None,
            "free_bytes": None,
        }
        try:
            info.update(self._device_info())
        except OSError as exc:  # SD card trouble must not hide the device
            info["storage_error"] = E_STORAGE
            self._log("ble: device info: " + repr(exc))
        info["device_id"] = self._pairing.device_id
        info["protocol"] = PROTOCOL_VERSION
        info["max_write"] = self._max_write
        self._radio.write(self._info_handle, _json(info))

    # -- control messages ------------------------------------------------------------------

    def _on_frame(self, frame):
        r = self._reassembler
        result = r.feed(frame)
        if result == rs_frames.PENDING:
            return
        if result == rs_frames.ERROR:
            self._ack(r.msg_id if r.msg_id >= 0 else None, r.error, r.detail)
        elif result == rs_frames.DUPLICATE:
            # The phone missed our answer and resent: answer the same, apply nothing. (No
            # answer yet: a handshake still computing; it answers when done.)
            if r.ack is not None:
                self._reply(r.ack)
        else:
            message = r.message()
            msg_id = r.msg_id
            msg_type = message[0]
            self._handling = True
            try:
                reply = self._on_message(msg_id, msg_type, bytes(message[1:]))
            finally:
                self._handling = False
            if reply is not None:
                r.set_ack(msg_id, reply)
                self._reply(reply)
            if self._report_held:
                self._report_held = False
                if self._channel is not None:
                    self._send_status(self._clock_ms())

    def _on_message(self, msg_id, msg_type, body):
        """Apply one complete message; returns its reply (see _reply), or None when the
        reply comes later (a handshake computing)."""
        counter = None
        try:
            if msg_type == MSG_PAKE_A:
                return self._pake_a(msg_id, body)
            if msg_type == MSG_CONFIRM:
                return self._confirm(msg_id, body)
            if self._channel is None:
                raise Reject(E_SESSION, "no session: send pake_a and confirm first")
            if msg_type != MSG_SEALED:
                raise Reject(E_MESSAGE, "unknown or unsealed message type " + str(msg_type))
            inner_type, payload = self._channel.open(body)
            counter = self._channel.received
            detail = self._sealed(inner_type, payload)
        except Reject as exc:
            return self._ack_reply(msg_id, exc.code, exc.detail, counter)
        except CryptoError as exc:
            return self._ack_reply(msg_id, exc.code, exc.detail, counter)
        return self._ack_reply(msg_id, ACK_OK, detail, counter)

    def _sealed(self, inner_type, payload):
        if inner_type == MSG_SYNC_REQUEST:
            return self._sync_request(payload)
        if inner_type == MSG_CANCEL:
            return self._cancel(payload)
        if inner_type == MSG_STATUS_REQUEST:
            if self._sync_status is not None:
                status = self._sync_status()
                if status:
                    self._status = self._with_sync_id(status)
            self._report_held = True  # the status follows the ack
            return None
        raise Reject(E_MESSAGE, "unknown sealed message type " + str(inner_type))

    # -- the handshake ---------------------------------------------------------------------

    def _pake_a(self, msg_id, body):
        try:
            self._handshake.start(msg_id, body, self._clock_ms(), ticks_diff)
        except rs_handshake.RateLimited as exc:
            reply = self._ack_reply(msg_id, exc.code, exc.detail)
            reply[1]["retry_ms"] = exc.retry_ms
            return reply
        self._channel = None  # a new handshake replaces this connection's session
        return None  # pake_b follows once computed (poll)

    def _run_work(self):
        done = self._handshake.run(self._clock_ms, ticks_diff, self._work_budget_ms)
        if done is None:
            return
        msg_id, answer = done
        if isinstance(answer, CryptoError):
            reply = self._ack_reply(msg_id, answer.code, answer.detail)
        else:
            reply = (MSG_PAKE_B, answer, False)
        self._reassembler.set_ack(msg_id, reply)
        self._reply(reply)

    def _confirm(self, msg_id, body):
        try:
            channel = self._handshake.confirm(body)
        except CryptoError as exc:
            # Wrong code (or a tampered transcript): nothing opens, the failure stays
            # counted, and the phone may try again after the throttle's delay.
            self._log("ble: handshake failed: key confirmation did not verify")
            return self._ack_reply(msg_id, exc.code, exc.detail)
        self._channel = channel
        self._last_ack = None
        return self._ack_reply(msg_id, ACK_OK, None)

    # -- sealed requests -------------------------------------------------------------------

    def _sync_request(self, payload):
        request = rs_request.sync_request(payload)
        sync_id = request["sync_id"]
        if self._busy():
            if sync_id == self._sync_id:
                return "already running"  # the same sync asked for twice: one sync
            raise Reject(E_BUSY, "sync " + str(self._sync_id) + " is running")
        previous_id = self._sync_id
        self._sync_id = sync_id  # before the call: a sync may report at once
        self._start_pending = True
        refused = self._start_sync(request)
        if isinstance(refused, str):
            self._sync_id = previous_id
            self._start_pending = False
            raise Reject(refused, "the sync did not start")
        return None

    def _cancel(self, payload):
        sync_id = rs_request.cancel(payload)
        if not self._busy():
            return "no sync running"  # cancelling twice, or after the end: nothing to do
        if sync_id != self._sync_id:
            raise Reject(E_MESSAGE, "sync_id is not the running sync")
        self._cancel_sync()
        return None

    def _busy(self):
        if self._start_pending:
            return True
        if self._sync_busy is not None:
            return bool(self._sync_busy())
        return self._status.get("state") in RUNNING_STATES

    # -- what the device sends -------------------------------------------------------------

    def _ack_reply(self, msg_id, result, detail, counter=None):
        """An ack as a reply: (type, payload, sealed). Sealed once a session is open."""
        ack = {"msg_id": msg_id, "result": result}
        if counter is not None:
            ack["counter"] = counter  # which sealed message of the phone's this answers
        if detail:
            ack["detail"] = _short(detail)
        if result != ACK_OK:
            self._log("ble: message " + str(msg_id) + ": " + result + " " + str(detail))
        return (MSG_ACK, ack, self._channel is not None)

    def _ack(self, msg_id, result, detail):
        self._reply(self._ack_reply(msg_id, result, detail))

    def _reply(self, reply):
        """Send a reply, and keep it readable: sealed replies join the status value (as
        last_ack); handshake replies in clear are the status value until a session."""
        msg_type, payload, sealed = reply
        if sealed and self._channel is None:
            # A stored sealed answer of a session that is gone: say so in clear instead.
            msg_type, payload, sealed = self._ack_reply(
                payload.get("msg_id"), E_SESSION, "the session of this answer has ended"
            )
        if sealed:
            self._last_ack = payload
            self._send(msg_type, payload)
            self._store_status()
        else:
            message = bytes((msg_type,)) + _json(payload)
            self._notify(message)
            if len(message) <= MAX_FRAME_BYTES - 3:
                n = rs_frames.write_frame(
                    self._frame_buf, message, self._out_id, 0, MAX_FRAME_BYTES
                )
                self._radio.write(self._status_handle, bytes(self._frame_buf[:n]))

    def _with_sync_id(self, status):
        status = dict(status)
        if "detail" in status and status["detail"] is not None:
            status["detail"] = _short(status["detail"])
        if status.get("sync_id") is None and self._sync_id is not None:
            status["sync_id"] = self._sync_id
        return status

    def _status_payload(self):
        payload = {}
        for key in self._status:
            if key != "type":
                payload[key] = self._status[key]
        return payload

    def _send_status(self, now_ms):
        if self._status.get("type") == "progress":
            self._progress_sent_ms = now_ms
        self._progress_due = False
        self._send(_STATUS_TYPES.get(self._status.get("type"), MSG_STATE), self._status_payload())
        self._store_status()

    def _send(self, msg_type, payload):
        """Notify one sealed message, in frames of the link's write size."""
        sealed = self._channel.seal(msg_type, _json(payload))
        self._notify(bytes((MSG_SEALED,)) + sealed)

    def _notify(self, message):
        self._out_id = (self._out_id + 1) & 0xFF
        if self._conn is None:
            return
        count = rs_frames.frame_count(len(message), self._max_write)
        view = memoryview(self._frame_buf)
        for seq in range(count):
            n = rs_frames.write_frame(self._frame_buf, message, self._out_id, seq, self._max_write)
            try:
                self._radio.notify(self._conn, self._status_handle, view[:n])
            except OSError as exc:
                # Link gone or the stack's queue full: the phone reads the status value.
                self.notify_failures += 1
                self._log("ble: notify failed: " + repr(exc))
                return

    def _store_status(self):
        """The readable status value of a paired connection: one frame holding the latest
        status message plus the answer to this connection's latest message, sealed (phones
        without notifications poll this)."""
        payload = self._status_payload()
        if self._last_ack is not None:
            payload["last_ack"] = self._last_ack
        msg_type = _STATUS_TYPES.get(self._status.get("type"), MSG_STATE)
        body = _json(payload)
        if len(body) > _STATUS_PLAIN_MAX_BYTES:  # a runaway field: keep the essentials
            slim = {"state": self._status.get("state")}
            if self._last_ack is not None:
                slim["last_ack"] = {
                    "msg_id": self._last_ack.get("msg_id"),
                    "result": self._last_ack.get("result"),
                }
            msg_type = MSG_STATE
            body = _json(slim)
        message = bytes((MSG_SEALED,)) + self._channel.seal(msg_type, body)
        n = rs_frames.write_frame(self._frame_buf, message, self._out_id, 0, MAX_FRAME_BYTES)
        self._radio.write(self._status_handle, bytes(self._frame_buf[:n]))
