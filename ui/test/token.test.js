import { test } from "node:test";
import assert from "node:assert/strict";
import { TOKEN_KEY, adoptToken, tokenFromHash } from "../src/lib/token.js";

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
    history: { state: null, replaceState: (_s, _t, url) => (win.replaced = url) },
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
