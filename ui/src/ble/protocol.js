// The RS-Core BLE protocol's constants, straight from firmware/protocol.json: the one
// source the firmware's rs_protocol.py is generated from (docs/ble-protocol.md). Nothing
// here is typed twice; the tables below are derived from the JSON, and
// test/ble_protocol.test.js checks them against it and against rs_protocol.py.
import protocol from "../../../firmware/protocol.json" with { type: "json" };

export const PROTOCOL = protocol;
export const PROTOCOL_VERSION = protocol.protocol_version;

export const SERVICE_UUID = protocol.service_uuid;
export const INFO_UUID = protocol.characteristics.info.uuid;
export const CONTROL_UUID = protocol.characteristics.control.uuid;
export const STATUS_UUID = protocol.characteristics.status.uuid;
export const DEVICE_NAME_PREFIX = protocol.device_name_prefix;

export const FRAME_HEADER_BYTES = protocol.frame.header_bytes;
export const DEFAULT_WRITE_BYTES = protocol.frame.default_write_bytes;
export const MAX_FRAME_BYTES = protocol.frame.max_frame_bytes;
export const MAX_MESSAGE_BYTES = protocol.frame.max_message_bytes;
export const FLAG_LAST = protocol.frame.flag_last;
export const RECENT_MSG_IDS = protocol.frame.recent_msg_ids;

/** Message type numbers by name ({sync_request: 1, …, pake_b: 21}). */
export const MSG = Object.freeze({ ...protocol.message_types });
/** Message type names by number ({1: "sync_request", …}). */
export const MSG_NAME = Object.freeze(Object.fromEntries(Object.entries(MSG).map(([name, n]) => [n, name])));

/** Error codes by themselves ({E_FRAME: "E_FRAME", …}), so a typo is undefined, not a string. */
export const E = Object.freeze(Object.fromEntries(Object.keys(protocol.errors).map((c) => [c, c])));
/** What each error code means, in the protocol's words. */
export const ERROR_TEXT = Object.freeze({ ...protocol.errors });

export const STATES = Object.freeze([...protocol.states]);
export const RUNNING_STATES = Object.freeze([...protocol.running_states]);
export const FINAL_STATES = Object.freeze(["done", "cancelled", "failed"]);

/** Inner message types the phone seals, and the ones only the device seals. */
export const SEALED_FROM_PHONE = Object.freeze(protocol.sealed_types.phone.map((n) => MSG[n]));
export const SEALED_FROM_DEVICE = Object.freeze(protocol.sealed_types.device.map((n) => MSG[n]));

export const CRYPTO = Object.freeze({ ...protocol.crypto });
export const ACK_OK = protocol.ack_ok;
export const PROGRESS_INTERVAL_MS = protocol.progress_interval_ms;
export const SYNC_JOIN_DEADLINE_MS = protocol.sync_join_deadline_ms;
export const AUTH_TIMEOUT_MS = protocol.handshake.auth_timeout_ms;
export const HANDSHAKE = Object.freeze({ ...protocol.handshake });
