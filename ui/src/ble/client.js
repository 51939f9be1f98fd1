// The browser's client of an RS-Core logger over Web Bluetooth, protocol v2
// (docs/ble-protocol.md). No DOM: the Bluetooth object is injected, so Node tests drive it
// with a fake GATT server that runs the firmware's own service.
//
//   const client = await RsCoreClient.request(navigator.bluetooth);   // in a user gesture
//   await client.connect();                     // info: device_id, pending_*, max_write
//   await client.pair("12345678");              // CPace; BleError refused E_AUTH: wrong code
//   const ack = await client.syncRequest({...});     // sealed; the logger's ack
//   client.addEventListener("progress", (e) => e.detail.sync_bytes);
//
// Events (CustomEvent, `detail`):
//   state, progress, done, error   the logger's reports, opened and verified: the sync's
//                                  fields as docs/ble-protocol.md lists them. Only changes:
//                                  the report current at pairing is `client.status`.
//   disconnected                   {reason}: requested, wrong_code, protocol, link_lost
//   link                           {state}: connecting, connected, pairing, paired,
//                                  disconnected (the client's own link, for a UI)
//
// Rules it keeps: GATT operations strictly one at a time (one queue); every write with
// response; one request in flight (a second waits its turn); sealed acks matched by the
// counter of the message they answer; a failed write resends the whole message under the
// same msg_id once (transient); a late answer is looked for in the readable status value
// before a message is resent. Where notifications do not work (Bluefy) or when asked
// ({polling: true}), the status value is polled instead: every answer and report is there.
import { concat, fromUtf8, toBytes, utf8 } from "./bytes.js";
import { Channel } from "./channel.js";
import { Initiator, randomBytes } from "./cpace.js";
import { BleError, fromBluetoothError, plain, refused } from "./errors.js";
import { COMPLETE, ERROR, Reassembler, singleFrameMessage, split } from "./frames.js";
import { AnswerWaiter, SerialQueue } from "./waiting.js";
import {
  ACK_OK,
  CONTROL_UUID,
  CRYPTO,
  DEFAULT_WRITE_BYTES,
  E,
  FRAME_HEADER_BYTES,
  INFO_UUID,
  MAX_FRAME_BYTES,
  MSG,
  MSG_NAME,
  PROTOCOL_VERSION,
  SERVICE_UUID,
  STATUS_UUID,
} from "./protocol.js";

export { BleError, fromBluetoothError } from "./errors.js";

// The phone's timeouts (docs/ble-protocol.md, "The whole sync"): then the same frames again.
export const DEFAULT_TIMEOUTS_MS = Object.freeze({ pakeB: 10_000, confirm: 5_000, sealed: 10_000 });
const RESENDS = 2; // after a timeout; then the request fails as transient
const FRAME_ERROR_TRIES = 3; // E_FRAME answers before giving up
const RETRY_DELAY_MS = 150; // the one quick retry of a failed GATT operation
const POLL_INTERVAL_MS = 250;
const RATE_LIMIT_ROUNDS = 3;
const REPORT_TYPES = new Set([MSG.state, MSG.progress, MSG.done, MSG.error]);
const SESSION_ENDED = new Set([E.E_SESSION, E.E_AUTH, E.E_REPLAY]);

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const jsonMessage = (type, obj) => concat(Uint8Array.of(type), utf8(JSON.stringify(obj)));
const answersMsgId = (ack, msgId) => ack?.msg_id === msgId || (ack?.msg_id === null && ack?.result === E.E_FRAME);

// The same report re-sealed may list its keys in another order (MicroPython's dicts are
// unordered), so reports are compared by their sorted-key JSON.
function canonicalJson(value) {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(",")}]`;
  if (value && typeof value === "object") {
    return `{${Object.keys(value)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${canonicalJson(value[k])}`)
      .join(",")}}`;
  }
  return JSON.stringify(value);
}

