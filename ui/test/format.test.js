import { test } from "node:test";
import assert from "node:assert/strict";
import { ago, bytes, distance, gap, lapTime, speed, trackSource } from "../src/lib/format.js";

test("lap times read as m:ss.sss, rounded once to the millisecond", () => {
  assert.equal(lapTime(83.456), "1:23.456");
  assert.equal(lapTime(9.5), "9.500");
  assert.equal(lapTime(59.9996), "1:00.000");
  assert.equal(lapTime(120.0004), "2:00.000");
  assert.equal(lapTime(3600 + 61.2), "61:01.200");
  assert.equal(lapTime(null), "–");
  assert.equal(lapTime(NaN), "–");
  assert.equal(lapTime(-1.5), "-1.500");
});

test("gaps carry a sign, and the best itself is 0.000", () => {
  assert.equal(gap(0.1234), "+0.123");
  assert.equal(gap(-0.05), "-0.050");
  assert.equal(gap(0.0004), "0.000");
  assert.equal(gap(undefined), "–");
});

test("speeds and distances follow the chosen units", () => {
  assert.equal(speed(100, "kmh"), "100 km/h");
  assert.equal(speed(100, "mph"), "62 mph");
  assert.equal(speed(160.9344, "mph"), "100 mph");
  assert.equal(distance(1000, "m"), "1000 m");
  assert.equal(distance(12_345, "m"), "12.3 km");
  assert.equal(distance(100, "ft"), "328 ft");
  assert.equal(distance(20_000, "ft"), "12.4 mi");
});

test("ages and sizes read plainly", () => {
  const now = 1_000_000_000;
  assert.equal(ago(now - 5_000, now), "just now");
  assert.equal(ago(now - 180_000, now), "3 min ago");
  assert.equal(ago(now - 2 * 3600_000, now), "2 h ago");
  assert.equal(bytes(512), "512 B");
  assert.equal(bytes(2048), "2 KB");
  assert.equal(bytes(3 * 1024 * 1024), "3.0 MB");
  assert.equal(trackSource("detected"), "detected from the laps");
});
