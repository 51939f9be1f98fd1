// The Sync modal on the Pit Lane's Sync button: capability checks, the logger over Web
// Bluetooth, the pairing code, a sync from the laptop, the hotspot prompt, progress from
// the logger (and from the laptop as a second source), done, or a plain error with what
// to do. The BLE client (../ble/client.js) is loaded only here.
//
// Each screen is a `data-step` on the dialog (tests and screenshots key on it). The
// logger's reports drive it; when Bluetooth drops, the upload goes on over Wi-Fi, the
// laptop's view of the sync takes over, and the modal reconnects to read the logger's
// final report.
import { ApiProblem, getJson, sendJson } from "../lib/api.js";
import { fill, h } from "../lib/dom.js";
import { lapTime } from "../lib/format.js";
import { loadSettings, saveSettings, syncMissing } from "../lib/settings.js";
import { CHOOSER_CANCELLED, HOTSPOT_PROMPT, LINK_LOST, NOTHING_MOVED, bluetoothProblem, capabilityProblem, explain } from "./messages.js";
import { RUNNING_STATES, describe, doneSummary, isFor, laptopView, seconds } from "./reports.js";

// Without news for this long, the user is told why that may be and offered to ask the
// logger where it is (Cancel sync stays beside it). While the logger looks for the
// hotspot it has its own deadline (15 s), so the timer waits that out too.
const STUCK_MS = 15_000;
const JOIN_DEADLINE_MS = 15_000;
const RECONNECT_EVERY_MS = 2_000;
const RECONNECT_TRIES = 30;
const ANALYSED_WAIT_MS = 60_000;
// Codes after which the session on the logger is gone: pair again, then resend once.
const SESSION_ENDED = new Set(["E_SESSION", "E_AUTH", "E_REPLAY"]);

export async function openSync(app) {
  const settings = loadSettings();
  if (syncMissing(settings).length) {
    app.navigate("/settings?for=sync");
    return null;
  }
  const body = h("div.sync-body", { "aria-live": "polite" });
  const dialog = h("dialog.sync", { "aria-labelledby": "sync-title" }, h("h2", { id: "sync-title" }, "Sync from RS-Core"), body);
  document.body.append(dialog);
  const modal = new SyncModal(app, dialog, body);
  dialog.addEventListener("close", () => {
    modal.stop();
    dialog.remove();
  });
  dialog.showModal();
  await modal.start();
  return modal;
}

export class SyncModal {
  constructor(app, dialog, body) {
    this.app = app;
    this.dialog = dialog;
    this.body = body;
    this.client = null;
    this.info = null;
    this.sync = null; // the laptop's sync: {sync_id, token, upload_url, ...}
    this.expectedFiles = null;
    this.finished = false;
    this.stopped = false;
    this.stuckTimer = 0;
    this.reconnecting = false;
    this.tokenRefreshed = false;
    this.onServerEvent = (event) => this.serverEvent(event.detail || {});
    app.events?.addEventListener("sync", this.onServerEvent);
    app.events?.addEventListener("session", this.onServerEvent);
  }

  stop() {
    this.stopped = true;
    clearTimeout(this.stuckTimer);
    this.app.events?.removeEventListener("sync", this.onServerEvent);
    this.app.events?.removeEventListener("session", this.onServerEvent);
    this.client?.disconnect?.();
  }

  // -- screens ---------------------------------------------------------------------------

  show(step, ...children) {
    if (this.stopped) return;
    this.dialog.dataset.step = step;
    fill(this.body, ...children);
  }

  button(label, onclick, primary = false) {
    return h(primary ? "button.primary" : "button", { type: "button", onclick }, label);
  }

  closeButton(label = "Close") {
    return this.button(label, () => this.dialog.close());
  }

  problem(step, { title, text }, ...actions) {
    clearTimeout(this.stuckTimer);
    this.show(
      step,
      h("div.notice.error", { role: "alert" }, h("div", {}, h("h3", {}, title), h("p", {}, text))),
      h("div.actions", {}, ...actions, this.closeButton()),
    );
  }

