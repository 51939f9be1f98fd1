// The one error type of the BLE client. `kind` says what the caller can do about it:
//   transient        the link hiccupped; the client already retried once: try again
//   unavailable      no Bluetooth here (no API, switched off, not a secure context), or
//                    the logger speaks another protocol version (reason "protocol")
//   missing_service  the device chosen has no RS-Core service (not a logger, or stale
//                    GATT cache)
//   refused          the logger (or the phone's own check) said no: `code` says why,
//                    e.g. E_AUTH for a wrong pairing code, E_BUSY, E_RATE_LIMIT
//   cancelled        the user closed the chooser: not a failure
// `code` is the logger's E_* code when it gave one (null otherwise); `reason` a short
// client-side tag (timeout, disconnected, protocol, no_api, bluetooth_off, ...).
import { ERROR_TEXT } from "./protocol.js";

export const KINDS = Object.freeze(["transient", "unavailable", "missing_service", "refused", "cancelled"]);

export class BleError extends Error {
  constructor(kind, message, { code = null, reason = null, detail = null, retryMs = null, ack = null, cause } = {}) {
    super(message, cause === undefined ? undefined : { cause });
    if (!KINDS.includes(kind)) throw new TypeError(`unknown BleError kind ${kind}`);
    this.name = "BleError";
    this.kind = kind;
    this.code = code;
    this.reason = reason;
    this.detail = detail;
    this.retryMs = retryMs;
    this.ack = ack;
  }

  toJSON() {
    return { kind: this.kind, code: this.code, reason: this.reason, message: this.message, detail: this.detail };
  }
}

/** An E_* answer of the logger as a refusal. */
export function refused(code, message, extra = {}) {
  return new BleError("refused", message, { code, ...extra });
}

/** The sentence for the logger's E_* `code` (docs/ble-protocol.md), with the code. */
export function plain(code, fallback) {
  return ERROR_TEXT[code] ? `${ERROR_TEXT[code]} (${code})` : fallback || `the logger answered ${code}`;
}

/** A DOMException (or anything thrown by Web Bluetooth) as a BleError; `during` is
 * "request", "service" or "link". */
export function fromBluetoothError(err, during) {
  if (err instanceof BleError) return err;
  const name = err?.name || "";
  const message = err?.message || String(err);
  if (name === "NotFoundError") {
    if (/adapter|bluetooth is (off|disabled)|not available/i.test(message)) {
      return new BleError("unavailable", "Bluetooth is switched off or missing on this device.", { reason: "bluetooth_off", cause: err });
    }
    if (during === "request") return new BleError("cancelled", "No logger was chosen.", { reason: "chooser_closed", cause: err });
    if (during === "service") {
      return new BleError("missing_service", "This device has no RS-Core service: choose a logger named RS-Core-….", { reason: "no_service", cause: err });
    }
  }
  if (name === "SecurityError" || name === "NotAllowedError") {
    return new BleError("unavailable", `The browser did not allow Bluetooth here (${message}).`, { reason: "not_allowed", cause: err });
  }
  if (name === "NotSupportedError" || name === "TypeError") {
    return new BleError("unavailable", `This browser cannot do that over Bluetooth (${message}).`, { reason: "not_supported", cause: err });
  }
  return new BleError("transient", `The Bluetooth link failed (${message}).`, { reason: "gatt", cause: err });
}
