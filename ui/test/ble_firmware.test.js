// The reverse direction of the vectors: what the JavaScript builds with fresh random
// scalars, sids and codes is taken apart by the firmware's own rs_pake.Responder and
// rs_channel.Channel, under CPython and under the MicroPython unix port; and what the
// firmware seals, the JavaScript opens.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { b64url, fromHex, hex } from "../src/ble/bytes.js";
import { Channel } from "../src/ble/channel.js";
import { Initiator, randomBytes } from "../src/ble/cpace.js";
import { MSG } from "../src/ble/protocol.js";
import { FirmwareBridge, INTERPRETERS, skipReason } from "./helpers/firmware.js";

const code = () => String(Math.floor(Math.random() * 1e8)).padStart(8, "0");

async function handshake(bridge, { phoneCode, deviceCode = phoneCode, deviceId }) {
  const a = await Initiator.create(phoneCode, deviceId);
  const device = await bridge.call({ op: "respond", code: deviceCode, device_id: deviceId, sid: hex(a.sid), ya: hex(a.yaPoint), yb: hex(randomBytes(32)) });
  assert.equal(device.error, undefined);
  const pakeB = { msg_id: 1, sid: b64url(a.sid), yb: b64url(fromHex(device.yb_point)), tb: b64url(fromHex(device.tb)) };
  return { a, pakeB };
}

for (const interpreter of INTERPRETERS) {
  describe(`the firmware's own code opens what the JavaScript builds, under ${interpreter.name}`, { skip: skipReason(interpreter) }, () => {
    test("fresh handshakes: Tb checks in JS, Ta in the firmware, sealed messages both ways", async () => {
      const bridge = await FirmwareBridge.start(interpreter);
      try {
        for (const deviceId of ["RS-Core-7F3A", "RS-Core-0001", "logger-Ünï-λ"]) {
          const c = code();
          const { a, pakeB } = await handshake(bridge, { phoneCode: c, deviceId });
          const { confirm, keys } = await a.finish(pakeB);
          assert.deepEqual(await bridge.call({ op: "confirm", ta: hex(Buffer.from(confirm.ta, "base64url")) }), { ok: true });

          const phone = await Channel.create(keys);
          const messages = [
            [MSG.sync_request, { ssid: "Pit ✓", password: "", url: "http://10.0.0.2:8000/api/upload", token: "t", sync_id: "s-1", time_utc: 1767225600, ack_key: b64url(randomBytes(32)) }],
            [MSG.status_request, {}],
            [MSG.cancel, { sync_id: "s-1" }],
            [MSG.sync_request, { long: "x".repeat(1900) }],
          ];
          for (const [i, [type, obj]] of messages.entries()) {
            const sealed = await phone.seal(type, obj);
            const opened = await bridge.call({ op: "open", hex: hex(sealed) });
            assert.deepEqual(opened, { type, text: JSON.stringify(obj), counter: i + 1 });
          }
          for (let i = 1; i <= 3; i++) {
            const text = JSON.stringify({ msg_id: i, result: "ok", counter: i, note: "d2p ✓" });
            const sealed = fromHex((await bridge.call({ op: "seal", type: MSG.ack, text })).hex);
            const opened = await phone.open(sealed);
            assert.equal(opened.counter, i);
            assert.equal(opened.type, MSG.ack);
            assert.equal(new TextDecoder().decode(opened.payload), text);
          }
        }
      } finally {
        await bridge.close();
      }
    });

    test("the firmware refuses a replayed or altered JavaScript message, and a Ta of the wrong code", async () => {
      const bridge = await FirmwareBridge.start(interpreter);
      try {
        const c = code();
        const { a, pakeB } = await handshake(bridge, { phoneCode: c, deviceId: "RS-Core-7F3A" });
        const { confirm, keys } = await a.finish(pakeB);
        assert.equal((await bridge.call({ op: "confirm", ta: hex(Buffer.from(confirm.ta, "base64url")) })).ok, true);
        const phone = await Channel.create(keys);
        const first = await phone.seal(MSG.status_request, {});
        const second = await phone.seal(MSG.status_request, {});
        assert.equal((await bridge.call({ op: "open", hex: hex(second) })).counter, 2);
        assert.deepEqual(await bridge.call({ op: "open", hex: hex(first) }), { error: "E_REPLAY" });
        assert.deepEqual(await bridge.call({ op: "open", hex: hex(second) }), { error: "E_REPLAY" });
        const third = await phone.seal(MSG.cancel, { sync_id: "s" });
        third[6] ^= 0x40;
        assert.deepEqual(await bridge.call({ op: "open", hex: hex(third) }), { error: "E_AUTH" });
        third[6] ^= 0x40;
        assert.equal((await bridge.call({ op: "open", hex: hex(third) })).counter, 3, "a failed open moved nothing");

        // a phone with the wrong code: its check of Tb fails, and its Ta would fail too
        const wrong = await handshake(bridge, { phoneCode: "00000001", deviceCode: "00000002", deviceId: "RS-Core-7F3A" });
        await assert.rejects(wrong.a.finish(wrong.pakeB), { kind: "refused", code: "E_AUTH" });
        assert.deepEqual(await bridge.call({ op: "confirm", ta: hex(randomBytes(32)) }), { ok: false });

        // a low-order Ya is refused by the firmware (its half of the check)
        const low = await bridge.call({ op: "respond", code: c, device_id: "RS-Core-7F3A", sid: hex(randomBytes(16)), ya: "00".repeat(32), yb: hex(randomBytes(32)) });
        assert.deepEqual(low, { error: "E_AUTH" });
      } finally {
        await bridge.close();
      }
    });
  });
}
