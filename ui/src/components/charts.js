// Speed and delta-T against distance (uPlot), one cursor and one zoom for both, and
// the G-G diagram (a canvas: a scatter with rings is simpler drawn than configured).
import uPlot from "uplot";
import { ring } from "../lib/laps.js";

const SYNC_KEY = "racesense-session";

function themeColours() {
  const s = getComputedStyle(document.documentElement);
  const get = (name, fallback) => s.getPropertyValue(name).trim() || fallback;
  return { text: get("--text", "#fff"), grid: get("--chart-grid", "rgba(255,255,255,.12)"), muted: get("--text-muted", "#aaa") };
}

/** Two stacked charts sharing x (distance): speed, and delta-T against the reference.
 * `data`: {x: Float64Array, laps: [{label, colour, speed, delta}]}; onCursor(index). */
export class DistanceCharts {
  constructor(speedEl, deltaEl, { onCursor, speedLabel, distanceLabel }) {
    this.speedEl = speedEl;
    this.deltaEl = deltaEl;
    this.onCursor = onCursor;
    this.speedLabel = speedLabel;
    this.distanceLabel = distanceLabel;
    this.plots = [];
    this.syncing = false;
    this.resize = new ResizeObserver(() => this.fit());
    this.resize.observe(speedEl);
  }

  destroy() {
    this.resize.disconnect();
    for (const p of this.plots) p.destroy();
    this.plots = [];
  }

  fit() {
    const width = this.speedEl.clientWidth;
    if (!width) return;
    for (const p of this.plots) p.setSize({ width, height: p.height });
  }

  set(data) {
    for (const p of this.plots) p.destroy();
    this.plots = [];
    this.data = data;
    const c = themeColours();
    const width = this.speedEl.clientWidth || 320;
    const axis = (label) => ({
      label,
      stroke: c.text,
      grid: { stroke: c.grid, width: 1 },
      ticks: { stroke: c.grid, width: 1 },
    });
    const sync = uPlot.sync(SYNC_KEY);
    const common = (height, yLabel) => ({
      width,
      height,
      cursor: {
        sync: { key: SYNC_KEY, setSeries: false },
        drag: { x: true, y: false, uni: 30 },
        points: { size: 8 },
      },
      legend: { show: false },
      scales: { x: { time: false } },
      axes: [axis(this.distanceLabel), axis(yLabel)],
      hooks: {
        setCursor: [(u) => this.cursorMoved(u)],
        setScale: [(u, key) => this.zoomed(u, key)],
      },
    });
    const x = data.x;
    const speedOpts = common(200, this.speedLabel);
    speedOpts.series = [{}, ...data.laps.map((l) => ({ label: l.label, stroke: l.colour, width: l.reference ? 2.5 : 1.75, spanGaps: false }))];
    const deltaOpts = common(150, "Δt (s)");
    deltaOpts.series = [{}, ...data.laps.map((l) => ({ label: l.label, stroke: l.colour, width: l.reference ? 1 : 1.75, spanGaps: false }))];
    deltaOpts.scales.y = { range: (_u, min, max) => { const m = Math.max(0.2, Math.abs(min || 0), Math.abs(max || 0)); return [-m, m]; } };
    const speedPlot = new uPlot(speedOpts, [x, ...data.laps.map((l) => l.speed)], this.speedEl);
    const deltaPlot = new uPlot(deltaOpts, [x, ...data.laps.map((l) => l.delta)], this.deltaEl);
    sync.sub(speedPlot);
    sync.sub(deltaPlot);
    this.plots = [speedPlot, deltaPlot];
  }

  cursorMoved(u) {
    const index = u.cursor.idx;
    if (index != null && u === this.plots[0]) this.onCursor(index);
    if (index != null && u === this.plots[1] && this.plots[0].cursor.idx == null) this.onCursor(index);
  }

  zoomed(u, key) {
    if (key !== "x" || this.syncing) return;
    this.syncing = true;
    const { min, max } = u.scales.x;
    for (const p of this.plots) if (p !== u) p.setScale("x", { min, max });
    this.syncing = false;
  }

  /** Move the cursor to a sample index (from the map). */
  cursorTo(index) {
    if (!this.plots.length || index < 0) return;
    // Set on each chart: uPlot's sync carries only cursor moves made by the pointer.
    for (const p of this.plots) {
      const top = p.cursor.top != null && p.cursor.top >= 0 ? p.cursor.top : 10;
      p.setCursor({ left: p.valToPos(this.data.x[index], "x"), top });
    }
  }

