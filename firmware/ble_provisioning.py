"""The RS-Core GATT service: a phone's browser hands the device a sync request over BLE and
follows the sync (docs/ble-protocol.md).

Portable: the radio, the device facts, the keys and the sync are all given, so the same
code runs under CPython tests with a fake radio and on the board with board/ble_radio.py.

The radio adapter (duck-typed; board/ble_radio.py wraps bluetooth.BLE):

    register(service_uuid, ((uuid, flags), ...)) -> value handles, in the same order
    set_buffer(handle, size_bytes)       room for values/writes up to size_bytes
    write(handle, data)                  the value a central reads
    notify(conn_handle, handle, data)    one notification (at most max_write bytes)
    advertise()                          (re)start connectable advertising
    next_event() -> None or (event, conn_handle, value_handle, data)
        EV_CONNECT / EV_DISCONNECT (data None), EV_WRITE (data: the written bytes),
        EV_MTU (data: the negotiated ATT MTU)

In the aioble spirit the radio's IRQ handler only queues events; poll(), called from the
application's loop, does all the work, so nothing slow or allocating runs in the IRQ.

Wiring with sync.Sync (which reports through a notify callback):

    prov = Provisioning(radio, device_info, keys, start_sync=lambda r: sync.start(r),
                        cancel_sync=lambda: sync.cancel(), sync_busy=lambda: sync.busy(),
                        sync_status=lambda: sync.status())
    sync = Sync(..., notify=prov.relay)
    while True: prov.poll(); await asyncio.sleep_ms(20)   # or wake on the radio's flag
"""

import json
from binascii import a2b_base64, hexlify, unhexlify
from os import urandom as os_urandom

try:
    from time import ticks_diff, ticks_ms
except ImportError:  # CPython
    from time import monotonic as _monotonic_s

    def ticks_ms():
        return int(_monotonic_s() * 1000)

    def ticks_diff(new, old):
        return new - old


import rs_crypto
import rs_frames
from rs_protocol import (
    ACK_OK,
    BOUND_CANCEL,
    BOUND_SYNC_REQUEST,
    CONTROL_UUID,
    DEFAULT_WRITE_BYTES,
    DEVICE_NAME_PREFIX,
    E_BUSY,
    E_MESSAGE,
    E_STORAGE,
    E_URL,
    INFO_UUID,
    MAX_FRAME_BYTES,
    MAX_MESSAGE_BYTES,
    MSG_ACK,
    MSG_CANCEL,
    MSG_DONE,
    MSG_ERROR,
    MSG_PROGRESS,
    MSG_STATE,
    MSG_STATUS_REQUEST,
    MSG_SYNC_REQUEST,
    NONCE_BYTES,
    PROGRESS_INTERVAL_MS,
    PROTOCOL_VERSION,
    RUNNING_STATES,
    SERVICE_UUID,
    STATE_IDLE,
    STATUS_UUID,
)

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

_STATUS_TYPES = {"state": MSG_STATE, "progress": MSG_PROGRESS, "done": MSG_DONE, "error": MSG_ERROR}
_SYNC_ID_CHARS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_"
_SYNC_ID_MAX_CHARS = 32  # it goes into the laptop's URL paths
_TIME_UTC_MIN_S = 1600000000  # 2020-09: a clock this old (or ms sent as s) is a bug
_TIME_UTC_MAX_S = 4102444800  # 2100-01-01
_COUNTER_MAX = 0xFFFFFFFF


class _Reject(Exception):
    """A control message is refused: .code goes into its ack."""

    def __init__(self, code, detail):
        super().__init__(code, detail)
        self.code = code
        self.detail = detail


def device_name(device_id):
    """The advertised name, RS-Core-XXXX: the last 4 letters/digits of the device id, so
    two loggers in one paddock can be told apart in the browser's chooser."""
    tail = ""
    for ch in device_id:
        if ch.isalpha() or ch.isdigit():
            tail = (tail + ch.upper())[-4:]
    return DEVICE_NAME_PREFIX + tail


def valid_url(url):
    """True for http:// or https:// followed by a host, no spaces or control characters."""
    if not isinstance(url, str) or len(url) > 512:
        return False
    if url.startswith("http://"):
        rest = url[7:]
    elif url.startswith("https://"):
        rest = url[8:]
    else:
        return False
    for ch in url:
        if ch <= " " or ch == "\x7f":
            return False
    host_end = len(rest)
    for sep in "/?#":
        i = rest.find(sep)
        if 0 <= i < host_end:
            host_end = i
    host = rest[:host_end]
    return bool(host) and not host.startswith(":") and "@" not in host