export class RsCoreClient extends EventTarget {
  /** The browser's chooser, filtered to the RS-Core service (call it from a user gesture:
   * nothing is awaited before requestDevice). A closed chooser is BleError "cancelled". */
  static async request(bluetooth = globalThis.navigator?.bluetooth, options = {}) {
    if (globalThis.isSecureContext === false) {
      throw new BleError("unavailable", "Bluetooth needs a secure page: https, or http://localhost.", { reason: "insecure" });
    }
    if (!bluetooth || typeof bluetooth.requestDevice !== "function") {
      throw new BleError("unavailable", "This browser has no Web Bluetooth.", { reason: "no_api" });
    }
    let device;
    try {
      device = await bluetooth.requestDevice({ filters: [{ services: [SERVICE_UUID] }] });
    } catch (err) {
      throw fromBluetoothError(err, "request");
    }
    return new RsCoreClient(device, options);
  }

  /** device: a BluetoothDevice. options: polling (read status instead of notifications),
   * pollIntervalMs, timeouts ({pakeB, confirm, sealed} ms), retryDelayMs, random(n) (bytes
   * for sid and scalars; tests), log(text). */
  constructor(device, options = {}) {
    super();
    this.device = device;
    this._wantPolling = Boolean(options.polling);
    this._pollIntervalMs = options.pollIntervalMs ?? POLL_INTERVAL_MS;
    this._timeouts = { ...DEFAULT_TIMEOUTS_MS, ...(options.timeouts || {}) };
    this._retryDelayMs = options.retryDelayMs ?? RETRY_DELAY_MS;
    this._random = options.random || randomBytes;
    this._log = options.log || (() => {});
    this._gattQueue = new SerialQueue();
    this._requestQueue = new SerialQueue();
    this._inbox = Promise.resolve();
    this._link = "disconnected";
    this._dropReason = null;
    this._pollGen = 0;
    this.info = null;
    this.status = null; // the logger's latest report: {type, ...fields}
    this._resetSession();
    this._onNotify = (event) => this._takeFrame(event.target.value);
    // Ignored while connecting or once connected again: it is the previous link's
    // (browsers fire it after a disconnect() too, possibly once pair() has started a new
    // connection); a drop during connect() fails connect()'s own GATT operations anyway.
    device.addEventListener?.("gattserverdisconnected", () => {
      if (this._link !== "connecting" && !device.gatt?.connected) this._onDisconnected();
    });
  }

  get name() {
    return this.device?.name ?? null;
  }

  /** connecting, connected, pairing, paired or disconnected. */
  get link() {
    return this._link;
  }

  get connected() {
    return ["connected", "pairing", "paired"].includes(this._link);
  }

  get paired() {
    return this._paired;
  }

  /** Is the status value polled (no notifications)? */
  get polling() {
    return this._polling;
  }

  // -- connecting ------------------------------------------------------------------------

  /** Connect, find the service and its characteristics, subscribe (or poll), read info.
   * Returns info. BleError: transient, missing_service, unavailable (protocol). */
  async connect() {
    if (this.connected) return this.info;
    this._resetSession();
    this._setLink("connecting");
    try {
      const server = await this._retryOnce(() => this._op(() => this.device.gatt.connect()), "link");
      let service;
      try {
        service = await this._op(() => server.getPrimaryService(SERVICE_UUID));
        this._infoChar = await this._op(() => service.getCharacteristic(INFO_UUID));
        this._controlChar = await this._op(() => service.getCharacteristic(CONTROL_UUID));
        this._statusChar = await this._op(() => service.getCharacteristic(STATUS_UUID));
      } catch (err) {
        throw fromBluetoothError(err, "service");
      }
      this._polling = true;
      if (!this._wantPolling) {
        try {
          this._statusChar.addEventListener("characteristicvaluechanged", this._onNotify);
          await this._op(() => this._statusChar.startNotifications());
          this._polling = false;
        } catch (err) {
          this._statusChar.removeEventListener("characteristicvaluechanged", this._onNotify);
          this._log(`notifications unavailable (${err?.message || err}): polling the status value`);
        }
      }
      this._setLink("connected");
      await this._readInfo();
      if (this._polling) this._startPolling();
      return this.info;
    } catch (err) {
      const error = err instanceof BleError ? err : fromBluetoothError(err, "link");
      this._drop(error.reason === "protocol" ? "protocol" : "link_lost");
      throw error;
    }
  }

