// The track map: drawn from the laps' own GPS positions on a canvas (no tiles, so it
// works with no internet), the reference lap coloured by speed, compared laps in their
// colours, the start/finish and sector lines, and the shared cursor.
// Speed colour ramp (slow -> fast): blue, cyan, green, yellow, red. Distinct for the
// common colour-vision deficiencies by lightness as well as hue.
const RAMP = [
  [40, 80, 220],
  [0, 190, 230],
  [40, 200, 90],
  [250, 210, 0],
  [235, 50, 40],
];

export function speedColour(fraction) {
  const f = Math.min(1, Math.max(0, Number.isFinite(fraction) ? fraction : 0)) * (RAMP.length - 1);
  const k = Math.min(RAMP.length - 2, Math.floor(f));
  const t = f - k;
  const c = RAMP[k].map((v, i) => Math.round(v + t * (RAMP[k + 1][i] - v)));
  return `rgb(${c[0]},${c[1]},${c[2]})`;
}

/** Local metres around a centre latitude: enough for a circuit (a few km). */
export function projector(latCentre, lonCentre) {
  const mPerDegLat = 111_132.9;
  const mPerDegLon = 111_319.5 * Math.cos((latCentre * Math.PI) / 180);
  return {
    toXY: (lat, lon) => [(lon - lonCentre) * mPerDegLon, (lat - latCentre) * mPerDegLat],
    toLatLon: (x, y) => [y / mPerDegLat + latCentre, x / mPerDegLon + lonCentre],
  };
}

