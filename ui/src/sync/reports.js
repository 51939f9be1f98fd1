// The logger's reports (state, progress, done, error: docs/ble-protocol.md) and the
// laptop's view of the same sync, as what the Sync modal shows. Pure (tested under Node).

export const RUNNING_STATES = new Set(["request_received", "scanning", "joining", "joined", "uploading"]);

const STATE_TEXT = {
  request_received: "The logger is listing its sessions…",
  scanning: "The logger is looking for your hotspot…",
  joining: "The logger is joining your hotspot…",
  joined: "Joined. Connecting to the pit laptop…",
  uploading: "Uploading…",
};

/** What to show for one report of the logger:
 * {kind: "running", step, text, fraction?, files?} | {kind: "done"} | {kind: "failed", code}
 * | {kind: "cancelled"} | {kind: "idle"} (no sync since the logger started). */
export function describe(report) {
  const state = report?.state;
  if (report?.type === "done" || state === "done") return { kind: "done" };
  if (report?.type === "error" || state === "failed") return { kind: "failed", code: report?.error || "", detail: report?.detail || "" };
  if (state === "cancelled") return { kind: "cancelled" };
  if (report?.type === "progress" || (state === "uploading" && Number.isFinite(report?.sync_total))) {
    const total = report.sync_total || 0;
    return {
      kind: "running",
      step: "uploading",
      text: `File ${report.file ?? "?"} of ${report.files ?? "?"}: ${megabytes(report.sync_bytes || 0)} of ${megabytes(total)}`,
      fraction: total ? Math.min(1, (report.sync_bytes || 0) / total) : 0,
      files: Number.isInteger(report.files) ? report.files : null,
    };
  }
  if (RUNNING_STATES.has(state)) return { kind: "running", step: state, text: STATE_TEXT[state] };
  return { kind: "idle" };
}

/** Does this report belong to the sync `syncId`? (The logger keeps the last one's
 * report, so after a reconnect it may describe an earlier sync.) */
export function isFor(report, syncId) {
  return Boolean(report && syncId && report.sync_id === syncId);
}

/** The laptop's side: how many files of the sync are there, and are they analysed.
 * `expected` is the logger's file count when known (from progress). */
export function laptopView(sync, expected = null) {
  const files = sync?.files || [];
  const analysed = files.filter((f) => f.status === "ready" || f.status === "failed").length;
  return {
    received: files.length,
    analysed,
    complete: expected !== null && files.length >= expected,
    text: expected ? `On the laptop: ${files.length} of ${expected} files.` : `On the laptop: ${files.length} files so far.`,
  };
}

/** "1.2 MB" style for progress. */
export function megabytes(bytes) {
  return `${(bytes / 1e6).toFixed(1)} MB`;
}

/** Seconds with one decimal, or "–" for a phase the logger did not time. */
export function seconds(ms) {
  return Number.isFinite(ms) ? `${(ms / 1000).toFixed(1)} s` : "–";
}

/** The done screen's summary line. */
export function doneSummary(done) {
  const sent = done.files_sent ?? 0;
  const parts = [`${sent} ${sent === 1 ? "file" : "files"}`, megabytes(done.bytes || 0)];
  if (done.duplicates) parts.push(`${done.duplicates} already on the laptop`);
  return `${parts.join(", ")}.`;
}