  /** Read the public info again (device_id, pending_*, max_write, recording...). */
  async readInfo() {
    if (!this.connected) return this.connect();
    return this._readInfo();
  }

  async _readInfo() {
    const value = await this._retryOnce(() => this._op(() => this._infoChar.readValue()), "link");
    let info;
    try {
      info = JSON.parse(fromUtf8(toBytes(value)));
    } catch {
      throw new BleError("transient", "The logger's info could not be read.", { reason: "malformed" });
    }
    if (info?.protocol !== PROTOCOL_VERSION) {
      throw new BleError(
        "unavailable",
        `This logger speaks protocol ${info?.protocol}; this app speaks ${PROTOCOL_VERSION}. Update the app or the logger's firmware.`,
        { reason: "protocol" },
      );
    }
    this.info = info;
    const maxWrite = Number.isInteger(info.max_write) ? info.max_write : DEFAULT_WRITE_BYTES;
    this._maxWrite = Math.max(DEFAULT_WRITE_BYTES, Math.min(maxWrite, MAX_FRAME_BYTES));
    return info;
  }

  /** Drop the link (the logger's sync, if any, goes on over Wi-Fi). */
  async disconnect() {
    this._drop("requested");
  }

  // -- pairing ---------------------------------------------------------------------------

  /** The CPace handshake with the 8-digit code; connects first if needed. Resolves with
   * the logger's current report (also `client.status`), e.g. a sync still uploading
   * after a reconnect. onProgress({step}) with step: pake_a, rate_limited (retry_ms),
   * pake_b, confirm, paired. BleError refused: E_AUTH (wrong code, or not this logger:
   * the link is then dropped), E_RATE_LIMIT (retry_ms above rateLimitWaitMs), E_MESSAGE. */
  async pair(code, { onProgress = () => {}, rateLimitWaitMs = 30_000 } = {}) {
    if (typeof code !== "string" || !new RegExp(`^[0-9]{${CRYPTO.pairing_code_digits}}$`).test(code)) {
      throw new RangeError("the pairing code is 8 digits");
    }
    return this._serial(async () => {
      try {
        return await this._pair(code, onProgress, rateLimitWaitMs);
      } catch (err) {
        if (!this._paired) {
          this._channel = null;
          this._baseline = false;
          if (this._link === "pairing") this._setLink("connected");
        }
        throw err;
      }
    });
  }

