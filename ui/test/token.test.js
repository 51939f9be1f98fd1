import { test } from "node:test";
import assert from "node:assert/strict";
import {
  JOIN_FAILED,
  JOIN_UNREACHABLE,
  JoinProblem,
  TOKEN_KEY,
  addressWithout,
  adoptToken,
  exchangeJoinCode,
  joinFromHash,
  joinWithCode,
  takeJoinCode,
  tokenFromHash,
} from "../src/lib/token.js";

function fakeWindow(hash, stored = null) {
  const items = new Map(stored ? [[TOKEN_KEY, stored]] : []);
  const win = {
    location: { pathname: "/sessions/x", search: "?a=1", hash },
    localStorage: {
      getItem: (k) => (items.has(k) ? items.get(k) : null),
      setItem: (k, v) => items.set(k, String(v)),
      removeItem: (k) => items.delete(k),
    },
    replaced: null,
    history: {
      state: null,
      replaceState: (_s, _t, url) => {
        win.replaced = url;
        const at = url.indexOf("#");
        win.location.hash = at < 0 ? "" : url.slice(at);
      },
    },
  };
  return win;
}

test("the token is read from the fragment only", () => {
  assert.equal(tokenFromHash("#token=rs_abc"), "rs_abc");
  assert.equal(tokenFromHash("#x=1&token=rs_abc"), "rs_abc");
  assert.equal(tokenFromHash("#token="), null);
  assert.equal(tokenFromHash(""), null);
});

test("a token in the link is stored and removed from the address bar", () => {
  const win = fakeWindow("#token=rs_secret");
  assert.equal(adoptToken(win), "rs_secret");
  assert.equal(win.localStorage.getItem(TOKEN_KEY), "rs_secret");
  assert.equal(win.replaced, "/sessions/x?a=1");
  assert.ok(!win.replaced.includes("rs_secret"));
});

test("other fragment parameters survive; no token keeps the stored one", () => {
  const win = fakeWindow("#token=rs_new&lap=3", "rs_old");
  adoptToken(win);
  assert.equal(win.replaced, "/sessions/x?a=1#lap=3");
  const plain = fakeWindow("", "rs_old");
  assert.equal(adoptToken(plain), "rs_old");
  assert.equal(plain.replaced, null, "nothing to strip, address untouched");
});

test("the join code is read from the fragment only", () => {
  assert.equal(joinFromHash("#join=rs_code"), "rs_code");
  assert.equal(joinFromHash("#lap=2&join=rs_code"), "rs_code");
  assert.equal(joinFromHash("#join=%20"), null);
  assert.equal(joinFromHash("#token=rs_abc"), null);
  assert.equal(joinFromHash(""), null);
  assert.equal(tokenFromHash("#join=rs_code"), null, "a join code is never taken for a token");
});

test("a join code is taken out of the address at once, other parameters kept", () => {
  const win = fakeWindow("#join=rs_code&lap=3");
  assert.equal(takeJoinCode(win), "rs_code");
  assert.equal(win.replaced, "/sessions/x?a=1#lap=3");
  assert.equal(win.localStorage.getItem(TOKEN_KEY), null, "the code itself is never stored");
  assert.equal(addressWithout({ pathname: "/", search: "", hash: "#join=x" }, "join"), "/");
  const plain = fakeWindow("#lap=3");
  assert.equal(takeJoinCode(plain), null);
  assert.equal(plain.replaced, null);
});

function fakeFetch(status, body) {
  const calls = [];
  const fetch = async (url, init) => {
    calls.push({ url, init });
    if (status === 0) throw new TypeError("Failed to fetch");
    return { status, ok: status >= 200 && status < 300, json: async () => body };
  };
  return { fetch, calls };
}

test("the exchange sends the code as the Bearer token, never in the URL", async () => {
  const { fetch, calls } = fakeFetch(200, { token: "rs_phone", name: "phone 2026-05-04 10:00" });
  const joined = await exchangeJoinCode("rs_code", { fetch, base: "http://pit:8765" });
  assert.equal(joined.token, "rs_phone");
  assert.equal(calls.length, 1);
  assert.equal(calls[0].url, "http://pit:8765/api/join");
  assert.equal(calls[0].init.method, "POST");
  assert.equal(calls[0].init.headers.Authorization, "Bearer rs_code");
  assert.ok(!calls[0].url.includes("rs_code"));
});

test("a used, expired or unknown code, or no laptop, is a plain sentence", async () => {
  await assert.rejects(exchangeJoinCode("rs_code", fakeFetch(401, { ok: false })), (err) => {
    assert.ok(err instanceof JoinProblem);
    assert.equal(err.message, JOIN_FAILED);
    return true;
  });
  await assert.rejects(exchangeJoinCode("rs_code", fakeFetch(0)), { message: JOIN_UNREACHABLE });
  await assert.rejects(exchangeJoinCode("rs_code", fakeFetch(503, {})), /could not add this phone \(503\)/);
});

test("a link with a join code: stripped, exchanged, the new token kept, the app restarted", async () => {
  const win = fakeWindow("#join=rs_code", "rs_old");
  const { fetch, calls } = fakeFetch(200, { token: "rs_phone", name: "phone" });
  win.fetch = fetch;
  let reloaded = 0;
  win.location.reload = () => (reloaded += 1);
  assert.equal(adoptToken(win), "rs_old", "until the exchange answers, the stored token stays");
  assert.equal(win.replaced, "/sessions/x?a=1");
  await new Promise((resolve) => setTimeout(resolve, 0));
  assert.equal(calls.length, 1);
  assert.equal(calls[0].url, "/api/join");
  assert.equal(win.localStorage.getItem(TOKEN_KEY), "rs_phone");
  assert.equal(reloaded, 1);
});

test("a refused join code keeps what was stored and does not restart the app", async () => {
  const win = fakeWindow("", null);
  win.fetch = fakeFetch(401, {}).fetch;
  win.location.reload = () => assert.fail("no reload after a failure");
  await assert.rejects(joinWithCode("rs_code", win), JoinProblem);
  assert.equal(win.localStorage.getItem(TOKEN_KEY), null);
});
