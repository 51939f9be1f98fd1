// RsCoreClient end to end against the firmware's own GATT service: a fake Web Bluetooth
// (helpers/fake_bluetooth.js) whose peripheral is ble_provisioning.Provisioning, unchanged,
// running under CPython and under the MicroPython unix port (helpers/rs_core_bridge.py).
// Every byte the client writes is read by the firmware's reassembler, handshake and
// channel; every report the client turns into an event was sealed by the firmware.
import { afterEach, describe, test } from "node:test";
import assert from "node:assert/strict";
import { RsCoreClient, BleError } from "../src/ble/client.js";
import { SERVICE_UUID } from "../src/ble/protocol.js";
import { BridgePeripheral, FakeBluetooth } from "./helpers/fake_bluetooth.js";
import { FirmwareBridge, INTERPRETERS, skipReason } from "./helpers/firmware.js";

const CODE = "12345678";
const DEVICE_ID = "RS-Core-7F3A";
const TIMEOUTS = { pakeB: 3000, confirm: 1500, sealed: 1500 };
const ACK_KEY = Buffer.from(Array.from({ length: 32 }, (_, i) => i)).toString("base64url");
const REQUEST = {
  ssid: "Pit Hotspot",
  password: "hunter22",
  url: "https://laptop.local:8443/api/upload",
  ip_fallback: "https://192.168.43.10:8443/api/upload",
  token: "tok-123",
  sync_id: "s-001",
  cert_sha256: "AB".repeat(32),
  time_utc: 1767225600,
  ack_key: ACK_KEY,
};
const EVENTS = ["state", "progress", "done", "error", "disconnected", "link"];

