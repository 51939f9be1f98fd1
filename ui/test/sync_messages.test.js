import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { HOTSPOT_PROMPT, capabilityProblem, explain } from "../src/sync/messages.js";

test("the hotspot prompt is exactly the issue's sentence", () => {
  assert.equal(
    HOTSPOT_PROMPT("Racesense-Pit"),
    "Handshake successful. Please enable your hotspot [SSID: Racesense-Pit] now to start the high-speed transfer.",
  );
});

test("capabilities are checked in order: secure context, Web Bluetooth, Bluetooth on", () => {
  assert.match(capabilityProblem({ secure: false, hasBluetooth: false, available: false }).title, /secure/);
  assert.match(capabilityProblem({ secure: true, hasBluetooth: false, available: false }).title, /no Bluetooth/);
  assert.match(capabilityProblem({ secure: true, hasBluetooth: true, available: false }).title, /off/);
  assert.equal(capabilityProblem({ secure: true, hasBluetooth: true, available: true }), null);
  assert.equal(capabilityProblem({ secure: true, hasBluetooth: true, available: null }), null, "unknown: try");
});

test("every error the logger can send has its own plain sentence with what to do", () => {
  const protocol = JSON.parse(readFileSync(new URL("../../firmware/protocol.json", import.meta.url)));
  const sentByTheSync = Object.keys(protocol.errors).filter((code) =>
    !["E_FRAME", "E_MESSAGE", "E_REPLAY", "E_SESSION", "E_URL", "E_INTERNAL"].includes(code),
  );
  for (const code of sentByTheSync) {
    const { title, text } = explain(code);
    assert.notEqual(title, "The sync did not finish", `${code} has no sentence of its own`);
    assert.ok(text.length > 20, code);
  }
  assert.match(explain("E_AP_NOT_FOUND").text, /Maximize Compatibility/);
  assert.match(explain("E_AP_NOT_FOUND").text, /Extend compatibility/);
  assert.match(explain("E_SOMETHING_NEW", "odd").text, /odd/);
});
