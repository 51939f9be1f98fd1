// The client's constants are firmware/protocol.json's (imported, not retyped), and the
// tables derived from it agree with the JSON and with the firmware's generated
// rs_protocol.py, so the two sides cannot drift apart silently.
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import * as P from "../src/ble/protocol.js";
import { INTERPRETERS, REPO, skipReason } from "./helpers/firmware.js";

const JSON_SPEC = JSON.parse(readFileSync(join(REPO, "firmware", "protocol.json"), "utf8"));

test("the module's object is protocol.json, whole", () => {
  assert.deepEqual(P.PROTOCOL, JSON_SPEC);
  assert.equal(P.PROTOCOL_VERSION, 2);
  assert.equal(P.SERVICE_UUID, JSON_SPEC.service_uuid);
  assert.equal(P.INFO_UUID, JSON_SPEC.characteristics.info.uuid);
  assert.equal(P.CONTROL_UUID, JSON_SPEC.characteristics.control.uuid);
  assert.equal(P.STATUS_UUID, JSON_SPEC.characteristics.status.uuid);
  assert.equal(new Set([P.SERVICE_UUID, P.INFO_UUID, P.CONTROL_UUID, P.STATUS_UUID]).size, 4);
  assert.equal(P.MAX_MESSAGE_BYTES, JSON_SPEC.frame.max_message_bytes);
  assert.equal(P.FRAME_HEADER_BYTES, JSON_SPEC.frame.header_bytes);
});

test("message types: names to numbers and back, one-to-one", () => {
  const names = Object.keys(JSON_SPEC.message_types);
  assert.deepEqual(Object.keys(P.MSG), names);
  for (const name of names) {
    assert.equal(P.MSG[name], JSON_SPEC.message_types[name]);
    assert.equal(P.MSG_NAME[P.MSG[name]], name);
  }
  assert.equal(Object.keys(P.MSG_NAME).length, names.length, "no two names share a number");
  for (const n of Object.keys(P.MSG_NAME)) assert.ok(Number(n) >= 1 && Number(n) <= 255);
});

test("error codes, states and sealed types", () => {
  assert.deepEqual(Object.keys(P.E), Object.keys(JSON_SPEC.errors));
  for (const code of Object.keys(JSON_SPEC.errors)) {
    assert.equal(P.E[code], code);
    assert.equal(P.ERROR_TEXT[code], JSON_SPEC.errors[code]);
  }
  assert.deepEqual(P.STATES, JSON_SPEC.states);
  assert.deepEqual(P.RUNNING_STATES, JSON_SPEC.running_states);
  for (const s of [...P.RUNNING_STATES, ...P.FINAL_STATES]) assert.ok(P.STATES.includes(s), s);
  assert.deepEqual(P.SEALED_FROM_PHONE, JSON_SPEC.sealed_types.phone.map((n) => JSON_SPEC.message_types[n]));
  assert.deepEqual(P.SEALED_FROM_DEVICE, JSON_SPEC.sealed_types.device.map((n) => JSON_SPEC.message_types[n]));
  const c = P.CRYPTO;
  assert.equal(2 * c.confirm_bytes + 2 * c.aes_key_bytes + 2 * c.mac_key_bytes, c.key_schedule_bytes);
});

const cpython = INTERPRETERS.find((i) => i.name === "CPython");
test("the same values as the firmware's generated rs_protocol.py", { skip: skipReason(cpython) }, () => {
  const script = [
    "import json, rs_protocol as p",
    "out = {}",
    "for k in dir(p):",
    "    v = getattr(p, k)",
    "    if k.isupper():",
    "        out[k] = v.decode() if isinstance(v, bytes) else list(v) if isinstance(v, tuple) else v",
    "print(json.dumps(out))",
  ].join("\n");
  const py = JSON.parse(execFileSync(cpython.command, ["-c", script], { cwd: REPO, env: { ...process.env, ...cpython.env } }).toString());
  assert.equal(py.PROTOCOL_VERSION, P.PROTOCOL_VERSION);
  assert.equal(py.SERVICE_UUID, P.SERVICE_UUID);
  assert.equal(py.CONTROL_UUID, P.CONTROL_UUID);
  assert.equal(py.STATUS_UUID, P.STATUS_UUID);
  assert.equal(py.INFO_UUID, P.INFO_UUID);
  assert.equal(py.MAX_FRAME_BYTES, P.MAX_FRAME_BYTES);
  assert.equal(py.DEFAULT_WRITE_BYTES, P.DEFAULT_WRITE_BYTES);
  assert.equal(py.RECENT_MSG_IDS, P.RECENT_MSG_IDS);
  for (const [name, n] of Object.entries(P.MSG)) assert.equal(py[`MSG_${name.toUpperCase()}`], n, name);
  for (const code of Object.keys(P.E)) assert.equal(py[code], code);
  assert.deepEqual(py.SEALED_FROM_PHONE, [...P.SEALED_FROM_PHONE]);
  assert.deepEqual(py.SEALED_FROM_DEVICE, [...P.SEALED_FROM_DEVICE]);
  assert.equal(py.CI_LABEL, P.CRYPTO.ci_label);
  assert.equal(py.HKDF_INFO, P.CRYPTO.hkdf_info);
  assert.equal(py.LABEL_P2D, P.CRYPTO.label_p2d);
  assert.equal(py.LABEL_D2P, P.CRYPTO.label_d2p);
  assert.equal(py.AUTH_TIMEOUT_MS, P.AUTH_TIMEOUT_MS);
  assert.equal(py.ACK_OK, P.ACK_OK);
});
