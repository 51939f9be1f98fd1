import { test } from "node:test";
import assert from "node:assert/strict";
import { SseParser, listen } from "../src/lib/sse.js";

test("events split across chunks come out whole, comments skipped", () => {
  const p = new SseParser();
  assert.deepEqual(p.push("retry: 3000\n\n: keepalive\n\nevent: sess"), []);
  assert.deepEqual(p.push('ion\ndata: {"id":"a"}\n\nevent: sync\r\ndata: x\r\ndata: y\r\n\r\n'), [
    { event: "session", data: '{"id":"a"}' },
    { event: "sync", data: "x\ny" },
  ]);
});

test("the stream is read with the token in a header, never the URL, and reconnects", async () => {
  const calls = [];
  let round = 0;
  const encoder = new TextEncoder();
  const fetchImpl = async (url, init) => {
    calls.push({ url, auth: init.headers.Authorization });
    round += 1;
    const body = new ReadableStream({
      start(controller) {
        controller.enqueue(encoder.encode(`event: session\ndata: {"n":${round}}\n\n`));
        controller.close(); // the server went away: the client must come back
      },
    });
    return new Response(body, { status: 200 });
  };
  const seen = [];
  let opens = 0;
  const done = new Promise((resolve) => {
    const handle = listen("/api/events", {
      token: () => "rs_t",
      fetchImpl,
      onOpen: () => (opens += 1),
      onEvent: (name, data) => {
        seen.push([name, data.n]);
        if (seen.length === 2) {
          handle.stop();
          resolve();
        }
      },
    });
  });
  await done;
  assert.deepEqual(seen, [
    ["session", 1],
    ["session", 2],
  ]);
  assert.equal(opens, 2, "each reconnection tells the page to re-read its state");
  for (const call of calls) {
    assert.equal(call.url, "/api/events");
    assert.equal(call.auth, "Bearer rs_t");
  }
});

test("a refused token stops the stream and says so", async () => {
  const states = [];
  await new Promise((resolve) => {
    listen("/api/events", {
      token: () => "bad",
      fetchImpl: async () => new Response("{}", { status: 401 }),
      onState: (s) => {
        states.push(s);
        if (s === "unauthorized") resolve();
      },
    });
  });
  assert.deepEqual(states, ["unauthorized"]);
});