  retryButton(label = "Try again") {
    return this.button(label, () => this.retry(), true);
  }

  /** Try again from where it failed: the same logger when there is one. */
  retry() {
    if (this.client?.paired) return this.request();
    if (this.client) return this.connectAndPair();
    return this.start();
  }

  // -- 1. capability checks and the chooser --------------------------------------------

  /** A moment of the sync (performance.now()), for the phases it reports and for the
   * field-test harness (also a performance mark `rs-sync-<name>`). */
  mark(name) {
    this.marks = this.marks || {};
    this.marks[name] = performance.now();
    performance.mark?.(`rs-sync-${name}`);
  }

  async start() {
    clearTimeout(this.stuckTimer);
    this.mark("tap");
    this.show("checking", h("p", {}, "Checking this browser…"));
    const bluetooth = navigator.bluetooth;
    let available = null;
    if (bluetooth?.getAvailability) {
      try {
        available = await bluetooth.getAvailability();
      } catch {
        available = null; // unknown: try anyway
      }
    }
    const problem = capabilityProblem({ secure: window.isSecureContext, hasBluetooth: Boolean(bluetooth), available });
    if (problem) return this.problem("unsupported", problem, this.button("Try again", () => this.start(), true));
    let module;
    try {
      module = await import("../ble/client.js");
    } catch {
      return this.problem(
        "unsupported",
        { title: "The Bluetooth part of Racesense did not load", text: "Reload the page while the laptop is reachable, then try again." },
        this.button("Try again", () => this.start(), true),
      );
    }
    this.show("choosing", h("p", {}, "Choose your logger (RS-Core-…) in the list the browser shows."));
    try {
      this.client = await module.RsCoreClient.request(bluetooth, { log: (text) => console.debug(`[rs-core] ${text}`) });
    } catch (err) {
      if (err?.kind === "cancelled") return this.chooserCancelled();
      return this.problem("unsupported", bluetoothProblem(err), this.button("Try again", () => this.start(), true));
    }
    this.listen();
    await this.connectAndPair();
  }

  chooserCancelled() {
    this.show(
      "chooser-cancelled",
      h("h3", {}, CHOOSER_CANCELLED.title),
      h("ul.checklist", {}, CHOOSER_CANCELLED.checklist.map((item) => h("li", {}, item))),
      h("div.actions", {}, this.button("Try again", () => this.start(), true), this.closeButton()),
    );
  }

  // -- 2-3. connect and pair -------------------------------------------------------------

  async connectAndPair() {
    this.show("connecting", h("p", {}, "Connecting to the logger…"));
    try {
      this.info = await this.client.connect();
    } catch (err) {
      return this.problem("connect-failed", bluetoothProblem(err), this.retryButton());
    }
    if (this.info.recording) return this.problem("recording", explain("E_RECORDING"), this.retryButton());
    const code = loadSettings().pairingCodes[this.info.device_id];
    if (code) return this.pair(code);
    this.askCode();
  }

  askCode(wrong = false) {
    const input = h("input", {
      id: "pairing-code",
      inputmode: "numeric",
      autocomplete: "one-time-code",
      maxlength: "10",
      required: true,
      "aria-describedby": "pairing-hint",
    });
    const hint = h("p.hint", { id: "pairing-hint" }, "8 digits, on the logger's label or its QR code. Racesense remembers it on this device.");
    const form = h(
      "form",
      {
        onsubmit: (event) => {
          event.preventDefault();
          const digits = input.value.replace(/[^0-9]/g, "");
          if (digits.length !== 8) {
            input.setAttribute("aria-invalid", "true");
            hint.textContent = "The code has 8 digits, as on the logger's label.";
            return;
          }
          this.pair(digits);
        },
      },
      wrong ? h("div.notice.error", { role: "alert" }, h("div", {}, h("h3", {}, explain("E_AUTH").title), h("p", {}, explain("E_AUTH").text))) : null,
      h("div.field", {}, h("label", { for: "pairing-code" }, `Pairing code of ${this.info.device_id}`), input),
      hint,
      h("div.actions", {}, h("button.primary", { type: "submit" }, "Pair"), this.closeButton("Cancel")),
    );
    this.show("code", form);
    input.focus();
  }

