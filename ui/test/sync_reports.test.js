import assert from "node:assert/strict";
import { test } from "node:test";

import { bluetoothProblem } from "../src/sync/messages.js";
import { describe, doneSummary, isFor, laptopView, seconds } from "../src/sync/reports.js";

test("each state of the logger is described, progress with its fraction and file count", () => {
  assert.deepEqual(describe({ type: "state", state: "scanning", sync_id: "s" }), {
    kind: "running",
    step: "scanning",
    text: "The logger is looking for your hotspot…",
  });
  const p = describe({ type: "progress", state: "uploading", file: 2, files: 5, sync_bytes: 1_500_000, sync_total: 3_000_000 });
  assert.equal(p.step, "uploading");
  assert.equal(p.fraction, 0.5);
  assert.equal(p.files, 5);
  assert.equal(p.text, "File 2 of 5: 1.5 MB of 3.0 MB");
  assert.deepEqual(describe({ type: "done", state: "done" }), { kind: "done" });
  assert.deepEqual(describe({ type: "error", state: "failed", error: "E_AP_NOT_FOUND", detail: "x" }), {
    kind: "failed",
    code: "E_AP_NOT_FOUND",
    detail: "x",
  });
  assert.deepEqual(describe({ type: "state", state: "cancelled" }), { kind: "cancelled" });
  assert.deepEqual(describe({ type: "state", state: "idle" }), { kind: "idle" });
  assert.deepEqual(describe(null), { kind: "idle" });
});

test("a report is for a sync only when its id says so (the logger keeps the last one)", () => {
  assert.equal(isFor({ sync_id: "a" }, "a"), true);
  assert.equal(isFor({ sync_id: "a" }, "b"), false);
  assert.equal(isFor({ state: "idle" }, "a"), false);
  assert.equal(isFor({ sync_id: "a" }, null), false);
});

test("the laptop's view counts files and knows when all expected have arrived", () => {
  const sync = { files: [{ status: "ready" }, { status: "queued" }] };
  assert.deepEqual(laptopView(sync, 3), { received: 2, analysed: 1, complete: false, text: "On the laptop: 2 of 3 files." });
  assert.equal(laptopView(sync, 2).complete, true);
  assert.equal(laptopView(sync).complete, false); // without the logger's count, never "all"
  assert.equal(laptopView({}).received, 0);
});

test("the done line and phase times read naturally", () => {
  assert.equal(doneSummary({ files_sent: 1, bytes: 400_000 }), "1 file, 0.4 MB.");
  assert.equal(doneSummary({ files_sent: 3, bytes: 2e6, duplicates: 2 }), "3 files, 2.0 MB, 2 already on the laptop.");
  assert.equal(seconds(1234), "1.2 s");
  assert.equal(seconds(undefined), "–");
});

test("Bluetooth failures say why and what to do", () => {
  assert.match(bluetoothProblem({ kind: "unavailable", reason: "bluetooth_off" }).text, /Switch Bluetooth on/);
  assert.match(bluetoothProblem({ kind: "unavailable", reason: "not_allowed" }).text, /Allow Bluetooth/);
  assert.match(bluetoothProblem({ kind: "missing_service" }).title, /not an RS-Core/);
  assert.match(bluetoothProblem({ kind: "transient", message: "The logger did not answer in time." }).text, /within a few metres/);
  assert.match(bluetoothProblem({ kind: "unavailable", reason: "protocol", message: "speaks protocol 1" }).text, /protocol 1/);
});
