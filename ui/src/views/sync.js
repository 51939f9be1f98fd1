// The Sync flow on the Pit Lane's Sync button: capability checks, the logger over Web
// Bluetooth, the pairing code, a sync from the laptop, the hotspot prompt, progress,
// done or a plain error with what to do. The BLE client (../ble/client.js) is loaded
// only here.
import { ApiProblem, getJson, sendJson } from "../lib/api.js";
import { fill, h } from "../lib/dom.js";
import { loadSettings, saveSettings, syncMissing } from "../lib/settings.js";
import { CHOOSER_CANCELLED, HOTSPOT_PROMPT, capabilityProblem, explain, megabytes } from "../sync/messages.js";

// Without progress for this long, the user is offered Cancel and Retry.
const STUCK_MS = 15_000;
const STATE_TEXT = {
  request_received: "The logger is listing its sessions…",
  scanning: "The logger is looking for your hotspot…",
  joining: "The logger is joining your hotspot…",
  joined: "Joined. Connecting to the pit laptop…",
  uploading: "Uploading…",
};

export async function openSync(app) {
  const settings = loadSettings();
  const missing = syncMissing(settings);
  if (missing.length) {
    app.navigate("/settings?for=sync");
    return;
  }
  const body = h("div", { "aria-live": "polite" });
  const dialog = h(
    "dialog.sync",
    { "aria-labelledby": "sync-title" },
    h("h2", { id: "sync-title" }, "Sync from RS-Core"),
    body,
  );
  document.body.append(dialog);
  dialog.addEventListener("close", () => {
    flow.stop();
    dialog.remove();
  });
  dialog.showModal();
  const flow = new SyncFlow(app, dialog, body, settings);
  await flow.start();
  return flow;
}

class SyncFlow {
  constructor(app, dialog, body, settings) {
    this.app = app;
    this.dialog = dialog;
    this.body = body;
    this.settings = settings;
    this.client = null;
    this.sync = null;
    this.stuckTimer = 0;
    this.stopped = false;
  }

  stop() {
    this.stopped = true;
    clearTimeout(this.stuckTimer);
    this.client?.disconnect?.();
  }

  show(step, ...children) {
    this.dialog.dataset.step = step;
    fill(this.body, ...children);
  }

  closeButton(label = "Close") {
    return h("button", { type: "button", onclick: () => this.dialog.close() }, label);
  }

  retryButton(label = "Try again") {
    return h("button.primary", { type: "button", onclick: () => this.start() }, label);
  }

  problem(step, { title, text }, ...actions) {
    this.show(step, h("div.notice.error", { role: "alert" }, h("h3", {}, title), h("p", {}, text)), h("div.actions", {}, ...actions, this.closeButton()));
  }

  async start() {
    clearTimeout(this.stuckTimer);
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
    if (problem) return this.problem("unsupported", problem, this.retryButton());
    let module;
    try {
      module = await import("../ble/client.js");
    } catch {
      return this.problem("unsupported", { title: "The Bluetooth part of Racesense did not load", text: "Reload the page while the laptop is reachable, then try again." }, this.retryButton());
    }
    this.show("choosing", h("p", {}, "Choose your logger (RS-Core-…) in the list the browser shows."));
    try {
      this.client = await module.RsCoreClient.request(bluetooth);
    } catch (err) {
      if (err?.kind === "cancelled") {
        return this.show(
          "chooser-cancelled",
          h("h3", {}, CHOOSER_CANCELLED.title),
          h("ul", {}, CHOOSER_CANCELLED.checklist.map((item) => h("li", {}, item))),
          h("div.actions", {}, this.retryButton(), this.closeButton()),
        );
      }
      return this.problem("unsupported", { title: "Bluetooth is unavailable", text: err?.message || "The browser could not use Bluetooth." }, this.retryButton());
    }
    await this.connectAndPair();
  }

  async connectAndPair() {
    this.show("connecting", h("p", {}, "Connecting to the logger…"));
    let info;
    try {
      await this.client.connect();
      info = await this.client.readInfo();
    } catch (err) {
      return this.problem("connect-failed", { title: "The logger did not answer", text: `${err?.message || "Bluetooth failed."} Bring the phone closer to the logger and try again.` }, this.retryButton());
    }
    this.info = info;
    if (info.recording) return this.problem("recording", explain("E_RECORDING"), this.retryButton());
    this.listen();
    const code = this.settings.pairingCodes[info.device_id];
    if (code) return this.pair(code);
    this.askCode();
  }

