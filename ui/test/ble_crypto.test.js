// CPace, the key schedule and the sealed channel against the firmware's cross-implementation
// vectors (firmware/tests/vectors/protocol_v2.json): the draft's, RFC 7748's, SHA-512,
// HKDF, two full handshakes with sealed messages both ways, and every negative case.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { x25519 as nobleX25519, _map_to_curve_elligator2_curve25519 } from "@noble/curves/ed25519.js";
import { b64url, fromB64url, fromHex, hex, utf8 } from "../src/ble/bytes.js";
import {
  DSI,
  Initiator,
  calculateGenerator,
  channelIdentifier,
  decodeU,
  elligator2,
  generatorString,
  hkdfSha256,
  intermediateSessionKey,
  lvCat,
  parsePairingCode,
  prependLen,
  sessionKeys,
  sha512,
  transcriptIr,
  x25519,
} from "../src/ble/cpace.js";
import { Channel, Direction } from "../src/ble/channel.js";
import { BleError } from "../src/ble/errors.js";

const V = JSON.parse(readFileSync(new URL("../../firmware/tests/vectors/protocol_v2.json", import.meta.url)));
const empty = new Uint8Array(0);

test("the vector file is the one the firmware writes, with every section this suite reads", () => {
  for (const key of ["cpace_draft", "cpace_strings", "cpace_low_order", "rfc7748", "sha512", "hkdf_sha256", "handshakes", "negative"]) {
    assert.ok(V[key], key);
  }
  assert.equal(V.handshakes.length, 2);
  assert.equal(V.negative.length, 6);
});

test("prepend_len, lv_cat and transcript_ir as the draft writes them", () => {
  for (const { in: input, out } of V.cpace_strings.prepend_len) assert.equal(hex(prependLen(fromHex(input))), out);
  assert.equal(hex(lvCat(...V.cpace_strings.lv_cat.in.map(fromHex))), V.cpace_strings.lv_cat.out);
  for (const { in: parts, out } of V.cpace_strings.transcript_ir) assert.equal(hex(transcriptIr(...parts.map(fromHex))), out);
});

test("SHA-512 (WebCrypto) and HKDF-SHA256 (RFC 5869 A.1)", async () => {
  for (const { text, out } of V.sha512) assert.equal(hex(await sha512(utf8(text))), out);
  const h = V.hkdf_sha256;
  assert.equal(hex(await hkdfSha256(fromHex(h.ikm), fromHex(h.salt), fromHex(h.info), h.length)), h.okm);
});

test("X25519: RFC 7748's vectors, the iterated ones and the Diffie-Hellman example", () => {
  for (const { scalar, u, out } of V.rfc7748.x25519) assert.equal(hex(x25519(fromHex(scalar), fromHex(u))), out);
  let k = fromHex("09".padEnd(64, "0"));
  let u = k;
  for (let i = 1; i <= 1000; i++) {
    const next = x25519(k, u);
    u = k;
    k = next;
    if (i === 1) assert.equal(hex(k), V.rfc7748.iterated_1);
  }
  assert.equal(hex(k), V.rfc7748.iterated_1000);
  const r = V.rfc7748;
  const nine = fromHex("09".padEnd(64, "0"));
  assert.equal(hex(x25519(fromHex(r.alice_private), nine)), r.alice_public);
  assert.equal(hex(x25519(fromHex(r.bob_private), nine)), r.bob_public);
  assert.equal(hex(x25519(fromHex(r.alice_private), fromHex(r.bob_public))), r.shared);
});

test("low-order and non-canonical points: all-zero K exactly where the draft says", () => {
  const s = fromHex(V.cpace_low_order.s);
  for (const [u, expected, isLowOrder] of V.cpace_low_order.cases) {
    const k = x25519(s, fromHex(u));
    if (isLowOrder) assert.equal(hex(k), "00".repeat(32), u);
    else assert.equal(hex(k), expected, u);
  }
});

test("the draft's CPACE-X25519-SHA512 vector: generator string, g, Ya, Yb, K, ISK", async () => {
  const d = V.cpace_draft;
  const [prs, ci, sid] = [fromHex(d.prs), fromHex(d.ci), fromHex(d.sid)];
  assert.equal(hex(generatorString(DSI, prs, ci, sid)), d.generator_string);
  assert.equal(hex((await sha512(fromHex(d.generator_string))).slice(0, 32)), d.generator_hash);
  assert.equal(hex(await calculateGenerator(prs, ci, sid)), d.g);
  const g = fromHex(d.g);
  assert.equal(hex(x25519(fromHex(d.ya), g)), d.Ya);
  assert.equal(hex(x25519(fromHex(d.yb), g)), d.Yb);
  assert.equal(hex(x25519(fromHex(d.ya), fromHex(d.Yb))), d.K);
  assert.equal(hex(x25519(fromHex(d.yb), fromHex(d.Ya))), d.K);
  assert.equal(hex(transcriptIr(fromHex(d.Ya), fromHex(d.ada), fromHex(d.Yb), fromHex(d.adb))), d.transcript_ir);
  const isk = await intermediateSessionKey(sid, fromHex(d.K), fromHex(d.Ya), fromHex(d.ada), fromHex(d.Yb), fromHex(d.adb));
  assert.equal(hex(isk), d.isk_ir);
});

