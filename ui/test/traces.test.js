import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { dirname, join } from "node:path";
import { COLUMNS, decodeTrace } from "../src/lib/traces.js";

const root = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
const python = join(root, ".venv", "bin", "python");

// A lap's trace exactly as the server stores and serves it (analysis.trace_format),
// made by the project's own Python from a synthetic session.
const MAKE_TRACE = `
import sys, tempfile, pathlib, json
from racesense.jobs.analysis_job import run_analysis
from racesense.analysis.trace_format import decode_trace
from racesense.synth import demo_circuit, make_session, to_rscore_csv
s = make_session(demo_circuit(), rate_hz=10, laps=2, seed=3)
p = pathlib.Path(tempfile.mkdtemp()) / "s.csv"
p.write_bytes(to_rscore_csv(s.telemetry))
out = run_analysis(str(p), [])
data = out.traces[1]
t = decode_trace(data)
sys.stdout.write(json.dumps({"hex": data.hex(), "n": len(t.columns["t_s"]),
  "speed5": float(t.columns["speed_kmh"][5]), "lat5": float(t.columns["lat_deg"][5])}))
`;

test("a trace from the server decodes to its columns, units and metadata", { skip: !existsSync(python) && "no .venv (make test creates it)" }, () => {
  const made = spawnSync(python, ["-c", MAKE_TRACE], { encoding: "utf8", cwd: root, timeout: 120_000 });
  assert.equal(made.status, 0, made.stderr);
  const expected = JSON.parse(made.stdout);
  const trace = decodeTrace(new Uint8Array(Buffer.from(expected.hex, "hex")));
  assert.equal(trace.lap, 1);
  assert.ok(["imu", "gps"].includes(trace.gSource));
  assert.equal(trace.length, expected.n);
  for (const name of COLUMNS) assert.equal(trace.columns[name].length, expected.n, name);
  assert.ok(trace.columns.lat_deg instanceof Float64Array, "positions keep float64");
  assert.ok(trace.columns.speed_kmh instanceof Float32Array);
  assert.ok(Math.abs(trace.columns.speed_kmh[5] - expected.speed5) < 1e-3);
  assert.equal(trace.columns.lat_deg[5], expected.lat5);
});
