"""The virtual RS-Core's BLE radio: ble_provisioning's radio adapter on one side (what
board/ble_radio.py gives it on the board), a central's GATT operations on the other.

Two threads meet here. The firmware's loop calls the adapter methods (register, write,
notify, next_event, ...); a link calls the central's (connect, write_value, read_value,
...) from its own thread: the Playwright thread for the CDP bridge (ble_bridge.py), the
phone's thread for LocalLink. Everything crosses under one lock, and nothing here calls
out: the firmware never waits on the browser, the browser never on the firmware.

It behaves as the board's stack does where the protocol can tell:
- a central's write arrives as one EV_WRITE with the value, cut to the buffer size that
  set_buffer gave (the ESP32 truncates longer writes silently);
- reads are answered at once from the stored values (gatts_write), as the ESP32's stack
  answers them without asking the application;
- more than 64 queued events are dropped and counted (board/ble_radio.py's queue);
- notify() to a connection that is gone raises OSError (ENOTCONN); a notification the
  central did not subscribe to is dropped, as the browser drops it;
- disconnect(conn) ends the connection at once and queues its EV_DISCONNECT; a link
  learns of it from `dropped()` (the bridge then tells the browser).
"""

from __future__ import annotations

import collections
import threading
from collections.abc import Sequence
from typing import Any

# ble_provisioning's event numbers and characteristic flags (the firmware's values)
EV_CONNECT = 1
EV_DISCONNECT = 2
EV_WRITE = 3
EV_MTU = 4
FLAG_READ = 0x0002
FLAG_WRITE = 0x0008
FLAG_NOTIFY = 0x0010

QUEUE_MAX_EVENTS = 64  # board/ble_radio.py's _QUEUE_MAX_EVENTS
MAX_FRAME_BYTES = 512
_ENOTCONN = 128
_FIRST_HANDLE = 11  # value handles as NimBLE numbers them: not 0, 1, 2