def _field_text(obj, name, max_chars, optional=False, min_chars=1):
    value = obj.get(name)
    if optional and (value is None or value == ""):
        return None
    if not isinstance(value, str) or not min_chars <= len(value) <= max_chars:
        raise _Reject(E_MESSAGE, name + ": a string of " + str(max_chars) + " chars at most")
    return value


def _field_int(obj, name, low, high):
    value = obj.get(name)
    # type() and not isinstance(): JSON true is a bool, an int subclass on CPython
    if type(value) is not int or not low <= value <= high:
        raise _Reject(E_MESSAGE, name + ": an integer from " + str(low) + " to " + str(high))
    return value


def _field_nonce(obj):
    value = obj.get("nonce")
    if not isinstance(value, str) or len(value) != 2 * NONCE_BYTES:
        raise _Reject(E_MESSAGE, "nonce: 32 hex digits from the info characteristic")
    try:
        return unhexlify(value)
    except ValueError:
        raise _Reject(E_MESSAGE, "nonce: not hex") from None


def _field_blob(obj, name):
    value = obj.get(name)
    if not isinstance(value, str) or not value:
        raise _Reject(E_MESSAGE, name + ": base64 of iv|ciphertext|mac")
    try:
        return a2b_base64(value)
    except ValueError:
        raise _Reject(E_MESSAGE, name + ": not base64") from None


def _parse_object(data):
    try:
        obj = json.loads(data)
    except ValueError:  # also bad UTF-8 (UnicodeDecodeError is a ValueError)
        raise _Reject(E_MESSAGE, "payload is not JSON") from None
    if not isinstance(obj, dict):
        raise _Reject(E_MESSAGE, "payload is not a JSON object")
    return obj


def _short(text):
    text = str(text)
    return text if len(text) <= DETAIL_MAX_CHARS else text[: DETAIL_MAX_CHARS - 3] + "..."