  async pair(code) {
    this.show("pairing", h("p", { role: "status" }, "Pairing with the logger…"));
    let status;
    try {
      status = await this.client.pair(code, {
        onProgress: ({ step, retry_ms: retryMs }) => {
          if (step === "rate_limited") {
            this.show("pairing", h("p", { role: "status" }, `Too many attempts: trying again in ${Math.ceil(retryMs / 1000)} s…`));
          }
        },
      });
    } catch (err) {
      if (err?.code === "E_AUTH") {
        const settings = loadSettings();
        delete settings.pairingCodes[this.info.device_id];
        saveSettings(settings);
        if (!this.client.connected) await this.client.connect().catch(() => {});
        return this.askCode(true);
      }
      if (err?.code === "E_RATE_LIMIT") return this.problem("pair-failed", explain("E_RATE_LIMIT"), this.retryButton());
      return this.problem("pair-failed", bluetoothProblem(err), this.retryButton());
    }
    this.mark("paired");
    const settings = loadSettings();
    settings.pairingCodes[this.info.device_id] = code;
    saveSettings(settings);
    // The logger's current report: a sync still running (or just finished) after a
    // reconnect is followed, not started again.
    if (this.sync && isFor(status, this.sync.sync_id)) return this.report(status);
    if (!this.sync && status && RUNNING_STATES.has(status.state)) return this.busy(status);
    await this.request();
  }

  // -- 4-5. the sync request and the hotspot prompt --------------------------------------

  async request() {
    this.finished = false;
    this.reported = false;
    this.expectedFiles = null;
    this.show("requesting", h("p", { role: "status" }, "Asking the pit laptop for an upload pass…"));
    try {
      this.sync = await sendJson("/api/syncs", "POST", { device_id: this.info.device_id });
    } catch (err) {
      return this.problem(
        "backend",
        { title: "The pit laptop did not answer", text: err instanceof ApiProblem ? err.message : "Check that Racesense runs on the laptop, then tap Try again." },
        this.retryButton(),
      );
    }
    this.dialog.dataset.syncId = this.sync.sync_id;
    if (!this.sync.upload_url) {
      return this.problem(
        "backend",
        { title: "The logger cannot reach the pit laptop", text: this.sync.unreachable || "Racesense on the laptop is not reachable from the hotspot." },
        this.retryButton(),
      );
    }
    const settings = loadSettings();
    // https with the certificate pinned where the logger says it can (`info.tls`), else
    // the laptop's upload-only plain port (docs/api.md).
    const plainOnly = Boolean(this.sync.plain_upload_url) && (this.forcePlain || this.info?.tls !== true);
    const url = plainOnly ? this.sync.plain_upload_url : this.sync.upload_url;
    this.transport = url.startsWith("https:")
      ? "Sent over https, the laptop's certificate pinned."
      : this.sync.plain_upload_url
        ? "Sent over the laptop's upload-only http port (this logger has no TLS); the laptop proves each file it holds."
        : "Sent over http.";
    const request = {
      ssid: settings.hotspotSsid,
      password: settings.hotspotPassword,
      url,
      ip_fallback: (plainOnly ? this.sync.plain_ip_fallback : this.sync.ip_fallback) || null,
      token: this.sync.token,
      sync_id: this.sync.sync_id,
      cert_sha256: url.startsWith("https:") ? this.sync.cert_sha256 || null : null,
      time_utc: Math.floor(Date.now() / 1000),
      ack_key: this.sync.ack_key,
    };
    try {
      await this.sendRequest(request);
    } catch (err) {
      if (err?.code === "E_BUSY") {
        const status = await this.client.statusRequest().catch(() => null);
        if (status && RUNNING_STATES.has(status.state)) return this.busy(status);
      }
      if (err?.kind === "transient") return this.problem("refused", bluetoothProblem(err), this.retryButton());
      return this.problem("refused", explain(err?.code || "", err?.message), this.retryButton());
    }
    this.mark("acked");
    this.showRunning({ step: "hotspot" });
  }

