// The BLE client's two waits (src/ble/waiting.js), without Bluetooth.
import { test } from "node:test";
import assert from "node:assert/strict";
import { AnswerWaiter, SerialQueue } from "../src/ble/waiting.js";

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

test("a serial queue runs one function at a time, in order, past failures", async () => {
  const queue = new SerialQueue();
  const log = [];
  let running = 0;
  const job = (name, ms, fail = false) => async () => {
    running += 1;
    assert.equal(running, 1, "two ran at once");
    log.push(`start ${name}`);
    await sleep(ms);
    log.push(`end ${name}`);
    running -= 1;
    if (fail) throw new Error(name);
    return name;
  };
  const results = await Promise.allSettled([
    queue.run(job("a", 20)),
    queue.run(job("b", 5, true)),
    queue.run(job("c", 1)),
  ]);
  assert.deepEqual(log, ["start a", "end a", "start b", "end b", "start c", "end c"]);
  assert.deepEqual(
    results.map((r) => r.status === "fulfilled" ? r.value : r.reason.message),
    ["a", "b", "c"],
  );
  assert.equal(results[1].status, "rejected");
});

test("a waiter takes the first matching answer and ignores the rest", async () => {
  const waiter = new AnswerWaiter((answer) => answer.id === 7);
  assert.equal(waiter.offer({ id: 6 }), false);
  const pending = waiter.next(1_000);
  assert.equal(waiter.offer({ id: 7, n: 1 }), true);
  assert.equal(waiter.offer({ id: 7, n: 2 }), false);
  assert.deepEqual(await pending, { id: 7, n: 1 });
});

test("an answer offered before the wait is kept; a timeout gives null", async () => {
  const early = new AnswerWaiter(() => true);
  early.offer("late ack found in the status value");
  assert.equal(await early.next(1_000), "late ack found in the status value");
  const silent = new AnswerWaiter(() => true);
  const started = Date.now();
  assert.equal(await silent.next(30), null);
  assert.ok(Date.now() - started >= 25);
  // What arrives after the timeout still counts at the next look.
  silent.offer("after");
  assert.equal(silent.taken(), "after");
});

test("rearm forgets the answer (the logger asked for the message again)", async () => {
  const waiter = new AnswerWaiter(() => true);
  waiter.offer("E_FRAME");
  waiter.rearm();
  assert.equal(waiter.taken(), null);
  const pending = waiter.next(1_000);
  waiter.offer("ok");
  assert.equal(await pending, "ok");
});

test("fail ends a wait with the error; close tells the owner once done", async () => {
  let closed = 0;
  const waiter = new AnswerWaiter(() => true, () => (closed += 1));
  const pending = waiter.next(1_000);
  waiter.fail(new Error("The logger disconnected."));
  await assert.rejects(pending, /disconnected/);
  await assert.rejects(waiter.next(1_000), /disconnected/);
  waiter.close();
  assert.equal(closed, 1);
});
