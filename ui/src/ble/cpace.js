// CPace (draft-irtf-cfrg-cpace-21, CPACE-X25519-SHA512), the phone's side: the initiator
// A (docs/ble-protocol.md, "Crypto"). The pairing code becomes session keys that no
// listener can test codes against offline.
//
//   g   = Elligator2(SHA-512(lv_cat(DSI, PRS, zpad, CI, sid))[0:32])
//   Ya  = X25519(ya, g)                       sent in pake_a
//   K   = X25519(ya, Yb); all zero: abort     (a low-order point)
//   ISK = SHA-512(lv_cat("CPace255_ISK", sid, K) ‖ lv_cat(Ya, "") ‖ lv_cat(Yb, ""))
//   okm = HKDF-SHA256(ISK, salt = sid, info, 160) → confirm_a, confirm_b, AES and MAC keys
//   Ta  = HMAC(confirm_a, transcript), Tb = HMAC(confirm_b, transcript)
//
// SHA-512, HKDF and HMAC come from WebCrypto; X25519 is @noble/curves' audited Montgomery
// ladder (its abstract module with Curve25519's parameters: the ed25519 module would bring
// Edwards arithmetic the client never uses, 20 KB gzipped instead of 12); Elligator 2 is
// the few lines of field arithmetic below (RFC 9380 6.7.1). Every value is
// checked against firmware/tests/vectors/protocol_v2.json (test/ble_crypto.test.js).
import { montgomery } from "@noble/curves/abstract/montgomery.js";
import { b64url, concat, equalCt, fromB64url, utf8 } from "./bytes.js";
import { CRYPTO, E } from "./protocol.js";
import { refused } from "./errors.js";

const subtle = () => globalThis.crypto.subtle;

export const DSI = utf8("CPace255");
export const DSI_ISK = utf8("CPace255_ISK");
const HASH_BLOCK_BYTES = 128; // SHA-512's input block: s_in_bytes
const POINT_BYTES = CRYPTO.point_bytes;
const SID_BYTES = CRYPTO.sid_bytes;

// -- the strings ------------------------------------------------------------------------

/** `data` prefixed with its length as LEB128. */
export function prependLen(data) {
  const head = [];
  let n = data.length;
  while (n >= 128) {
    head.push((n & 0x7f) | 0x80);
    n >>>= 7;
  }
  head.push(n);
  return concat(Uint8Array.from(head), data);
}

export const lvCat = (...parts) => concat(...parts.map(prependLen));

/** lv_cat(DSI, PRS, zero padding, CI, sid): the padding fills SHA-512's first block. */
export function generatorString(dsi, prs, ci, sid, sInBytes = HASH_BLOCK_BYTES) {
  const zpad = Math.max(0, sInBytes - 1 - prependLen(prs).length - prependLen(dsi).length);
  return lvCat(dsi, prs, new Uint8Array(zpad), ci, sid);
}

export const transcriptIr = (ya, ada, yb, adb) => concat(lvCat(ya, ada), lvCat(yb, adb));

export const channelIdentifier = (deviceId) => lvCat(utf8(CRYPTO.ci_label), utf8(deviceId));

// -- Curve25519 -------------------------------------------------------------------------

const P = 2n ** 255n - 19n;
const J = 486662n; // Montgomery A of Curve25519 (K = 1)

const mod = (a) => {
  const r = a % P;
  return r < 0n ? r + P : r;
};

function powMod(base, exp) {
  let result = 1n;
  base = mod(base);
  while (exp > 0n) {
    if (exp & 1n) result = (result * base) % P;
    base = (base * base) % P;
    exp >>= 1n;
  }
  return result;
}

const bytesToIntLE = (bytes) => {
  let n = 0n;
  for (let i = bytes.length - 1; i >= 0; i--) n = (n << 8n) | BigInt(bytes[i]);
  return n;
};

const intToBytesLE = (n, length) => {
  const out = new Uint8Array(length);
  for (let i = 0; i < length; i++) {
    out[i] = Number(n & 0xffn);
    n >>= 8n;
  }
  return out;
};

/** RFC 7748 decodeUCoordinate: little-endian, bit 255 cleared, reduced mod p. */
export function decodeU(bytes) {
  const b = Uint8Array.from(bytes);
  b[31] &= 0x7f;
  return mod(bytesToIntLE(b));
}