  async _pair(code, onProgress, rateLimitWaitMs) {
    if (!this.connected) await this.connect();
    await this._readInfo(); // the current device_id and write size
    for (let round = 0; ; round++) {
      this._paired = false;
      this._channel = null;
      this._setLink("pairing");
      const initiator = await Initiator.create(code, this.info.device_id, {
        sid: this._random(CRYPTO.sid_bytes),
        ya: this._random(CRYPTO.point_bytes),
      });
      const pakeId = this._nextMsgId();
      onProgress({ step: "pake_a" });
      const answer = await this._transact(jsonMessage(MSG.pake_a, initiator.pakeA()), pakeId, this._timeouts.pakeB, (a) => {
        if (a.sealed) return false;
        if (a.type === MSG.pake_b) return initiator.answers(a.body); // else a stale one
        return a.type === MSG.ack && answersMsgId(a.body, pakeId);
      });
      if (answer.type === MSG.ack) {
        const ack = answer.body;
        const waitMs = ack.retry_ms;
        if (ack.result === E.E_RATE_LIMIT && Number.isFinite(waitMs) && waitMs <= rateLimitWaitMs && round < RATE_LIMIT_ROUNDS) {
          onProgress({ step: "rate_limited", retry_ms: waitMs });
          await sleep(waitMs);
          continue;
        }
        this._setLink("connected");
        throw refused(ack.result, plain(ack.result), { ack, detail: ack.detail ?? null, retryMs: waitMs ?? null });
      }
      onProgress({ step: "pake_b" });
      let finished;
      try {
        finished = await initiator.finish(answer.body);
      } catch (err) {
        // The logger does not hold this code (or is not a logger): send nothing more.
        if (err?.code === E.E_AUTH) this._drop("wrong_code");
        else this._setLink("connected");
        throw err;
      }
      this._channel = await Channel.create(finished.keys);
      this._baseline = true; // reports until pair() returns are the current state, not news
      const confirmId = this._nextMsgId();
      onProgress({ step: "confirm" });
      const reply = await this._transact(jsonMessage(MSG.confirm, finished.confirm), confirmId, this._timeouts.confirm, (a) => {
        return a.type === MSG.ack && answersMsgId(a.body, confirmId) && !(a.sealed && a.body.counter !== undefined);
      });
      if (reply.sealed && reply.body.result === ACK_OK) {
        this._paired = true;
        this._setLink("paired");
        onProgress({ step: "paired" });
        await this._readStatus().catch(() => {});
        this._baseline = false;
        return this.status;
      }
      this._channel = null;
      const ack = reply.body;
      if (ack.result === E.E_SESSION && round === 0) continue; // the logger forgot the handshake: once more
      if (ack.result === E.E_AUTH) {
        this._drop("wrong_code");
        throw refused(E.E_AUTH, "Wrong pairing code, or not this logger.", { ack, reason: "wrong_code" });
      }
      throw refused(ack.result, plain(ack.result), { ack, detail: ack.detail ?? null });
    }
  }

  // -- sealed requests -------------------------------------------------------------------

  /** Hand the logger a sync (docs/ble-protocol.md, "sync_request"). Resolves with the ack
   * ({msg_id, result: "ok", counter, detail?}); the states follow as events. BleError
   * refused with the ack's code otherwise (E_BUSY, E_URL, E_MESSAGE, E_STORAGE...). */
  syncRequest(request) {
    return this._sealedRequest(MSG.sync_request, request);
  }

  /** Ask the running sync `syncId` to stop; resolves with the ack (detail "no sync running"
   * when there was none). The state `cancelled` follows as an event. */
  cancel(syncId) {
    return this._sealedRequest(MSG.cancel, { sync_id: syncId });
  }

  /** Ask for the current report (after a reconnect, or when notifications may have been
   * missed); resolves with it (also `client.status`). */
  async statusRequest() {
    await this._sealedRequest(MSG.status_request, {});
    await this._serial(() => this._readStatus()).catch(() => {});
    return this.status;
  }

  async _sealedRequest(innerType, obj) {
    return this._serial(async () => {
      if (!this._paired || !this._channel) {
        throw new BleError("refused", "Pair with the logger first.", { code: E.E_SESSION, reason: "not_paired" });
      }
      const channel = this._channel;
      const message = concat(Uint8Array.of(MSG.sealed), await channel.seal(innerType, obj));
      const counter = channel.sent;
      if (message.length > this._maxWrite - FRAME_HEADER_BYTES) await this._readInfo(); // a larger MTU since?
      const msgId = this._nextMsgId();
      const answer = await this._transact(message, msgId, this._timeouts.sealed, (a) => {
        if (a.type !== MSG.ack) return false;
        // In clear, only "no session on this connection" (the logger lost it): pair again.
        if (!a.sealed) return a.body.result === E.E_SESSION && answersMsgId(a.body, msgId);
        return a.body.counter === undefined ? answersMsgId(a.body, msgId) : a.body.counter === counter;
      });
      const ack = answer.body;
      if (ack.result !== ACK_OK) {
        if (SESSION_ENDED.has(ack.result) && this._channel === channel) {
          this._paired = false;
          this._channel = null;
          this._setLink("connected");
        }
        throw refused(ack.result, plain(ack.result), { ack, detail: ack.detail ?? null });
      }
      return ack;
    });
  }

