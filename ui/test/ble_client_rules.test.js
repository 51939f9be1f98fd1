// RsCoreClient's rules, against a logger in JavaScript (helpers/js_logger.js) that can
// misbehave on purpose: the chooser and its errors, missing service, protocol version,
// stale and forged answers, one request in flight, acks by counter, resends.
import { afterEach, test } from "node:test";
import assert from "node:assert/strict";
import { BleError, RsCoreClient } from "../src/ble/client.js";
import { Channel } from "../src/ble/channel.js";
import { b64url } from "../src/ble/bytes.js";
import { randomBytes } from "../src/ble/cpace.js";
import { MSG, SERVICE_UUID } from "../src/ble/protocol.js";
import { FakeBluetooth } from "./helpers/fake_bluetooth.js";
import { JsLogger } from "./helpers/js_logger.js";

const CODE = "12345678";
const TIMEOUTS = { pakeB: 300, confirm: 300, sealed: 300 };
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

async function waitFor(predicate, what, timeoutMs = 3000) {
  const start = Date.now();
  while (!predicate()) {
    if (Date.now() - start > timeoutMs) throw new Error(`timed out waiting for ${what}`);
    await sleep(5);
  }
}

const clients = [];
afterEach(async () => {
  for (const client of clients.splice(0)) await client.disconnect(); // stops any polling
});

async function rig(loggerOptions = {}, fakeOptions = {}, clientOptions = {}) {
  const logger = new JsLogger(loggerOptions);
  const bluetooth = new FakeBluetooth(logger, fakeOptions);
  const client = await RsCoreClient.request(bluetooth, { timeouts: TIMEOUTS, pollIntervalMs: 10, retryDelayMs: 5, ...clientOptions });
  clients.push(client);
  const events = [];
  for (const name of ["state", "progress", "done", "error", "disconnected"]) client.addEventListener(name, (e) => events.push([name, e.detail]));
  const stats = bluetooth.device.stats;
  const check = () => {
    assert.equal(stats.overlaps, 0, "GATT operations overlapped");
    assert.deepEqual(stats.violations, []);
  };
  return { logger, bluetooth, client, events, stats, check };
}

const isBle = (kind, code = null) => (err) => err instanceof BleError && err.kind === kind && err.code === code;

test("the chooser: filtered to the service; closed is 'cancelled'; Bluetooth off, no API, not secure are 'unavailable'", async () => {
  const logger = new JsLogger();
  const ok = new FakeBluetooth(logger);
  await RsCoreClient.request(ok);
  assert.deepEqual(ok.requests, [{ filters: [{ services: [SERVICE_UUID] }] }]);
  await assert.rejects(RsCoreClient.request(new FakeBluetooth(logger, { cancel: true })), isBle("cancelled"));
  await assert.rejects(RsCoreClient.request(new FakeBluetooth(logger, { adapterOff: true })), (err) => err.kind === "unavailable" && err.reason === "bluetooth_off");
  await assert.rejects(RsCoreClient.request(undefined), (err) => err.kind === "unavailable" && err.reason === "no_api");
  globalThis.isSecureContext = false;
  try {
    await assert.rejects(RsCoreClient.request(ok), (err) => err.kind === "unavailable" && err.reason === "insecure");
  } finally {
    delete globalThis.isSecureContext;
  }
});

test("a device without the service is 'missing_service'; another protocol version is 'unavailable'", async () => {
  const t = await rig({}, { noService: true });
  await assert.rejects(t.client.connect(), isBle("missing_service"));
  assert.equal(t.client.link, "disconnected");
  const v3 = await rig({ protocol: 3 });
  await assert.rejects(v3.client.connect(), (err) => err.kind === "unavailable" && err.reason === "protocol" && /protocol 3/.test(err.message));
  assert.deepEqual(v3.events, [["disconnected", { reason: "protocol" }]]);
});

test("a stale pake_b (another sid) is ignored; the handshake's own answer pairs", async () => {
  const stale = async (logger) => {
    await logger.notify(new Uint8Array([MSG.pake_b, ...new TextEncoder().encode(JSON.stringify({ msg_id: 1, sid: b64url(randomBytes(16)), yb: b64url(randomBytes(32)), tb: b64url(randomBytes(32)) }))]));
  };
  const t = await rig({ hooks: { beforePakeB: stale } });
  await t.client.connect();
  await t.client.pair(CODE);
  assert.equal(t.client.link, "paired");
  t.check();
});

test("a low-order Yb: refused E_AUTH by the phone, nothing more sent, link dropped", async () => {
  const t = await rig({ hooks: { ybPoint: () => new Uint8Array(32) } });
  await t.client.connect();
  await assert.rejects(t.client.pair(CODE), isBle("refused", "E_AUTH"));
  assert.deepEqual(t.events, [["disconnected", { reason: "wrong_code" }]]);
  assert.deepEqual(t.logger.log.filter(([k]) => k === "message").map(([, , type]) => type), [MSG.pake_a]);
});

