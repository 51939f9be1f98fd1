// The firmware's own Python behind a pipe (rs_core_bridge.py beside this file), under
// CPython and under the MicroPython unix port from the project's .venv (`make` creates
// it). A test for an interpreter that is not there is skipped with the reason.
import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";

export const REPO = fileURLToPath(new URL("../../../", import.meta.url));
const BRIDGE = fileURLToPath(new URL("./rs_core_bridge.py", import.meta.url));
const VENV_BIN = join(REPO, ".venv", "bin");
const PATHS = ["firmware", "firmware/tests", "firmware/tests/stubs"].map((p) => join(REPO, p)).join(":");

export const INTERPRETERS = [
  { name: "CPython", command: join(VENV_BIN, "python"), env: { PYTHONPATH: PATHS } },
  { name: "MicroPython", command: join(VENV_BIN, "micropython"), env: { MICROPYPATH: PATHS } },
];

/** false when the interpreter is there, else why the test is skipped. */
export function skipReason(interpreter) {
  if (existsSync(interpreter.command)) return false;
  return `${interpreter.command} is missing: run \`make\` at the repository root (it creates .venv with CPython's test packages and the MicroPython unix port)`;
}

export class FirmwareBridge {
  static async start(interpreter) {
    const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith("MICROPY") && k !== "PYTHONPATH"));
    const child = spawn(interpreter.command, [BRIDGE], { cwd: REPO, env: { ...env, ...interpreter.env }, stdio: ["pipe", "pipe", "pipe"] });
    const bridge = new FirmwareBridge(child, interpreter.name);
    const hello = await bridge._next();
    if (!hello.ready) throw new Error(`bridge did not start: ${JSON.stringify(hello)}`);
    bridge.implementation = hello.implementation;
    return bridge;
  }

  constructor(child, name) {
    this.name = name;
    this.child = child;
    this.stderr = "";
    this.log = [];
    this._waiting = [];
    this._lines = [];
    child.stderr.on("data", (d) => (this.stderr += d));
    createInterface({ input: child.stdout }).on("line", (line) => {
      const waiter = this._waiting.shift();
      if (waiter) waiter(line);
      else this._lines.push(line);
    });
    this._exited = new Promise((resolve) => child.on("exit", resolve));
    this._exited.then(() => {
      for (const waiter of this._waiting.splice(0)) waiter(null);
    });
  }

  _next() {
    const line = this._lines.shift();
    const got = line !== undefined ? Promise.resolve(line) : new Promise((resolve) => this._waiting.push(resolve));
    return got.then((text) => {
      if (text === null) throw new Error(`${this.name} bridge exited:\n${this.stderr}`);
      return JSON.parse(text);
    });
  }

  /** One request, its answer (answers come back in order). */
  async call(message) {
    this.child.stdin.write(`${JSON.stringify(message)}\n`);
    const answer = await this._next();
    if (answer.bridge_error) throw new Error(`${this.name} bridge: ${answer.bridge_error}`);
    if (answer.log) this.log.push(...answer.log);
    return answer;
  }

  async close() {
    if (this.child.exitCode === null) this.child.stdin.end();
    await this._exited;
  }
}
