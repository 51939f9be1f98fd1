"""The sync state machine: from a phone's sync request to every pending file on the laptop.

    idle -> request_received -> scanning -> joining -> joined -> uploading -> done
                                                                  (any step) -> failed
                                                                  (any step) -> cancelled

States and error names are protocol.json's. The BLE layer hands start() the decrypted
sync request and forwards every dict given to `notify` (type "state", "progress", "done"
or "error", as in protocol.json message_types); status() is the latest of them, so a
phone that reconnects reads how the sync ended. A BLE disconnect does not stop a sync:
the files keep going over Wi-Fi, and notify failures are logged and ignored.

What it is given (all portable, so it runs under tests as on the board):

    wlan      network.WLAN-like, see wifi_join
    uploader  uploader.Uploader (configure, upload, post_json, close, first_sent_ms)
    storage   pending() -> [(path, size_bytes), ...], oldest first, files not yet
                  acknowledged by the laptop;
              mark_synced(path, sha256_hex): durably record that the laptop holds this
                  file with this hash; called only after the server proved it.
              Either may raise OSError (E_STORAGE).
    clock     ticks_ms(), ticks_diff(new, old), sleep_ms(ms) -> awaitable (clock.py)
    notify    notify(dict): status for the phone
    logger    optional, logger.Logger: `recording` and end_if_standing() (below)
    background  optional, board.net.background: runs the Wi-Fi scan off the event loop

The request carries `ack_key`, the sync's secret from the laptop (32 bytes as base64url
without padding, inside the encrypted part of the BLE request). A file is marked synced
only once the server's reply echoed its SHA-256 and proved it with that key (uploader.py,
docs/api.md); a cancel or a failure leaves the rest pending for the next sync. Wi-Fi is
always off at the end.

No sync may cost recorded data: the logger shares this event loop with the sync. A sync
that starts while the car has been standing for SYNC_STANDSTILL_MS closes the session
still open (the logger would keep it open for a minute), so it is uploaded and `done`
means done; a sync while the car moves is refused (E_RECORDING); a car that moves off
during a sync stops it at the next check (files not sent stay pending).
"""

from clock import SystemClock  # noqa: F401 (the one clock; sync.SystemClock for callers)

try:
    import asyncio
except ImportError:  # MicroPython before 1.21
    import uasyncio as asyncio

from rs_protocol import (
    E_BUSY,
    E_CANCELLED,
    E_INTERNAL,
    E_MESSAGE,
    E_RECORDING,
    E_SERVER_PROOF,
    E_STORAGE,
)
from uploader import UploadError
from wifi_join import JOIN_DEADLINE_MS, SSID_MAX_BYTES, JoinError, WifiJoiner

STATES = (
    "idle",
    "request_received",
    "scanning",
    "joining",
    "joined",
    "uploading",
    "done",
    "cancelled",
    "failed",
)
REPORT_PATH = "/api/syncs/{}/report"
_REQUIRED = ("ssid", "url", "token", "sync_id", "ack_key")
ACK_KEY_BYTES = 32
_ACK_KEY_CHARS = 43  # 32 bytes in base64url without padding
_B64URL = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
SYNC_STANDSTILL_MS = 5000  # standing this long, the session just driven is over


class _Failure(Exception):
    def __init__(self, code, detail):
        super().__init__(code, detail)
        self.code = code
        self.detail = detail