test("once paired, reports in clear and reports sealed under other keys are not the logger's word", async () => {
  const t = await rig();
  await t.client.connect();
  await t.client.pair(CODE);
  await t.logger.notify(new Uint8Array([MSG.done, ...new TextEncoder().encode('{"state":"done"}')]));
  await t.logger.notify(new Uint8Array([MSG.ack, ...new TextEncoder().encode('{"msg_id":3,"result":"E_SESSION"}')]));
  const keys = { aesP2d: randomBytes(16), aesD2p: randomBytes(16), macP2d: randomBytes(32), macD2p: randomBytes(32) };
  const forger = await Channel.create(keys, { device: true });
  await t.logger.notify(new Uint8Array([MSG.sealed, ...(await forger.seal(MSG.done, { state: "done" }))]));
  await t.logger.sendReport(MSG.state, { state: "scanning", sync_id: "s-1" });
  await waitFor(() => t.events.length === 1, "the genuine report");
  await sleep(30);
  assert.deepEqual(t.events, [["state", { state: "scanning", sync_id: "s-1" }]]);
  assert.equal(t.client.link, "paired");
});

test("one request in flight and one GATT operation at a time, even with polling and concurrent calls", async () => {
  let open = 0;
  let maxOpen = 0;
  const answer = async () => {
    open += 1;
    maxOpen = Math.max(maxOpen, open);
    await sleep(15);
    open -= 1;
    return { result: "ok" };
  };
  const t = await rig({ hooks: { answer } }, { notifications: false, latencyMs: 2 });
  await t.client.connect();
  await t.client.pair(CODE);
  const calls = [t.client.statusRequest(), t.client.cancel("s-1"), t.client.statusRequest(), t.client.cancel("s-2")];
  await Promise.all(calls);
  assert.equal(maxOpen, 1);
  const sealed = t.logger.log.filter(([k]) => k === "sealed");
  assert.deepEqual(sealed.map(([, type]) => type), [MSG.status_request, MSG.cancel, MSG.status_request, MSG.cancel]);
  assert.deepEqual(sealed.map(([, , , counter]) => counter), [1, 2, 3, 4]);
  t.check();
});

test("acks are matched by counter: a sealed ack for another counter does not answer this request", async () => {
  const answer = async (logger, type, obj, counter, msgId) => {
    // first a late ack of an older message (same msg_id: ids wrap), then the right one
    await logger.reply(MSG.ack, { msg_id: msgId, result: "E_BUSY", counter: counter + 100 }, true);
    return { result: "ok", detail: "the real one" };
  };
  const t = await rig({ hooks: { answer } });
  await t.client.connect();
  await t.client.pair(CODE);
  const ack = await t.client.cancel("s-1");
  assert.equal(ack.detail, "the real one");
  assert.equal(ack.counter, 1);
});

test("no answer: the same frames twice more, then a transient timeout; the logger saw one message three times", async () => {
  const t = await rig({ hooks: { answer: () => null } });
  await t.client.connect();
  await t.client.pair(CODE);
  const start = Date.now();
  await assert.rejects(t.client.cancel("s-1"), (err) => err.kind === "transient" && err.reason === "timeout");
  assert.ok(Date.now() - start >= 3 * TIMEOUTS.sealed * 0.9);
  const seen = t.logger.log.filter(([k]) => k === "message" || k === "duplicate");
  const last = seen.slice(-3);
  assert.deepEqual(last.map(([k]) => k), ["message", "duplicate", "duplicate"]);
  assert.equal(new Set(last.map(([, id]) => id)).size, 1, "resent under the same msg_id");
  assert.equal(t.logger.log.filter(([k]) => k === "sealed").length, 1, "applied once");
});

test("E_FRAME: the whole message again under the same msg_id", async () => {
  let frameErrors = 1;
  const t = await rig();
  await t.client.connect();
  await t.client.pair(CODE);
  const write = t.logger.write.bind(t.logger);
  t.logger.write = async (frame) => {
    if (frame[1] === 1 && frameErrors > 0) {
      frameErrors -= 1;
      return write(Uint8Array.of(frame[0], 5, frame[2], ...frame.subarray(3))); // out of order
    }
    return write(frame);
  };
  const start = Date.now();
  const ack = await t.client.cancel("a-sync-id-long-enough-for-two-frames");
  assert.equal(ack.result, "ok");
  assert.ok(Date.now() - start < TIMEOUTS.sealed, "resent on the E_FRAME ack, not after a timeout");
  assert.equal(t.logger.log.filter(([k]) => k === "frame_error").length, 1);
  const ids = t.stats.writes.slice(-4).map((f) => f[0]);
  assert.equal(new Set(ids).size, 1);
});

test("a logger that forgot the session answers E_SESSION in clear: the request fails at once as refused E_SESSION and the client is unpaired", async () => {
  const t = await rig();
  await t.client.connect();
  await t.client.pair(CODE);
  t.logger.channel = null; // as after a reconnect the logger saw and the phone did not
  const started = Date.now();
  await assert.rejects(t.client.statusRequest(), (err) => err.kind === "refused" && err.code === "E_SESSION");
  assert.ok(Date.now() - started < 5000, "no waiting for a timeout");
  assert.equal(t.client.paired, false);
  await t.client.pair(CODE); // and pairing again works
  assert.equal(t.client.paired, true);
});
