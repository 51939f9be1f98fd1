// The lap table: every lap with its time, gap to the best, sectors (the best of each
// column marked), kind and validity; rows are picked for comparison by tapping.
import { h } from "../lib/dom.js";
import { gap, lapTime } from "../lib/format.js";
import { lapRows } from "../lib/laps.js";

const KIND = { out: "Out", timed: "Timed", in: "In" };

/** The table for `doc`; `selection` (LapSelection) marks compared rows; onToggle(n),
 * onExclude(n, excluded). */
export function lapTable(doc, selection, { onToggle, onExclude, canEdit = true }) {
  const { rows, sectorCount } = lapRows(doc);
  const head = h(
    "tr",
    {},
    h("th", { scope: "col" }, "Lap"),
    h("th", { scope: "col" }, "Time"),
    h("th", { scope: "col" }, "Gap"),
    Array.from({ length: sectorCount }, (_, k) => h("th", { scope: "col" }, `S${k + 1}`)),
    h("th", { scope: "col" }, "Kind"),
    h("th", { scope: "col" }, "Valid"),
    canEdit ? h("th", { scope: "col" }, h("span.visually-hidden", {}, "Exclude")) : null,
  );
  const body = rows.map((row) => {
    const lap = row.lap;
    const colour = selection.colourOf(lap.number);
    const selected = colour != null;
    const excluded = Boolean(lap.excluded);
    const toggle = () => onToggle(lap.number);
    return h(
      "tr",
      {
        class: [row.isBest ? "is-best" : "", excluded ? "excluded" : ""].filter(Boolean).join(" "),
        "aria-selected": selected ? "true" : "false",
        tabindex: "0",
        dataset: { lap: String(lap.number) },
        onclick: (e) => {
          if (!e.target.closest("button")) toggle();
        },
        onkeydown: (e) => {
          if ((e.key === "Enter" || e.key === " ") && e.target === e.currentTarget) {
            e.preventDefault();
            toggle();
          }
        },
      },
      h(
        "td",
        {},
        h("span.swatch", { style: { background: colour || "transparent" }, "aria-hidden": "true" }),
        String(lap.number),
        row.isBest ? h("span.visually-hidden", {}, " (best lap)") : null,
        lap.number === selection.reference ? h("span.muted", {}, " ref") : null,
      ),
      h("td.lap-time.num", {}, lapTime(lap.time_s)),
      h("td.num", {}, row.gap == null ? "" : gap(row.gap)),
      Array.from({ length: sectorCount }, (_, k) =>
        h(
          "td.num",
          { class: row.bestSectors[k] ? "best-sector" : "" },
          lapTime(lap.sectors_s?.[k]),
          row.bestSectors[k] ? h("span.visually-hidden", {}, " (best sector)") : null,
        ),
      ),
      h("td", {}, KIND[lap.kind] || lap.kind),
      h("td", {}, excluded ? "Excluded by you" : row.why ? row.why : "Yes"),
      canEdit
        ? h(
            "td",
            {},
            lap.kind === "timed" && lap.complete
              ? h(
                  "button.mini",
                  {
                    type: "button",
                    "aria-label": `${excluded ? "Include" : "Exclude"} lap ${lap.number}`,
                    onclick: () => onExclude(lap.number, !excluded),
                  },
                  excluded ? "Include" : "Exclude",
                )
              : null,
          )
        : null,
    );
  });
  const theoretical = Number.isFinite(doc.theoretical_best_s)
    ? h(
        "tr.theoretical",
        {},
        h("td", {}, "Theoretical"),
        h("td.num", {}, lapTime(doc.theoretical_best_s)),
        h("td.num", {}, Number.isFinite(doc.best_lap_s) ? gap(doc.theoretical_best_s - doc.best_lap_s) : ""),
        Array.from({ length: sectorCount }, (_, k) => h("td.num", {}, lapTime(doc.best_sectors_s?.[k]))),
        h("td", { colspan: canEdit ? "3" : "2" }, "best sectors together"),
      )
    : null;
  return h(
    "div.table-wrap",
    {},
    h(
      "table",
      { "aria-label": "Laps. Select rows to compare up to 4 laps." },
      h("thead", {}, head),
      h("tbody", {}, body, theoretical),
    ),
  );
}