test("Elligator 2 agrees with @noble/curves' RFC 9380 map on random field elements", () => {
  const P = 2n ** 255n - 19n;
  for (let i = 0; i < 64; i++) {
    const u = decodeU(globalThis.crypto.getRandomValues(new Uint8Array(32)));
    const { xMn, xMd } = _map_to_curve_elligator2_curve25519(u);
    let inv = 1n;
    for (let b = xMd % P, e = P - 2n; e > 0n; e >>= 1n, b = (b * b) % P) if (e & 1n) inv = (inv * b) % P;
    assert.equal(elligator2(u), (xMn * inv) % P);
  }
});

test("X25519 on noble's abstract ladder equals noble's own x25519 on random scalars and points", () => {
  for (let i = 0; i < 32; i++) {
    const scalar = globalThis.crypto.getRandomValues(new Uint8Array(32));
    const u = globalThis.crypto.getRandomValues(new Uint8Array(32));
    let expected;
    try {
      expected = hex(nobleX25519.scalarMult(scalar, u));
    } catch {
      expected = "00".repeat(32);
    }
    assert.equal(hex(x25519(scalar, u)), expected);
  }
});

for (const hs of V.handshakes) {
  test(`${hs.name}: the phone's side reproduces every byte, and opens and seals both ways`, async () => {
    assert.equal(hex(channelIdentifier(hs.device_id)), hs.ci);
    assert.equal(hex(utf8(hs.code)), hs.prs);
    const a = await Initiator.create(hs.code, hs.device_id, { sid: fromHex(hs.sid), ya: fromHex(hs.ya) });
    assert.equal(hex(a.generator), hs.generator);
    assert.equal(hex(a.yaPoint), hs.Ya);
    assert.deepEqual(a.pakeA(), hs.messages.pake_a);
    assert.ok(a.answers(hs.messages.pake_b));
    assert.ok(!a.answers({ ...hs.messages.pake_b, sid: b64url(new Uint8Array(16)) }), "another handshake's pake_b");
    const { confirm, keys } = await a.finish(hs.messages.pake_b);
    assert.deepEqual(confirm, hs.messages.confirm);
    assert.equal(hex(keys.transcript), hs.transcript);
    assert.equal(hex(keys.isk), hs.isk);
    assert.equal(hex(keys.okm), hs.okm);
    assert.equal(hex(keys.ta), hs.ta);
    assert.equal(hex(keys.tb), hs.tb);
    assert.equal(hex(x25519(fromHex(hs.yb), fromHex(hs.generator))), hs.Yb);

    // the phone seals p2d and opens d2p; the device view (tests' responder) the reverse
    const phone = await Channel.create(keys);
    const device = await Channel.create(keys, { device: true });
    for (const m of hs.sealed) {
      const plain = utf8(m.plaintext_text);
      if (m.direction === "p2d") {
        assert.equal(hex(await phone.seal(m.inner_type, plain)), m.sealed, `p2d counter ${m.counter}`);
        assert.equal(phone.sent, m.counter);
        const opened = await device.open(fromHex(m.sealed));
        assert.equal(opened.counter, m.counter);
        assert.equal(opened.type, m.inner_type);
        assert.deepEqual(opened.json, JSON.parse(m.plaintext_text));
      } else {
        const opened = await phone.open(fromHex(m.sealed));
        assert.equal(opened.counter, m.counter);
        assert.equal(opened.type, m.inner_type);
        assert.equal(new TextDecoder().decode(opened.payload), m.plaintext_text);
        assert.equal(hex(await device.seal(m.inner_type, plain)), m.sealed, `d2p counter ${m.counter}`);
      }
    }
  });
}

async function handshakeKeys(hs) {
  const a = await Initiator.create(hs.code, hs.device_id, { sid: fromHex(hs.sid), ya: fromHex(hs.ya) });
  return (await a.finish(hs.messages.pake_b)).keys;
}

const rejects = (promise, code) =>
  assert.rejects(promise, (err) => err instanceof BleError && err.kind === "refused" && err.code === code);

