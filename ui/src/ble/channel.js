// The sealed channel a handshake opens (docs/ble-protocol.md, "Sealed messages"), as
// firmware/rs_channel.py:
//
//   sealed     = counter (u32 BE) ‖ ciphertext ‖ tag
//   ciphertext = AES-128-CTR(aes_dir, counter block = counter ‖ 12 zero bytes, plaintext)
//   tag        = HMAC-SHA256(mac_dir, label_dir ‖ counter ‖ ciphertext)[0:16]
//   plaintext  = inner type (1 byte) ‖ UTF-8 JSON
//
// Encrypt-then-MAC; the tag is checked in constant time before decrypting. Each direction
// has its keys, its label (p2d: phone to device, d2p: device to phone) and its counter,
// which starts at 1 and must strictly increase; a message that fails changes nothing.
import { concat, equalCt, fromUtf8, toBytes, utf8 } from "./bytes.js";
import { CRYPTO, E } from "./protocol.js";
import { refused } from "./errors.js";

const subtle = () => globalThis.crypto.subtle;
const COUNTER_BYTES = CRYPTO.counter_bytes;
const TAG_BYTES = CRYPTO.tag_bytes;
export const OVERHEAD_BYTES = COUNTER_BYTES + TAG_BYTES; // what sealing adds
export const COUNTER_MAX = 0xffffffff;

const counterBytes = (counter) => {
  const c = new Uint8Array(COUNTER_BYTES);
  new DataView(c.buffer).setUint32(0, counter);
  return c;
};

/** One direction's keys: seals with, or opens under, (aes key, mac key, label). */
export class Direction {
  static async create(aesKey, macKey, label) {
    const aes = await subtle().importKey("raw", aesKey, "AES-CTR", false, ["encrypt", "decrypt"]);
    const mac = await subtle().importKey("raw", macKey, { name: "HMAC", hash: "SHA-256" }, false, ["sign"]);
    return new Direction(aes, mac, utf8(label));
  }

  constructor(aes, mac, label) {
    this._aes = aes;
    this._mac = mac;
    this._label = label;
  }

  async _ctr(counter, data) {
    const iv = new Uint8Array(16);
    iv.set(counterBytes(counter));
    // the block counter is the last 32 bits, from 0: at most 128 blocks per message
    return new Uint8Array(await subtle().encrypt({ name: "AES-CTR", counter: iv, length: 32 }, this._aes, data));
  }

  async _tag(c4, ciphertext) {
    const full = new Uint8Array(await subtle().sign("HMAC", this._mac, concat(this._label, c4, ciphertext)));
    return full.slice(0, TAG_BYTES);
  }

  /** counter ‖ ciphertext ‖ tag of `plaintext` under message `counter`. */
  async seal(counter, plaintext) {
    if (!Number.isInteger(counter) || counter < 0 || counter > COUNTER_MAX) throw new RangeError("counter out of range");
    const c4 = counterBytes(counter);
    const ciphertext = await this._ctr(counter, plaintext);
    return concat(c4, ciphertext, await this._tag(c4, ciphertext));
  }

  /** {counter, plaintext}; BleError refused E_MESSAGE (too short) or E_AUTH (bad tag). */
  async open(sealed) {
    sealed = toBytes(sealed);
    const n = sealed.length;
    if (n < OVERHEAD_BYTES + 1) throw refused(E.E_MESSAGE, "sealed message too short", { reason: "crypto" });
    const c4 = sealed.slice(0, COUNTER_BYTES);
    const ciphertext = sealed.slice(COUNTER_BYTES, n - TAG_BYTES);
    if (!equalCt(await this._tag(c4, ciphertext), sealed.subarray(n - TAG_BYTES))) {
      throw refused(E.E_AUTH, "sealed message failed its MAC", { reason: "crypto" });
    }
    const counter = new DataView(c4.buffer).getUint32(0);
    return { counter, plaintext: await this._ctr(counter, ciphertext) };
  }
}

/** Both directions of one session from one side: the phone's (the default) seals p2d and
 * opens d2p; `device: true` is the logger's view (tests).
 *
 *    const ch = await Channel.create(keys);            // keys from Initiator.finish
 *    const body = await ch.seal(MSG.sync_request, {...});   // body of a `sealed` message
 *    const { type, payload, counter } = await ch.open(body);  // or BleError
 */
export class Channel {
  static async create(keys, { device = false } = {}) {
    const p2d = await Direction.create(keys.aesP2d, keys.macP2d, CRYPTO.label_p2d);
    const d2p = await Direction.create(keys.aesD2p, keys.macD2p, CRYPTO.label_d2p);
    return device ? new Channel(d2p, p2d) : new Channel(p2d, d2p);
  }

  constructor(out, inbound) {
    this._out = out;
    this._in = inbound;
    this.sent = 0; // the counter of the last message sealed
    this.received = 0; // the counter of the last message opened
  }

  /** Seal an inner message: `payload` is a JSON value, or bytes sent as they are. Each
   * call takes the next counter. */
  async seal(innerType, payload) {
    if (this.sent >= COUNTER_MAX) throw refused(E.E_REPLAY, "counter exhausted: run a new handshake", { reason: "crypto" });
    const body = payload instanceof Uint8Array ? payload : utf8(JSON.stringify(payload));
    this.sent += 1;
    return this._out.seal(this.sent, concat(Uint8Array.of(innerType), body));
  }

  /** Open a message of the other side: {counter, type, payload (bytes), json (parsed, or
   * undefined when not JSON)}. BleError refused: E_MESSAGE, E_AUTH, E_REPLAY (counter not
   * above the last accepted). With `polled`, the last accepted counter again is the same
   * value read twice: null, nothing new. */
  async open(sealed, { polled = false } = {}) {
    const { counter, plaintext } = await this._in.open(sealed);
    if (polled && counter === this.received) return null;
    if (counter <= this.received) throw refused(E.E_REPLAY, "counter not above the last accepted one", { reason: "crypto" });
    this.received = counter;
    const payload = plaintext.slice(1);
    let json;
    try {
      json = JSON.parse(fromUtf8(payload));
    } catch {
      json = undefined;
    }
    return { counter, type: plaintext[0], payload, json };
  }
}
