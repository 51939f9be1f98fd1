"""The firmware's own BLE code behind a line-of-JSON pipe, for the web UI's Node tests
(ui/test/ble_*.test.js). Runs under CPython and under the MicroPython unix port, with
MICROPYPATH=firmware:firmware/tests:firmware/tests/stubs as firmware/tests/mpy_run.py uses.

One JSON object per line in, one per line out. Bytes travel as hex.

The GATT service (ble_provisioning.Provisioning, unchanged) behind a fake radio:
    {"op": "init", "code", "device_id", "info"?: {...}}   a fresh service, advertising
    {"op": "connect"} | {"op": "disconnect"} | {"op": "mtu", "mtu": 247}
    {"op": "write", "hex"}          one control write, then poll() until idle
    {"op": "read", "what": "info" | "status"}  -> {"value": hex}
    {"op": "report", "status": {...}}          the sync reports (sync.Sync's notify)
    {"op": "advance", "ms"}                    the service's clock moves on, then poll()
  every answer carries "notified" (frames notified since the last answer), "dropped"
  (connections the service disconnected), "started" (sync requests it started), "cancels".

The firmware's pieces one by one (what JavaScript built, opened by the firmware's code):
    {"op": "respond", "code", "device_id", "sid", "ya", "yb"}   rs_pake.Responder
        -> {"yb_point", "tb"} or {"error"}
    {"op": "confirm", "ta"}    -> {"ok"}; opens an rs_channel.Channel(device=True)
    {"op": "open", "hex"}      -> {"type", "text"} or {"error"}
    {"op": "seal", "type", "text"} -> {"hex"}
    {"op": "frames", "frames": [hex], "recent"?}  rs_frames.Reassembler, one result each
    {"op": "split", "hex", "msg_id", "write_bytes"} -> {"frames"} or {"error"}
"""

import json
import sys
from binascii import hexlify, unhexlify

import rs_channel
import rs_frames
import rs_pake
from ble_provisioning import EV_CONNECT, EV_DISCONNECT, EV_MTU, EV_WRITE, Provisioning
from rs_crypto import CryptoError
from rs_pairing import Pairing

CONN = 64


def h(data):
    return hexlify(bytes(data)).decode()


def b(text):
    return unhexlify(text)


class Radio:
    def __init__(self):
        self.values = {}
        self.events = []
        self.notified = []
        self.dropped = []

    def register(self, service_uuid, characteristics):
        return tuple(range(10, 10 + len(characteristics)))

    def set_buffer(self, handle, size_bytes):
        pass

    def write(self, handle, data):
        self.values[handle] = bytes(data)

    def notify(self, conn, handle, data):
        self.notified.append(h(data))

    def advertise(self):
        pass

    def disconnect(self, conn):
        self.dropped.append(conn)

    def next_event(self):
        return self.events.pop(0) if self.events else None


class Sync:
    """sync.Sync's interface as the service uses it; the test drives its reports."""

    def __init__(self):
        self.started = []
        self.cancels = 0
        self.current = {"type": "state", "state": "idle"}
        self.prov = None

    def start(self, request):
        self.started.append(request)
        self.report({"type": "state", "state": "request_received"})
        return None

    def cancel(self):
        self.cancels += 1

    def busy(self):
        return self.current.get("state") in ("request_received", "scanning", "joining", "joined", "uploading")

    def status(self):
        return self.current

    def report(self, status):
        self.current = status
        self.prov.relay(status)


try:
    from time import ticks_ms as _ticks_ms
except ImportError:  # CPython
    from time import monotonic as _monotonic_s

    def _ticks_ms():
        return int(_monotonic_s() * 1000)


class Clock:
    """Real time (the throttle's delays are real for the client that waits them out), plus
    whatever "advance" adds."""

    def __init__(self):
        self.offset_ms = 0

    def __call__(self):
        return _ticks_ms() + self.offset_ms


