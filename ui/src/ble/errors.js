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