class Provisioning:
    """The service: publishes device info, takes framed control messages, starts and
    cancels syncs, and relays the sync's status back as notifications and as the
    readable status value.

    device_info() -> dict with device_id, firmware, pending_files, pending_bytes,
        free_bytes (called on each connect and status request; OSError is reported in
        the info JSON as storage_error, not raised)
    keys: rs_crypto.Keys from the pairing code (derive once at boot: it is slow)
    start_sync(request): start the sync in the background and return at once; request is
        a dict (ssid, password, url, ip_fallback, token, sync_id, cert_sha256, time_utc).
        A str return value is an error code for the ack (anything else means started).
    cancel_sync(): ask the running sync to stop
    sync_busy() -> bool: a sync is running (default: the last relayed state is a running
        one)
    sync_status() -> the sync's latest status dict, as relay() takes (optional)
    """

    def __init__(
        self,
        radio,
        device_info,
        keys,
        start_sync,
        cancel_sync,
        sync_busy=None,
        sync_status=None,
        on_disconnect=None,
        urandom=os_urandom,
        clock_ms=ticks_ms,
        progress_interval_ms=PROGRESS_INTERVAL_MS,
        log=print,
    ):
        self._radio = radio
        self._device_info = device_info
        self._keys = keys
        self._start_sync = start_sync
        self._cancel_sync = cancel_sync
        self._sync_busy = sync_busy
        self._sync_status = sync_status
        self._on_disconnect = on_disconnect
        self._urandom = urandom
        self._clock_ms = clock_ms
        self._progress_interval_ms = progress_interval_ms
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

        self._reassembler = rs_frames.Reassembler(MAX_MESSAGE_BYTES, MAX_FRAME_BYTES)
        self._frame_buf = bytearray(MAX_FRAME_BYTES)
        self._out_id = 0  # msg_id of the device's own messages
        self._conn = None
        self._max_write = DEFAULT_WRITE_BYTES
        self._session = None
        self._sync_id = None  # the sync this device last started
        # start_sync() only schedules the sync: until its first report arrives, count it as
        # running, or a second request in the same poll() would start a second sync.
        self._start_pending = False
        self._last_ack = None
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
        self._new_session()
        self._store_status()
        radio.advertise()

    # -- what the application calls --------------------------------------------------------

    @property
    def connected(self):
        return self._conn is not None

    @property
    def nonce(self):
        return self._session.nonce

    def poll(self):
        """Handle queued radio events and due progress; returns the number of events."""
        handled = 0
        while handled < EVENTS_PER_POLL:
            event = self._radio.next_event()
            if event is None:
                break
            handled += 1
            self._handle_event(event[0], event[1], event[2], event[3])
        if self._progress_due:
            now = self._clock_ms()
            if ticks_diff(now, self._progress_sent_ms) >= self._progress_interval_ms:
                self._send_status(now)
        return handled

    def relay(self, status):
        """The sync's report (sync.Sync's notify callback): a dict whose "type" is state,
        progress, done or error. Stored for polling reads and notified (progress at most
        every progress_interval_ms). Never raises for a lost link: the sync goes on."""
        kind = status.get("type")
        if kind not in _STATUS_TYPES:
            raise ValueError("status type must be state, progress, done or error")
        self._start_pending = False
        self._status = self._with_sync_id(status)
        if self._handling:
            self._report_held = True
            return
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
            # One phone at a time: the newest connection is the one served.
            self._conn = conn
            self._max_write = DEFAULT_WRITE_BYTES
            self._new_session()
            self._store_status()
        elif event == EV_DISCONNECT:
            if conn == self._conn:
                self._conn = None
                self._max_write = DEFAULT_WRITE_BYTES
                # A new nonce now: nothing sealed for the old connection is accepted
                # again. The sync is NOT stopped: the files keep going over Wi-Fi and
                # the status value keeps the outcome for the phone's return.
                self._new_session()
                if self._on_disconnect is not None:
                    self._on_disconnect()
                self._radio.advertise()
        elif event == EV_MTU and conn == self._conn:
            # The phone may now write (and we notify) longer frames; it learns this from
            # the info value, since Web Bluetooth has no MTU API.
            self._max_write = max(
                DEFAULT_WRITE_BYTES, min(data - ATT_HEADER_BYTES, MAX_FRAME_BYTES)
            )
            self._publish_info()

    def _new_session(self):
        self._session = rs_crypto.Session(self._keys, self._urandom(NONCE_BYTES))
        self._reassembler.reset()
        self._last_ack = None
        self._publish_info()

    def _publish_info(self):
        info = {
            "device_id": None,
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
        info["protocol"] = PROTOCOL_VERSION
        info["max_write"] = self._max_write
        info["nonce"] = hexlify(self._session.nonce).decode()
        self._radio.write(self._info_handle, json.dumps(info, separators=(",", ":")).encode())

    # -- control messages ------------------------------------------------------------------

    def _on_frame(self, frame):
        r = self._reassembler
        result = r.feed(frame)
        if result == rs_frames.PENDING:
            return
        if result == rs_frames.ERROR:
            self._ack(r.msg_id if r.msg_id >= 0 else None, r.error, r.detail)
        elif result == rs_frames.DUPLICATE:
            # The phone missed our answer and resent: answer the same, apply nothing.
            if r.ack is not None:
                self._last_ack = r.ack
                self._send(MSG_ACK, r.ack)
                self._store_status()
        else:
            message = r.message()
            msg_id = r.msg_id
            msg_type = message[0]
            self._handling = True
            try:
                ack = self._on_message(msg_id, msg_type, bytes(message[1:]))
            finally:
                self._handling = False
            r.set_ack(msg_id, ack)
            if msg_type == MSG_STATUS_REQUEST or self._report_held:
                self._report_held = False
                self._send_status(self._clock_ms())

    def _on_message(self, msg_id, msg_type, body):
        """Apply one complete message; returns the ack dict it was answered with."""
        try:
            if msg_type == MSG_SYNC_REQUEST:
                detail = self._sync_request(body)
            elif msg_type == MSG_CANCEL:
                detail = self._cancel(body)
            elif msg_type == MSG_STATUS_REQUEST:
                detail = None
                if self._sync_status is not None:
                    status = self._sync_status()
                    if status:
                        self._status = self._with_sync_id(status)
            else:
                raise _Reject(E_MESSAGE, "unknown message type " + str(msg_type))
        except _Reject as exc:
            return self._ack(msg_id, exc.code, exc.detail)
        except rs_crypto.CryptoError as exc:
            return self._ack(msg_id, exc.code, exc.detail)
        return self._ack(msg_id, ACK_OK, detail)

    def _sync_request(self, body):
        obj = _parse_object(body)
        ssid = _field_text(obj, "ssid", 32)
        url = _field_text(obj, "url", 512)
        ip_fallback = _field_text(obj, "ip_fallback", 512, optional=True)
        sync_id = self._field_sync_id(obj)
        cert = _field_text(obj, "cert_sha256", 64, optional=True, min_chars=64)
        time_utc = _field_int(obj, "time_utc", _TIME_UTC_MIN_S, _TIME_UTC_MAX_S)
        nonce = _field_nonce(obj)
        counter = _field_int(obj, "counter", 1, _COUNTER_MAX)
        blob = _field_blob(obj, "secrets")
        bound = []
        for name in BOUND_SYNC_REQUEST:
            bound.append(obj.get(name))
        ad = rs_crypto.bound_data(MSG_SYNC_REQUEST, bound)
        # Authenticate before acting on any field: E_REPLAY / E_AUTH, nothing applied.
        plaintext = self._session.unseal(nonce, counter, blob, ad)

        if not valid_url(url):
            raise _Reject(E_URL, "url must be http:// or https:// and name a host")
        if ip_fallback is not None and not valid_url(ip_fallback):
            raise _Reject(E_URL, "ip_fallback must be http:// or https:// and name a host")
        if cert is not None:
            try:
                unhexlify(cert)
            except ValueError:
                raise _Reject(E_MESSAGE, "cert_sha256: 64 hex digits") from None
            cert = cert.lower()
        secrets = _parse_object(plaintext)
        password = _field_text(secrets, "password", 64, min_chars=0)
        token = _field_text(secrets, "token", 256)

        if self._busy():
            if sync_id == self._sync_id:
                return "already running"  # the same sync asked for twice: one sync
            raise _Reject(E_BUSY, "sync " + str(self._sync_id) + " is running")
        request = {
            "ssid": ssid,
            "password": password,
            "url": url,
            "ip_fallback": ip_fallback,
            "token": token,
            "sync_id": sync_id,
            "cert_sha256": cert,
            "time_utc": time_utc,
        }
        previous_id = self._sync_id
        self._sync_id = sync_id  # before the call: a sync may report at once
        self._start_pending = True
        refused = self._start_sync(request)
        if isinstance(refused, str):
            self._sync_id = previous_id
            self._start_pending = False
            raise _Reject(refused, "the sync did not start")
        return None

    def _cancel(self, body):
        obj = _parse_object(body)
        sync_id = self._field_sync_id(obj)
        nonce = _field_nonce(obj)
        counter = _field_int(obj, "counter", 1, _COUNTER_MAX)
        blob = _field_blob(obj, "auth")
        bound = []
        for name in BOUND_CANCEL:
            bound.append(obj.get(name))
        self._session.unseal(nonce, counter, blob, rs_crypto.bound_data(MSG_CANCEL, bound))
        if not self._busy():
            return "no sync running"  # cancelling twice, or after the end: nothing to do
        if sync_id != self._sync_id:
            raise _Reject(E_MESSAGE, "sync_id is not the running sync")
        self._cancel_sync()
        return None

    def _field_sync_id(self, obj):
        sync_id = _field_text(obj, "sync_id", _SYNC_ID_MAX_CHARS)
        for ch in sync_id:
            if ch not in _SYNC_ID_CHARS:
                raise _Reject(E_MESSAGE, "sync_id: letters, digits, - and _ only")
        return sync_id

    def _busy(self):
        if self._start_pending:
            return True
        if self._sync_busy is not None:
            return bool(self._sync_busy())
        return self._status.get("state") in RUNNING_STATES

    # -- what the device sends -------------------------------------------------------------

    def _ack(self, msg_id, result, detail):
        ack = {"msg_id": msg_id, "result": result}
        if detail:
            ack["detail"] = _short(detail)
        if result != ACK_OK:
            self._log("ble: message " + str(msg_id) + ": " + result + " " + str(detail))
        self._last_ack = ack
        self._send(MSG_ACK, ack)
        self._store_status()
        return ack

    def _with_sync_id(self, status):
        status = dict(status)
        if "detail" in status and status["detail"] is not None:
            status["detail"] = _short(status["detail"])
        if status.get("sync_id") is None and self._sync_id is not None:
            status["sync_id"] = self._sync_id
        return status

    def _send_status(self, now_ms):
        status = self._status
        if status.get("type") == "progress":
            self._progress_sent_ms = now_ms
        self._progress_due = False
        payload = {}
        for key in status:
            if key != "type":
                payload[key] = status[key]
        self._send(_STATUS_TYPES.get(status.get("type"), MSG_STATE), payload)
        self._store_status()

    def _encode(self, msg_type, payload):
        return bytes((msg_type,)) + json.dumps(payload, separators=(",", ":")).encode()

    def _send(self, msg_type, payload):
        """Notify one message, in frames of the link's write size."""
        self._out_id = (self._out_id + 1) & 0xFF
        if self._conn is None:
            return
        message = self._encode(msg_type, payload)
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
        """The readable status value: the latest status message as one frame, plus the
        answer to this connection's latest control message (phones without notifications
        poll this)."""
        status = self._status
        payload = {}
        for key in status:
            if key != "type":
                payload[key] = status[key]
        if self._last_ack is not None:
            payload["last_ack"] = self._last_ack
        message = self._encode(_STATUS_TYPES.get(status.get("type"), MSG_STATE), payload)
        if len(message) > MAX_FRAME_BYTES - 3:  # a runaway field: keep the essentials
            message = self._encode(MSG_STATE, {"state": status.get("state")})
        n = rs_frames.write_frame(self._frame_buf, message, self._out_id, 0, MAX_FRAME_BYTES)
        self._radio.write(self._status_handle, bytes(self._frame_buf[:n]))