  // -- one message and its answer ----------------------------------------------------------

  /** Write `message` under `msgId` and wait for the answer `matches` accepts: notified, or
   * read from the status value (polling, or after a timeout). Resends the same frames
   * after a timeout (RESENDS times) and after E_FRAME. */
  async _transact(message, msgId, timeoutMs, matches) {
    const frames = split(message, msgId, this._maxWrite);
    const waiter = this._expect(matches);
    try {
      let frameErrors = 0;
      for (let attempt = 0; ; ) {
        await this._writeMessage(frames);
        const answer = await waiter.next(timeoutMs);
        if (answer) {
          if (answer.type === MSG.ack && answer.body.result === E.E_FRAME && ++frameErrors < FRAME_ERROR_TRIES) {
            waiter.rearm();
            continue;
          }
          return answer;
        }
        await this._readStatus().catch(() => {}); // a lost notification: the value holds it
        const late = waiter.taken();
        if (late) return late;
        if (++attempt > RESENDS) {
          throw new BleError("transient", "The logger did not answer in time. Bring the phone closer and try again.", { reason: "timeout" });
        }
        this._log(`no answer to message ${msgId}: resending it`);
      }
    } finally {
      waiter.close();
    }
  }

  _expect(matches) {
    const waiter = new AnswerWaiter(matches, () => {
      if (this._waiter === waiter) this._waiter = null;
    });
    this._waiter = waiter;
    return waiter;
  }

  async _writeMessage(frames) {
    if (!this.connected) throw new BleError("transient", "The logger disconnected.", { reason: "disconnected" });
    // A failed write: the whole message again from seq 0, same msg_id (the logger restarts it).
    await this._retryOnce(async () => {
      for (const frame of frames) await this._op(() => this._controlChar.writeValueWithResponse(frame));
    }, "link");
  }

  // -- what the logger sends -------------------------------------------------------------

  _takeFrame(value) {
    const frame = toBytes(value).slice(); // the browser may reuse the buffer
    const result = this._reassembler.feed(frame);
    if (result === COMPLETE) {
      const message = this._reassembler.message();
      this._enqueue(message, false);
    } else if (result === ERROR) {
      this._log(`notification dropped: ${this._reassembler.detail}`);
    }
  }

  /** One status read: this connection's latest answer, as one frame. */
  async _readStatus() {
    if (!this.connected) return;
    const value = await this._op(() => this._statusChar.readValue());
    const message = singleFrameMessage(value);
    if (message) await this._enqueue(message, true);
  }

  // Messages are handled one at a time, in arrival order: opening is asynchronous and the
  // counters must be taken in order.
  _enqueue(message, polled) {
    const run = this._inbox.then(() => this._onMessage(message, polled));
    this._inbox = run.catch((err) => this._log(`message handling failed: ${err?.message || err}`));
    return this._inbox;
  }

  async _onMessage(message, polled) {
    const type = message[0];
    if (type === MSG.sealed) {
      const channel = this._channel;
      if (!channel) return;
      let opened;
      try {
        opened = await channel.open(message.subarray(1), { polled });
      } catch (err) {
        this._log(`sealed message refused: ${err.code}`); // another session's, replayed, forged
        return;
      }
      if (!opened || opened.json === null || typeof opened.json !== "object" || channel !== this._channel) return;
      if (opened.type === MSG.ack) {
        this._offer({ type: MSG.ack, body: opened.json, sealed: true });
      } else if (REPORT_TYPES.has(opened.type)) {
        const { last_ack: lastAck, ...report } = opened.json;
        if (lastAck && typeof lastAck === "object") this._offer({ type: MSG.ack, body: lastAck, sealed: true });
        this._report(opened.type, report);
      }
      return;
    }
    // In clear: handshake answers before the session is open; once open, only an ack
    // E_SESSION (the worst a forged one can do is make the phone pair again).
    if (type !== MSG.pake_b && type !== MSG.ack) return;
    let body;
    try {
      body = JSON.parse(fromUtf8(message.subarray(1)));
    } catch {
      return;
    }
    if (!body || typeof body !== "object") return;
    if (this._paired && !(type === MSG.ack && body.result === E.E_SESSION)) return;
    this._offer({ type, body, sealed: false });
  }

