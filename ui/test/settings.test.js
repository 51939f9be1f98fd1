import { test } from "node:test";
import assert from "node:assert/strict";
import { DEFAULTS, backendBase, checkBackend, loadSettings, saveSettings, syncMissing } from "../src/lib/settings.js";
import { match } from "../src/lib/router.js";

function memory() {
  const items = new Map();
  return { getItem: (k) => items.get(k) ?? null, setItem: (k, v) => items.set(k, v) };
}

test("settings start from the defaults and survive a damaged entry", () => {
  const s = memory();
  assert.equal(loadSettings(s).hotspotSsid, "Racesense-Pit");
  s.setItem("racesense.settings", "{not json");
  assert.deepEqual(loadSettings(s), { ...DEFAULTS, pairingCodes: {} });
  saveSettings({ ...loadSettings(s), speedUnit: "mph" }, s);
  assert.equal(loadSettings(s).speedUnit, "mph");
});

test("the sync says what it still needs", () => {
  assert.deepEqual(syncMissing({ hotspotSsid: "Racesense-Pit", hotspotPassword: "" }), ["your phone's hotspot password"]);
  assert.deepEqual(syncMissing({ hotspotSsid: "x", hotspotPassword: "y" }), []);
});

test("a backend address is checked before it is kept", () => {
  assert.equal(checkBackend(""), null);
  assert.equal(checkBackend("https://192.168.43.10:8765"), null);
  assert.match(checkBackend("192.168.43.10"), /not a web address/);
  assert.match(checkBackend("ftp://x"), /http/);
  assert.match(checkBackend("https://x:1/api"), /only the address/);
  assert.equal(backendBase({ backend: "https://x:1/" }), "https://x:1");
});

test("routes", () => {
  assert.equal(match("/").name, "pitlane");
  assert.deepEqual(match("/sessions/abc_1-2"), { name: "session", params: ["abc_1-2"] });
  assert.equal(match("/tracks").name, "tracks");
  assert.equal(match("/settings/").name, "settings");
  assert.equal(match("/sessions/../etc").name, "notfound");
  assert.equal(match("/nope").name, "notfound");
});
