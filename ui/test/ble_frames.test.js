// Framing as firmware/rs_frames.py: the cases of firmware/tests/test_rs_frames.py in
// JavaScript, then the same frame sequences (crafted and random) through this Reassembler
// and the firmware's, under CPython and MicroPython, result by result.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { hex } from "../src/ble/bytes.js";
import { COMPLETE, DUPLICATE, ERROR, PENDING, Reassembler, frameCount, singleFrameMessage, split } from "../src/ble/frames.js";
import { FirmwareBridge, INTERPRETERS, skipReason } from "./helpers/firmware.js";

const msg = (n, start = 1) => Uint8Array.from({ length: n }, (_, i) => (start + i) % 256);
const frame = (id, seq, flags, payload = [0x10]) => Uint8Array.from([id, seq, flags, ...payload]);

test("split at 20-byte writes: 17 payload bytes a frame, the last flagged", () => {
  const frames = split(msg(40), 7, 20);
  assert.equal(frames.length, 3);
  assert.deepEqual(frames.map((f) => [f[0], f[1], f[2], f.length]), [
    [7, 0, 0, 20],
    [7, 1, 0, 20],
    [7, 2, 1, 9],
  ]);
  assert.equal(frameCount(40, 20), 3);
  assert.equal(frameCount(34, 20), 2);
  assert.equal(frameCount(0, 20), 1);
  assert.deepEqual(split(msg(1), 300, 20), [Uint8Array.of(44, 0, 1, 1)], "msg_id wraps at 256");
});

test("split refuses an empty or oversized message, a tiny write size, more than 256 frames", () => {
  assert.throws(() => split(new Uint8Array(0), 1, 20), RangeError);
  assert.throws(() => split(msg(2049), 1, 512), RangeError);
  assert.throws(() => split(msg(10), 1, 3), RangeError);
  assert.throws(() => split(msg(257), 1, 4), RangeError);
  assert.equal(split(msg(256), 1, 4).length, 256);
});

test("round trip at 20, 185 and 512 bytes, up to the 2048-byte maximum", () => {
  for (const size of [20, 185, 512]) {
    for (const n of [1, 17, 18, 100, 2048]) {
      const r = new Reassembler();
      const frames = split(msg(n), 9, size);
      const results = frames.map((f) => r.feed(f));
      assert.deepEqual(results, [...Array(frames.length - 1).fill(PENDING), COMPLETE]);
      assert.deepEqual(r.message(), msg(n));
      assert.equal(r.msgId, 9);
    }
  }
});

test("out of order: one E_FRAME, then the rest of that message is dropped quietly", () => {
  const r = new Reassembler();
  const frames = split(msg(60), 3, 20);
  assert.equal(r.feed(frames[0]), PENDING);
  assert.equal(r.feed(frames[2]), ERROR);
  assert.equal(r.error, "E_FRAME");
  assert.equal(r.detail, "frame out of order");
  assert.equal(r.feed(frames[3]), PENDING, "dropped quietly up to its last frame");
  assert.deepEqual(split(msg(5), 4, 20).map((f) => r.feed(f)), [COMPLETE]);
});

test("seq 0 restarts a message; a message never finished is abandoned by the next", () => {
  const r = new Reassembler();
  const frames = split(msg(40), 5, 20);
  r.feed(frames[0]);
  r.feed(frames[1]);
  assert.deepEqual(frames.map((f) => r.feed(f)), [PENDING, PENDING, COMPLETE]);
  assert.deepEqual(r.message(), msg(40));
  r.feed(split(msg(40), 6, 20)[0]);
  assert.equal(r.feed(split(msg(3), 7, 20)[0]), COMPLETE);
  assert.deepEqual(r.message(), msg(3));
});

test("short frames, reserved flags, oversized frames and messages, empty messages are E_FRAME", () => {
  const r = new Reassembler({ maxFrameBytes: 20 });
  assert.equal(r.feed(new Uint8Array(0)), ERROR);
  assert.equal(r.msgId, -1);
  assert.equal(r.feed(Uint8Array.of(9, 0)), ERROR);
  assert.equal(r.msgId, 9);
  assert.equal(r.detail, "frame shorter than its header");
  assert.equal(r.feed(frame(1, 0, 2)), ERROR);
  assert.equal(r.detail, "reserved flag bits set");
  assert.equal(r.feed(frame(1, 0, 1, [...msg(18)])), ERROR);
  assert.equal(r.detail, "frame longer than the write size");
  assert.equal(r.feed(Uint8Array.of(2, 0, 1)), ERROR);
  assert.equal(r.detail, "empty message");
  const big = new Reassembler({ maxMessageBytes: 30 });
  const frames = split(msg(40), 3, 20);
  assert.equal(big.feed(frames[0]), PENDING);
  assert.equal(big.feed(frames[1]), ERROR);
  assert.equal(big.detail, "message longer than the maximum");
});

test("more than 256 frames is E_FRAME", () => {
  const r = new Reassembler();
  for (let seq = 0; seq < 255; seq++) assert.equal(r.feed(frame(1, seq, 0, [])), PENDING);
  assert.equal(r.feed(frame(1, 255, 0, [])), ERROR);
  assert.equal(r.detail, "more than 256 frames");
});

