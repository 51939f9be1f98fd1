// A Web Bluetooth stand-in for Node tests: navigator.bluetooth's requestDevice, a device
// with gatt.connect(), the service and its three characteristics, notifications. It holds
// the client to Web Bluetooth's rules: an operation started while another is in flight
// fails with NetworkError, as Chrome's do (counted in `overlaps`); writes without
// response are counted as violations; a disconnected link fails every operation.
//
// What the device does is a "peripheral": BridgePeripheral runs the firmware's own
// Provisioning (rs_core_bridge.py) under CPython or MicroPython; tests may write their own.
import { fromHex, hex, toBytes } from "../../src/ble/bytes.js";
import { CONTROL_UUID, INFO_UUID, SERVICE_UUID, STATUS_UUID } from "../../src/ble/protocol.js";

const dom = (name, message) => new DOMException(message, name);
const tick = (ms = 0) => new Promise((resolve) => setTimeout(resolve, ms));

export class FakeBluetooth {
  /** options: cancel (the user closes the chooser), adapterOff, notifications (false:
   * startNotifications rejects, as on some Bluefy versions), latencyMs per operation,
   * name, failWrites (the next n writes fail with NetworkError), dropNotification(frame,
   * index) -> true to lose one. */
  constructor(peripheral, options = {}) {
    this.peripheral = peripheral;
    this.options = { notifications: true, latencyMs: 0, name: "RS-Core-7F3A", ...options };
    this.requests = [];
    this.device = new FakeDevice(this);
    peripheral.attach?.(this.device);
  }

  async getAvailability() {
    return !this.options.adapterOff;
  }

  async requestDevice(options) {
    this.requests.push(options);
    if (this.options.adapterOff) throw dom("NotFoundError", "Bluetooth adapter not available.");
    if (this.options.cancel) throw dom("NotFoundError", "User cancelled the requestDevice() chooser.");
    return this.device;
  }
}

class FakeDevice extends EventTarget {
  constructor(bluetooth) {
    super();
    this.bluetooth = bluetooth;
    this.name = bluetooth.options.name;
    this.id = "fake-1";
    this.gatt = new FakeServer(this);
    this.stats = { overlaps: 0, violations: [], writes: [], reads: 0, connects: 0, notificationsDropped: 0 };
    this._busy = false;
    this._notifyIndex = 0;
    this._notifyChain = Promise.resolve();
  }

  /** One GATT operation, refused if another is still in flight. */
  async op(fn) {
    if (this._busy) {
      this.stats.overlaps += 1;
      throw dom("NetworkError", "GATT operation already in progress.");
    }
    if (!this.gatt.connected) throw dom("NetworkError", "GATT Server is disconnected. Cannot perform GATT operations.");
    this._busy = true;
    try {
      await tick(this.bluetooth.options.latencyMs);
      if (!this.gatt.connected) throw dom("NetworkError", "GATT Server is disconnected.");
      return await fn();
    } finally {
      this._busy = false;
    }
  }

  /** The peripheral notifies frames, delivered in order after the current operation. */
  notify(frames) {
    for (const frame of frames) {
      this._notifyChain = this._notifyChain.then(async () => {
        await tick();
        const index = this._notifyIndex++;
        const status = this.gatt.service.status;
        if (!this.gatt.connected || !status.notifying) return;
        if (this.bluetooth.options.dropNotification?.(frame, index)) {
          this.stats.notificationsDropped += 1;
          return;
        }
        status.value = new DataView(Uint8Array.from(frame).buffer);
        status.dispatchEvent(new Event("characteristicvaluechanged"));
      });
    }
    return this._notifyChain;
  }

  /** The peripheral drops the link (or the radio does). */
  linkLost() {
    if (!this.gatt.connected) return;
    this.gatt.connected = false;
    this.gatt.service.status.notifying = false;
    this.dispatchEvent(new Event("gattserverdisconnected"));
  }
}

class FakeServer {
  constructor(device) {
    this.device = device;
    this.connected = false;
    this.service = new FakeService(device);
  }

  async connect() {
    if (this.device._busy) {
      this.device.stats.overlaps += 1;
      throw dom("NetworkError", "GATT operation already in progress.");
    }
    await tick(this.device.bluetooth.options.latencyMs);
    await this.device.bluetooth.peripheral.connect();
    this.connected = true;
    this.device.stats.connects += 1;
    return this;
  }

