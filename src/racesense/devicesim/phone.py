"""The phone's half of BLE protocol v2 in Python (docs/ble-protocol.md): what the web UI
does, for the command line and the tests. Written from the document (adapted from the
firmware tests' firmware/tests/phone.py), not from the firmware's modules, so the two
check each other; only protocol.json's constants are shared.

- PhoneSession (phone_session.py): the CPace handshake and the sealed channel.
- frames() and Reassembler: the framing of messages into writes and notifications.
- PhoneClient: over a Link (any object with connected, write, read, next_notification:
  radio.LocalLink in this process, or a page's Web Bluetooth in the tests), the whole
  flow: read info, pair with the code, send the sync request, follow the states to the
  end; with notifications, or by polling `status` only (as on Bluefy).
- create_sync(): POST /api/syncs on the backend, for the upload token and ack_key.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol

from racesense.devicesim.phone_session import Constants, PhoneError, PhoneSession, b64url

FINAL_STATES = ("done", "failed", "cancelled")


# -- framing ---------------------------------------------------------------------------


def frames(message: bytes, msg_id: int, max_write: int, flag_last: int = 1) -> list[bytes]:
    """[msg_id][seq][flags] + payload frames of at most max_write bytes."""
    size = max_write - 3
    count = max(1, -(-len(message) // size))
    out = []
    for seq in range(count):
        piece = message[seq * size : (seq + 1) * size]
        flags = flag_last if seq == count - 1 else 0
        out.append(bytes((msg_id & 0xFF, seq, flags)) + piece)
    return out


class Reassembler:
    """The device's notifications back into messages (no duplicate suppression: its ids
    wrap; the sealed counters rule out replays)."""

    def __init__(self) -> None:
        self._id: int | None = None
        self._next = 0
        self._parts: list[bytes] = []

    def feed(self, frame: bytes) -> bytes | None:
        if len(frame) < 3:
            return None
        msg_id, seq, flags = frame[0], frame[1], frame[2]
        if seq == 0:
            self._id, self._next, self._parts = msg_id, 0, []
        if msg_id != self._id or seq != self._next:
            self._id = None  # broken: wait for the next seq 0
            return None
        self._parts.append(bytes(frame[3:]))
        self._next += 1
        if flags & 1:
            self._id = None
            return b"".join(self._parts)
        return None


# -- the client ------------------------------------------------------------------------


class Link(Protocol):
    """A phone's BLE connection to the logger's service."""

    @property
    def connected(self) -> bool: ...

    def write(self, frame: bytes) -> None:
        """One frame to `control`, with response."""

    def read(self, uuid: str) -> bytes:
        """A characteristic's value."""

    def next_notification(self, timeout_s: float) -> bytes | None:
        """The next `status` notification, or None after timeout_s."""


@dataclass
class Timeline:
    """When each step happened, in seconds from the first."""

    start_s: float = field(default_factory=time.monotonic)
    marks: dict[str, float] = field(default_factory=dict)

    def mark(self, name: str) -> None:
        self.marks.setdefault(name, round(time.monotonic() - self.start_s, 3))