  /** The request; once more after pairing again if the logger forgot the session. */
  async sendRequest(request) {
    try {
      return await this.client.syncRequest(request);
    } catch (err) {
      const code = loadSettings().pairingCodes[this.info.device_id];
      if (!SESSION_ENDED.has(err?.code) || !code) throw err;
      await this.client.pair(code);
      return this.client.syncRequest(request);
    }
  }

  /** The logger runs a sync this page did not start (another phone's, or one from before
   * a reload): follow it or cancel it. */
  busy(status) {
    this.show(
      "busy",
      h("div.notice", { role: "status" }, h("div", {}, h("h3", {}, explain("E_BUSY").title), h("p", {}, describe(status).text || ""))),
      h(
        "div.actions",
        {},
        this.button(
          "Follow it",
          () => {
            this.sync = { sync_id: status.sync_id };
            this.dialog.dataset.syncId = status.sync_id;
            this.report(status);
          },
          true,
        ),
        this.button("Cancel it", () => this.client.cancel(status.sync_id).catch(() => {})),
        this.closeButton(),
      ),
    );
  }

  // -- 6. progress: the logger's reports, the laptop's view ------------------------------

  listen() {
    const on = (name, fn) => this.client.addEventListener(name, (e) => !this.stopped && fn(e.detail || {}));
    for (const type of ["state", "progress", "done", "error"]) on(type, (report) => this.report({ type, ...report }));
    on("disconnected", (d) => this.onDisconnected(d));
  }

  report(report) {
    if (!this.sync || !isFor(report, this.sync.sync_id) || this.finished) return;
    this.reported = true;
    const seen = describe(report);
    if (seen.kind === "running") return this.showRunning(seen);
    if (seen.kind === "done") return this.finish(report);
    if (seen.kind === "cancelled") {
      this.finished = true;
      return this.problem("cancelled", explain("E_CANCELLED"), this.button("Sync again", () => this.retry(), true));
    }
    if (seen.kind === "failed") return this.failed(report);
  }

  showRunning(seen) {
    // The request's ack may come after the logger's first states: never step back.
    if (seen.step === "hotspot" && this.reported) return;
    const settings = loadSettings();
    const prompt = h("p.hotspot-prompt", {}, HOTSPOT_PROMPT(settings.hotspotSsid));
    const cancel = h("div.actions", {}, this.button("Cancel sync", () => this.cancel()));
    this.laptopLine = h("p.laptop-view", { role: "status" });
    if (seen.step === "hotspot" || seen.step === "request_received" || seen.step === "scanning" || seen.step === "joining") {
      this.show(seen.step, prompt, seen.text ? h("p", { role: "status" }, seen.text) : null, cancel);
      this.armStuckTimer(STUCK_MS + JOIN_DEADLINE_MS);
    } else {
      if (seen.files) this.expectedFiles = seen.files;
      this.show(
        seen.step,
        h("p", { role: "status" }, seen.text),
        seen.fraction !== undefined ? h("progress", { max: "1", value: String(seen.fraction), "aria-label": "Upload progress" }) : null,
        this.laptopLine,
        cancel,
      );
      this.armStuckTimer(STUCK_MS);
    }
  }

  armStuckTimer(ms) {
    clearTimeout(this.stuckTimer);
    this.stuckTimer = setTimeout(() => {
      if (this.stopped || this.finished || !this.sync || this.body.querySelector("[data-stuck]")) return;
      this.body.append(
        h(
          "div.notice",
          { role: "status", "data-stuck": "" },
          h("div", {}, h("h3", {}, NOTHING_MOVED.title), h("p", {}, NOTHING_MOVED.text)),
          h("div.actions", {}, this.button(NOTHING_MOVED.ask, () => this.askLogger(), true)),
        ),
      );
    }, ms);
  }

