// The one way the UI talks to the backend: every request carries the token in the
// Authorization header (never in a URL), and every failure becomes an ApiProblem with
// a sentence a user can act on.
import { getToken } from "./token.js";
import { backendBase, loadSettings } from "./settings.js";

export class ApiProblem extends Error {
  /** kind: "unreachable" | "unauthorized" | "forbidden" | "not_found" | "refused" | "server" */
  constructor(kind, message, status = 0, code = "") {
    super(message);
    this.kind = kind;
    this.status = status;
    this.code = code;
  }
}

export function apiUrl(path) {
  return `${backendBase(loadSettings())}${path}`;
}

function authHeaders(extra = {}) {
  const token = getToken();
  return token ? { ...extra, Authorization: `Bearer ${token}` } : { ...extra };
}

/** The problem a failed response describes, from the API's one error shape
 * ({ok: false, status, error, message}). */
export async function problemOf(response) {
  let body = null;
  try {
    body = await response.json();
  } catch {
    body = null;
  }
  const message = body && typeof body.message === "string" ? body.message : "";
  const code = body && typeof body.error === "string" ? body.error : "";
  const status = response.status;
  if (status === 401)
    return new ApiProblem("unauthorized", message || "The server did not accept this link's token.", status, code);
  if (status === 403) return new ApiProblem("forbidden", message || "This token may not do that.", status, code);
  if (status === 404) return new ApiProblem("not_found", message || "Not found.", status, code);
  if (status >= 500)
    return new ApiProblem(
      "server",
      message || `The server had a problem (${status}). Try again in a moment.`,
      status,
      code,
    );
  return new ApiProblem("refused", message || `The server refused this (${status}).`, status, code);
}

export async function request(path, { method = "GET", body, headers = {}, signal } = {}) {
  const init = { method, headers: authHeaders(headers), signal, cache: "no-store" };
  if (body !== undefined) {
    if (body instanceof Blob || body instanceof FormData || typeof body === "string") init.body = body;
    else {
      init.body = JSON.stringify(body);
      init.headers["Content-Type"] = "application/json";
    }
  }
  let response;
  try {
    response = await fetch(apiUrl(path), init);
  } catch (err) {
    if (err && err.name === "AbortError") throw err;
    throw new ApiProblem(
      "unreachable",
      "The pit laptop cannot be reached. Check that this phone is on the laptop's network and that Racesense is running there.",
    );
  }
  if (!response.ok) throw await problemOf(response);
  return response;
}

export async function getJson(path, options) {
  return (await request(path, options)).json();
}

export async function sendJson(path, method, body) {
  return (await request(path, { method, body })).json();
}

// The last answer to a GET, kept so that a page can still show it when the server is
// out of reach, with when it was fetched.
const CACHE_PREFIX = "racesense.cache:";

// GETs started ahead of the view that reads them (see main.js): used once, by the
// next getCached of the same path.
const early = new Map();

export function prefetch(path) {
  const pending = getJson(path);
  pending.catch(() => {}); // its reader sees the failure
  early.set(path, pending);
}

export async function getCached(path, storage = globalThis.localStorage) {
  try {
    const pending = early.get(path);
    early.delete(path);
    const data = await (pending ?? getJson(path));
    try {
      storage.setItem(CACHE_PREFIX + path, JSON.stringify({ at: Date.now(), data }));
    } catch {
      // storage full: showing fresh data matters more than keeping a copy
    }
    return { data, at: Date.now(), stale: false };
  } catch (err) {
    if (err instanceof ApiProblem && err.kind === "unreachable") {
      const kept = storage.getItem(CACHE_PREFIX + path);
      if (kept) {
        const { at, data } = JSON.parse(kept);
        return { data, at, stale: true, problem: err };
      }
    }
    throw err;
  }
}

/** Upload one file with progress (fetch has no upload progress; XMLHttpRequest does). */
export function uploadFile(file, onProgress) {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open("POST", apiUrl("/api/upload"));
    const token = getToken();
    if (token) xhr.setRequestHeader("Authorization", `Bearer ${token}`);
    xhr.upload.onprogress = (e) => {
      if (e.lengthComputable) onProgress(e.loaded / e.total);
    };
    xhr.onerror = () =>
      reject(new ApiProblem("unreachable", "The upload did not reach the pit laptop. Check the connection and try again."));
    xhr.onload = () => {
      let body = null;
      try {
        body = JSON.parse(xhr.responseText);
      } catch {
        body = null;
      }
      if (xhr.status >= 200 && xhr.status < 300) resolve(body);
      else {
        const message = body && body.message ? body.message : `The server refused the file (${xhr.status}).`;
        const kind = xhr.status === 401 ? "unauthorized" : xhr.status >= 500 ? "server" : "refused";
        reject(new ApiProblem(kind, message, xhr.status, body && body.error));
      }
    };
    const form = new FormData();
    form.append("file", file, file.name);
    xhr.send(form);
  });
}
