// Formatting for people: lap times, gaps, dates, and the user's units. Pure functions,
// tested under Node (ui/test/format.test.js).

/** 83.456 -> "1:23.456"; 9.5 -> "9.500"; null/NaN -> "–". */
export function lapTime(seconds) {
  if (seconds == null || !Number.isFinite(seconds)) return "–";
  const negative = seconds < 0;
  // Round once, in milliseconds, so that 59.9996 becomes 1:00.000 and not 0:60.000.
  let ms = Math.round(Math.abs(seconds) * 1000);
  const minutes = Math.floor(ms / 60000);
  ms -= minutes * 60000;
  const secs = (ms / 1000).toFixed(3);
  const body = minutes > 0 ? `${minutes}:${secs.padStart(6, "0")}` : secs;
  return negative ? `-${body}` : body;
}

/** A gap to the best: "+0.123", "-0.050", "0.000" for the best itself. */
export function gap(seconds) {
  if (seconds == null || !Number.isFinite(seconds)) return "–";
  const ms = Math.round(seconds * 1000);
  if (ms === 0) return "0.000";
  return `${ms > 0 ? "+" : "-"}${(Math.abs(ms) / 1000).toFixed(3)}`;
}

export const UNITS = {
  speed: { kmh: { label: "km/h", perKmh: 1 }, mph: { label: "mph", perKmh: 1 / 1.609344 } },
  distance: { m: { label: "m", perM: 1 }, ft: { label: "ft", perM: 1 / 0.3048 } },
};

export function speed(kmh, unit = "kmh", digits = 0) {
  if (kmh == null || !Number.isFinite(kmh)) return "–";
  const u = UNITS.speed[unit] ?? UNITS.speed.kmh;
  return `${(kmh * u.perKmh).toFixed(digits)} ${u.label}`;
}

export function speedValue(kmh, unit = "kmh") {
  return kmh * (UNITS.speed[unit] ?? UNITS.speed.kmh).perKmh;
}

export function distance(m, unit = "m") {
  if (m == null || !Number.isFinite(m)) return "–";
  const u = UNITS.distance[unit] ?? UNITS.distance.m;
  const value = m * u.perM;
  if (unit === "m" && value >= 10000) return `${(value / 1000).toFixed(1)} km`;
  if (unit === "ft" && value >= 5280 * 2) return `${(m / 1609.344).toFixed(1)} mi`;
  return `${Math.round(value)} ${u.label}`;
}

export function distanceValue(m, unit = "m") {
  return m * (UNITS.distance[unit] ?? UNITS.distance.m).perM;
}

/** "Sat 1 Mar 2026, 09:00" in the browser's locale and time zone. */
export function dateTime(iso, locale = undefined, timeZone = undefined) {
  if (!iso) return "–";
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return "–";
  return new Intl.DateTimeFormat(locale, {
    weekday: "short",
    day: "numeric",
    month: "short",
    year: "numeric",
    hour: "2-digit",
    minute: "2-digit",
    timeZone,
  }).format(date);
}

/** How long ago, for "shown from 3 min ago". */
export function ago(then, now = Date.now()) {
  const s = Math.max(0, Math.round((now - then) / 1000));
  if (s < 60) return "just now";
  if (s < 3600) return `${Math.round(s / 60)} min ago`;
  if (s < 86400) return `${Math.round(s / 3600)} h ago`;
  return `${Math.round(s / 86400)} days ago`;
}

export function bytes(n) {
  if (!Number.isFinite(n)) return "–";
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(0)} KB`;
  return `${(n / 1024 / 1024).toFixed(1)} MB`;
}

const TRACK_SOURCES = {
  list: "from the track list",
  detected: "detected from the laps",
  user: "set by hand",
  file: "from the log file",
};

export function trackSource(source) {
  return TRACK_SOURCES[source] ?? source ?? "–";
}