  /** The logger's current report, read over BLE and shown (the progress, or how it
   * ended); with the link gone, reconnecting does the same. */
  async askLogger() {
    const sync = this.sync;
    let status = null;
    try {
      status = await this.client.statusRequest();
    } catch {
      if (!this.client?.connected) return this.reconnect();
    }
    if (this.stopped || this.finished || this.sync !== sync) return;
    if (status && isFor(status, sync.sync_id)) this.report(status); // drawn again, notice gone
    this.armStuckTimer(STUCK_MS);
  }

  async serverEvent(event) {
    if (!this.sync || this.finished || this.stopped) return;
    if (event.type === "sync" && event.id !== this.sync.sync_id) return;
    let sync;
    try {
      sync = await getJson(`/api/syncs/${encodeURIComponent(this.sync.sync_id)}`);
    } catch {
      return; // the laptop is busy: the logger's reports still come
    }
    const view = laptopView(sync, this.expectedFiles);
    if (this.laptopLine?.isConnected) this.laptopLine.textContent = view.text;
    if (!this.client?.connected && view.complete && !this.finished) {
      // Bluetooth is gone but every file is on the laptop: done, as far as the laptop sees.
      this.finish({ files_sent: view.received, bytes: sync.files.reduce((n, f) => n + (f.bytes || 0), 0), phases_ms: {} }, { fromLaptop: true });
    }
  }

  // -- 7. done ---------------------------------------------------------------------------

  async finish(done, { fromLaptop = false } = {}) {
    if (this.finished) return;
    this.finished = true;
    clearTimeout(this.stuckTimer);
    const id = this.sync.sync_id;
    const phases = done.phases_ms || {};
    this.mark("done");
    const list = h("ul.sync-files");
    this.show(
      "done",
      h("h3", {}, "Sync complete"),
      h("p", { role: "status" }, doneSummary(done)),
      this.transport && !fromLaptop ? h("p.hint", { "data-transport": "" }, this.transport) : null,
      fromLaptop
        ? h("p.hint", {}, "Seen from the laptop: Bluetooth was lost before the logger could confirm.")
        : h(
            "dl.facts-list",
            {},
            h("dt", {}, "Joining the hotspot"),
            h("dd", {}, seconds(phases.join)),
            h("dt", {}, "First byte"),
            h("dd", {}, seconds(phases.first_byte)),
            h("dt", {}, "Upload"),
            h("dd", {}, seconds(phases.upload)),
            h("dt", {}, "Total"),
            h("dd", {}, seconds(phases.total)),
          ),
      list,
      h("div.actions", {}, this.closeButton("Done")),
    );
    this.app.events?.dispatchEvent(new CustomEvent("resync"));
    if (await this.showSessions(list, id)) this.mark("analysed");
    if (!fromLaptop) this.postTimings(id, done);
  }

  /** The sync's timings to the laptop (`/api/syncs/{id}/report`, kept for
   * `racesense fieldtest --report`): the logger's phases and what this page measured. */
  postTimings(id, done) {
    const m = this.marks || {};
    const span = (from, to) => (Number.isFinite(m[from]) && Number.isFinite(m[to]) ? Math.round(m[to] - m[from]) : undefined);
    const page = {
      ble_handshake: span("tap", "paired"),
      credentials: span("paired", "acked"),
      analysis: span("done", "analysed"),
      page_total: span("tap", "analysed"),
    };
    const phasesMs = { ...(done.phases_ms || {}) };
    for (const [name, ms] of Object.entries(page)) if (ms !== undefined) phasesMs[name] = ms;
    sendJson(`/api/syncs/${encodeURIComponent(id)}/report`, "POST", {
      source: "page",
      phone: navigator.userAgent.slice(0, 120),
      firmware: typeof this.info?.firmware === "string" ? this.info.firmware.slice(0, 40) : null,
      phases_ms: phasesMs,
      files_sent: done.files_sent ?? null,
      bytes_sent: done.bytes ?? null,
      duplicates: done.duplicates ?? null,
    }).catch(() => {}); // the timings are a bonus: the sessions are on the laptop either way
  }

