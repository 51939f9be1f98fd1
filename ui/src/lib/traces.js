// A lap's trace, fetched once as Arrow IPC (the compact columnar form the server
// stores) and kept as typed arrays; decoded with flechette (a small, fast Arrow
// reader: 7 KB compressed against apache-arrow's 50 KB, which a throttled phone pays
// for in parse time), loaded only by the Session Details view.
import { tableFromIPC } from "@uwdata/flechette";
import { request } from "./api.js";

export const COLUMNS = ["t_s", "distance_m", "speed_kmh", "lat_deg", "lon_deg", "g_lat", "g_lon", "delta_s"];

const cache = new Map(); // "session/lap" -> Promise<trace>

export function loadTrace(sessionId, lap) {
  const key = `${sessionId}/${lap}`;
  if (!cache.has(key)) {
    const promise = request(`/api/sessions/${encodeURIComponent(sessionId)}/laps/${lap}/trace`, {
      headers: { Accept: "application/vnd.apache.arrow.stream" },
    })
      .then((response) => response.arrayBuffer())
      .then((buffer) => decodeTrace(new Uint8Array(buffer)));
    promise.catch(() => cache.delete(key)); // a failed fetch is tried again next time
    cache.set(key, promise);
  }
  return cache.get(key);
}

export function forgetTraces(sessionId) {
  for (const key of [...cache.keys()]) if (key.startsWith(`${sessionId}/`)) cache.delete(key);
}

/** {lap, gSource, columns: {name: Float32Array|Float64Array}, length}. */
export function decodeTrace(bytes) {
  const table = tableFromIPC(bytes);
  const columns = {};
  for (const name of COLUMNS) {
    const vector = table.getChild(name);
    columns[name] = vector ? vector.toArray() : new Float32Array(table.numRows).fill(NaN);
  }
  const meta = table.schema.metadata || new Map();
  return {
    lap: Number(meta.get("lap")),
    gSource: meta.get("g_source") || "gps",
    columns,
    length: table.numRows,
  };
}