test("duplicates of the last 8 completed ids give the stored ack; recent: 0 (the phone) has none", () => {
  const r = new Reassembler();
  for (let id = 1; id <= 9; id++) {
    assert.equal(r.feed(frame(id, 0, 1)), COMPLETE);
    r.setAck(id, `ack ${id}`);
  }
  assert.equal(r.feed(frame(9, 0, 1)), DUPLICATE);
  assert.equal(r.ack, "ack 9");
  assert.equal(r.feed(frame(2, 0, 1)), DUPLICATE);
  assert.equal(r.feed(frame(1, 0, 1)), COMPLETE, "id 1 is 9 messages back: forgotten");
  r.reset();
  assert.equal(r.feed(frame(9, 0, 1)), COMPLETE, "reset forgets");
  const phone = new Reassembler({ recent: 0 });
  assert.equal(phone.feed(frame(4, 0, 1)), COMPLETE);
  assert.equal(phone.feed(frame(4, 0, 1)), COMPLETE);
});

test("a status read: one frame, seq 0 and last, or nothing", () => {
  assert.deepEqual(singleFrameMessage(Uint8Array.of(3, 0, 1, 16, 123)), Uint8Array.of(16, 123));
  assert.equal(singleFrameMessage(new Uint8Array(0)), null);
  assert.equal(singleFrameMessage(Uint8Array.of(3, 0, 0, 16)), null);
  assert.equal(singleFrameMessage(Uint8Array.of(3, 1, 1, 16)), null);
  assert.deepEqual(singleFrameMessage(new DataView(Uint8Array.of(1, 0, 1, 7).buffer)), Uint8Array.of(7));
});

// -- the same frames through the firmware's Reassembler ----------------------------------

function randomSequences(count, seed = 1) {
  let s = seed;
  const rnd = (n) => {
    s = (s * 1103515245 + 12345) & 0x7fffffff;
    return s % n;
  };
  const sequences = [];
  for (let k = 0; k < count; k++) {
    const frames = [];
    for (let m = 0; m < 12; m++) {
      const id = rnd(12); // few ids: repeats of recent ones are duplicates
      const size = [4, 20, 64, 185][rnd(4)];
      const parts = split(msg(1 + rnd(size === 4 ? 60 : 400), rnd(256)), id, size);
      for (const f of parts) {
        const roll = rnd(120);
        if (roll === 0) continue; // lost
        if (roll === 1) frames.push(f.slice(0, rnd(3))); // short
        else if (roll === 2) frames.push(Uint8Array.of(f[0], f[1], f[2] | 4, ...f.slice(3))); // reserved bit
        else if (roll === 3) frames.push(f, f); // repeated
        else if (roll === 4) frames.push(Uint8Array.of(f[0], (f[1] + 1) & 255, f[2], ...f.slice(3))); // wrong seq
        else frames.push(f);
      }
      if (rnd(4) === 0) frames.push(...parts); // the whole message again: a resend
    }
    sequences.push(frames);
  }
  return sequences;
}

function crafted() {
  const long = split(msg(2048), 1, 20); // 121 frames
  const over = [...split(msg(2048), 2, 20).slice(0, -1), frame(2, 120, 0, [...msg(17)]), frame(2, 121, 1, [...msg(17)])];
  const tooMany = Array.from({ length: 257 }, (_, seq) => frame(3, seq & 255, seq === 256 ? 1 : 0, []));
  return [long, over, tooMany, [new Uint8Array(0), Uint8Array.of(5), Uint8Array.of(5, 0), Uint8Array.of(5, 0, 1)]];
}

function jsResults(frames) {
  const r = new Reassembler();
  return frames.map((f, i) => {
    const result = r.feed(f);
    const out = { result, msg_id: r.msgId };
    if (result === ERROR) Object.assign(out, { error: r.error, detail: r.detail });
    else if (result === COMPLETE) {
      out.message = hex(r.message());
      r.setAck(r.msgId, `ack-${i}`);
    } else if (result === DUPLICATE) out.ack = r.ack;
    return out;
  });
}

for (const interpreter of INTERPRETERS) {
  describe(`framing matches rs_frames under ${interpreter.name}`, { skip: skipReason(interpreter) }, () => {
    test("split: the same frames for every size, and the same refusals", async () => {
      const bridge = await FirmwareBridge.start(interpreter);
      try {
        for (const [n, size] of [[1, 20], [17, 20], [18, 20], [40, 20], [2048, 512], [2048, 20], [257, 4], [0, 20], [2049, 512], [5, 3]]) {
          const answer = await bridge.call({ op: "split", hex: hex(msg(n)), msg_id: 300 % 256, write_bytes: size });
          let mine;
          try {
            mine = { frames: split(msg(n), 300, size).map(hex) };
          } catch {
            mine = { error: "ValueError" };
          }
          assert.deepEqual(mine, answer, `${n} bytes at ${size}`);
        }
      } finally {
        await bridge.close();
      }
    });

    test("reassembly: crafted and 60 random damaged sequences give the same result for every frame", async () => {
      const bridge = await FirmwareBridge.start(interpreter);
      try {
        for (const frames of [...crafted(), ...randomSequences(60)]) {
          const answer = await bridge.call({ op: "frames", frames: frames.map(hex) });
          assert.deepEqual(jsResults(frames), answer.results);
        }
      } finally {
        await bridge.close();
      }
    });
  });
}