  /** The sync's sessions, each with its laps once analysed (they are analysed as they
   * arrive: usually at once). True once every one is analysed (or failed). */
  async showSessions(list, id) {
    const until = Date.now() + ANALYSED_WAIT_MS;
    while (!this.stopped && list.isConnected) {
      let files = [];
      try {
        files = (await getJson(`/api/syncs/${encodeURIComponent(id)}`)).files || [];
      } catch {
        files = [];
      }
      fill(
        list,
        files.map((f) =>
          h(
            "li",
            {},
            h("a", { href: `/sessions/${encodeURIComponent(f.id)}`, "data-link": true, onclick: () => this.dialog.close() }, f.filename || f.id),
            h("span.hint", {}, f.status === "ready" ? ` ${f.lap_count ?? 0} ${f.lap_count === 1 ? "lap" : "laps"}, best ${lapTime(f.best_lap_s)}` : f.status === "failed" ? " could not be analysed" : " analysing…"),
          ),
        ),
      );
      const pending = files.some((f) => f.status !== "ready" && f.status !== "failed");
      if (!pending) return files.length > 0;
      if (Date.now() > until) return false;
      await new Promise((resolve) => setTimeout(resolve, 500));
    }
    return false; // closed before: no analysis time to report
  }

  // -- 8. errors -------------------------------------------------------------------------

  async failed(report) {
    // An upload token that expired mid-backlog: a fresh sync, once, by itself.
    if (report.error === "E_HTTP" && report.http_status === 401 && !this.tokenRefreshed) {
      this.tokenRefreshed = true;
      return this.request();
    }
    // A build that cannot check the certificate after all: the upload-only port, once.
    if (report.error === "E_TLS_PIN" && this.sync.plain_upload_url && !this.forcePlain) {
      this.forcePlain = true;
      return this.request();
    }
    this.finished = true;
    const n = report.files_left;
    const left = Number.isFinite(n) && n > 0 ? ` ${n} ${n === 1 ? "file is" : "files are"} still on the logger.` : "";
    const { title, text } = explain(report.error, report.detail);
    this.problem("failed", { title, text: text + left }, this.retryButton());
  }

  // -- 9. cancel, and a lost link --------------------------------------------------------

  async cancel() {
    if (!this.sync || this.finished || !this.client) return this.dialog.close();
    try {
      await this.client.cancel(this.sync.sync_id);
    } catch {
      this.problem("cancel-failed", { title: "The logger did not take the cancel", text: "It may be out of range. The files stay on it until they are sent." }, this.retryButton());
    }
  }

  onDisconnected({ reason }) {
    if (reason === "requested" || this.stopped) return;
    if (!this.sync || this.finished || reason === "wrong_code") return;
    if (!this.body.querySelector("[data-link-lost]")) this.body.append(h("p.notice", { role: "status", "data-link-lost": "" }, LINK_LOST));
    this.serverEvent({ type: "sync", id: this.sync.sync_id });
    this.reconnect();
  }

  /** Connect and pair again, then read the logger's report: the sync's state comes back
   * from the device (the laptop's view meanwhile comes from the event stream). */
  async reconnect() {
    if (this.reconnecting) return;
    this.reconnecting = true;
    try {
      const code = loadSettings().pairingCodes[this.info?.device_id];
      for (let attempt = 0; attempt < RECONNECT_TRIES && !this.stopped && !this.finished; attempt++) {
        await new Promise((resolve) => setTimeout(resolve, RECONNECT_EVERY_MS));
        if (this.stopped || this.finished) return;
        try {
          await this.client.connect();
          const status = await this.client.pair(code);
          this.body.querySelector("[data-link-lost]")?.remove();
          if (status) this.report(status);
          return;
        } catch {
          // out of range still: the next attempt
        }
      }
    } finally {
      this.reconnecting = false;
    }
  }
}
