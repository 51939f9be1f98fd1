// Session Details: the lap table first, then the reference lap's traces (map, speed,
// delta-T, G-G), other laps loaded when they are picked. One cursor for all.
import { ApiProblem, getCached, request, sendJson } from "../lib/api.js";
import { clear, fill, h, problemPanel } from "../lib/dom.js";
import { ago, bytes, dateTime, distanceValue, lapTime, speedValue, trackSource, UNITS } from "../lib/format.js";
import { LAP_COLOURS, LAP_COLOURS_SUNLIGHT, LapSelection, resample } from "../lib/laps.js";
import { loadSettings } from "../lib/settings.js";
import { lapTable } from "../components/laptable.js";
import { TrackMap } from "../components/map.js";

const STATUS_SENTENCE = {
  queued: "Waiting to be analysed.",
  processing: "Being analysed…",
};

/** Load the code this view needs later (charts, trace reader) ahead of time. */
export function preload() {
  return Promise.all([import("../lib/traces.js"), import("../components/charts.js")]);
}

export async function render(root, app, sessionId) {
  document.title = "Session · Racesense";
  const settings = loadSettings();
  const head = h("div");
  const tablePanel = h("section.panel", { "aria-labelledby": "laps-title" });
  const mapCanvas = h("canvas", { role: "img", "aria-label": "Track map of the compared laps, coloured by speed" });
  const mapHelp = h("p.muted", { role: "status", "aria-live": "polite" });
  const speedEl = h("div.chart", { role: "img", "aria-label": "Speed against distance for the compared laps" });
  const deltaEl = h("div.chart", { role: "img", "aria-label": "Time difference to the reference lap against distance" });
  const ggCanvas = h("canvas", { role: "img", "aria-label": "G-G diagram of the compared laps", style: { width: "100%", aspectRatio: "1 / 1", maxWidth: "420px" } });
  const linesPanel = h("div");
  const legend = h("div.legend", { role: "group", "aria-label": "Compared laps" });
  const zoomBar = h(
    "div.actions",
    {},
    h("button", { type: "button", onclick: () => charts?.zoom(0.5), "aria-label": "Zoom in around the cursor" }, "Zoom in"),
    h("button", { type: "button", onclick: () => charts?.zoom(2), "aria-label": "Zoom out" }, "Zoom out"),
    h("button", { type: "button", onclick: () => charts?.reset() }, "Whole lap"),
  );
  const traces = h(
    "div.grid-2",
    {},
    h(
      "section.panel",
      { "aria-labelledby": "map-title" },
      h("div.row.spread", {}, h("h2", { id: "map-title" }, "Track map"), h("button", { type: "button", onclick: () => startLines() }, "Set lines")),
      h("div.map-wrap", {}, mapCanvas),
      mapHelp,
      linesPanel,
    ),
    h(
      "section.panel",
      { "aria-labelledby": "charts-title" },
      h("h2", { id: "charts-title" }, "Speed and time difference"),
      legend,
      speedEl,
      h("p.muted", {}, "Time against the reference lap: below 0 means faster, everywhere."),
      deltaEl,
      zoomBar,
    ),
    h("section.panel", { "aria-labelledby": "gg-title" }, h("h2", { id: "gg-title" }, "G-G diagram"), ggCanvas),
  );
  const factsPanel = h("section.panel", { "aria-labelledby": "facts-title" });
  root.append(head, tablePanel, traces, factsPanel);

  let doc = null;
  let selection = null;
  let charts = null;
  let gg = null;
  let tracesModule = null;
  let placing = null; // points placed in "Set lines" mode: [start/finish, sectors...]
  // A track saved from this page ({name, afterLoad}), so the confirmation outlives the
  // redraw that the re-analysis causes (the new laps arrive within a second on a laptop);
  // only a load started after the re-analysis was queued can show its result.
  let savedTrack = null;
  let loads = 0;
  let shownLoad = 0;
  let destroyed = false;
  const map = new TrackMap(mapCanvas, { onPick: (p) => picked(p) });

  async function load() {
    let result;
    const thisLoad = ++loads;
    try {
      result = await getCached(`/api/sessions/${encodeURIComponent(sessionId)}`);
    } catch (err) {
      if (err instanceof ApiProblem && err.kind === "unauthorized") return app.tokenRefused();
      fill(head, 
        err instanceof ApiProblem && err.kind === "not_found"
          ? problemPanel("This session is not here", "It may have been deleted. Your other sessions are on the Pit Lane.", h("a.button", { href: "/", "data-link": true }, "Go to the Pit Lane"))
          : problemPanel("The session could not be loaded", err.message, h("button", { type: "button", onclick: load }, "Try again")),
      );
      traces.hidden = true;
      return;
    }
    const previous = doc;
    doc = result.data;
    shownLoad = thisLoad;
    document.title = `${doc.session?.track?.name || doc.track?.name || "Session"} · Racesense`;
    drawHead(result);
    drawFacts();
    const lapsChanged = !previous || JSON.stringify(previous.laps) !== JSON.stringify(doc.laps);
    if (lapsChanged) {
      selection = new LapSelection(doc, settings.theme === "sunlight" ? LAP_COLOURS_SUNLIGHT : LAP_COLOURS);
      if (tracesModule) tracesModule.forgetTraces(sessionId);
      // The reference lap's trace is on its way while the table is drawn.
      if (doc.laps?.length) fetchTraces([...selection.laps]);
    }
    drawTable();
    if (savedTrack && !placing) mapHelp.textContent = savedNotice();
    traces.hidden = !doc.laps?.length;
    if (doc.laps?.length && lapsChanged) await drawTraces();
  }

  function drawHead(result) {
    const s = doc.session || {};
    const failed = doc.status === "failed";
    fill(head, 
      h("p", {}, h("a", { href: "/", "data-link": true }, "← Pit Lane")),
      h("h1", {}, doc.track?.name || s.track?.name || "Unknown circuit"),
      h("p.muted", {}, `${dateTime(doc.started_at || s.started_at || s.uploaded_at)} · ${doc.device_id || s.device_id || "no device"}`),
      result.stale
        ? h("div.panel.notice", { role: "status" }, `${result.problem.message} Showing this session as it was ${ago(result.at)}.`)
        : null,
      failed
        ? problemPanel(
            "This session could not be analysed",
            `${doc.error || "The file was not understood."} You can analyse it again, for example after adding its track.`,
            h("button.primary", { type: "button", onclick: reanalyse }, "Analyse again"),
          )
        : STATUS_SENTENCE[doc.status]
          ? h("div.panel.notice", { role: "status" }, STATUS_SENTENCE[doc.status])
          : null,
      doc.status === "ready" && !doc.laps?.length
        ? h("div.panel.notice", { role: "status" }, doc.reason || "No laps were found in this session.")
        : null,
    );
  }

  function drawTable() {
    fill(tablePanel, 
      h(
        "div.row.spread",
        {},
        h("h2", { id: "laps-title" }, `Laps${doc.lap_count != null ? ` (${doc.lap_count})` : ""}`),
        selection.laps.length > 1 ? referencePicker() : null,
      ),
      doc.laps?.length
        ? lapTable(doc, selection, { onToggle: toggleLap, onExclude: excludeLap })
        : h("p.muted", {}, "No laps yet."),
      doc.laps?.length ? h("p.muted", {}, "Tap laps to compare up to 4. The best lap is the reference unless you pick another.") : null,
    );
  }

  function referencePicker() {
    const select = h(
      "select",
      {
        id: "reference",
        onchange: () => {
          selection.setReference(Number(select.value));
          drawTable();
          drawTraces();
        },
      },
      selection.laps.map((n) => h("option", { value: String(n), selected: n === selection.reference }, `Lap ${n}`)),
    );
    return h("div", {}, h("label", { for: "reference" }, "Reference lap"), select);
  }

  function toggleLap(number) {
    selection.toggle(number);
    drawTable();
    drawTraces();
  }

  async function excludeLap(number, excluded) {
    try {
      await sendJson(`/api/sessions/${encodeURIComponent(sessionId)}/laps/${number}`, "PATCH", { excluded });
      app.notice(excluded ? `Lap ${number} excluded. The best lap and theoretical best follow in a moment.` : `Lap ${number} counts again.`);
    } catch (err) {
      app.notice(`Lap ${number} was not changed: ${err.message}`, { error: true });
    }
  }

  function fetchTraces(laps) {
    import("../lib/traces.js")
      .then((module) => {
        tracesModule ??= module;
        for (const n of laps) module.loadTrace(sessionId, n).catch(() => {});
      })
      .catch(() => {});
  }

  async function drawTraces() {
    if (!selection.laps.length) return;
    tracesModule ??= await import("../lib/traces.js");
    const chartsModule = await import("../components/charts.js");
    const wanted = [...selection.laps];
    let loaded;
    try {
      loaded = await Promise.all(wanted.map((n) => tracesModule.loadTrace(sessionId, n)));
    } catch (err) {
      mapHelp.textContent = `The laps' traces could not be loaded: ${err.message}`;
      return;
    }
    if (destroyed || wanted.join() !== selection.laps.join()) return; // the selection changed meanwhile
    const laps = loaded.map((trace, k) => ({
      trace,
      number: wanted[k],
      colour: selection.colourOf(wanted[k]),
      reference: wanted[k] === selection.reference,
      label: `Lap ${wanted[k]}`,
    }));
    const ref = laps.find((l) => l.reference) || laps[0];
    // The reference lap's distance is the x of every chart; other laps are resampled
    // onto it (their distance is along the same path, so laps line up).
    const grid = ref.trace.columns.distance_m;
    const refT = ref.trace.columns.t_s;
    const series = laps.map((lap) => {
      const c = lap.trace.columns;
      const t = lap === ref ? refT : resample(c.distance_m, c.t_s, grid);
      const speed = lap === ref ? c.speed_kmh : resample(c.distance_m, c.speed_kmh, grid);
      const delta = new Float64Array(grid.length);
      for (let i = 0; i < grid.length; i++) delta[i] = t[i] - refT[i];
      return {
        label: lap.label,
        colour: lap.colour,
        reference: lap.reference,
        speed: Array.from(speed, (v) => speedValue(v, settings.speedUnit)),
        delta: Array.from(delta, (v) => (Number.isFinite(v) ? v : null)),
      };
    });
    const x = Array.from(grid, (d) => distanceValue(d, settings.distanceUnit));
    fill(
      legend,
      laps.map((lap) =>
        h(
          "span",
          {},
          h("span.swatch", { style: { background: lap.colour }, "aria-hidden": "true" }),
          `${lap.label}${lap.reference ? " (reference)" : ""}`,
        ),
      ),
    );
    map.setLaps(laps);
    map.setLines({ startFinish: doc.track?.start_finish, sectors: doc.track?.sectors || [] });
    if (!charts) {
      charts = new chartsModule.DistanceCharts(speedEl, deltaEl, {
        onCursor: (index) => {
          map.setCursor(index);
          const c = ref.trace.columns;
          gg?.setCursor([c.g_lat[index], c.g_lon[index]]);
        },
        speedLabel: `Speed (${UNITS.speed[settings.speedUnit].label})`,
        distanceLabel: `Distance (${UNITS.distance[settings.distanceUnit].label})`,
      });
      gg = new chartsModule.GGDiagram(ggCanvas);
    }
    charts.set({ x, laps: series });
    gg.set(laps);
    if (!placing) mapHelp.textContent = savedNotice() || "Touch the map or a chart to move the cursor on all of them.";
  }

  function picked({ lat, lon, index }) {
    if (placing) {
      placing.push([lat, lon]);
      map.setLines({ placed: placing });
      drawLinesPanel();
      return;
    }
    if (index >= 0) charts?.cursorTo(index);
  }

  function savedNotice() {
    if (!savedTrack) return "";
    const { name, afterLoad } = savedTrack;
    return shownLoad > afterLoad && doc?.status === "ready" && doc.track?.name === name
      ? `Saved ${name}. The laps above are timed on its lines.`
      : `Saved ${name}. This session and others at this circuit are being analysed again.`;
  }

  function startLines() {
    placing = [];
    savedTrack = null;
    map.setLines({ placed: placing });
    mapHelp.textContent = "Tap the map where the start/finish line should be, then at each sector line in driving order. Racesense draws each line across the track there.";
    drawLinesPanel();
  }

  function drawLinesPanel() {
    if (!placing) {
      clear(linesPanel);
      return;
    }
    const name = h("input", { id: "track-name", value: doc.track?.source === "list" ? doc.track.name : doc.track?.name && doc.track.name !== "Unknown circuit" ? doc.track.name : "", placeholder: "e.g. Racesense Park", autocomplete: "off" });
    const status = h("p", { role: "status", "aria-live": "polite" });
    fill(linesPanel, 
      h("p", {}, placing.length ? `Start/finish placed${placing.length > 1 ? `, ${placing.length - 1} sector lines` : ""}.` : "Nothing placed yet."),
      h("div.field", {}, h("label", { for: "track-name" }, "Track name"), name),
      h(
        "div.actions",
        {},
        h(
          "button.primary",
          {
            type: "button",
            disabled: !placing.length,
            onclick: async () => {
              const trackName = name.value.trim();
              if (!trackName) {
                status.textContent = "Give the track a name first.";
                name.focus();
                return;
              }
              try {
                const [sf, ...sectors] = placing;
                await sendJson("/api/tracks", "POST", {
                  name: trackName,
                  start_finish: { lat: sf[0], lon: sf[1] },
                  sectors: sectors.map(([la, lo]) => [la, lo]),
                });
                await sendJson(`/api/sessions/${encodeURIComponent(sessionId)}/reanalyse`, "POST", { track: trackName });
                placing = null;
                map.setLines({ placed: [] });
                drawLinesPanel();
                savedTrack = { name: trackName, afterLoad: loads };
                mapHelp.textContent = savedNotice();
                load(); // the re-analysis may have finished before its event could be read
              } catch (err) {
                status.textContent = `The track was not saved: ${err.message}`;
              }
            },
          },
          "Save track",
        ),
        h("button", { type: "button", disabled: !placing.length, onclick: () => { placing.pop(); map.setLines({ placed: placing }); drawLinesPanel(); } }, "Undo last"),
        h("button", { type: "button", onclick: () => { placing = null; map.setLines({ placed: [] }); drawLinesPanel(); mapHelp.textContent = ""; } }, "Cancel"),
      ),
      status,
    );
  }

  function drawFacts() {
    const s = doc.session || {};
    const fact = (term, value) => [h("dt", {}, term), h("dd", {}, value ?? "–")];
    fill(factsPanel, 
      h("h2", { id: "facts-title" }, "Session"),
      h(
        "dl.facts-list",
        {},
        fact("File", `${s.filename} (${bytes(s.bytes)})`),
        fact("Format", doc.format),
        fact("Device", doc.device_id || s.device_id),
        fact("Started", dateTime(doc.started_at || s.started_at)),
        fact("Track", doc.track ? `${doc.track.name}, ${trackSource(doc.track.source)}` : null),
        fact("Fixes", doc.fix_count != null ? `${doc.fix_count} over ${lapTime(doc.duration_s)}` : null),
        doc.warnings?.length ? fact("Warnings", doc.warnings.join(" ")) : null,
      ),
      h(
        "div.actions",
        {},
        h("button", { type: "button", onclick: () => download(`/api/sessions/${encodeURIComponent(sessionId)}/raw`, s.filename) }, "Download raw file"),
        exportButtons(),
        h("button", { type: "button", onclick: reanalyse }, "Analyse again"),
        h("button.danger", { type: "button", onclick: remove }, "Delete session"),
      ),
    );
  }

  function exportButtons() {
    const formats = [
      ["racechrono", "CSV (RaceChrono)"],
      ["gpx", "GPX"],
      ["vbo", "VBO"],
    ];
    return formats.map(([format, label]) =>
      h(
        "button",
        {
          type: "button",
          onclick: () => {
            const chosen = selection && selection.laps.length && doc.laps?.length ? `&laps=${selection.laps.join(",")}` : "";
            download(`/api/sessions/${encodeURIComponent(sessionId)}/export?format=${format}${chosen}`, null);
          },
        },
        `Export ${label}${selection?.laps.length ? " of selected laps" : ""}`,
      ),
    );
  }

  async function download(path, fallbackName) {
    try {
      const response = await request(path);
      const disposition = response.headers.get("content-disposition") || "";
      const star = /filename\*=UTF-8''([^;]+)/i.exec(disposition);
      const plain = /filename="([^"]+)"/i.exec(disposition);
      const name = star ? decodeURIComponent(star[1]) : plain ? plain[1] : fallbackName || "racesense-export";
      const url = URL.createObjectURL(await response.blob());
      const a = h("a", { href: url, download: name });
      document.body.append(a);
      a.click();
      a.remove();
      setTimeout(() => URL.revokeObjectURL(url), 10_000);
    } catch (err) {
      app.notice(`The download did not work: ${err.message}`, { error: true });
    }
  }

  async function reanalyse() {
    try {
      await sendJson(`/api/sessions/${encodeURIComponent(sessionId)}/reanalyse`, "POST", {});
      app.notice("Analysing this session again…");
      load();
    } catch (err) {
      app.notice(`It was not analysed again: ${err.message}`, { error: true });
    }
  }

  function remove() {
    const dialog = h(
      "dialog",
      { "aria-labelledby": "delete-title" },
      h("h2", { id: "delete-title" }, "Delete this session?"),
      h("p", {}, "Its laps and its raw file are removed from the pit laptop. This cannot be undone."),
      h(
        "form.actions",
        { method: "dialog" },
        h("button", { value: "cancel" }, "Keep it"),
        h("button.danger", { value: "delete" }, "Delete"),
      ),
    );
    document.body.append(dialog);
    dialog.addEventListener("close", async () => {
      dialog.remove();
      if (dialog.returnValue !== "delete") return;
      try {
        await request(`/api/sessions/${encodeURIComponent(sessionId)}`, { method: "DELETE" });
        app.notice("The session was deleted.");
        app.navigate("/");
      } catch (err) {
        app.notice(`The session was not deleted: ${err.message}`, { error: true });
      }
    });
    dialog.showModal();
  }

  const onSession = (e) => {
    const event = e.detail || {};
    if (event.id !== sessionId) return;
    if (event.status === "deleted") {
      app.notice("This session was deleted.");
      app.navigate("/", { replace: true });
      return;
    }
    load();
  };
  const onResync = () => load();
  app.events.addEventListener("session", onSession);
  app.events.addEventListener("resync", onResync);
  await load();
  return () => {
    destroyed = true;
    app.events.removeEventListener("session", onSession);
    app.events.removeEventListener("resync", onResync);
    map.destroy();
    charts?.destroy();
    gg?.destroy();
  };
}
