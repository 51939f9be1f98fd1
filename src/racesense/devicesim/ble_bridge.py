"""The virtual RS-Core's radio as a Bluetooth peripheral in Chromium, for Playwright tests:
the page's real `navigator.bluetooth` finds it, connects, reads, writes and subscribes,
and the firmware answers (CDP `BluetoothEmulation`; the worked example is
../shared/examples/webble).

    from racesense.devicesim import CdpBleBridge, SimConfig, VirtualCore
    from racesense.devicesim.ble_bridge import CHROMIUM_ARGS  # launch Chromium with them

    core = VirtualCore(SimConfig(storage_dir=tmp_path / "sd")).start()
    bridge = CdpBleBridge(page, core).start()   # sync-API Page, before the page asks
    page.goto(url)
    page.click("#sync")                          # requestDevice: the chooser is answered
    page.get_by_text("Done").wait_for()          # the bridge works during any wait
    bridge.drop()                                # BLE lost (the sync carries on)
    bridge.wait_for(lambda: core.status()["state"] == "done", timeout_s=30)
    bridge.close(); core.stop()

Threads (the choice, and why): Playwright's sync API belongs to the test's thread, so
the bridge lives there and never calls Playwright from the firmware's thread. It talks
to the firmware only through the radio (radio.HostRadio: a lock and queues):
- CDP events (connect, discovery, read, write, subscribe) are handled as they arrive, on
  the test's thread, while it is inside any Playwright call: writes are queued for the
  firmware, reads are answered at once from the values the firmware stored (as the
  ESP32's stack answers them), and each operation is answered at once;
- what the firmware starts on its own (notifications, dropping a connection) waits in the
  radio until the page's pump collects it: an init script asks the bridge every 20 ms
  through an exposed function, so delivery goes on during page.wait_for_*, expect(), or
  evaluate(). Between Playwright calls (time.sleep, or waiting on something else) nothing
  moves: call bridge.pump() or bridge.wait_for() there.

Notifications: BluetoothEmulation has no command for one, so the page reads the
characteristic and the bridge answers that read with the notification's bytes; Blink
then fires a genuine `characteristicvaluechanged` (the example's trick). The init script
puts every readValue() through one queue, and a delivery read is armed just before it is
issued, so the page's own reads of `status` (polling) always get the stored value and a
delivery read always gets its notification. Only characteristics the page subscribed to
are delivered, as a browser would.

Connections: the page's gatt.connect() connects the radio (a reconnect first ends the
connection the radio still holds: the emulation reports no disconnect by the central,
so the init script reports gatt.disconnect() itself). The firmware's disconnect(conn)
and drop() end it in the browser with simulateGATTDisconnection, sent from the page's
side once no GATT operation is in flight (the page holds new ones meanwhile: one cut off
by the emulation never settles, and the page then never heard of the disconnection);
the emulation empties the GATT database with it, so the bridge publishes it again when
the page next connects.
"""

from __future__ import annotations

import base64
import hashlib
import json
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Literal

from racesense.devicesim.radio import FLAG_NOTIFY, FLAG_READ, FLAG_WRITE, HostRadio

if TYPE_CHECKING:
    from playwright.sync_api import CDPSession, Page

    from racesense.devicesim.core import VirtualCore

CCCD_UUID = "00002902-0000-1000-8000-00805f9b34fb"
CHROMIUM_ARGS = ["--enable-features=WebBluetooth"]  # without it navigator.bluetooth is absent
_BINDING = "__rsBleEvent"

