// A small RS-Core in JavaScript, the responder's side written from docs/ble-protocol.md
// and the vectors' procedure, for the client's rule tests that need a logger that
// misbehaves on purpose (stale answers, forged reports, lost or wrong acks). The real
// firmware is the peripheral of ble_client.test.js; this one runs without Python.
import { b64url, concat, fromB64url, fromUtf8, utf8 } from "../../src/ble/bytes.js";
import { Channel } from "../../src/ble/channel.js";
import {
  calculateGenerator,
  channelIdentifier,
  intermediateSessionKey,
  randomBytes,
  sessionKeys,
  transcriptIr,
  x25519,
} from "../../src/ble/cpace.js";
import { COMPLETE, DUPLICATE, ERROR, Reassembler, split } from "../../src/ble/frames.js";
import { MSG } from "../../src/ble/protocol.js";

const empty = new Uint8Array(0);
const json = (type, obj) => concat(Uint8Array.of(type), utf8(JSON.stringify(obj)));

export class JsLogger {
  /** hooks (all optional, may be async):
   *   beforePakeB(logger, pakeA)        e.g. notify a stale pake_b first
   *   answer(logger, innerType, obj, counter, msgId) -> ack fields, or null for no answer
   *   ybPoint(yb) -> the Yb to send (a low-order one, to test the phone's check) */
  constructor({ code = "12345678", deviceId = "RS-Core-7F3A", protocol = 2, maxWrite = 20, hooks = {} } = {}) {
    Object.assign(this, { code, deviceId, protocol, maxWrite, hooks });
    this.device = null;
    this.log = []; // [kind, details] of what the logger saw
    this.reset();
  }

  attach(device) {
    this.device = device;
  }

  reset() {
    this.reassembler = new Reassembler();
    this.channel = null;
    this.pending = null;
    this.statusValue = new Uint8Array(0);
    this.outId = 0;
    this.report = { state: "idle" };
    this.reportType = MSG.state;
    this.lastAck = null;
  }

  async connect() {
    this.reset();
    this.log.push(["connect"]);
  }

  disconnect() {
    this.log.push(["disconnect"]);
    this.reset();
  }

  async read(role) {
    if (role === "info") {
      return utf8(JSON.stringify({ device_id: this.deviceId, protocol: this.protocol, firmware: "js", pending_files: 1, pending_bytes: 10, free_bytes: 100, max_write: this.maxWrite }));
    }
    return this.statusValue;
  }

  async write(frame) {
    const r = this.reassembler;
    const result = r.feed(frame);
    if (result === ERROR) {
      const ack = { msg_id: r.msgId < 0 ? null : r.msgId, result: "E_FRAME", detail: r.detail };
      this.log.push(["frame_error", r.msgId]);
      return this.reply(MSG.ack, ack, Boolean(this.channel)); // sealed once paired, as the firmware's
    }
    if (result === DUPLICATE) {
      this.log.push(["duplicate", r.msgId]);
      if (r.ack) await this.reply(...r.ack);
      return;
    }
    if (result !== COMPLETE) return;
    const message = r.message();
    const msgId = r.msgId;
    this.log.push(["message", msgId, message[0]]);
    const reply = await this.handle(msgId, message[0], message.subarray(1));
    if (reply) {
      r.setAck(msgId, reply);
      await this.reply(...reply);
    }
  }

  async handle(msgId, type, body) {
    if (type === MSG.pake_a) {
      const obj = JSON.parse(fromUtf8(body));
      await this.hooks.beforePakeB?.(this, obj);
      const sid = fromB64url(obj.sid);
      const ya = fromB64url(obj.ya);
      const yb = randomBytes(32);
      const g = await calculateGenerator(utf8(this.code), channelIdentifier(this.deviceId), sid);
      const ybPoint = this.hooks.ybPoint ? this.hooks.ybPoint(x25519(yb, g)) : x25519(yb, g);
      const k = x25519(yb, ya);
      if (k.every((b) => b === 0)) return [MSG.ack, { msg_id: msgId, result: "E_AUTH" }, false];
      const transcript = transcriptIr(ya, empty, ybPoint, empty);
      const keys = await sessionKeys(await intermediateSessionKey(sid, k, ya, empty, ybPoint, empty), sid, transcript);
      this.channel = null;
      this.pending = keys;
      return [MSG.pake_b, { msg_id: msgId, sid: obj.sid, yb: b64url(ybPoint), tb: b64url(keys.tb) }, false];
    }
    if (type === MSG.confirm) {
      const keys = this.pending;
      this.pending = null;
      if (!keys) return [MSG.ack, { msg_id: msgId, result: "E_SESSION" }, false];
      if (b64url(keys.ta) !== JSON.parse(fromUtf8(body)).ta) return [MSG.ack, { msg_id: msgId, result: "E_AUTH" }, false];
      this.channel = await Channel.create(keys, { device: true });
      return [MSG.ack, { msg_id: msgId, result: "ok" }, true];
    }
    if (!this.channel) return [MSG.ack, { msg_id: msgId, result: "E_SESSION" }, false];
    let opened;
    try {
      opened = await this.channel.open(body);
    } catch (err) {
      return [MSG.ack, { msg_id: msgId, result: err.code }, true];
    }
    this.log.push(["sealed", opened.type, opened.json, opened.counter]);
    const fields = this.hooks.answer ? await this.hooks.answer(this, opened.type, opened.json, opened.counter, msgId) : { result: "ok" };
    if (fields === null) return null; // no answer at all
    return [MSG.ack, { msg_id: msgId, counter: opened.counter, ...fields }, true];
  }

  /** Send a message as the logger does: notified in frames, and kept readable. */
  async reply(type, obj, sealed) {
    if (sealed) {
      if (type === MSG.ack) this.lastAck = obj;
      await this.notify(concat(Uint8Array.of(MSG.sealed), await this.channel.seal(type, obj)));
      await this.storeStatus();
    } else {
      const message = json(type, obj);
      await this.notify(message);
      this.statusValue = split(message, this.outId, 512)[0];
    }
  }

  /** The sync reports: sealed, notified, stored with last_ack. */
  async sendReport(type, obj) {
    this.report = obj;
    this.reportType = type;
    await this.notify(concat(Uint8Array.of(MSG.sealed), await this.channel.seal(type, obj)));
    await this.storeStatus();
  }

  async storeStatus() {
    const payload = { ...this.report, ...(this.lastAck ? { last_ack: this.lastAck } : {}) };
    const message = concat(Uint8Array.of(MSG.sealed), await this.channel.seal(this.reportType, payload));
    this.statusValue = split(message, this.outId, 512)[0];
  }

  async notify(message) {
    this.outId = (this.outId + 1) & 0xff;
    await this.device?.notify(split(message, this.outId, this.maxWrite));
  }
}
