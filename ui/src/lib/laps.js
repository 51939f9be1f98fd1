// Shaping a session's laps for the lap table and the charts. Pure: tested under Node.

export const MAX_COMPARED = 4;
// One colour per compared lap, in selection order, per theme: bright on the dark
// glass, deep on the sunlight theme's white (at least 3:1 against the panel either way).
export const LAP_COLOURS = ["#38d6ff", "#ffc400", "#ff6bd5", "#3ddc84"];
export const LAP_COLOURS_SUNLIGHT = ["#00599c", "#9a4a00", "#a3007e", "#0b6b2f"];

/** Laps that count for the best and for best sectors: timed, complete, valid. */
export function counts(lap) {
  return lap.kind === "timed" && lap.complete && lap.valid && Number.isFinite(lap.time_s);
}

/** Rows for the lap table: each lap with its gap to the best and which of its sectors
 * are the session's best, plus flags. */
export function lapRows(doc) {
  const laps = doc.laps || [];
  const best = Number.isFinite(doc.best_lap_s) ? doc.best_lap_s : null;
  const sectorCount = Math.max(0, ...laps.map((l) => (l.sectors_s || []).length));
  // The best of each sector column, over laps that count (the server's best_sectors_s
  // says the same; it is recomputed here so that the marks follow the same laps).
  const bestSector = Array.from({ length: sectorCount }, (_, k) => {
    let min = Infinity;
    for (const lap of laps) {
      const value = lap.sectors_s?.[k];
      if (counts(lap) && Number.isFinite(value) && value < min) min = value;
    }
    return Number.isFinite(min) ? min : null;
  });
  return {
    sectorCount,
    rows: laps.map((lap) => ({
      number: lap.number,
      lap,
      gap: best != null && counts(lap) ? lap.time_s - best : null,
      isBest: lap.number === doc.best_lap_number,
      bestSectors: (lap.sectors_s || []).map(
        (value, k) => counts(lap) && bestSector[k] != null && Math.abs(value - bestSector[k]) < 1e-9,
      ),
      why: whyNot(lap),
    })),
  };
}

export function whyNot(lap) {
  if (lap.kind === "out") return "out lap";
  if (lap.kind === "in") return "in lap";
  if (!lap.complete) return "not complete";
  if (!lap.valid) return lap.invalid_reason || "not valid";
  return "";
}

/** A lap selection: the laps to compare (at most MAX_COMPARED, in the order chosen)
 * and the reference they are compared against. */
export class LapSelection {
  constructor(doc, palette = LAP_COLOURS) {
    this.palette = palette;
    const best = doc.best_lap_number ?? doc.reference_lap_number ?? null;
    this.reference = best;
    this.defaultReference = best;
    this.laps = best != null ? [best] : [];
  }

  /** Tap on a row: add it (dropping the oldest non-reference lap when full) or remove
   * it. The reference stays selected. Returns the new list. */
  toggle(number) {
    if (this.laps.includes(number)) {
      if (number !== this.reference) this.laps = this.laps.filter((n) => n !== number);
      return this.laps;
    }
    if (this.laps.length >= MAX_COMPARED) {
      const drop = this.laps.find((n) => n !== this.reference);
      this.laps = this.laps.filter((n) => n !== drop);
    }
    this.laps = [...this.laps, number];
    return this.laps;
  }

  setReference(number) {
    if (!this.laps.includes(number)) this.toggle(number);
    this.reference = number;
    return this.laps;
  }

  colourOf(number) {
    const k = this.laps.indexOf(number);
    return k === -1 ? null : this.palette[k % this.palette.length];
  }
}

/** For each x in `xs` (sorted ascending), the index of the nearest value in sorted `grid`. */
export function nearestIndex(grid, x) {
  let lo = 0;
  let hi = grid.length - 1;
  if (hi < 0) return -1;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (grid[mid] < x) lo = mid + 1;
    else hi = mid;
  }
  if (lo > 0 && Math.abs(grid[lo - 1] - x) <= Math.abs(grid[lo] - x)) return lo - 1;
  return lo;
}

/** Resample `values` (given at `xs`, ascending) onto `grid` by linear interpolation;
 * NaN outside the lap or across NaN. uPlot needs every series on one x grid. */
export function resample(xs, values, grid) {
  const out = new Float64Array(grid.length).fill(NaN);
  let j = 0;
  for (let i = 0; i < grid.length; i++) {
    const x = grid[i];
    while (j < xs.length - 2 && xs[j + 1] < x) j++;
    if (xs.length < 2 || x < xs[0] || x > xs[xs.length - 1]) continue;
    const x0 = xs[j];
    const x1 = xs[j + 1];
    const f = x1 > x0 ? (x - x0) / (x1 - x0) : 0;
    out[i] = values[j] + f * (values[j + 1] - values[j]);
  }
  return out;
}

/** The g-rings of a G-G diagram, as polylines. */
export function ring(radiusG, points = 72) {
  const xs = [];
  const ys = [];
  for (let k = 0; k <= points; k++) {
    const a = (2 * Math.PI * k) / points;
    xs.push(radiusG * Math.cos(a));
    ys.push(radiusG * Math.sin(a));
  }
  return { xs, ys };
}