  disconnect() {
    if (!this.connected) return;
    this.connected = false;
    this.service.status.notifying = false;
    this.device.bluetooth.peripheral.disconnect();
    // Chrome fires gattserverdisconnected for a disconnect the page asked for, too
    setTimeout(() => this.device.dispatchEvent(new Event("gattserverdisconnected")), 0);
  }

  async getPrimaryService(uuid) {
    return this.device.op(async () => {
      if (uuid !== SERVICE_UUID || this.device.bluetooth.options.noService) throw dom("NotFoundError", "No Services matching UUID found in Device.");
      return this.service;
    });
  }
}

class FakeService {
  constructor(device) {
    this.device = device;
    this.uuid = SERVICE_UUID;
    this.info = new FakeCharacteristic(device, INFO_UUID, "info");
    this.control = new FakeCharacteristic(device, CONTROL_UUID, "control");
    this.status = new FakeCharacteristic(device, STATUS_UUID, "status");
  }

  async getCharacteristic(uuid) {
    return this.device.op(async () => {
      const found = [this.info, this.control, this.status].find((c) => c.uuid === uuid);
      if (!found) throw dom("NotFoundError", "No Characteristics matching UUID found in Service.");
      return found;
    });
  }
}

class FakeCharacteristic extends EventTarget {
  constructor(device, uuid, role) {
    super();
    this.device = device;
    this.uuid = uuid;
    this.role = role;
    this.value = null;
    this.notifying = false;
  }

  async readValue() {
    return this.device.op(async () => {
      if (this.role === "control") throw dom("NotSupportedError", "GATT operation not permitted.");
      this.device.stats.reads += 1;
      const bytes = await this.device.bluetooth.peripheral.read(this.role);
      this.value = new DataView(Uint8Array.from(bytes).buffer);
      return this.value;
    });
  }

  async writeValueWithResponse(value) {
    return this.device.op(async () => {
      if (this.role !== "control") throw dom("NotSupportedError", "GATT operation not permitted.");
      const options = this.device.bluetooth.options;
      if (options.failWrites > 0) {
        options.failWrites -= 1;
        throw dom("NetworkError", "GATT operation failed for unknown reason.");
      }
      const bytes = toBytes(value).slice();
      this.device.stats.writes.push(bytes);
      await this.device.bluetooth.peripheral.write(bytes);
    });
  }

  async writeValue(value) {
    this.device.stats.violations.push("writeValue");
    return this.writeValueWithResponse(value);
  }

  async writeValueWithoutResponse() {
    this.device.stats.violations.push("writeValueWithoutResponse");
    throw dom("NetworkError", "response-less writes are lost: not allowed in these tests");
  }

  async startNotifications() {
    return this.device.op(async () => {
      if (this.role !== "status") throw dom("NotSupportedError", "GATT operation not permitted.");
      if (!this.device.bluetooth.options.notifications) throw dom("NotSupportedError", "startNotifications is not supported.");
      this.notifying = true;
      return this;
    });
  }

  async stopNotifications() {
    this.notifying = false;
    return this;
  }
}

/** The firmware's Provisioning (through rs_core_bridge.py) as the fake's peripheral. */
export class BridgePeripheral {
  /** mtu: the ATT MTU the link negotiates at connect (none: 23, frames of 20 bytes). */
  constructor(bridge, { mtu = null } = {}) {
    this.bridge = bridge;
    this.mtu = mtu;
    this.started = [];
    this.cancels = 0;
    this.device = null;
  }

  attach(device) {
    this.device = device;
  }

  async init(code, deviceId) {
    await this._do({ op: "init", code, device_id: deviceId });
  }

  async connect() {
    await this._do({ op: "connect" });
    if (this.mtu) await this._do({ op: "mtu", mtu: this.mtu });
  }

  disconnect() {
    return this._do({ op: "disconnect" });
  }

  write(bytes) {
    return this._do({ op: "write", hex: hex(bytes) });
  }

  async read(role) {
    return fromHex((await this._do({ op: "read", what: role })).value);
  }

  /** The sync reports (what sync.Sync passes to prov.relay). */
  report(status) {
    return this._do({ op: "report", status });
  }

  async _do(message) {
    const answer = await this.bridge.call(message);
    this.started.push(...answer.started);
    this.cancels = answer.cancels;
    if (answer.notified.length) this.device?.notify(answer.notified.map(fromHex));
    if (answer.dropped.length) setTimeout(() => this.device?.linkLost(), 0);
    return answer;
  }
}