# Installed in the page (idempotent). See the module docstring.
INIT_SCRIPT = r"""
(() => {
  if (window.__rsBle || !window.BluetoothRemoteGATTCharacteristic) return;
  const C = BluetoothRemoteGATTCharacteristic.prototype;
  const S = BluetoothRemoteGATTServer.prototype;
  const orig = {};
  for (const name of ['readValue', 'writeValue', 'writeValueWithResponse',
                      'writeValueWithoutResponse', 'startNotifications', 'stopNotifications']) {
    orig[name] = C[name];
  }
  const origDisconnect = S.disconnect;
  const chars = {};  // uuid -> the characteristic object the page subscribed on
  let inflight = 0;  // GATT operations the browser has not answered yet
  let gate = null;   // while the bridge drops the link: operations wait here
  // An optional throttle (window.__rsBleLink = {rate_bytes_s, latency_ms}): each GATT
  // operation completes latency_ms plus its bytes at rate_bytes_s later, as over air.
  const size = (x) => (x && typeof x.byteLength === 'number' ? x.byteLength : 0);
  const pace = async (bytes) => {
    const link = window.__rsBleLink;
    if (!link) return;
    const air = link.rate_bytes_s ? (bytes * 1000) / link.rate_bytes_s : 0;
    const ms = (link.latency_ms || 0) + air;
    if (ms > 0) await new Promise((r) => setTimeout(r, ms));
  };
  const counted = (fn) => async function (...a) {
    while (gate) await gate.promise;
    inflight++;
    try {
      const result = await fn.apply(this, a);
      await pace(size(a[0]) + size(result));
      return result;
    } finally { inflight--; }
  };
  let chain = Promise.resolve();  // reads one at a time: the page's and deliveries
  const queued = (fn) => {
    const p = chain.then(fn, fn);
    chain = p.then(() => {}, () => {});
    return p;
  };
  const bridge = (...args) =>
    typeof window.__rsBleEvent === 'function' ? window.__rsBleEvent(...args) : null;
  const read = counted(orig.readValue);
  C.readValue = function () { return queued(() => read.call(this)); };
  for (const name of ['writeValue', 'writeValueWithResponse', 'writeValueWithoutResponse']) {
    if (orig[name]) C[name] = counted(orig[name]);
  }
  const start = counted(orig.startNotifications), stop = counted(orig.stopNotifications);
  C.startNotifications = async function (...a) {
    const r = await start.apply(this, a);
    chars[this.uuid] = this;
    // After the page's own disconnect and a new connect, Blink may resolve this without
    // a subscribe operation reaching the emulation: tell the bridge directly.
    bridge('subscribed', this.uuid);
    return r;
  };
  C.stopNotifications = async function (...a) {
    if (chars[this.uuid] === this) delete chars[this.uuid];
    return stop.apply(this, a);
  };
  S.disconnect = function (...a) {
    try { bridge('disconnect', null); } catch (e) { /* the bridge is gone */ }
    return origDisconnect.apply(this, a);
  };
  // Drop the link with no operation in flight (one cut off by the emulation's
  // disconnection never settles, and the page would never hear the disconnection);
  // operations begun meanwhile go on afterwards and fail as on a lost link.
  async function drop(reason) {
    let release;
    gate = { promise: new Promise((r) => { release = r; }) };
    try {
      for (let i = 0; inflight > 0 && i < 400; i++) await new Promise((r) => setTimeout(r, 5));
      await bridge('disconnect_now', reason);
    } finally {
      gate = null;
      release();
    }
    return true;
  }
  let busy = false;
  async function pump() {
    if (busy) return;
    busy = true;
    try {
      const todo = (await bridge('pump', null)) || {};
      if (todo.drop) await drop('firmware');
      for (const uuid of todo.uuids || []) {
        const ch = chars[uuid];
        if (!ch) continue;
        for (;;) {
          const more = await queued(async () => {
            if (!(await bridge('arm', uuid))) return false;
            try {
              await read.call(ch);
            } catch (e) {
              await bridge('disarm', uuid);
              return false;
            }
            return true;
          });
          if (!more) break;
        }
      }
    } catch (e) {
      /* a navigation or a closed bridge: the next tick tries again */
    } finally {
      busy = false;
    }
  }
  window.__rsBle = { pump, drop, inflight: () => inflight };
  setInterval(pump, 20);
})();
"""