test("negative: a wrong code fails the phone's check of Tb (E_AUTH) and nothing is derived", async () => {
  const n = V.negative.find((c) => c.name.startsWith("wrong code"));
  const a = await Initiator.create(n.phone_code, n.device_id, { sid: fromHex(n.sid), ya: fromHex(n.ya) });
  assert.equal(hex(a.yaPoint), n.Ya);
  const pakeB = { msg_id: 1, sid: b64url(fromHex(n.sid)), yb: b64url(fromHex(n.Yb)), tb: b64url(fromHex(n.tb_from_device)) };
  await rejects(a.finish(pakeB), "E_AUTH");
  assert.equal(a.keys, null);
  // the device's side, from the right code, gives exactly that Tb: the responder's procedure
  const g = await calculateGenerator(utf8(n.code), channelIdentifier(n.device_id), fromHex(n.sid));
  assert.equal(hex(x25519(fromHex(n.yb), g)), n.Yb);
  const k = x25519(fromHex(n.yb), a.yaPoint);
  const transcript = transcriptIr(a.yaPoint, empty, fromHex(n.Yb), empty);
  const isk = await intermediateSessionKey(fromHex(n.sid), k, a.yaPoint, empty, fromHex(n.Yb), empty);
  assert.equal(hex((await sessionKeys(isk, fromHex(n.sid), transcript)).tb), n.tb_from_device);
});

test("negative: tampered tag, flipped ciphertext bit and a reflected message are E_AUTH", async () => {
  const keys = await handshakeKeys(V.handshakes[0]);
  for (const n of V.negative.filter((c) => c.sealed)) {
    const ch = await Channel.create(keys, { device: n.direction === "p2d" });
    await rejects(ch.open(fromHex(n.sealed)), n.expect);
    assert.equal(ch.received, 0, `${n.name}: a failed open moves no counter`);
  }
});

test("negative: replayed and reordered sequences, in the order given", async () => {
  const keys = await handshakeKeys(V.handshakes[0]);
  for (const n of V.negative.filter((c) => c.sequence)) {
    const ch = await Channel.create(keys, { device: n.direction === "p2d" });
    const results = [];
    for (const s of n.sequence) {
      try {
        await ch.open(fromHex(s));
        results.push("ok");
      } catch (err) {
        results.push(err.code);
      }
    }
    assert.deepEqual(results, n.expect, n.name);
  }
});

test("a polled read of the last accepted counter is nothing new, not a replay", async () => {
  const hs = V.handshakes[0];
  const keys = await handshakeKeys(hs);
  const phone = await Channel.create(keys);
  const m = hs.sealed.find((s) => s.direction === "d2p");
  assert.ok(await phone.open(fromHex(m.sealed), { polled: true }));
  assert.equal(await phone.open(fromHex(m.sealed), { polled: true }), null);
  await rejects(phone.open(fromHex(m.sealed)), "E_REPLAY");
  await rejects(phone.open(fromHex(m.sealed).slice(0, 20)), "E_MESSAGE");
});

test("AES-CTR over many blocks: a 2 KB message round-trips and its tag covers every byte", async () => {
  const key = new Uint8Array(16).fill(7);
  const mac = new Uint8Array(32).fill(9);
  const out = await Direction.create(key, mac, "p2d");
  const plain = globalThis.crypto.getRandomValues(new Uint8Array(2027));
  const sealed = await out.seal(5, plain);
  assert.equal(sealed.length, plain.length + 20);
  const opened = await out.open(sealed);
  assert.equal(opened.counter, 5);
  assert.deepEqual(opened.plaintext, plain);
  sealed[1000] ^= 1;
  await rejects(out.open(sealed), "E_AUTH");
});

test("pairing codes: typed with spaces or a dash, or the label's QR payload", () => {
  assert.deepEqual(parsePairingCode("1234-5678"), { code: "12345678", deviceId: null });
  assert.deepEqual(parsePairingCode(" 1234 5678 "), { code: "12345678", deviceId: null });
  assert.deepEqual(parsePairingCode("RSCORE:RS-Core-7F3A:12345678"), { code: "12345678", deviceId: "RS-Core-7F3A" });
  for (const bad of ["1234567", "123456789", "1234-567a", "１２３４５６７８", "", null]) assert.equal(parsePairingCode(bad), null, String(bad));
});

test("base64url without padding, both ways, strict on input", () => {
  for (let n = 0; n < 40; n++) {
    const bytes = globalThis.crypto.getRandomValues(new Uint8Array(n));
    const text = b64url(bytes);
    assert.equal(text, Buffer.from(bytes).toString("base64url"));
    assert.deepEqual(fromB64url(text), bytes);
  }
  for (const bad of ["a", "ab=", "ab+c", "ab/c", "AB", "AAB"]) assert.throws(() => fromB64url(bad), TypeError, bad);
});
