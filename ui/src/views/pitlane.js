// Pit Lane: the Sync button, uploads, and every session, newest first, kept live.
import { ApiProblem, getCached, uploadFile } from "../lib/api.js";
import { clear, fill, h, problemPanel } from "../lib/dom.js";
import { ago, bytes, dateTime, lapTime } from "../lib/format.js";

const STATUS_TEXT = {
  queued: "Waiting for analysis",
  processing: "Analysing…",
  ready: "Ready",
  failed: "Failed",
};

export function render(root, app) {
  document.title = "Pit Lane · Racesense";
  const list = h("div", { "aria-live": "polite", "aria-busy": "true" });
  const uploads = h("ul.uploads", { "aria-label": "Uploads" });
  const input = h("input.visually-hidden", {
    type: "file",
    id: "file-input",
    multiple: true,
    onchange: () => {
      sendFiles([...input.files]);
      input.value = "";
    },
  });
  const dropzone = h(
    "section.panel.dropzone",
    { "aria-labelledby": "upload-title" },
    h("h2", { id: "upload-title" }, "Upload log files"),
    h("p.muted", {}, "Drop files here, or choose them: RS-Core, RaceChrono, RaceCapture, AiM, VBOX, NMEA or GPX."),
    h("label.button", { for: "file-input" }, "Choose files"),
    input,
    uploads,
  );
  for (const type of ["dragenter", "dragover"])
    dropzone.addEventListener(type, (e) => {
      e.preventDefault();
      dropzone.classList.add("over");
    });
  for (const type of ["dragleave", "drop"])
    dropzone.addEventListener(type, (e) => {
      e.preventDefault();
      dropzone.classList.remove("over");
    });
  dropzone.addEventListener("drop", (e) => sendFiles([...(e.dataTransfer?.files || [])]));

  const syncButton = h("button.primary", { type: "button", onclick: () => startSync(app) }, "Sync logger");
  root.append(
    h(
      "div.row.spread",
      {},
      h("h1", {}, "Pit Lane"),
      syncButton,
    ),
    h("section", { "aria-labelledby": "sessions-title" }, h("h2.visually-hidden", { id: "sessions-title" }, "Sessions"), list),
    dropzone,
  );

  let sessions = [];
  let stale = null;
  // Opened from the Tracks view: only the sessions at one track.
  const trackFilter = new URLSearchParams(location.search).get("track");

  async function refresh() {
    try {
      const query = trackFilter ? `&track=${encodeURIComponent(trackFilter)}` : "";
      const result = await getCached(`/api/sessions?limit=200${query}`);
      sessions = result.data.sessions;
      stale = result.stale ? result : null;
      draw();
    } catch (err) {
      if (err instanceof ApiProblem && err.kind === "unauthorized") return app.tokenRefused();
      fill(list, 
        problemPanel(
          "Sessions could not be loaded",
          err instanceof ApiProblem ? err.message : "Something went wrong. Reload the page.",
          h("button", { type: "button", onclick: refresh }, "Try again"),
        ),
      );
    } finally {
      list.setAttribute("aria-busy", "false");
    }
  }

  function draw() {
    clear(list);
    if (trackFilter) {
      list.append(
        h(
          "p.row",
          {},
          h("span", {}, `Sessions at ${trackFilter}.`),
          h("a", { href: "/", "data-link": true }, "Show all sessions"),
        ),
      );
    }
    if (stale) {
      list.append(
        h(
          "div.panel.notice",
          { role: "status" },
          h("span", {}, `${stale.problem.message} Showing the sessions as they were ${ago(stale.at)}.`),
          h("button", { type: "button", onclick: refresh }, "Try again"),
        ),
      );
    }
    if (!sessions.length) {
      list.append(
        h(
          "section.panel",
          {},
          h("h2", {}, "No sessions yet"),
          h("p", {}, "After your first run, tap Sync logger to fetch the session from RS-Core over your phone's hotspot, or upload a log file from any lap timer below."),
        ),
      );
      return;
    }
    list.append(h("ul.sessions", {}, sessions.map(card)));
  }

  let pending = null;
  const soon = () => {
    clearTimeout(pending);
    pending = setTimeout(refresh, 150);
  };
  const onSession = (e) => {
    const event = e.detail || {};
    const known = sessions.find((s) => s.id === event.id);
    if (known && event.status && event.status !== "deleted") {
      known.status = event.status; // show the change at once; the refresh fills in the rest
      draw();
    }
    soon();
  };
  app.events.addEventListener("session", onSession);
  app.events.addEventListener("resync", soon);
  refresh();

  async function sendFiles(files) {
    for (const file of files) {
      const bar = h("progress", { max: "1", value: "0", "aria-label": `Uploading ${file.name}` });
      const note = h("span.muted", {}, ` ${bytes(file.size)}`);
      const item = h("li", {}, h("div", {}, h("strong", {}, file.name), note), bar);
      uploads.prepend(item);
      try {
        const result = await uploadFile(file, (f) => (bar.value = f));
        bar.value = 1;
        const stored = result?.files?.[0];
        if (stored?.duplicate) {
          note.textContent = " Already uploaded before: ";
          note.after(h("a", { href: `/sessions/${stored.session_id}`, "data-link": true }, "open it"));
        } else note.textContent = " Uploaded. Analysing…";
        soon();
      } catch (err) {
        bar.remove();
        item.classList.add("error");
        note.textContent = ` Not uploaded: ${err.message}`;
        if (err.kind === "unauthorized") app.tokenRefused();
      }
    }
  }

  return () => {
    clearTimeout(pending);
    app.events.removeEventListener("session", onSession);
    app.events.removeEventListener("resync", soon);
  };
}

function card(s) {
  const when = s.started_at || s.uploaded_at;
  const status = h("span", { class: `status status-${s.status}` }, STATUS_TEXT[s.status] || s.status);
  return h(
    "li",
    {},
    h(
      "a.panel.session-card",
      { href: `/sessions/${encodeURIComponent(s.id)}`, "data-link": true, dataset: { session: s.id } },
      h("div.row.spread", {}, h("span.title", {}, s.track?.name || "Unknown circuit"), status),
      h(
        "div.facts",
        {},
        h("span", {}, dateTime(when)),
        h("span", {}, s.device_id || "no device"),
        h("span", {}, s.filename),
      ),
      s.status === "failed"
        ? h("p.reason", {}, `${s.error || "The file could not be analysed."} Open it to try again.`)
        : h(
            "div.times",
            {},
            h("span", {}, h("b", {}, "Laps"), h("span.num", {}, s.lap_count ?? "–")),
            h("span", {}, h("b", {}, "Best lap"), h("span.num", {}, lapTime(s.best_lap_s))),
            h("span", {}, h("b", {}, "Theoretical best"), h("span.num", {}, lapTime(s.theoretical_best_s))),
          ),
    ),
  );
}

function startSync(app) {
  import("../sync/SyncModal.js")
    .then((module) => module.openSync(app))
    .catch(() => app.notice("The Sync could not start: reload the page and try again.", { error: true }));
}