/** RFC 9380 6.7.1 map_to_curve_elligator2 for curve25519 (Z = 2), the u-coordinate only,
 * in affine coordinates. */
export function elligator2(u) {
  const tv = mod(1n + 2n * u * u); // never 0: -1/2 is not a square mod p
  let x1 = tv === 0n ? 0n : mod(-J * powMod(tv, P - 2n));
  if (x1 === 0n) x1 = mod(-J);
  const gx1 = mod(x1 * x1 * x1 + J * x1 * x1 + x1);
  const legendre = powMod(gx1, (P - 1n) / 2n); // 0 or 1: a square
  return legendre <= 1n ? x1 : mod(-x1 - J);
}

// RFC 7748's X25519: p = 2^255 - 19, scalars clamped as section 5 says.
const ladder = montgomery({
  P,
  type: "x25519",
  powPminus2: (x) => powMod(x, P - 2n),
  adjustScalarBytes: (bytes) => {
    bytes[0] &= 248;
    bytes[31] &= 127;
    bytes[31] |= 64;
    return bytes;
  },
  randomBytes,
});

/** X25519(scalar, u) as RFC 7748 defines it, with the all-zero result for a low-order u
 * (noble refuses those with an error instead of returning zeros: CPace checks for G.I). */
export function x25519(scalar, u) {
  if (scalar.length !== POINT_BYTES || u.length !== POINT_BYTES) throw new RangeError("X25519 takes 32-byte scalars and points");
  try {
    return ladder.scalarMult(scalar, u);
  } catch {
    return new Uint8Array(POINT_BYTES); // a low-order point: the identity
  }
}

const isZero = (bytes) => bytes.every((b) => b === 0);

// -- WebCrypto primitives ---------------------------------------------------------------

export async function sha512(data) {
  return new Uint8Array(await subtle().digest("SHA-512", data));
}

export async function hmacSha256(key, data) {
  const k = await subtle().importKey("raw", key, { name: "HMAC", hash: "SHA-256" }, false, ["sign"]);
  return new Uint8Array(await subtle().sign("HMAC", k, data));
}

export async function hkdfSha256(ikm, salt, info, lengthBytes) {
  const k = await subtle().importKey("raw", ikm, "HKDF", false, ["deriveBits"]);
  return new Uint8Array(await subtle().deriveBits({ name: "HKDF", hash: "SHA-256", salt, info }, k, lengthBytes * 8));
}

export function randomBytes(n) {
  return globalThis.crypto.getRandomValues(new Uint8Array(n));
}

// -- CPace ------------------------------------------------------------------------------

/** The generator's u-coordinate (32 bytes) for PRS, CI and sid. */
export async function calculateGenerator(prs, ci, sid) {
  const h = (await sha512(generatorString(DSI, prs, ci, sid))).slice(0, POINT_BYTES);
  return intToBytesLE(elligator2(decodeU(h)), POINT_BYTES);
}

export async function intermediateSessionKey(sid, k, ya, ada, yb, adb) {
  return sha512(concat(lvCat(DSI_ISK, sid, k), transcriptIr(ya, ada, yb, adb)));
}

/** The key schedule: HKDF-SHA256(ISK, salt = sid) cut into its six keys, and the two
 * confirmation tags over the transcript. All raw bytes. */
export async function sessionKeys(isk, sid, transcript) {
  const okm = await hkdfSha256(isk, sid, utf8(CRYPTO.hkdf_info), CRYPTO.key_schedule_bytes);
  const take = (() => {
    let i = 0;
    return (n) => okm.slice(i, (i += n));
  })();
  const confirmKeyA = take(CRYPTO.confirm_bytes);
  const confirmKeyB = take(CRYPTO.confirm_bytes);
  const keys = {
    okm,
    aesP2d: take(CRYPTO.aes_key_bytes),
    aesD2p: take(CRYPTO.aes_key_bytes),
    macP2d: take(CRYPTO.mac_key_bytes),
    macD2p: take(CRYPTO.mac_key_bytes),
  };
  keys.ta = await hmacSha256(confirmKeyA, transcript);
  keys.tb = await hmacSha256(confirmKeyB, transcript);
  return keys;
}

