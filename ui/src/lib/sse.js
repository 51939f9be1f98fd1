// Server-Sent Events read with fetch, so that the token travels in the Authorization
// header: EventSource cannot send headers, and a token in its URL would end up in
// access logs and browser history. Reconnects by itself with backoff, and tells its
// listener each time it (re)connects so that the page re-reads state it may have
// missed while disconnected.

/** Split an SSE byte stream into events. Feed text chunks; get back complete events
 * ({event, data}) in order. Pure, so it is tested under Node. */
export class SseParser {
  constructor() {
    this.buffer = "";
  }

  push(text) {
    this.buffer += text;
    const events = [];
    // Events end at a blank line; lines end in \n, \r\n or \r.
    const normalised = this.buffer.replace(/\r\n?/g, "\n");
    const blocks = normalised.split("\n\n");
    this.buffer = blocks.pop();
    for (const block of blocks) {
      let event = "message";
      const data = [];
      for (const line of block.split("\n")) {
        if (!line || line.startsWith(":")) continue;
        const colon = line.indexOf(":");
        const field = colon === -1 ? line : line.slice(0, colon);
        let value = colon === -1 ? "" : line.slice(colon + 1);
        if (value.startsWith(" ")) value = value.slice(1);
        if (field === "event") event = value;
        else if (field === "data") data.push(value);
      }
      if (data.length) events.push({ event, data: data.join("\n") });
    }
    return events;
  }
}

export const BACKOFF_MS = [1000, 2000, 5000, 10000, 20000];

/** Listen to `url` until stop() is called. onEvent(name, parsedData); onOpen() after
 * every (re)connection; onState("live" | "reconnecting" | "unauthorized"). */
export function listen(url, { token, onEvent, onOpen, onState, fetchImpl = globalThis.fetch }) {
  let stopped = false;
  let controller = null;
  let attempt = 0;

  async function run() {
    while (!stopped) {
      controller = new AbortController();
      try {
        const response = await fetchImpl(url, {
          headers: { Authorization: `Bearer ${token()}`, Accept: "text/event-stream" },
          signal: controller.signal,
          cache: "no-store",
        });
        if (response.status === 401 || response.status === 403) {
          onState?.("unauthorized");
          return;
        }
        if (!response.ok || !response.body) throw new Error(`events: ${response.status}`);
        attempt = 0;
        onState?.("live");
        onOpen?.();
        const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
        const parser = new SseParser();
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          for (const { event, data } of parser.push(value)) {
            let parsed = data;
            try {
              parsed = JSON.parse(data);
            } catch {
              // not JSON: hand over the text
            }
            onEvent?.(event, parsed);
          }
        }
      } catch (err) {
        if (stopped) return;
      }
      if (stopped) return;
      onState?.("reconnecting");
      const wait = BACKOFF_MS[Math.min(attempt, BACKOFF_MS.length - 1)];
      attempt += 1;
      await new Promise((resolve) => setTimeout(resolve, wait));
    }
  }

  run();
  return {
    stop() {
      stopped = true;
      controller?.abort();
    },
  };
}
