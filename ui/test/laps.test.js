import { test } from "node:test";
import assert from "node:assert/strict";
import { LapSelection, MAX_COMPARED, lapRows, nearestIndex, resample, ring } from "../src/lib/laps.js";

const lap = (number, time_s, sectors_s, extra = {}) => ({
  number,
  time_s,
  sectors_s,
  kind: "timed",
  complete: true,
  valid: true,
  invalid_reason: null,
  ...extra,
});

const doc = {
  best_lap_number: 2,
  best_lap_s: 90.0,
  laps: [
    lap(0, 120.0, [], { kind: "out", complete: false }),
    lap(1, 92.0, [30.0, 31.0, 31.0]),
    lap(2, 90.0, [31.0, 29.5, 29.5]),
    lap(3, 89.0, [29.0, 30.0, 30.0], { valid: false, invalid_reason: "cut the chicane" }),
    lap(4, 91.0, [30.5, 30.5, 29.0]),
  ],
};

test("gaps are to the best lap, and only laps that count have one", () => {
  const { rows } = lapRows(doc);
  const byNumber = Object.fromEntries(rows.map((r) => [r.number, r]));
  assert.equal(byNumber[1].gap, 2.0);
  assert.equal(byNumber[2].gap, 0);
  assert.equal(byNumber[2].isBest, true);
  assert.equal(byNumber[0].gap, null);
  assert.equal(byNumber[3].gap, null, "an invalid lap has no gap");
  assert.equal(byNumber[3].why, "cut the chicane");
  assert.equal(byNumber[0].why, "out lap");
});

test("the best sector of each column is marked, ignoring invalid laps", () => {
  const { rows, sectorCount } = lapRows(doc);
  assert.equal(sectorCount, 3);
  const marks = Object.fromEntries(rows.map((r) => [r.number, r.bestSectors]));
  assert.deepEqual(marks[1], [true, false, false]); // 30.0 beats 30.5 and 31.0; 29.0 is invalid
  assert.deepEqual(marks[2], [false, true, false]);
  assert.deepEqual(marks[4], [false, false, true]);
  assert.deepEqual(marks[3], [false, false, false]);
});

test("an excluded lap counts for nothing once the server marks it invalid", () => {
  const excluded = { ...doc, laps: doc.laps.map((l) => (l.number === 1 ? { ...l, valid: false, excluded: true } : l)) };
  const { rows } = lapRows(excluded);
  assert.equal(rows.find((r) => r.number === 1).gap, null);
  // With lap 1 out, lap 4's 30.5 is the best first sector.
  assert.deepEqual(rows.find((r) => r.number === 4).bestSectors, [true, false, true]);
});

test("a selection starts with the best lap as reference, holds at most four", () => {
  const s = new LapSelection(doc);
  assert.deepEqual(s.laps, [2]);
  assert.equal(s.reference, 2);
  s.toggle(1);
  s.toggle(3);
  s.toggle(4);
  assert.equal(s.laps.length, MAX_COMPARED);
  s.toggle(0); // full: the oldest lap that is not the reference makes way
  assert.deepEqual(s.laps, [2, 3, 4, 0]);
  s.toggle(2); // the reference cannot be deselected
  assert.ok(s.laps.includes(2));
  s.setReference(4);
  assert.equal(s.reference, 4);
  assert.notEqual(s.colourOf(4), null);
  assert.equal(s.colourOf(1), null);
});

test("resampling is linear inside a lap and NaN outside it", () => {
  const out = resample([0, 10, 20], [0, 100, 300], [-5, 0, 5, 15, 20, 25]);
  assert.ok(Number.isNaN(out[0]));
  assert.equal(out[1], 0);
  assert.equal(out[2], 50);
  assert.equal(out[3], 200);
  assert.equal(out[4], 300);
  assert.ok(Number.isNaN(out[5]));
});

test("nearest index and rings", () => {
  assert.equal(nearestIndex([0, 10, 20, 30], 14), 1);
  assert.equal(nearestIndex([0, 10, 20, 30], 16), 2);
  assert.equal(nearestIndex([0, 10, 20, 30], 99), 3);
  assert.equal(nearestIndex([], 1), -1);
  const { xs, ys } = ring(1.5, 4);
  assert.equal(xs.length, 5);
  assert.ok(Math.abs(Math.hypot(xs[1], ys[1]) - 1.5) < 1e-12);
});