/** Pairing-code input as the UI gets it: typed ("1234-5678", "1234 5678") or scanned
 * from the label's QR ("RSCORE:<device_id>:<8 digits>"). Returns {code, deviceId} (deviceId
 * null when typed) or null when it is not a code: the UI refuses before connecting. */
export function parsePairingCode(text) {
  if (typeof text !== "string") return null;
  let deviceId = null;
  let digits = text.trim();
  if (digits.startsWith(CRYPTO.qr_prefix)) {
    const cut = digits.lastIndexOf(":");
    deviceId = digits.slice(CRYPTO.qr_prefix.length, cut);
    digits = digits.slice(cut + 1);
  } else {
    digits = digits.replace(/[\s-]/g, "");
  }
  if (!new RegExp(`^[0-9]{${CRYPTO.pairing_code_digits}}$`).test(digits)) return null;
  return { code: digits, deviceId };
}

function bytesField(obj, name, size) {
  try {
    const raw = fromB64url(obj?.[name]);
    if (raw.length === size) return raw;
  } catch {
    // fall through: the same refusal for any malformed field
  }
  throw refused(E.E_MESSAGE, `${name}: ${size} bytes as unpadded base64url expected`, { reason: "malformed" });
}

/** The phone's half of one handshake.
 *
 *    const a = await Initiator.create("12345678", info.device_id);
 *    send(pake_a, a.pakeA());
 *    if (!a.answers(pakeB)) ...                  // another handshake's answer: keep waiting
 *    const { confirm, keys } = await a.finish(pakeB);   // BleError refused E_AUTH if Tb fails
 *    send(confirm_type, confirm);
 */
export class Initiator {
  static async create(code, deviceId, { sid = randomBytes(SID_BYTES), ya = randomBytes(POINT_BYTES) } = {}) {
    if (typeof code !== "string" || parsePairingCode(code)?.code !== code) throw new RangeError("the pairing code is 8 ASCII digits");
    if (sid.length !== SID_BYTES) throw new RangeError("sid is 16 bytes");
    const g = await calculateGenerator(utf8(code), channelIdentifier(deviceId), sid);
    const yaPoint = x25519(ya, g);
    if (isZero(yaPoint)) throw refused(E.E_AUTH, "the generator has low order", { reason: "crypto" });
    return new Initiator(sid, ya, yaPoint, g);
  }

  constructor(sid, ya, yaPoint, generator) {
    this.sid = sid;
    this._ya = ya;
    this.yaPoint = yaPoint;
    this.generator = generator;
    this.keys = null;
  }

  /** pake_a's JSON. */
  pakeA() {
    return { sid: b64url(this.sid), ya: b64url(this.yaPoint) };
  }

  /** Does this pake_b answer this handshake (its sid)? A stale one is to be ignored. */
  answers(pakeB) {
    return typeof pakeB?.sid === "string" && pakeB.sid === b64url(this.sid);
  }

  /** Check the device's Tb and derive the keys; returns {confirm: {ta}, keys}. BleError
   * refused E_AUTH when Yb has low order or Tb does not verify (the device does not hold
   * this code): then nothing more may be sent. */
  async finish(pakeB) {
    const yb = bytesField(pakeB, "yb", POINT_BYTES);
    const tb = bytesField(pakeB, "tb", CRYPTO.confirm_bytes);
    const k = x25519(this._ya, yb);
    if (isZero(k)) throw refused(E.E_AUTH, "the logger's share has low order: not a genuine logger", { reason: "low_order" });
    const transcript = transcriptIr(this.yaPoint, new Uint8Array(0), yb, new Uint8Array(0));
    const isk = await intermediateSessionKey(this.sid, k, this.yaPoint, new Uint8Array(0), yb, new Uint8Array(0));
    const keys = await sessionKeys(isk, this.sid, transcript);
    if (!equalCt(keys.tb, tb)) throw refused(E.E_AUTH, "wrong pairing code, or not this logger", { reason: "wrong_code" });
    this._ya = null; // the scalar is not needed again
    this.keys = { ...keys, isk, transcript, ybPoint: yb };
    return { confirm: { ta: b64url(keys.ta) }, keys: this.keys };
  }
}