class HostRadio:
    """The adapter ble_provisioning takes, and a single central's view of it."""

    def __init__(self, name: str = "RS-Core", max_events: int = QUEUE_MAX_EVENTS) -> None:
        self.name = name
        self._max_events = max_events
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self._events: collections.deque[tuple[int, int, int, Any]] = collections.deque()
        self._values: dict[int, bytes] = {}
        self._buffers: dict[int, int] = {}
        self._handles: dict[str, int] = {}  # characteristic UUID -> value handle
        self._flags: dict[str, int] = {}
        self.service_uuid: str | None = None
        self._registered = threading.Event()
        self._conn: int | None = None
        self._next_conn = 0
        self._subscribed: set[str] = set()
        self._notes: collections.deque[tuple[str, bytes]] = collections.deque()
        self._dropped: list[int] = []
        self.dropped_events = 0
        self.advertisements = 0
        self.notifications_sent = 0

    # -- the adapter (called by ble_provisioning on the firmware's loop) -----------------

    def register(
        self, service_uuid: str, characteristics: Sequence[tuple[str, int]]
    ) -> tuple[int, ...]:
        with self._lock:
            handles = []
            for i, (uuid, flags) in enumerate(characteristics):
                handle = _FIRST_HANDLE + 2 * i
                self._handles[uuid.lower()] = handle
                self._flags[uuid.lower()] = flags
                handles.append(handle)
            self.service_uuid = service_uuid.lower()
        self._registered.set()
        return tuple(handles)

    def set_buffer(self, handle: int, size_bytes: int) -> None:
        with self._lock:
            self._buffers[handle] = min(size_bytes, MAX_FRAME_BYTES)

    def write(self, handle: int, data: Any) -> None:
        with self._lock:
            self._values[handle] = bytes(data)

    def notify(self, conn_handle: int, handle: int, data: Any) -> None:
        with self._changed:
            if conn_handle != self._conn:
                raise OSError(_ENOTCONN, "not connected")
            uuid = self._uuid(handle)
            self.notifications_sent += 1
            if uuid in self._subscribed:
                self._notes.append((uuid, bytes(data)))  # data is the firmware's buffer
                self._changed.notify_all()

    def advertise(self) -> None:
        with self._lock:
            self.advertisements += 1

    def disconnect(self, conn_handle: int) -> None:
        with self._changed:
            if conn_handle != self._conn:
                return  # already gone (the board's adapter ignores that OSError too)
            self._end(conn_handle)
            self._dropped.append(conn_handle)

    def next_event(self) -> tuple[int, int, int, Any] | None:
        with self._lock:
            return self._events.popleft() if self._events else None

    # -- the central's side (a link's thread) --------------------------------------------

    def wait_registered(self, timeout_s: float) -> bool:
        """Whether the firmware has registered its service (within timeout_s)."""
        return self._registered.wait(timeout_s)

    def characteristics(self) -> dict[str, int]:
        """UUID -> characteristic flags (FLAG_READ | FLAG_WRITE | FLAG_NOTIFY)."""
        with self._lock:
            return dict(self._flags)

    @property
    def connection(self) -> int | None:
        with self._lock:
            return self._conn

    def connect(self, mtu: int | None = None) -> int:
        """A central connects (one at a time: a connection still open is ended first, as
        it is when a browser reconnects without telling). With `mtu`, the central then
        negotiates that ATT MTU (EV_MTU), as Chrome on Android does (517)."""
        with self._changed:
            if self._conn is not None:
                self._end(self._conn)
            self._next_conn += 1
            conn = self._next_conn
            self._conn = conn
            self._push((EV_CONNECT, conn, 0, None))
            if mtu is not None:
                self._push((EV_MTU, conn, 0, mtu))
            return conn

    def central_disconnect(self) -> None:
        """The central went away (its disconnect, or the link dropped)."""
        with self._changed:
            if self._conn is not None:
                self._end(self._conn)

    def write_value(self, uuid: str, data: bytes) -> bool:
        """A central's write with response; False when not connected (nothing arrives)."""
        with self._lock:
            uuid = uuid.lower()
            handle = self._handles.get(uuid)
            if self._conn is None or handle is None:
                return False
            limit = self._buffers.get(handle, 20)  # the ESP32's default value size
            self._values[handle] = bytes(data[:limit])
            self._push((EV_WRITE, self._conn, handle, bytes(data[:limit])))
            return True

    def read_value(self, uuid: str) -> bytes:
        """The stored value, as the stack answers a read."""
        with self._lock:
            handle = self._handles.get(uuid.lower())
            return self._values.get(handle, b"") if handle is not None else b""

    def subscribe(self, uuid: str, on: bool = True) -> None:
        with self._lock:
            if on:
                self._subscribed.add(uuid.lower())
            else:
                self._subscribed.discard(uuid.lower())
                self._notes = collections.deque(n for n in self._notes if n[0] != uuid.lower())

    def pending_notifications(self) -> list[str]:
        """UUIDs with notifications waiting to be delivered, in order of the first."""
        with self._lock:
            out: list[str] = []
            for uuid, _data in self._notes:
                if uuid not in out:
                    out.append(uuid)
            return out

    def next_notification(self, uuid: str | None = None, timeout_s: float = 0.0) -> bytes | None:
        """The oldest notification (of `uuid`, if given), waiting up to timeout_s."""
        with self._changed:
            found = self._take(uuid)
            if found is None and timeout_s > 0:
                self._changed.wait_for(lambda: self._has(uuid), timeout_s)
                found = self._take(uuid)
            return found

    def dropped(self) -> list[int]:
        """Connections the firmware ended since the last call (to tell the central)."""
        with self._lock:
            out, self._dropped = self._dropped, []
            return out

    # -- internals (lock held) -----------------------------------------------------------

    def _uuid(self, handle: int) -> str:
        for uuid, h in self._handles.items():
            if h == handle:
                return uuid
        return ""

    def _push(self, event: tuple[int, int, int, Any]) -> None:
        if len(self._events) >= self._max_events:
            self.dropped_events += 1
            return
        self._events.append(event)

    def _end(self, conn: int) -> None:
        self._conn = None
        self._subscribed.clear()
        self._notes.clear()
        self._push((EV_DISCONNECT, conn, 0, None))
        self._changed.notify_all()

    def _has(self, uuid: str | None) -> bool:
        return any(uuid is None or n[0] == uuid for n in self._notes)

    def _take(self, uuid: str | None) -> bytes | None:
        for i, (note_uuid, data) in enumerate(self._notes):
            if uuid is None or note_uuid == uuid:
                del self._notes[i]
                return data
        return None


class LocalLink:
    """A phone's link to a HostRadio in this process (no browser): what PhoneClient needs
    (phone.Link), on the caller's thread."""

    def __init__(self, radio: HostRadio, status_uuid: str, control_uuid: str) -> None:
        self._radio = radio
        self._status = status_uuid.lower()
        self._control = control_uuid.lower()
        self._conn: int | None = None

    def connect(self, mtu: int | None = None, notifications: bool = True) -> None:
        self._conn = self._radio.connect(mtu)
        if notifications:
            self._radio.subscribe(self._status)

    @property
    def connected(self) -> bool:
        return self._conn is not None and self._radio.connection == self._conn

    def write(self, frame: bytes) -> None:
        if not self.connected or not self._radio.write_value(self._control, frame):
            raise ConnectionError("the BLE link is down")

    def read(self, uuid: str) -> bytes:
        if not self.connected:
            raise ConnectionError("the BLE link is down")
        return self._radio.read_value(uuid)

    def next_notification(self, timeout_s: float) -> bytes | None:
        return self._radio.next_notification(self._status, timeout_s)

    def disconnect(self) -> None:
        if self.connected:
            self._radio.central_disconnect()
        self._conn = None