class Bridge:
    def __init__(self):
        self.radio = None
        self.prov = None
        self.sync = None
        self.log = []
        self.responder = None
        self.channel = None

    def settle(self):
        while self.prov.poll():
            pass

    def answer(self, extra=None):
        out = {
            "notified": self.radio.notified,
            "dropped": self.radio.dropped,
            "started": self.sync.started,
            "cancels": self.sync.cancels,
        }
        self.radio.notified = []
        self.radio.dropped = []
        self.sync.started = []
        if extra:
            out.update(extra)
        return out

    def op_init(self, m):
        self.radio = Radio()
        self.sync = Sync()
        self.clock = Clock()
        info = m.get("info") or {"firmware": "bridge", "pending_files": 2, "pending_bytes": 4096, "free_bytes": 10**9}
        self.prov = Provisioning(
            self.radio,
            lambda: info,
            Pairing(m["device_id"], m["code"]),
            start_sync=self.sync.start,
            cancel_sync=self.sync.cancel,
            sync_busy=self.sync.busy,
            sync_status=self.sync.status,
            clock_ms=self.clock,
            log=self.log.append,
        )
        self.sync.prov = self.prov
        return self.answer()

    def op_connect(self, m):
        self.radio.events.append((EV_CONNECT, CONN, 0, None))
        self.settle()
        return self.answer()

    def op_disconnect(self, m):
        self.radio.events.append((EV_DISCONNECT, CONN, 0, None))
        self.settle()
        return self.answer()

    def op_mtu(self, m):
        self.radio.events.append((EV_MTU, CONN, 0, m["mtu"]))
        self.settle()
        return self.answer()

    def op_write(self, m):
        self.radio.events.append((EV_WRITE, CONN, 11, b(m["hex"])))
        self.settle()
        return self.answer()

    def op_read(self, m):
        handle = {"info": 10, "status": 12}[m["what"]]
        return self.answer({"value": h(self.radio.values.get(handle, b""))})

    def op_report(self, m):
        self.sync.report(m["status"])
        self.settle()
        return self.answer()

    def op_advance(self, m):
        self.clock.offset_ms += m["ms"]
        self.settle()
        return self.answer()

    def op_respond(self, m):
        try:
            r = rs_pake.Responder(m["code"], m["device_id"], b(m["sid"]), b(m["ya"]), b(m["yb"])).run()
        except CryptoError as exc:
            return {"error": exc.code}
        self.responder = r
        return {"yb_point": h(r.yb_point), "tb": h(r.keys.confirm_b)}

    def op_confirm(self, m):
        ok = self.responder.confirm_ok(b(m["ta"]))
        self.channel = rs_channel.Channel(self.responder.keys, device=True) if ok else None
        return {"ok": ok}

    def op_open(self, m):
        try:
            kind, payload = self.channel.open(b(m["hex"]))
        except CryptoError as exc:
            return {"error": exc.code}
        return {"type": kind, "text": bytes(payload).decode(), "counter": self.channel.received}

    def op_seal(self, m):
        return {"hex": h(self.channel.seal(m["type"], m["text"].encode()))}

    def op_frames(self, m):
        r = rs_frames.Reassembler(recent=m.get("recent", 8))
        results = []
        for i, frame in enumerate(m["frames"]):
            result = r.feed(b(frame))
            out = {"result": result, "msg_id": r.msg_id}
            if result == rs_frames.ERROR:
                out["error"] = r.error
                out["detail"] = r.detail
            elif result == rs_frames.COMPLETE:
                out["message"] = h(r.message())
                r.set_ack(r.msg_id, "ack-" + str(i))
            elif result == rs_frames.DUPLICATE:
                out["ack"] = r.ack
            results.append(out)
        return {"results": results}

    def op_split(self, m):
        try:
            frames = rs_frames.split(b(m["hex"]), m["msg_id"], m["write_bytes"])
        except ValueError as exc:
            return {"error": "ValueError"}
        return {"frames": [h(f) for f in frames]}


def main():
    bridge = Bridge()
    flush = getattr(sys.stdout, "flush", None)
    impl = sys.implementation.name
    print(json.dumps({"ready": True, "implementation": impl}))
    if flush:
        flush()
    while True:
        line = sys.stdin.readline()
        if not line:
            break
        line = line.strip()
        if not line:
            continue
        m = json.loads(line)
        try:
            out = getattr(bridge, "op_" + m["op"])(m)
        except Exception as exc:  # a bridge bug: tell the test instead of hanging it
            out = {"bridge_error": repr(exc)}
        if bridge.log:
            out["log"] = bridge.log
            bridge.log = []
        print(json.dumps(out))
        if flush:
            flush()


main()
