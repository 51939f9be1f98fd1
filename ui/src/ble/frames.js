// Framing for the control and status characteristics, exactly as firmware/rs_frames.py
// (docs/ble-protocol.md, "Framing"): a message (type byte + payload, at most
// MAX_MESSAGE_BYTES) travels as frames [msg_id u8][seq u8][flags u8] + payload, each at
// most the link's write size; seq counts from 0, flags bit 0 marks the last frame, the
// other bits are reserved. test/ble_frames.test.js feeds the same frames to this
// Reassembler and to the firmware's, under CPython and MicroPython, and compares.
import { E, FLAG_LAST, FRAME_HEADER_BYTES, MAX_FRAME_BYTES, MAX_MESSAGE_BYTES, RECENT_MSG_IDS } from "./protocol.js";
import { toBytes } from "./bytes.js";

// Reassembler.feed() results, the numbers rs_frames uses
export const PENDING = 0; // frame taken (or quietly dropped): nothing to do yet
export const COMPLETE = 1; // a message is complete: .msgId, .message()
export const DUPLICATE = 2; // a repeat of a recently completed msg_id: .msgId, .ack
export const ERROR = 3; // frame rejected: .msgId (-1 if unknown), .error (E_FRAME), .detail

const MAX_FRAMES = 256; // seq is one byte

/** Frames needed for a message of `messageBytes` at `writeBytes` per frame. */
export function frameCount(messageBytes, writeBytes) {
  const payloadBytes = writeBytes - FRAME_HEADER_BYTES;
  if (payloadBytes < 1) throw new RangeError("write size too small");
  if (messageBytes <= 0) return 1;
  return Math.ceil(messageBytes / payloadBytes);
}

/** All frames of `message` (type byte + payload) under `msgId`, each at most
 * `writeBytes` long. RangeError for an empty or oversized message, or one that needs
 * more than 256 frames at this size. */
export function split(message, msgId, writeBytes) {
  message = toBytes(message);
  if (message.length < 1 || message.length > MAX_MESSAGE_BYTES) throw new RangeError("message length out of range");
  const count = frameCount(message.length, writeBytes);
  if (count > MAX_FRAMES) throw new RangeError("message needs more than 256 frames at this write size");
  const payloadBytes = writeBytes - FRAME_HEADER_BYTES;
  const frames = [];
  for (let seq = 0; seq < count; seq++) {
    const start = seq * payloadBytes;
    const end = Math.min(start + payloadBytes, message.length);
    const frame = new Uint8Array(FRAME_HEADER_BYTES + end - start);
    frame[0] = msgId & 0xff;
    frame[1] = seq;
    frame[2] = end === message.length ? FLAG_LAST : 0;
    frame.set(message.subarray(start, end), FRAME_HEADER_BYTES);
    frames.push(frame);
  }
  return frames;
}

/** Collects frames into messages, one message at a time, with rs_frames.Reassembler's
 * rules: seq 0 always (re)starts a message; a frame that does not continue the message in
 * progress is an ERROR and the rest of that message is dropped quietly; with `recent` > 0
 * a completed msg_id seen again among the last `recent` is a DUPLICATE. The phone reads
 * the logger's notifications with recent = 0: the logger's ids wrap too, and the sealed
 * counters are what rule out replays. */
export class Reassembler {
  constructor({ maxMessageBytes = MAX_MESSAGE_BYTES, maxFrameBytes = MAX_FRAME_BYTES, recent = RECENT_MSG_IDS } = {}) {
    this._buf = new Uint8Array(maxMessageBytes);
    this._maxFrameBytes = maxFrameBytes;
    this._recentIds = new Array(recent).fill(-1);
    this._recentAcks = new Array(recent).fill(null);
    this.reset();
  }

  /** Forget everything (a new connection: msg_ids start over). */
  reset() {
    this._curId = -1;
    this._nextSeq = 0;
    this._len = 0;
    this._dupIndex = -1;
    this._discardId = -1;
    this._recentIds.fill(-1);
    this._recentAcks.fill(null);
    this._recentNext = 0;
    this._completeLen = 0;
    this.msgId = -1;
    this.ack = null;
    this.error = null;
    this.detail = null;
  }

  /** The completed message (type byte + payload): a copy, safe to keep. */
  message() {
    return this._buf.slice(0, this._completeLen);
  }

  /** Store the answer to a completed message, for its duplicates. */
  setAck(msgId, ack) {
    const i = this._recentIds.indexOf(msgId);
    if (i >= 0) this._recentAcks[i] = ack;
  }

  _remember(msgId) {
    if (this._recentIds.length === 0) return;
    let i = this._recentIds.indexOf(msgId);
    if (i < 0) {
      i = this._recentNext;
      this._recentNext = (i + 1) % this._recentIds.length;
      this._recentIds[i] = msgId;
    }
    this._recentAcks[i] = null;
  }

  _reject(msgId, last, detail) {
    if (msgId === this._curId) this._curId = -1;
    // drop the rest of this message quietly unless this was its last frame
    this._discardId = last || msgId < 0 ? -1 : msgId;
    this.msgId = msgId;
    this.error = E.E_FRAME;
    this.detail = detail;
    return ERROR;
  }

  /** Take one frame (bytes); returns PENDING, COMPLETE, DUPLICATE or ERROR. */
  feed(frame) {
    frame = toBytes(frame);
    const n = frame.length;
    if (n < FRAME_HEADER_BYTES) return this._reject(n ? frame[0] : -1, false, "frame shorter than its header");
    const msgId = frame[0];
    const seq = frame[1];
    const flags = frame[2];
    const last = (flags & FLAG_LAST) !== 0;
    if (n > this._maxFrameBytes) return this._reject(msgId, last, "frame longer than the write size");
    if (flags & ~FLAG_LAST) return this._reject(msgId, last, "reserved flag bits set");
    if (seq === 0) {
      this._discardId = -1;
      this._curId = msgId;
      this._nextSeq = 0;
      this._len = 0;
      this._dupIndex = this._recentIds.indexOf(msgId);
    } else if (msgId === this._discardId) {
      if (last) this._discardId = -1;
      return PENDING;
    } else if (msgId !== this._curId || seq !== this._nextSeq) {
      return this._reject(msgId, last, "frame out of order");
    }
    const payloadBytes = n - FRAME_HEADER_BYTES;
    if (this._len + payloadBytes > this._buf.length) return this._reject(msgId, last, "message longer than the maximum");
    if (this._dupIndex < 0 && payloadBytes) this._buf.set(frame.subarray(FRAME_HEADER_BYTES), this._len);
    this._len += payloadBytes;
    if (!last) {
      if (seq === MAX_FRAMES - 1) return this._reject(msgId, false, "more than 256 frames");
      this._nextSeq = seq + 1;
      return PENDING;
    }
    this._curId = -1;
    this.msgId = msgId;
    if (this._dupIndex >= 0) {
      this.ack = this._recentAcks[this._dupIndex];
      return DUPLICATE;
    }
    if (this._len === 0) return this._reject(msgId, true, "empty message");
    this._remember(msgId);
    this._completeLen = this._len;
    return COMPLETE;
  }
}

/** The one message a status read holds: the payload of a single frame (seq 0, last), or
 * null for an empty value or anything else. */
export function singleFrameMessage(value) {
  const frame = toBytes(value);
  if (frame.length <= FRAME_HEADER_BYTES || frame[1] !== 0 || frame[2] !== FLAG_LAST) return null;
  return frame.slice(FRAME_HEADER_BYTES);
}