class PhoneClient:
    """The phone's flow over a Link (see the module docstring)."""

    def __init__(
        self,
        link: Link,
        code: str,
        *,
        notifications: bool = True,
        poll_s: float = 0.05,
        constants: Constants | None = None,
        on_status: Callable[[dict[str, Any]], None] | None = None,
    ) -> None:
        self.link = link
        self.code = code.replace("-", "").replace(" ", "")
        self.notifications = notifications
        self.poll_s = poll_s
        self.c = constants or Constants.load()
        self.on_status = on_status
        self.timeline = Timeline()
        self.info: dict[str, Any] = {}
        self.session: PhoneSession | None = None
        self.sync_id: str | None = None
        self.statuses: list[dict[str, Any]] = []
        self._msg_id = 0
        self._reassembler = Reassembler()
        self._last_polled = b""

    # -- steps -----------------------------------------------------------------------------

    def read_info(self) -> dict[str, Any]:
        self.info = json.loads(self.link.read(self.c.info_uuid) or b"{}")
        self.timeline.mark("info")
        return self.info

    def pair(self, timeout_s: float = 10.0) -> None:
        """The handshake: pake_a, pake_b (its Tb checked), confirm, the sealed ack."""
        if not self.info:
            self.read_info()
        session = PhoneSession(self.code, self.info["device_id"], self.c)
        self.session = None
        msg_id = self._send(self.c.msg["pake_a"], json.dumps(session.pake_a()).encode())
        for kind, body in self._messages(timeout_s, "pake_b"):
            if kind == self.c.msg["pake_b"]:
                obj = json.loads(body)
                if obj.get("sid") == b64url(session.sid):  # else: an earlier handshake's
                    break
            elif kind == self.c.msg["ack"]:
                self._clear_ack(body, msg_id)
        self.timeline.mark("pake_b")
        confirm = session.on_pake_b(obj)  # PhoneError E_AUTH: wrong code; nothing more sent
        self.session = session
        msg_id = self._send(self.c.msg["confirm"], json.dumps(confirm).encode())
        for kind, body in self._messages(timeout_s, "the confirm's ack"):
            if kind == self.c.msg["ack"]:
                self._clear_ack(body, msg_id)
            ack = self._sealed_ack(kind, body, msg_id=msg_id)
            if ack is not None:
                self._check_ack(ack)
                break
        self.timeline.mark("paired")

    def send_sealed(
        self, name: str, obj: dict[str, Any], timeout_s: float = 10.0
    ) -> dict[str, Any]:
        """A sealed sync_request, cancel or status_request; returns its ack (PhoneError for
        a refusal). Acks are matched by the counter of our message."""
        assert self.session is not None, "pair() first"
        sealed = self.session.seal(self.c.msg[name], obj)
        counter = self.session.sent
        self._send(self.c.msg["sealed"], sealed)
        for kind, body in self._messages(timeout_s, name + "'s ack"):
            ack = self._sealed_ack(kind, body, counter=counter)
            if ack is not None:
                self._check_ack(ack)
                return ack
        raise AssertionError("unreachable")

    def request_sync(self, request: dict[str, Any], timeout_s: float = 10.0) -> dict[str, Any]:
        self.sync_id = str(request["sync_id"])
        ack = self.send_sealed("sync_request", request, timeout_s)
        self.timeline.mark("request_ack")
        return ack

    def follow(self, timeout_s: float = 120.0) -> dict[str, Any]:
        """The sync's states until it ends (done, failed or cancelled): the final one."""
        last: dict[str, Any] | None = None
        for kind, body in self._messages(timeout_s, "the end of the sync"):
            self._sealed_ack(kind, body)  # keeps the statuses it carries
            if self.statuses and self.statuses[-1] is not last:
                last = self.statuses[-1]
                if last.get("state") in FINAL_STATES and last.get("sync_id") == self.sync_id:
                    return last
        raise AssertionError("unreachable")

    # -- plumbing --------------------------------------------------------------------------

    def _send(self, msg_type: int, payload: bytes) -> int:
        self._msg_id = (self._msg_id + 1) & 0xFF
        max_write = int(self.info.get("max_write") or 20)
        for frame in frames(bytes((msg_type,)) + payload, self._msg_id, max_write):
            try:
                self.link.write(frame)
            except ConnectionError as exc:
                raise PhoneError("link", str(exc)) from None
        return self._msg_id

    def _messages(self, timeout_s: float, waiting_for: str) -> Iterator[tuple[int, bytes]]:
        """(type, body) of each message from the device, until timeout_s (PhoneError)."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if not self.link.connected:
                raise PhoneError("link", "the BLE link dropped while waiting for " + waiting_for)
            message = self._next_message(max(0.0, deadline - time.monotonic()))
            if message:
                yield message[0], message[1:]
        raise PhoneError("timeout", f"no {waiting_for} within {timeout_s:g} s")

    def _next_message(self, left_s: float) -> bytes | None:
        if self.notifications:
            frame = self.link.next_notification(min(left_s, self.poll_s))
            return None if frame is None else self._reassembler.feed(frame)
        value = self.link.read(self.c.status_uuid)
        if value == self._last_polled or len(value) < 3:
            time.sleep(min(left_s, self.poll_s))
            return None
        self._last_polled = value
        return value[3:]  # one frame: seq 0, last

    def _clear_ack(self, body: bytes, msg_id: int) -> None:
        """An ack in clear during the handshake: a refusal of our message, or not ours."""
        ack = json.loads(body)
        if ack.get("msg_id") == msg_id and ack.get("result") != "ok":
            raise PhoneError(str(ack["result"]), str(ack.get("detail") or ""), ack.get("retry_ms"))

    def _sealed_ack(
        self, kind: int, body: bytes, msg_id: int | None = None, counter: int | None = None
    ) -> dict[str, Any] | None:
        """Open a sealed message: keep a status it carries; return the ack it carries that
        answers our message (by msg_id, or by counter), else None."""
        if kind != self.c.msg["sealed"] or self.session is None:
            return None
        opened = self.session.open(body, polled=not self.notifications)
        if opened is None:
            return None
        inner, obj = opened
        if inner == self.c.msg["ack"]:
            ack: dict[str, Any] | None = obj
        else:
            ack = obj.pop("last_ack", None)
            self._status(obj)
        if ack is None:
            return None
        if counter is not None and ack.get("counter") == counter:
            return ack
        if msg_id is not None and ack.get("msg_id") == msg_id and "counter" not in ack:
            return ack
        return None

    def _check_ack(self, ack: dict[str, Any]) -> None:
        if ack.get("result") != "ok":
            raise PhoneError(str(ack["result"]), str(ack.get("detail") or ""), ack.get("retry_ms"))

    def _status(self, status: dict[str, Any]) -> None:
        self.statuses.append(status)
        if self.sync_id is not None and status.get("sync_id") == self.sync_id:
            self.timeline.mark(str(status["state"]))
        if self.on_status is not None:
            self.on_status(status)


# -- the backend -----------------------------------------------------------------------


class BackendError(Exception):
    """The backend could not be reached or refused; the message says which."""


def create_sync(backend: str, token: str, device_id: str | None = None) -> dict[str, Any]:
    """POST /api/syncs: sync_id, upload_url, token (the upload token) and ack_key."""
    url = backend.rstrip("/") + "/api/syncs"
    body = json.dumps({"device_id": device_id} if device_id else {}).encode()
    request = urllib.request.Request(
        url,
        data=body,
        method="POST",
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            doc: dict[str, Any] = json.load(response)
            return doc
    except urllib.error.HTTPError as exc:
        detail = exc.read().decode(errors="replace")[:300]
        raise BackendError(f"{url} answered {exc.code}: {detail}") from None
    except OSError as exc:
        raise BackendError(f"the backend at {backend} does not answer ({exc})") from None


def sync_request(
    sync: dict[str, Any],
    ssid: str,
    password: str,
    *,
    backend: str | None = None,
    url: str | None = None,
) -> dict[str, Any]:
    """The sync_request's JSON for a sync made by create_sync (docs/ble-protocol.md).

    The logger is given `url` (with no IP fallback) when given, else the backend's
    upload_url and ip_fallback. A backend listening on loopback only has none (no logger
    on a hotspot could reach it, says its `unreachable`), but a virtual logger runs on the
    same host: then `backend`'s own address."""
    fallback = None
    if url is None:
        url, fallback = sync.get("upload_url"), sync.get("ip_fallback")
    if url is None and backend is not None:
        url = backend.rstrip("/") + "/api/upload"
    if url is None:
        raise BackendError(f"the backend gave no upload URL: {sync.get('unreachable')}")
    request: dict[str, Any] = {
        "ssid": ssid,
        "password": password,
        "url": url,
        "token": sync["token"],
        "sync_id": sync["sync_id"],
        "time_utc": int(time.time()),
        "ack_key": sync["ack_key"],
    }
    if fallback:
        request["ip_fallback"] = fallback
    return request