class Sync:
    def __init__(
        self,
        wlan,
        uploader,
        storage,
        clock,
        notify,
        join_deadline_ms=JOIN_DEADLINE_MS,
        join_stable_ms=1000,
        log=None,
        logger=None,
        background=None,
    ):
        self._log = log or _print
        self._joiner = WifiJoiner(
            wlan,
            clock,
            deadline_ms=join_deadline_ms,
            stable_ms=join_stable_ms,
            background=background,
            log=self._log,
        )
        self._uploader = uploader
        self._storage = storage
        self._clock = clock
        self._notify = notify
        self._logger = logger
        self._running = False
        self._cancel_requested = False
        self._moved = False
        self._watch_logger = False  # from when the session standing still is closed
        self.state = "idle"
        self._status = {"type": "state", "state": "idle"}
        self._counts = [0, 0, 0, 0]  # files_sent, bytes_sent, duplicates, wire bytes
        self._encodings = []  # each file's, as sent (identity or gzip)
        self._files_left = None
        # Bound once: handed to every upload and join, polled per 4 KB.
        self._cancelled = self._should_stop

    # -- what the BLE layer calls ---------------------------------------------------------

    def status(self):
        """The latest status dict (the final one after a sync ended)."""
        return dict(self._status)

    def busy(self):
        return self._running

    def start(self, request):
        """run() as a background task, so the BLE handler returns at once."""
        return asyncio.create_task(self.run(request))

    def cancel(self):
        """Ask a running sync to stop; True if one was running. It ends "cancelled" at its
        next check (between files, or within 4 KB / one socket timeout slice)."""
        if not self._running:
            return False
        self._cancel_requested = True
        return True

    def cancel_requested(self):
        return self._cancel_requested

    def recording(self):
        """Whether the logger is recording (or confirming motion): for `info`."""
        return self._logger is not None and bool(self._logger.recording)

    def _should_stop(self):
        if self._cancel_requested:
            return True
        if self._watch_logger and self._logger.recording:
            self._moved = True  # the car moved off: the loop is the logger's now
            return True
        return False

    def ble_disconnected(self):
        """The phone went away: the sync carries on; the phone reads status() on return."""
        if self._running:
            self._log("sync: BLE disconnected during " + self.state + ": carrying on")

    async def run(self, request):
        """Carry out one sync request; returns the final status dict (None if busy)."""
        if self._running:
            self._send({"type": "error", "error": E_BUSY, "detail": "a sync is already running"})
            return None
        self._running = True
        self._cancel_requested = False
        self._moved = False
        self._watch_logger = False
        try:
            final = await self._run(request)
        except asyncio.CancelledError:
            # The task itself was cancelled (not our cancel()): _run's cleanup has run,
            # Wi-Fi is off; leave a readable end state, then let the cancellation go on.
            self._running = False
            self._set_status(self._ended("cancelled", _Failure(E_CANCELLED, "task cancelled")))
            raise
        finally:
            self._running = False
        self._set_status(final)
        return final

    # -- the machine ----------------------------------------------------------------------

    async def _run(self, request):
        clock = self._clock
        uploader = self._uploader
        t_request_ms = clock.ticks_ms()
        self._counts = [0, 0, 0, 0]  # files_sent, bytes_sent, duplicates, wire bytes
        self._encodings = []  # each file's, as sent (identity or gzip)
        self._files_left = None
        radio_used = False
        try:
            self._enter("request_received")
            sync_id, ack_key = self._check_request(request)
            uploader.configure(
                request["url"],
                request["token"],
                sync_id=sync_id,
                ip_fallback=request.get("ip_fallback"),
                cert_sha256=request.get("cert_sha256"),
                ack_key=ack_key,
            )
            self._make_way()
            pending = self._pending()
            self._files_left = len(pending)
            if not pending:
                # Nothing to send: no reason to spend seconds and battery joining Wi-Fi.
                return self._done({"total": clock.ticks_diff(clock.ticks_ms(), t_request_ms)})
            radio_used = True
            await self._joiner.join(
                request["ssid"],
                request.get("password") or "",
                cancelled=self._cancelled,
                on_state=self._enter,
            )
            t_joined_ms = clock.ticks_ms()
            self._enter("joined")
            self._enter("uploading")
            await self._upload_all(pending)
            t_acked_ms = clock.ticks_ms()
            t_first_ms = uploader.first_sent_ms
            if t_first_ms is None:
                t_first_ms = t_acked_ms
            phases_ms = {
                "join": clock.ticks_diff(t_joined_ms, t_request_ms),
                "first_byte": clock.ticks_diff(t_first_ms, t_joined_ms),
                "upload": clock.ticks_diff(t_acked_ms, t_first_ms),
                "total": clock.ticks_diff(t_acked_ms, t_request_ms),
            }
            await self._report(sync_id, phases_ms)
            return self._done(phases_ms)
        except (JoinError, UploadError, _Failure) as exc:
            if exc.code == E_CANCELLED and self._moved and not self._cancel_requested:
                left = "" if self._files_left is None else str(self._files_left) + " "
                moved = _Failure(
                    E_RECORDING,
                    "the car moved off: the sync stopped, the " + left + "files not sent stay"
                    " pending",
                )
                return self._ended("failed", moved)
            if exc.code == E_CANCELLED:
                return self._ended("cancelled", exc)
            return self._ended("failed", exc)
        except Exception as exc:  # a bug: still end readable, Wi-Fi off, and say what
            self._log("sync: unexpected " + repr(exc))
            return self._ended("failed", _Failure(E_INTERNAL, repr(exc)))
        finally:
            uploader.close()
            if radio_used:
                self._joiner.off()  # before the final status goes out: "done" means radio off

    async def _upload_all(self, pending):
        count = len(pending)
        total_bytes = 0
        for entry in pending:
            total_bytes += entry[1]
        done_before = [0]  # bytes of the files already acknowledged in this sync

        def progress(index, count, bytes_done, bytes_total):
            self._set_status(
                {
                    "type": "progress",
                    "state": "uploading",
                    "file": index,
                    "files": count,
                    "bytes": bytes_done,
                    "file_bytes": bytes_total,
                    "sync_bytes": done_before[0] + bytes_done,
                    "sync_total": total_bytes,
                }
            )

        for index, entry in enumerate(pending):
            path, size = entry[0], entry[1]
            if self._cancelled():
                raise _Failure(E_CANCELLED, "cancelled between files")
            result = await self._uploader.upload(
                path, index + 1, count, progress=progress, cancelled=self._cancelled
            )
            if not result.get("proven"):
                # The uploader checks the proof itself; this is the last line of defence
                # before a mark that lets make_room() delete the file.
                raise _Failure(E_SERVER_PROOF, "no proof for " + path)
            try:
                self._storage.mark_synced(path, result["sha256"])
            except OSError as exc:
                detail = "cannot mark " + path + " synced: " + repr(exc)
                raise _Failure(E_STORAGE, detail) from None
            self._counts[0] += 1
            self._counts[1] += result["bytes"]
            if result["duplicate"]:
                self._counts[2] += 1
            self._counts[3] += result.get("wire_bytes", result["bytes"])
            encoding = result.get("encoding", "identity")
            if encoding not in self._encodings:
                self._encodings.append(encoding)
            self._files_left -= 1
            done_before[0] += size

    async def _report(self, sync_id, phases_ms):
        """Tell the laptop how long each phase took; losing this is not worth a failure."""
        payload = {
            "phases_ms": phases_ms,
            "files_sent": self._counts[0],
            "bytes_sent": self._counts[1],
            "duplicates": self._counts[2],
            "wire_bytes": self._counts[3],
            "encoding": self._encodings[0] if len(self._encodings) == 1 else "mixed",
        }
        path = self._uploader.endpoint(REPORT_PATH.format(sync_id))
        try:
            status, reply = await self._uploader.post_json(path, payload)
        except UploadError as exc:
            self._log("sync: report not sent: " + exc.code + " " + str(exc.detail))
            return
        if status != 200:
            self._log("sync: report refused: HTTP " + str(status) + " " + repr(reply))

    # -- helpers --------------------------------------------------------------------------

    def _check_request(self, request):
        """(sync_id, ack_key bytes) of a well-formed request; _Failure E_MESSAGE else."""
        if not isinstance(request, dict):
            raise _Failure(E_MESSAGE, "the sync request is not an object")
        for name in _REQUIRED:
            if not isinstance(request.get(name), str) or not request.get(name):
                raise _Failure(E_MESSAGE, "the sync request lacks " + name)
        sync_id = request["sync_id"]
        for c in sync_id:
            # It goes into a URL path and a header: only what the laptop hands out.
            if not ("a" <= c <= "z" or "A" <= c <= "Z" or "0" <= c <= "9" or c in "-_"):
                raise _Failure(E_MESSAGE, "the sync_id has unexpected characters")
        if len(sync_id) > 32:
            raise _Failure(E_MESSAGE, "the sync_id is longer than 32 characters")
        if len(request["ssid"].encode()) > SSID_MAX_BYTES:
            raise _Failure(E_MESSAGE, "the ssid is longer than 32 bytes (UTF-8)")
        return sync_id, _ack_key_bytes(request["ack_key"])

    def _make_way(self):
        """Close the session of a car standing still; refuse while it moves."""
        logger = self._logger
        if logger is None:
            return
        if logger.end_if_standing(SYNC_STANDSTILL_MS):
            self._log("sync: closed the session of the car standing still, to send it too")
        if logger.recording:
            raise _Failure(
                E_RECORDING, "the logger is recording: sync once the car has stopped for 5 s"
            )
        self._watch_logger = True

    def _pending(self):
        try:
            return list(self._storage.pending())
        except OSError as exc:
            raise _Failure(E_STORAGE, "cannot list pending files: " + repr(exc)) from None

    def _enter(self, state):
        if self._cancelled() and state not in ("cancelled", "failed", "done"):
            raise _Failure(E_CANCELLED, "cancelled before " + state)
        self.state = state
        self._set_status({"type": "state", "state": state})

    def _done(self, phases_ms):
        self.state = "done"
        return {
            "type": "done",
            "state": "done",
            "files_sent": self._counts[0],
            "bytes": self._counts[1],
            "duplicates": self._counts[2],
            "phases_ms": phases_ms,
        }

    def _ended(self, state, exc):
        self.state = state
        self._log("sync: " + state + ": " + exc.code + " " + str(exc.detail))
        status = {
            "type": "state" if state == "cancelled" else "error",
            "state": state,
            "error": exc.code,
            "detail": str(exc.detail),
            "files_sent": self._counts[0],
        }
        if self._files_left is not None:
            status["files_left"] = self._files_left  # still pending, sent next time
        if getattr(exc, "status", None):
            status["http_status"] = exc.status  # 401: ask the laptop for a new sync
        return status

    def _set_status(self, status):
        self._status = status
        self._send(status)

    def _send(self, status):
        try:
            self._notify(status)
        except Exception as exc:  # BLE gone or a full queue: the sync itself goes on
            self._log("sync: notify failed: " + repr(exc))


def _ack_key_bytes(text):
    """The 32 bytes of an unpadded base64url ack_key; _Failure E_MESSAGE otherwise."""
    import binascii

    if len(text) != _ACK_KEY_CHARS or any(c not in _B64URL for c in text):
        raise _Failure(E_MESSAGE, "ack_key: 32 bytes as 43 base64url characters, no padding")
    std = text.replace("-", "+").replace("_", "/") + "="
    try:
        key = binascii.a2b_base64(std)
    except ValueError:
        raise _Failure(E_MESSAGE, "ack_key: not base64url") from None
    if len(key) != ACK_KEY_BYTES:
        raise _Failure(E_MESSAGE, "ack_key: not 32 bytes")
    return key


def _print(message):
    print(message)
