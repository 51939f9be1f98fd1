// The app icon, drawn from its geometry at build time (no binary files in the repo):
// a racing line (an accent ring, broken at the start/finish) on the app's dark glass.
import { crc32, deflateSync } from "node:zlib";

const BG = [11, 18, 32];
const ACCENT = [56, 214, 255];
const FLAG = [255, 196, 0];

// The colour at a point of the icon, in unit coordinates (0..1 both ways).
function shade(x, y) {
  const dx = x - 0.5;
  const dy = y - 0.5;
  const onRing = Math.abs(Math.hypot(dx, dy) - 0.3) < 0.055;
  const inGap = dx > 0.2 && Math.abs(dy) < 0.05;
  const onLine = Math.abs(dx - 0.3) < 0.018 && Math.abs(dy) < 0.11; // start/finish
  if (onLine) return FLAG;
  if (onRing && !inGap) return ACCENT;
  return BG;
}

export function iconPng(size) {
  const samples = 4; // per axis, for smooth edges
  const raw = Buffer.alloc((size * 4 + 1) * size);
  for (let py = 0; py < size; py++) {
    raw[py * (size * 4 + 1)] = 0; // filter: none
    for (let px = 0; px < size; px++) {
      const sum = [0, 0, 0];
      for (let sy = 0; sy < samples; sy++)
        for (let sx = 0; sx < samples; sx++) {
          const c = shade((px + (sx + 0.5) / samples) / size, (py + (sy + 0.5) / samples) / size);
          for (let k = 0; k < 3; k++) sum[k] += c[k];
        }
      const at = py * (size * 4 + 1) + 1 + px * 4;
      for (let k = 0; k < 3; k++) raw[at + k] = Math.round(sum[k] / (samples * samples));
      raw[at + 3] = 255;
    }
  }
  const chunk = (type, data) => {
    const head = Buffer.alloc(8);
    head.writeUInt32BE(data.length, 0);
    head.write(type, 4, "ascii");
    const crc = Buffer.alloc(4);
    crc.writeUInt32BE(crc32(Buffer.concat([head.subarray(4), data])) >>> 0, 0);
    return Buffer.concat([head, data, crc]);
  };
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(size, 0);
  ihdr.writeUInt32BE(size, 4);
  ihdr[8] = 8; // bit depth
  ihdr[9] = 6; // RGBA
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk("IHDR", ihdr),
    chunk("IDAT", deflateSync(raw, { level: 9 })),
    chunk("IEND", Buffer.alloc(0)),
  ]);
}

export function iconSvg() {
  const rgb = (c) => `rgb(${c.join(",")})`;
  return `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 100 100"><rect width="100" height="100" fill="${rgb(BG)}"/><path d="M 79.6 44.9 A 30 30 0 1 0 79.6 55.1" fill="none" stroke="${rgb(ACCENT)}" stroke-width="11"/><rect x="78.2" y="39" width="3.6" height="22" fill="${rgb(FLAG)}"/></svg>`;
}