  zoom(factor) {
    const p = this.plots[0];
    if (!p) return;
    const x = this.data.x;
    const full = [x[0], x[x.length - 1]];
    const { min, max } = p.scales.x;
    const centre = p.cursor.idx != null ? x[p.cursor.idx] : (min + max) / 2;
    const half = Math.min((full[1] - full[0]) / 2, ((max - min) / 2) * factor);
    const lo = Math.max(full[0], centre - half);
    const hi = Math.min(full[1], lo + 2 * half);
    p.setScale("x", { min: hi - 2 * half, max: hi });
  }

  reset() {
    const p = this.plots[0];
    if (!p) return;
    const x = this.data.x;
    p.setScale("x", { min: x[0], max: x[x.length - 1] });
  }
}

/** The G-G diagram: each compared lap's (lateral, longitudinal) g with rings. */
export class GGDiagram {
  constructor(canvas) {
    this.canvas = canvas;
    this.laps = [];
    this.cursor = null;
    this.resize = new ResizeObserver(() => this.schedule());
    this.resize.observe(canvas);
  }

  destroy() {
    this.resize.disconnect();
    cancelAnimationFrame(this.frame);
  }

  /** Draw once in the next frame, however many changes come before it. */
  schedule() {
    if (this.frame) return;
    this.frame = requestAnimationFrame(() => {
      this.frame = 0;
      this.draw();
    });
  }

  set(laps) {
    this.laps = laps;
    this.stale = true;
    this.schedule();
  }

  /** Only the marker moves: the points are drawn once, into a cached layer. */
  setCursor(point) {
    this.cursor = point;
    this.schedule();
  }

  draw() {
    const rect = this.canvas.getBoundingClientRect();
    if (!rect.width) return;
    const dpr = window.devicePixelRatio || 1;
    const width = Math.round(rect.width * dpr);
    const height = Math.round(rect.height * dpr);
    if (!this.base || this.base.width !== width || this.base.height !== height) {
      this.base = document.createElement("canvas");
      this.base.width = width;
      this.base.height = height;
      this.stale = true;
    }
    const geometry = this.geometry(rect);
    if (this.stale) {
      this.drawBase(this.base.getContext("2d"), rect, dpr, geometry);
      this.stale = false;
    }
    if (this.canvas.width !== width || this.canvas.height !== height) {
      this.canvas.width = width;
      this.canvas.height = height;
    }
    const ctx = this.canvas.getContext("2d");
    ctx.setTransform(1, 0, 0, 1, 0, 0);
    ctx.clearRect(0, 0, width, height);
    ctx.drawImage(this.base, 0, 0);
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    const { cx, cy, k } = geometry;
    if (this.cursor && Number.isFinite(this.cursor[0])) {
      ctx.strokeStyle = themeColours().text;
      ctx.lineWidth = 2;
      ctx.beginPath();
      ctx.arc(cx - k * this.cursor[0], cy - k * this.cursor[1], 6, 0, 2 * Math.PI);
      ctx.stroke();
    }
  }

  geometry(rect) {
    const size = Math.min(rect.width, rect.height);
    const maxG = 1.75;
    return { cx: rect.width / 2, cy: rect.height / 2, k: (size / 2 - 12) / maxG, maxG };
  }

  drawBase(ctx, rect, dpr, { cx, cy, k, maxG }) {
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    const c = themeColours();
    ctx.clearRect(0, 0, rect.width, rect.height);
    ctx.strokeStyle = c.grid;
    ctx.fillStyle = c.muted;
    ctx.font = "12px system-ui, sans-serif";
    ctx.lineWidth = 1;
    for (const g of [0.5, 1.0, 1.5]) {
      const { xs, ys } = ring(g);
      ctx.beginPath();
      xs.forEach((x, i) => (i ? ctx.lineTo(cx + k * x, cy - k * ys[i]) : ctx.moveTo(cx + k * x, cy - k * ys[i])));
      ctx.stroke();
      ctx.fillText(`${g} g`, cx + 3, cy - k * g - 3);
    }
    ctx.beginPath();
    ctx.moveTo(cx - k * maxG, cy);
    ctx.lineTo(cx + k * maxG, cy);
    ctx.moveTo(cx, cy - k * maxG);
    ctx.lineTo(cx, cy + k * maxG);
    ctx.stroke();
    for (const lap of this.laps) {
      const { g_lat: gx, g_lon: gy } = lap.trace.columns;
      ctx.fillStyle = lap.colour;
      for (let i = 0; i < gx.length; i++) {
        if (!Number.isFinite(gx[i]) || !Number.isFinite(gy[i])) continue;
        // Lateral positive to the left: drawn to the left, as the driver feels it.
        ctx.fillRect(cx - k * gx[i] - 1, cy - k * gy[i] - 1, 2, 2);
      }
    }
  }
}