async function waitFor(predicate, what, timeoutMs = 5000) {
  const start = Date.now();
  while (!predicate()) {
    if (Date.now() - start > timeoutMs) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

const bridges = [];
afterEach(async () => {
  // a failed test leaves its bridge running: end it, or the runner never exits
  for (const { client, bridge } of bridges.splice(0)) {
    await client?.disconnect();
    await bridge.close();
  }
});

async function rig(interpreter, { deviceCode = CODE, mtu = null, fake = {}, client = {} } = {}) {
  const bridge = await FirmwareBridge.start(interpreter);
  const entry = { bridge, client: null };
  bridges.push(entry);
  const peripheral = new BridgePeripheral(bridge, { mtu });
  await peripheral.init(deviceCode, DEVICE_ID);
  const bluetooth = new FakeBluetooth(peripheral, fake);
  const c = await RsCoreClient.request(bluetooth, { timeouts: TIMEOUTS, pollIntervalMs: 20, retryDelayMs: 10, ...client });
  entry.client = c;
  const events = [];
  for (const name of EVENTS) c.addEventListener(name, (e) => events.push([name, e.detail]));
  const reports = () => events.filter(([name]) => ["state", "progress", "done", "error"].includes(name));
  const stats = bluetooth.device.stats;
  return {
    bridge,
    peripheral,
    bluetooth,
    client: c,
    events,
    reports,
    stats,
    async close() {
      await c.disconnect();
      await bridge.close();
      // Web Bluetooth's rules held all along
      assert.equal(stats.overlaps, 0, "GATT operations overlapped");
      assert.deepEqual(stats.violations, [], "writes without response");
    },
  };
}

for (const interpreter of INTERPRETERS) {
  const skip = skipReason(interpreter);
  describe(`RsCoreClient against the firmware's Provisioning under ${interpreter.name}`, { skip }, () => {
    test("connect, pair, sync request, the sync's reports, status, cancel, disconnect", async () => {
      const t = await rig(interpreter);
      const info = await t.client.connect();
      assert.equal(t.bluetooth.requests[0].filters[0].services[0], SERVICE_UUID);
      assert.equal(info.device_id, DEVICE_ID);
      assert.equal(info.protocol, 2);
      assert.equal(info.max_write, 20);
      assert.equal(t.client.polling, false);

      const steps = [];
      const status = await t.client.pair(CODE, { onProgress: (p) => steps.push(p.step) });
      assert.deepEqual(steps, ["pake_a", "pake_b", "confirm", "paired"]);
      assert.equal(t.client.link, "paired");
      assert.deepEqual(status, { type: "state", state: "idle" }, "the current report, not an event");
      assert.deepEqual(t.reports(), []);
      for (const frame of t.stats.writes) assert.ok(frame.length <= 20, "every frame within max_write");

      const ack = await t.client.syncRequest(REQUEST);
      assert.equal(ack.result, "ok");
      assert.equal(ack.counter, 1, "the ack names the counter of the request it answers");
      assert.equal(t.peripheral.started.length, 1);
      assert.deepEqual(t.peripheral.started[0], { ...REQUEST, cert_sha256: "ab".repeat(32) });

      await waitFor(() => t.reports().length === 1, "request_received");
      assert.deepEqual(t.reports()[0], ["state", { state: "request_received", sync_id: "s-001" }]);
      await t.peripheral.report({ type: "state", state: "scanning" });
      await t.peripheral.report({ type: "state", state: "joining" });
      await t.peripheral.report({ type: "state", state: "uploading" });
      const progress = { type: "progress", state: "uploading", file: 1, files: 2, bytes: 100, file_bytes: 200, sync_bytes: 100, sync_total: 400 };
      await t.peripheral.report(progress);
      await waitFor(() => t.reports().length === 5, "four more reports");
      assert.deepEqual(
        t.reports().map(([name, d]) => `${name}:${d.state}`),
        ["state:request_received", "state:scanning", "state:joining", "state:uploading", "progress:uploading"],
      );
      const { type, ...fields } = progress;
      assert.deepEqual(t.reports()[4][1], { ...fields, sync_id: "s-001" });

      const now = await t.client.statusRequest();
      assert.equal(now.type, "progress");
      assert.equal(now.sync_bytes, 100);

      const cancelAck = await t.client.cancel("s-001");
      assert.equal(cancelAck.result, "ok");
      assert.equal(t.peripheral.cancels, 1);
      await t.peripheral.report({ type: "state", state: "cancelled", error: "E_CANCELLED", detail: "cancelled", files_sent: 1 });
      await t.peripheral.report({ type: "done", state: "done", files_sent: 2, bytes: 400, duplicates: 0, phases_ms: { join: 1, first_byte: 2, upload: 3, total: 6 } });
      await waitFor(() => t.reports().length === 7, "cancelled and done");
      assert.equal(t.reports()[5][1].error, "E_CANCELLED", JSON.stringify(t.reports()));
      assert.equal(t.reports()[6][0], "done");
      assert.equal(t.reports()[6][1].phases_ms.total, 6);

      await t.client.disconnect();
      await waitFor(() => t.events.some(([n]) => n === "disconnected"), "disconnected");
      assert.deepEqual(t.events.filter(([n]) => n === "disconnected"), [["disconnected", { reason: "requested" }]]);
      assert.deepEqual(
        t.events.filter(([n]) => n === "link").map(([, d]) => d.state),
        ["connecting", "connected", "pairing", "paired", "disconnected"],
      );
      await t.close();
    });

    test("polling only (startNotifications fails, as on Bluefy): the same flow through status reads", async () => {
      const t = await rig(interpreter, { fake: { notifications: false } });
      await t.client.connect();
      assert.equal(t.client.polling, true);
      await t.client.pair(CODE);
      const ack = await t.client.syncRequest(REQUEST);
      assert.equal(ack.result, "ok");
      await waitFor(() => t.reports().some(([, d]) => d.state === "request_received"), "request_received");
      for (const state of ["scanning", "joining", "uploading"]) {
        await t.peripheral.report({ type: "state", state });
        await waitFor(() => t.reports().some(([, d]) => d.state === state), state);
      }
      await t.peripheral.report({ type: "error", state: "failed", error: "E_AP_NOT_FOUND", detail: "no hotspot", files_sent: 0, files_left: 2 });
      await waitFor(() => t.reports().some(([n]) => n === "error"), "error report");
      const [, error] = t.reports().find(([n]) => n === "error");
      assert.equal(error.error, "E_AP_NOT_FOUND");
      assert.equal(error.files_left, 2);
      assert.equal(error.last_ack, undefined, "last_ack is the client's business, not the report's");
      const states = t.reports().map(([, d]) => d.state);
      assert.equal(new Set(states).size, states.length, "a value read twice is one event");
      await t.close();
    });

    test("a wrong code: refused E_AUTH by the phone's own check, link dropped, nothing sent after pake_a", async () => {
      const t = await rig(interpreter, { deviceCode: "87654321" });
      await t.client.connect();
      const writesBefore = t.stats.writes.length;
      await assert.rejects(t.client.pair(CODE), (err) => err instanceof BleError && err.kind === "refused" && err.code === "E_AUTH");
      await waitFor(() => t.client.link === "disconnected", "the drop");
      assert.deepEqual(t.events.filter(([n]) => n === "disconnected")[0][1], { reason: "wrong_code" });
      const sent = t.stats.writes.slice(writesBefore);
      assert.ok(sent.every((f) => f[0] === sent[0][0]), "only pake_a's frames: no confirm");
      assert.equal(sent.at(-1)[2], 1, "pake_a complete");
      await t.close();
    });

    test("after a wrong code the right one pairs: pair() connects again by itself", async () => {
      const t = await rig(interpreter);
      await t.client.connect();
      await assert.rejects(t.client.pair("11112222"), { code: "E_AUTH" });
      assert.equal(t.client.link, "disconnected");
      await t.client.pair(CODE); // at once: the browser's late gattserverdisconnected must not end it
      await new Promise((resolve) => setTimeout(resolve, 20));
      assert.equal(t.client.link, "paired");
      assert.equal(t.events.filter(([n]) => n === "disconnected").length, 1);
      assert.equal(t.stats.connects, 2);
      assert.equal((await t.client.syncRequest(REQUEST)).result, "ok");
      await t.close();
    });

    test("a larger MTU: max_write from info, fewer and longer frames", async () => {
      const t = await rig(interpreter, { mtu: 247 });
      const info = await t.client.connect();
      assert.equal(info.max_write, 244);
      await t.client.pair(CODE);
      const before = t.stats.writes.length;
      await t.client.syncRequest(REQUEST);
      const frames = t.stats.writes.slice(before);
      assert.ok(frames.length <= 2, `${frames.length} frames`);
      assert.ok(frames.every((f) => f.length <= 244));
      await t.close();
    });

    test("a failed write is resent whole once; a lost notification is found in the status value", async () => {
      let dropAcks = false;
      const t = await rig(interpreter, { fake: { dropNotification: () => dropAcks } });
      await t.client.connect();
      await t.client.pair(CODE);
      t.bluetooth.options.failWrites = 1;
      const before = t.stats.writes.length;
      assert.equal((await t.client.statusRequest()).state, "idle");
      assert.equal(t.stats.writes.slice(before)[0][1], 0, "from seq 0 again");

      dropAcks = true; // every notification lost: the answer is read from the status value
      const start = Date.now();
      const ack = await t.client.syncRequest(REQUEST);
      assert.equal(ack.result, "ok");
      assert.ok(Date.now() - start >= TIMEOUTS.sealed * 0.9, "found after the timeout");
      assert.equal(t.peripheral.started.length, 1, "applied once");
      await t.close();
    });

    test("two failed writes in a row are a transient error; the link stays usable", async () => {
      const t = await rig(interpreter);
      await t.client.connect();
      await t.client.pair(CODE);
      t.bluetooth.options.failWrites = 2;
      await assert.rejects(t.client.syncRequest(REQUEST), (err) => err.kind === "transient" && err.code === null);
      const ack = await t.client.syncRequest(REQUEST);
      assert.equal(ack.result, "ok");
      assert.equal(ack.counter, 2, "the failed message's counter is not reused");
      await t.close();
    });

    test("E_BUSY for another sync while one runs; the same sync_id again is ok, started once", async () => {
      const t = await rig(interpreter);
      await t.client.connect();
      await t.client.pair(CODE);
      await t.client.syncRequest(REQUEST);
      const again = await t.client.syncRequest(REQUEST);
      assert.equal(again.detail, "already running");
      await assert.rejects(t.client.syncRequest({ ...REQUEST, sync_id: "s-002" }), (err) => err.kind === "refused" && err.code === "E_BUSY" && err.ack.counter === 3);
      await assert.rejects(t.client.syncRequest({ ...REQUEST, url: "ftp://x" }), { code: "E_URL" });
      assert.equal(t.peripheral.started.length, 1);
      await t.close();
    });

    test("back after a disconnect mid-sync: pair() gives the running sync's state, reports go on", async () => {
      const t = await rig(interpreter);
      await t.client.connect();
      await t.client.pair(CODE);
      await t.client.syncRequest(REQUEST);
      await t.peripheral.report({ type: "state", state: "uploading" });
      await waitFor(() => t.reports().some(([, d]) => d.state === "uploading"), "uploading");
      t.bluetooth.device.linkLost();
      await t.peripheral.disconnect();
      await waitFor(() => t.client.link === "disconnected", "link lost");
      assert.deepEqual(t.events.filter(([n]) => n === "disconnected").at(-1)[1], { reason: "link_lost" });
      await assert.rejects(t.client.cancel("s-001"), { kind: "refused", code: "E_SESSION" });

      await t.peripheral.report({ type: "progress", state: "uploading", file: 2, files: 2, bytes: 10, file_bytes: 20, sync_bytes: 300, sync_total: 400 });
      const status = await t.client.pair(CODE);
      assert.equal(status.type, "progress");
      assert.equal(status.sync_bytes, 300);
      assert.equal(status.sync_id, "s-001");
      const before = t.reports().length;
      await t.peripheral.report({ type: "done", state: "done", files_sent: 2, bytes: 400, duplicates: 0, phases_ms: {} });
      await waitFor(() => t.reports().length === before + 1, "done after reconnecting");
      assert.equal(t.reports().at(-1)[0], "done");
      await t.close();
    });

    test("throttled after three failed handshakes: E_RATE_LIMIT waited out, or refused with retry_ms", async () => {
      const t = await rig(interpreter);
      for (let i = 0; i < 3; i++) {
        await assert.rejects(t.client.pair("00000000"), { code: "E_AUTH" });
      }
      await assert.rejects(t.client.pair(CODE, { rateLimitWaitMs: 0 }), (err) => err.code === "E_RATE_LIMIT" && err.retryMs > 0 && err.retryMs <= 1000);
      const steps = [];
      await t.client.pair(CODE, { onProgress: (p) => steps.push(p) });
      assert.equal(steps[0].step, "pake_a");
      assert.equal(steps[1].step, "rate_limited");
      assert.ok(steps[1].retry_ms > 0);
      assert.equal(steps.at(-1).step, "paired");
      await t.close();
    });
  });
}