  _offer(answer) {
    this._waiter?.offer(answer);
  }

  _report(type, report) {
    const name = MSG_NAME[type];
    const key = `${name}:${canonicalJson(report)}`;
    const isNew = key !== this._lastReportKey;
    this._lastReportKey = key;
    this.status = { type: name, ...report };
    if (isNew && !this._baseline) this.dispatchEvent(new CustomEvent(name, { detail: report }));
  }

  // -- plumbing --------------------------------------------------------------------------

  _startPolling() {
    const generation = ++this._pollGen;
    const loop = async () => {
      while (generation === this._pollGen && this.connected) {
        await sleep(this._pollIntervalMs);
        if (generation !== this._pollGen || !this.connected) return;
        try {
          await this._readStatus();
        } catch (err) {
          this._log(`status read failed: ${err?.message || err}`);
        }
      }
    };
    loop();
  }

  /** Every GATT operation goes through here: one at a time, in order. */
  _op(fn) {
    return this._gattQueue.run(fn);
  }

  /** Requests one at a time. */
  _serial(fn) {
    return this._requestQueue.run(fn);
  }

  /** fn(), and once more after a short pause if it failed in a way that may pass (a
   * transient GATT error on a link still up). */
  async _retryOnce(fn, during) {
    try {
      return await fn();
    } catch (err) {
      const first = this._linkError(err, during);
      if (first.kind !== "transient" || first.reason === "disconnected") throw first;
      this._log(`retrying once after: ${err?.message || err}`);
      await sleep(this._retryDelayMs);
      try {
        return await fn();
      } catch (again) {
        throw this._linkError(again, during);
      }
    }
  }

  _linkUsable() {
    return this._link !== "disconnected";
  }

  _linkError(err, during) {
    if (err instanceof BleError) return err;
    if (!this._linkUsable()) return new BleError("transient", "The logger disconnected.", { reason: "disconnected", cause: err });
    return fromBluetoothError(err, during);
  }

  _nextMsgId() {
    this._msgId = (this._msgId + 1) & 0xff;
    return this._msgId;
  }

  _resetSession() {
    this._paired = false;
    this._channel = null;
    this._msgId = 0;
    this._maxWrite = DEFAULT_WRITE_BYTES;
    this._reassembler = new Reassembler({ recent: 0 });
    this._waiter = null;
    this._polling = false;
    this._baseline = false;
    this._lastReportKey = null;
  }

  _setLink(state) {
    if (state === this._link) return;
    this._link = state;
    this.dispatchEvent(new CustomEvent("link", { detail: { state } }));
  }

  _drop(reason) {
    if (this._link === "disconnected") return;
    this._dropReason = reason;
    try {
      this.device.gatt?.disconnect();
    } catch (err) {
      this._log(`disconnect failed: ${err?.message || err}`);
    }
    this._onDisconnected(); // browsers differ on whether gattserverdisconnected follows
  }

  _onDisconnected() {
    if (this._link === "disconnected") return;
    const reason = this._dropReason || "link_lost";
    this._dropReason = null;
    this._pollGen += 1;
    const waiter = this._waiter;
    this._resetSession();
    this._setLink("disconnected");
    waiter?.fail(new BleError("transient", "The logger disconnected.", { reason: "disconnected" }));
    this.dispatchEvent(new CustomEvent("disconnected", { detail: { reason } }));
  }
}