class CdpBleBridge:
    """A virtual RS-Core's radio as Chromium's emulated peripheral (see the module
    docstring). `chooser`: "select" answers the device chooser with this device, "cancel"
    cancels it (the user closed it), "ignore" leaves it to the test (`prompts`).
    `notifications=False` refuses every subscription, as Bluefy's do not work: the page
    must poll `status`. `reachable` (settable): False makes connection attempts fail, as
    with a logger out of range. `rate_bytes_s`/`latency_ms` pace every GATT operation
    as the air would (each completes latency_ms plus its bytes at that rate later)."""

    def __init__(
        self,
        page: Page,
        core: VirtualCore | None = None,
        *,
        radio: HostRadio | None = None,
        name: str | None = None,
        address: str | None = None,
        mtu: int | None = None,
        chooser: Literal["select", "cancel", "ignore"] = "select",
        notifications: bool = True,
        rate_bytes_s: float | None = None,
        latency_ms: float = 0.0,
    ) -> None:
        if core is None and radio is None:
            raise TypeError("give the VirtualCore, or its radio")
        self.page = page
        self.radio: HostRadio = radio if radio is not None else core.radio  # type: ignore[union-attr]
        self.name = name or self.radio.name
        self.address = address or _address(self.name)
        self.mtu = mtu  # None: 20-byte frames, as before any MTU exchange
        self.chooser = chooser
        self.notifications = notifications
        # The air's pace, for timing a sync (fieldtest); None and 0: as fast as the page.
        self.rate_bytes_s = rate_bytes_s
        self.latency_ms = latency_ms
        self.reachable = True
        self.prompts: list[dict[str, Any]] = []  # DeviceAccess.deviceRequestPrompted events
        self.connections = 0
        self.writes = 0
        self.reads = 0
        self.delivered = 0  # notifications that reached the page
        self._answered: set[str] = set()
        self._armed: dict[str, bytes] = {}
        self._uuids: dict[str, str] = {}  # CDP characteristic id -> UUID
        self.refused: list[str] = []  # answers the browser refused (a link gone meanwhile)
        self._stale_gatt = False
        self._page_disconnected = False  # by its own gatt.disconnect()
        self._browser_cdp: CDPSession | None = None
        self._page_cdp: CDPSession | None = None

    # -- setting up ------------------------------------------------------------------------

    def start(self) -> CdpBleBridge:
        """Switch emulation on and publish the firmware's GATT service (its registered
        characteristics); install the page side. Call before the page looks for Bluetooth
        (an already loaded page gets the init script at once, too)."""
        if not self.radio.wait_registered(10.0):
            raise RuntimeError("the firmware has not registered its BLE service")
        page = self.page
        browser = page.context.browser
        if browser is None:
            raise RuntimeError("the page's browser is not reachable (a persistent context?)")
        page.expose_function(_BINDING, self._on_page_event)
        if self.rate_bytes_s or self.latency_ms:
            link = json.dumps({"rate_bytes_s": self.rate_bytes_s, "latency_ms": self.latency_ms})
            page.add_init_script(script=f"window.__rsBleLink = {link};")
            page.evaluate(f"window.__rsBleLink = {link};")
        page.add_init_script(script=INIT_SCRIPT)
        page.evaluate(INIT_SCRIPT)
        self._browser_cdp = b = browser.new_browser_cdp_session()
        self._page_cdp = p = page.context.new_cdp_session(page)
        b.on("BluetoothEmulation.gattOperationReceived", self._on_gatt)
        b.on("BluetoothEmulation.characteristicOperationReceived", self._on_characteristic)
        b.on("BluetoothEmulation.descriptorOperationReceived", self._on_descriptor)
        p.on("DeviceAccess.deviceRequestPrompted", self._on_prompt)
        b.send("BluetoothEmulation.enable", {"state": "powered-on", "leSupported": True})
        p.send("DeviceAccess.enable")
        service_uuid = self.radio.service_uuid
        b.send(
            "BluetoothEmulation.simulatePreconnectedPeripheral",
            {
                "address": self.address,
                "name": self.name,
                "manufacturerData": [],
                "knownServiceUuids": [service_uuid],
            },
        )
        self._publish_gatt()
        return self

    def _publish_gatt(self) -> None:
        """The service and its characteristics, as the firmware registered them. Again
        at the first connection after a simulateGATTDisconnection, which empties the
        emulated peripheral's GATT database (a reconnect found no service otherwise). The
        ids of earlier databases stay known: an operation of the old connection may still
        come in, and is answered (or its answer refused by the browser, quietly)."""
        b = self._browser_cdp
        assert b is not None
        service = b.send(
            "BluetoothEmulation.addService",
            {"address": self.address, "serviceUuid": self.radio.service_uuid},
        )["serviceId"]
        for uuid, flags in self.radio.characteristics().items():
            properties = {
                "read": bool(flags & FLAG_READ),
                "write": bool(flags & FLAG_WRITE),
                "notify": bool(flags & FLAG_NOTIFY),
            }
            char_id = b.send(
                "BluetoothEmulation.addCharacteristic",
                {"serviceId": service, "characteristicUuid": uuid, "properties": properties},
            )["characteristicId"]
            self._uuids[char_id] = uuid
            if flags & FLAG_NOTIFY:
                b.send(
                    "BluetoothEmulation.addDescriptor",
                    {"characteristicId": char_id, "descriptorUuid": CCCD_UUID},
                )

    def close(self) -> None:
        """Switch emulation off and detach (the page keeps its script, now idle)."""
        for session in (self._page_cdp, self._browser_cdp):
            if session is None:
                continue
            try:
                if session is self._browser_cdp:
                    session.send("BluetoothEmulation.disable")
                session.detach()
            except Exception:  # the browser may be gone already: nothing left to undo
                pass
        self._page_cdp = self._browser_cdp = None

    # -- what a test calls -----------------------------------------------------------------

    def pump(self, duration_s: float = 0.05) -> None:
        """Let the page and the firmware exchange what is waiting, for duration_s (needed
        only between Playwright calls: any Playwright wait pumps too)."""
        if self.radio.dropped():
            self._drop_page("firmware")
        self.page.wait_for_timeout(max(1.0, duration_s * 1000.0))

    def wait_for(
        self, predicate: Callable[[], bool], timeout_s: float = 10.0, step_s: float = 0.05
    ) -> bool:
        """Pump until predicate() is true (True) or timeout_s passes (False)."""
        deadline = time.monotonic() + timeout_s
        while not predicate():
            if time.monotonic() > deadline:
                return False
            self.pump(step_s)
        return True

    def drop(self) -> None:
        """The BLE link is lost (out of range): the page sees gattserverdisconnected, the
        firmware its EV_DISCONNECT. The page may connect again."""
        self._drop_page("test")

    def set_central_state(self, state: Literal["powered-on", "powered-off", "absent"]) -> None:
        """The computer's Bluetooth adapter: on, off, or none at all. ("absent" makes
        getAvailability() false and requestDevice fail; Chromium 150's emulation still
        reports "powered-off" as available and opens the chooser.)"""
        assert self._browser_cdp is not None, "start() first"
        self._browser_cdp.send("BluetoothEmulation.setSimulatedCentralState", {"state": state})

    # -- CDP events (the test's thread, inside Playwright calls) ---------------------------

    def _send(self, method: str, params: dict[str, Any]) -> None:
        """A command from an event handler: never raises there (Playwright would only log
        it). An operation the link's end overtook is refused: kept in `refused`."""
        if self._browser_cdp is None:
            return
        try:
            self._browser_cdp.send(method, params)
        except Exception as exc:  # playwright's Error; the browser may be closing too
            self.refused.append(f"{method}: {exc}")

    def _on_gatt(self, event: dict[str, Any]) -> None:
        if event.get("address") != self.address:
            return
        if event["type"] == "connection" and not self.reachable:
            # Out of range: the attempt fails (HCI 0x04, page timeout), the radio hears
            # nothing.
            self._send(
                "BluetoothEmulation.simulateGATTOperationResponse",
                {"address": self.address, "type": event["type"], "code": 0x04},
            )
            return
        if event["type"] == "connection":
            self._page_disconnected = False
            self._armed.clear()
            if self._stale_gatt:
                # Published here, before the connection is answered: the page cannot
                # look for the service earlier.
                self._stale_gatt = False
                self._publish_gatt()
            self.radio.connect(self.mtu)
            self.connections += 1
        self._send(
            "BluetoothEmulation.simulateGATTOperationResponse",
            {"address": self.address, "type": event["type"], "code": 0},
        )

    def _on_characteristic(self, event: dict[str, Any]) -> None:
        char_id = event["characteristicId"]
        uuid = self._uuids.get(char_id)
        if uuid is None:
            return  # another peripheral's
        kind = event["type"]
        self._reconnected()
        response: dict[str, Any] = {"characteristicId": char_id, "type": kind, "code": 0}
        if kind == "write":
            self.writes += 1
            self.radio.write_value(uuid, base64.b64decode(event.get("data") or ""))
        elif kind == "read":
            self.reads += 1
            armed = self._armed.pop(uuid, None)
            if armed is not None:
                self.delivered += 1
            value = armed if armed is not None else self.radio.read_value(uuid)
            response["data"] = base64.b64encode(value).decode()
        elif kind == "subscribe-to-notifications":
            if not self.notifications:
                response["code"] = 0x06  # ATT "request not supported"
                self._send("BluetoothEmulation.simulateCharacteristicOperationResponse", response)
                return
            self.radio.subscribe(uuid, True)
        elif kind == "unsubscribe-from-notifications":
            self.radio.subscribe(uuid, False)
        self._send("BluetoothEmulation.simulateCharacteristicOperationResponse", response)

    def _reconnected(self) -> None:
        """The page's own gatt.disconnect() and a new gatt.connect(): the emulation keeps
        the link underneath and sends no "connection" operation again, but to the logger
        (as on air) it is a new connection, from the page's next operation on."""
        if self._page_disconnected and self.radio.connection is None:
            self._page_disconnected = False
            self.radio.connect(self.mtu)
            self.connections += 1

    def _on_descriptor(self, event: dict[str, Any]) -> None:
        response: dict[str, Any] = {
            "descriptorId": event["descriptorId"],
            "type": event["type"],
            "code": 0,
        }
        if event["type"] == "read":
            response["data"] = base64.b64encode(b"\x00\x00").decode()
        self._send("BluetoothEmulation.simulateDescriptorOperationResponse", response)

    def _on_prompt(self, event: dict[str, Any]) -> None:
        self.prompts.append(event)
        prompt_id = event["id"]
        # The event repeats as the list updates: answer each prompt once (a second
        # selectPrompt for one id made the browser go away, says the example).
        if prompt_id in self._answered or self._page_cdp is None:
            return
        ours = [d for d in event.get("devices", []) if d.get("id") == self.address]
        if self.chooser == "select" and ours:
            self._answered.add(prompt_id)
            self._page_cdp.send(
                "DeviceAccess.selectPrompt", {"id": prompt_id, "deviceId": ours[0]["id"]}
            )
        elif self.chooser == "cancel":
            self._answered.add(prompt_id)
            self._page_cdp.send("DeviceAccess.cancelPrompt", {"id": prompt_id})

    # -- the page's pump (an exposed function, the test's thread) --------------------------

    def _on_page_event(self, kind: str, arg: str | None) -> Any:
        if kind == "pump":
            return {"drop": bool(self.radio.dropped()), "uuids": self.radio.pending_notifications()}
        if kind == "arm" and arg is not None:
            note = self.radio.next_notification(arg)
            if note is None:
                return False
            self._armed[arg] = note
            return True
        if kind == "disarm" and arg is not None:
            self._armed.pop(arg, None)  # lost with the link, as over the air
            return None
        if kind == "disconnect_now":
            self._disconnect_page()
            if arg == "test":
                self.radio.central_disconnect()
            return None
        if kind == "subscribed" and arg is not None:
            self._reconnected()
            if self.notifications and arg.lower() in {u.lower() for u in self._uuids.values()}:
                self.radio.subscribe(arg, True)
            return None
        if kind == "disconnect":  # the page's own gatt.disconnect()
            self._armed.clear()
            self.radio.central_disconnect()
            self._page_disconnected = True
        return None

    def _drop_page(self, reason: str) -> None:
        """End the page's connection, through the page's drop() (no operation in flight,
        see INIT_SCRIPT); directly when the page has no script (navigated away)."""
        try:
            done = self.page.evaluate(
                "reason => window.__rsBle ? window.__rsBle.drop(reason) : false", reason
            )
        except Exception:  # the page is closing or navigating: no script to ask
            done = False
        if not done:
            self._on_page_event("disconnect_now", reason)

    def _disconnect_page(self) -> None:
        self._armed.clear()
        if self._browser_cdp is None:
            return
        self._send("BluetoothEmulation.simulateGATTDisconnection", {"address": self.address})
        self._stale_gatt = True  # emptied by the emulation: again at the next connection


def _address(name: str) -> str:
    """A stable, locally administered MAC address for a device name."""
    digest = hashlib.sha256(name.encode()).digest()
    octets = bytes(((digest[0] & 0xFC) | 0x02,)) + digest[1:6]
    return ":".join(f"{o:02X}" for o in octets)
