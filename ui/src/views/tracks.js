// Tracks: the list the analysis matches sessions against, import, delete.
import { ApiProblem, getCached, request } from "../lib/api.js";
import { clear, fill, h, problemPanel } from "../lib/dom.js";
import { ago } from "../lib/format.js";

const fmt = (p) => `${p[0].toFixed(5)}, ${p[1].toFixed(5)}`;

export function render(root, app) {
  document.title = "Tracks · Racesense";
  const list = h("div", { "aria-live": "polite" });
  const status = h("p", { role: "status", "aria-live": "polite" });
  const input = h("input.visually-hidden", {
    id: "track-file",
    type: "file",
    accept: ".gpx,.csv,.txt",
    onchange: () => importFile(input.files[0]),
  });
  root.append(
    h("h1", {}, "Tracks"),
    h(
      "section.panel",
      {},
      h("h2", {}, "Add tracks"),
      h(
        "p",
        {},
        "Import a track list (GPX waypoints or CSV of name, latitude, longitude). To make a track from your own laps, or to correct a wrong start/finish, open a session and tap ",
        h("strong", {}, "Set lines"),
        " on its map.",
      ),
      h("label.button", { for: "track-file" }, "Import a GPX or CSV track list"),
      input,
      status,
    ),
    list,
  );

  async function refresh() {
    try {
      const result = await getCached("/api/tracks");
      draw(result.data.tracks, result.stale ? result : null);
    } catch (err) {
      if (err instanceof ApiProblem && err.kind === "unauthorized") return app.tokenRefused();
      fill(list, problemPanel("Tracks could not be loaded", err.message, h("button", { type: "button", onclick: refresh }, "Try again")));
    }
  }

  function draw(tracks, stale) {
    clear(list);
    if (stale) list.append(h("div.panel.notice", { role: "status" }, `${stale.problem.message} Showing the list as it was ${ago(stale.at)}.`));
    if (!tracks.length) {
      list.append(h("section.panel", {}, h("h2", {}, "No tracks yet"), h("p", {}, "Racesense finds the start/finish of a session by itself; a track here makes it exact and names the session.")));
      return;
    }
    list.append(
      h(
        "section.panel",
        { "aria-labelledby": "track-list-title" },
        h("h2", { id: "track-list-title" }, `${tracks.length} tracks`),
        h(
          "div.table-wrap",
          {},
          h(
            "table",
            {},
            h("thead", {}, h("tr", {}, h("th", { scope: "col" }, "Name"), h("th", { scope: "col" }, "Start/finish"), h("th", { scope: "col" }, "Sectors"), h("th", { scope: "col" }, "Sessions"), h("th", { scope: "col" }, h("span.visually-hidden", {}, "Actions")))),
            h(
              "tbody",
              {},
              tracks.map((t) =>
                h(
                  "tr",
                  {},
                  h("td", {}, t.name),
                  h("td.num", {}, t.start_finish_line ? fmt(t.start_finish_line[0]) : t.start_finish ? fmt([t.start_finish.lat ?? t.start_finish[0], t.start_finish.lon ?? t.start_finish[1]]) : "–"),
                  h("td.num", {}, String((t.sectors || []).length)),
                  h(
                    "td.num",
                    {},
                    t.sessions ? h("a", { href: `/?track=${encodeURIComponent(t.name)}`, "data-link": true }, String(t.sessions)) : "0",
                  ),
                  h("td", {}, h("button.danger.mini", { type: "button", onclick: () => remove(t) }, `Delete`)),
                ),
              ),
            ),
          ),
        ),
      ),
    );
  }

  async function importFile(file) {
    if (!file) return;
    status.textContent = `Importing ${file.name}…`;
    try {
      const response = await request("/api/tracks/import", { method: "POST", body: file });
      const result = await response.json();
      status.textContent = `Imported ${result.imported} tracks.${result.reanalysing.length ? ` Analysing ${result.reanalysing.length} sessions again with them.` : ""}`;
      refresh();
    } catch (err) {
      status.textContent = `${file.name} was not imported: ${err.message}`;
    } finally {
      input.value = "";
    }
  }

  async function remove(track) {
    if (!confirm(`Delete the track "${track.name}"? Sessions that used it are analysed again.`)) return;
    try {
      await request(`/api/tracks/${track.id}`, { method: "DELETE" });
      status.textContent = `Deleted ${track.name}.`;
      refresh();
    } catch (err) {
      status.textContent = `${track.name} was not deleted: ${err.message}`;
    }
  }

  refresh();
  const onResync = () => refresh();
  app.events.addEventListener("resync", onResync);
  return () => app.events.removeEventListener("resync", onResync);
}