  askCode(wrong = false) {
    const input = h("input", { id: "pairing-code", inputmode: "numeric", autocomplete: "one-time-code", pattern: "[0-9 -]*", maxlength: "9", required: true, "aria-describedby": "pairing-hint" });
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
      wrong ? h("div.notice.error", { role: "alert" }, h("h3", {}, explain("E_AUTH").title), h("p", {}, explain("E_AUTH").text)) : null,
      h("div.field", {}, h("label", { for: "pairing-code" }, `Pairing code of ${this.info.device_id}`), input),
      h("p.hint", { id: "pairing-hint" }, "8 digits, on the logger's label. Racesense remembers it on this device."),
      h("div.actions", {}, h("button.primary", { type: "submit" }, "Pair"), this.closeButton("Cancel")),
    );
    const hint = form.querySelector(".hint");
    this.show("code", form);
    input.focus();
  }

  async pair(code) {
    this.show("pairing", h("p", {}, "Pairing with the logger…"));
    try {
      await this.client.pair(code);
    } catch (err) {
      if (err?.code === "E_AUTH") {
        const settings = loadSettings();
        delete settings.pairingCodes[this.info.device_id];
        saveSettings(settings);
        return this.askCode(true);
      }
      if (err?.code === "E_RATE_LIMIT") return this.problem("pair-failed", explain("E_RATE_LIMIT"), this.retryButton());
      return this.problem("pair-failed", { title: "Pairing did not work", text: `${err?.message || "The Bluetooth link failed."} Try again.` }, this.retryButton());
    }
    const settings = loadSettings();
    settings.pairingCodes[this.info.device_id] = code;
    saveSettings(settings);
    await this.request();
  }

  async request() {
    this.show("requesting", h("p", {}, "Asking the pit laptop for an upload pass…"));
    try {
      this.sync = await sendJson("/api/syncs", "POST", { device_id: this.info.device_id });
    } catch (err) {
      return this.problem("backend", { title: "The pit laptop did not answer", text: err instanceof ApiProblem ? err.message : "Check that Racesense runs on the laptop." }, this.retryButton());
    }
    if (!this.sync.upload_url) {
      return this.problem("backend", { title: "The logger cannot reach the pit laptop", text: this.sync.unreachable || "Racesense on the laptop is not reachable from the hotspot." }, this.retryButton());
    }
    const settings = loadSettings();
    const request = {
      ssid: settings.hotspotSsid,
      password: settings.hotspotPassword,
      url: this.sync.upload_url,
      ip_fallback: this.sync.ip_fallback || null,
      token: this.sync.token,
      sync_id: this.sync.sync_id,
      cert_sha256: this.sync.cert_sha256 || null,
      time_utc: Math.floor(Date.now() / 1000),
      ack_key: this.sync.ack_key,
    };
    try {
      await this.client.syncRequest(request);
    } catch (err) {
      return this.problem("refused", explain(err?.code || "", err?.message), this.retryButton());
    }
    this.show(
      "hotspot",
      h("p.hotspot-prompt", { role: "status" }, HOTSPOT_PROMPT(settings.hotspotSsid)),
      h("div.actions", {}, h("button", { type: "button", onclick: () => this.cancel() }, "Cancel sync")),
    );
    this.armStuckTimer();
  }

  listen() {
    const on = (name, fn) => this.client.addEventListener(name, (e) => !this.stopped && fn(e.detail || {}));
    on("state", (s) => this.onState(s));
    on("progress", (p) => this.onProgress(p));
    on("done", (d) => this.onDone(d));
    on("error", (e) => this.onError(e));
    on("disconnected", () => this.onDisconnected());
  }

  armStuckTimer() {
    clearTimeout(this.stuckTimer);
    this.stuckTimer = setTimeout(() => {
      if (this.stopped || !this.sync) return;
      this.body.append(
        h(
          "div.notice",
          { role: "status", "data-stuck": "" },
          h("p", {}, "Nothing has moved for 15 seconds."),
          h("div.actions", {}, h("button", { type: "button", onclick: () => this.cancel() }, "Cancel"), h("button.primary", { type: "button", onclick: () => this.request() }, "Retry")),
        ),
      );
    }, STUCK_MS);
  }

  onState(status) {
    if (status.state === "cancelled") return this.problem("cancelled", explain("E_CANCELLED"), this.retryButton("Sync again"));
    const text = STATE_TEXT[status.state];
    if (!text) return;
    this.armStuckTimer();
    if (status.state === "scanning" || status.state === "joining") {
      return this.show(status.state, h("p.hotspot-prompt", {}, HOTSPOT_PROMPT(this.settings.hotspotSsid)), h("p", { role: "status" }, text), h("div.actions", {}, h("button", { type: "button", onclick: () => this.cancel() }, "Cancel sync")));
    }
    this.show(status.state, h("p", { role: "status" }, text), h("div.actions", {}, h("button", { type: "button", onclick: () => this.cancel() }, "Cancel sync")));
  }

  onProgress(p) {
    this.armStuckTimer();
    const fraction = p.sync_total ? p.sync_bytes / p.sync_total : 0;
    this.show(
      "uploading",
      h("p", { role: "status" }, `File ${p.file} of ${p.files}: ${megabytes(p.sync_bytes || 0)} of ${megabytes(p.sync_total || 0)}`),
      h("progress", { max: "1", value: String(fraction), "aria-label": "Upload progress" }),
      h("div.actions", {}, h("button", { type: "button", onclick: () => this.cancel() }, "Cancel sync")),
    );
  }

  async onDone(done) {
    clearTimeout(this.stuckTimer);
    const phases = done.phases_ms || {};
    let files = [];
    try {
      files = (await getJson(`/api/syncs/${encodeURIComponent(this.sync.sync_id)}`)).files || [];
    } catch {
      files = [];
    }
    try {
      await sendJson(`/api/syncs/${encodeURIComponent(this.sync.sync_id)}/report`, "POST", {
        phases_ms: phases,
        files_sent: done.files_sent ?? null,
        bytes_sent: done.bytes ?? null,
        duplicates: done.duplicates ?? null,
      });
    } catch {
      // the timings are a bonus: the sessions are on the laptop either way
    }
    const seconds = (ms) => (Number.isFinite(ms) ? `${(ms / 1000).toFixed(1)} s` : "–");
    this.show(
      "done",
      h("h3", {}, "Sync complete"),
      h("p", { role: "status" }, `${done.files_sent ?? 0} files, ${megabytes(done.bytes || 0)}${done.duplicates ? `, ${done.duplicates} already on the laptop` : ""}.`),
      h("dl.facts-list", {}, h("dt", {}, "Joining the hotspot"), h("dd", {}, seconds(phases.join)), h("dt", {}, "First byte"), h("dd", {}, seconds(phases.first_byte)), h("dt", {}, "Upload"), h("dd", {}, seconds(phases.upload)), h("dt", {}, "Total"), h("dd", {}, seconds(phases.total))),
      files.length ? h("ul", {}, files.map((f) => h("li", {}, h("a", { href: `/sessions/${encodeURIComponent(f.id)}`, "data-link": true, onclick: () => this.dialog.close() }, f.filename || f.id)))) : null,
      h("div.actions", {}, this.closeButton("Done")),
    );
  }

  onError(error) {
    clearTimeout(this.stuckTimer);
    this.problem("failed", explain(error.error, error.detail), this.retryButton());
  }

  onDisconnected() {
    if (!this.sync || this.dialog.dataset.step === "done") return;
    // The upload goes on over Wi-Fi; the laptop's side is the second source.
    this.body.append(h("p.notice", { role: "status" }, "Bluetooth connection lost: the upload continues over Wi-Fi. Following it from the laptop…"));
    this.follow();
  }

  async follow() {
    const id = this.sync.sync_id;
    for (let k = 0; k < 120 && !this.stopped; k++) {
      try {
        const sync = await getJson(`/api/syncs/${encodeURIComponent(id)}`);
        if (sync.report || (sync.files && sync.files.length)) {
          this.body.append(h("p", { role: "status" }, `${sync.files.length} files on the laptop so far.`));
          if (sync.report) return;
        }
      } catch {
        // keep trying: the laptop may be busy
      }
      await new Promise((resolve) => setTimeout(resolve, 1000));
    }
  }

  async cancel() {
    if (!this.sync) return this.dialog.close();
    try {
      await this.client.cancel(this.sync.sync_id);
    } catch {
      this.problem("cancelled", { title: "The logger did not take the cancel", text: "It may be out of range. The files stay on it until they are sent." }, this.retryButton());
    }
  }
}