export class TrackMap {
  constructor(canvas, { onPick }) {
    this.canvas = canvas;
    this.onPick = onPick;
    this.laps = []; // [{trace, colour, reference}]
    this.lines = { startFinish: null, sectors: [], placed: [] };
    this.cursorIndex = -1;
    this.resize = new ResizeObserver(() => this.schedule());
    this.resize.observe(canvas);
    canvas.addEventListener("pointerdown", (e) => this.pick(e));
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

  setLaps(laps) {
    this.laps = laps;
    this.stale = true;
    const ref = laps.find((l) => l.reference) || laps[0];
    if (ref && (!this.proj || this.refLap !== ref.trace.lap)) {
      this.refLap = ref.trace.lap;
      const { lat_deg: lat, lon_deg: lon } = ref.trace.columns;
      let minLat = Infinity, maxLat = -Infinity, minLon = Infinity, maxLon = -Infinity;
      for (let i = 0; i < lat.length; i++) {
        if (!Number.isFinite(lat[i]) || !Number.isFinite(lon[i])) continue;
        minLat = Math.min(minLat, lat[i]); maxLat = Math.max(maxLat, lat[i]);
        minLon = Math.min(minLon, lon[i]); maxLon = Math.max(maxLon, lon[i]);
      }
      if (Number.isFinite(minLat)) {
        this.proj = projector((minLat + maxLat) / 2, (minLon + maxLon) / 2);
        const [x0, y0] = this.proj.toXY(minLat, minLon);
        const [x1, y1] = this.proj.toXY(maxLat, maxLon);
        this.bounds = { x0, y0, x1, y1 };
      }
    }
    this.schedule();
  }

  setLines(lines) {
    this.lines = { ...this.lines, ...lines };
    this.stale = true;
    this.schedule();
  }

  /** Moving the cursor redraws only the marker over the cached drawing of the laps:
   * a touch must answer within a frame on a slow phone. */
  setCursor(index) {
    this.cursorIndex = index;
    this.schedule();
  }

  view() {
    const rect = this.canvas.getBoundingClientRect();
    const w = rect.width;
    const hgt = rect.height;
    const b = this.bounds;
    const pad = 16;
    const scale = Math.min((w - 2 * pad) / Math.max(1, b.x1 - b.x0), (hgt - 2 * pad) / Math.max(1, b.y1 - b.y0));
    const ox = (w - scale * (b.x1 - b.x0)) / 2 - scale * b.x0;
    const oy = (hgt + scale * (b.y1 - b.y0)) / 2 + scale * b.y0;
    return {
      w,
      h: hgt,
      toPx: (x, y) => [ox + scale * x, oy - scale * y],
      fromPx: (px, py) => [(px - ox) / scale, (oy - py) / scale],
    };
  }

  draw() {
    const canvas = this.canvas;
    const rect = canvas.getBoundingClientRect();
    const dpr = window.devicePixelRatio || 1;
    if (!rect.width || !rect.height) return;
    const width = Math.round(rect.width * dpr);
    const height = Math.round(rect.height * dpr);
    if (!this.base || this.base.width !== width || this.base.height !== height) {
      this.base = document.createElement("canvas");
      this.base.width = width;
      this.base.height = height;
      this.stale = true;
    }
    if (this.stale) {
      this.drawBase(rect, dpr);
      this.stale = false;
    }
    if (canvas.width !== width || canvas.height !== height) {
      canvas.width = width;
      canvas.height = height;
    }
    const ctx = canvas.getContext("2d");
    ctx.setTransform(1, 0, 0, 1, 0, 0);
    ctx.clearRect(0, 0, width, height);
    ctx.drawImage(this.base, 0, 0);
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    this.drawOverlay(ctx);
  }

  drawBase(rect, dpr) {
    const ctx = this.base.getContext("2d");
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.clearRect(0, 0, rect.width, rect.height);
    if (!this.proj || !this.bounds) return;
    const v = this.view();
    const styles = getComputedStyle(document.documentElement);
    ctx.lineJoin = "round";
    ctx.lineCap = "round";
    // Compared laps under the reference.
    for (const lap of this.laps) {
      if (lap.reference) continue;
      this.path(ctx, v, lap.trace, lap.colour, 2);
    }
    const ref = this.laps.find((l) => l.reference);
    if (ref) this.speedPath(ctx, v, ref.trace);
    const line = (ends, colour, width) => {
      if (!ends) return;
      const [a, b] = ends.map(([lat, lon]) => v.toPx(...this.proj.toXY(lat, lon)));
      ctx.strokeStyle = colour;
      ctx.lineWidth = width;
      ctx.beginPath();
      ctx.moveTo(a[0], a[1]);
      ctx.lineTo(b[0], b[1]);
      ctx.stroke();
    };
    const text = styles.getPropertyValue("--text").trim() || "#fff";
    const warn = styles.getPropertyValue("--warn").trim() || "#fc0";
    for (const s of this.lines.sectors || []) line(s, text, 3);
    line(this.lines.startFinish, warn, 5);
  }

  drawOverlay(ctx) {
    if (!this.proj || !this.bounds) return;
    const v = this.view();
    const styles = getComputedStyle(document.documentElement);
    const text = styles.getPropertyValue("--text").trim() || "#fff";
    const warn = styles.getPropertyValue("--warn").trim() || "#fc0";
    const ref = this.laps.find((l) => l.reference);
    for (const [k, p] of (this.lines.placed || []).entries()) {
      const [px, py] = v.toPx(...this.proj.toXY(p[0], p[1]));
      ctx.fillStyle = k === 0 ? warn : text;
      ctx.beginPath();
      ctx.arc(px, py, 8, 0, 2 * Math.PI);
      ctx.fill();
    }
    if (ref && this.cursorIndex >= 0) {
      const { lat_deg: lat, lon_deg: lon } = ref.trace.columns;
      const i = this.cursorIndex;
      if (Number.isFinite(lat[i])) {
        const [px, py] = v.toPx(...this.proj.toXY(lat[i], lon[i]));
        ctx.fillStyle = "#fff";
        ctx.strokeStyle = "#000";
        ctx.lineWidth = 3;
        ctx.beginPath();
        ctx.arc(px, py, 7, 0, 2 * Math.PI);
        ctx.fill();
        ctx.stroke();
      }
    }
  }

  path(ctx, v, trace, colour, width) {
    const { lat_deg: lat, lon_deg: lon } = trace.columns;
    ctx.strokeStyle = colour;
    ctx.lineWidth = width;
    ctx.beginPath();
    let pen = false;
    for (let i = 0; i < lat.length; i++) {
      if (!Number.isFinite(lat[i])) {
        pen = false;
        continue;
      }
      const [px, py] = v.toPx(...this.proj.toXY(lat[i], lon[i]));
      if (pen) ctx.lineTo(px, py);
      else ctx.moveTo(px, py);
      pen = true;
    }
    ctx.stroke();
  }

  speedPath(ctx, v, trace) {
    const { lat_deg: lat, lon_deg: lon, speed_kmh: speed } = trace.columns;
    let min = Infinity;
    let max = -Infinity;
    for (const s of speed) if (Number.isFinite(s)) { min = Math.min(min, s); max = Math.max(max, s); }
    // Speed in 24 colour steps: a run of segments in one step is one stroke, not one
    // stroke per segment (a 2,000-point lap is then tens of strokes, not thousands).
    const STEPS = 24;
    const step = (s) => Math.round(((s - min) / Math.max(1, max - min)) * (STEPS - 1));
    ctx.lineWidth = 5;
    let prev = null;
    let current = -1;
    for (let i = 0; i < lat.length; i++) {
      if (!Number.isFinite(lat[i])) {
        if (current >= 0) ctx.stroke();
        current = -1;
        prev = null;
        continue;
      }
      const p = v.toPx(...this.proj.toXY(lat[i], lon[i]));
      if (prev) {
        const k = Number.isFinite(speed[i]) ? step(speed[i]) : 0;
        if (k !== current) {
          if (current >= 0) ctx.stroke();
          ctx.strokeStyle = speedColour(k / (STEPS - 1));
          ctx.beginPath();
          ctx.moveTo(prev[0], prev[1]);
          current = k;
        }
        ctx.lineTo(p[0], p[1]);
      }
      prev = p;
    }
    if (current >= 0) ctx.stroke();
    this.speedRange = [min, max];
  }

  pick(event) {
    if (!this.proj || !this.bounds) return;
    const rect = this.canvas.getBoundingClientRect();
    const v = this.view();
    const [x, y] = v.fromPx(event.clientX - rect.left, event.clientY - rect.top);
    const [lat, lon] = this.proj.toLatLon(x, y);
    // The nearest point of the reference lap, for the cursor.
    const ref = this.laps.find((l) => l.reference);
    let index = -1;
    if (ref) {
      const { lat_deg: la, lon_deg: lo } = ref.trace.columns;
      let best = Infinity;
      for (let i = 0; i < la.length; i++) {
        if (!Number.isFinite(la[i])) continue;
        const [px, py] = this.proj.toXY(la[i], lo[i]);
        const d = (px - x) ** 2 + (py - y) ** 2;
        if (d < best) {
          best = d;
          index = i;
        }
      }
    }
    this.onPick({ lat, lon, index, event });
  }
}
