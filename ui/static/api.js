// The console's one door to the server: the REST API, with the user's
// API key from session storage as "Authorization: Bearer KEY".

const KEY = "badbatch.key";

export const session = {
  get key() { return sessionStorage.getItem(KEY) || ""; },
  set(key) { sessionStorage.setItem(KEY, key); },
  clear() { sessionStorage.removeItem(KEY); },
};

// ApiError is an error answer: the HTTP status and the API's error code,
// message and details (docs/api.md lists the codes).
export class ApiError extends Error {
  constructor(status, code, message, details) {
    super(message);
    this.status = status;
    this.code = code;
    this.details = details || {};
  }
}

function headers(extra) {
  const h = { ...extra };
  const key = session.key;
  if (key) h["Authorization"] = "Bearer " + key;
  return h;
}

async function failure(res) {
  let body = null;
  try { body = await res.json(); } catch { /* not JSON */ }
  const e = body && body.error;
  return new ApiError(res.status, (e && e.code) || "HTTP_" + res.status, (e && e.message) || res.statusText, e && e.details);
}

// call makes one JSON request and returns the decoded answer (null for
// an empty one), or throws an ApiError.
export async function call(method, path, body, { signal } = {}) {
  const init = { method, headers: headers({ Accept: "application/json" }), signal, cache: "no-store" };
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  const res = await fetch(path, init);
  if (!res.ok) throw await failure(res);
  const text = await res.text();
  return text ? JSON.parse(text) : null;
}

export const get = (path, opts) => call("GET", path, undefined, opts);

// text fetches a plain-text document (the Prometheus exposition).
export async function text(path, { signal } = {}) {
  const res = await fetch(path, { headers: headers({ Accept: "text/plain" }), signal, cache: "no-store" });
  if (!res.ok) throw await failure(res);
  return res.text();
}

export const enc = encodeURIComponent;

// tail follows a disruptor's live stream as NDJSON (fetch can send the
// key in a header, which EventSource cannot) and calls onLine with each
// decoded line: events ({sequence, time, payload...}) and control lines
// ({type: "gap" | "lagged" | "end" | "heartbeat"}). It resolves when the
// stream ends and rejects on a failure; abort signal to stop it. from is
// the first sequence wanted, or undefined for the next one published.
export async function tail(name, { from, signal, onOpen, onLine }) {
  let path = `/api/v1/disruptors/${enc(name)}/events/stream?format=ndjson`;
  if (from !== undefined && from !== null) path += "&from=" + from;
  const res = await fetch(path, { headers: headers({ Accept: "application/x-ndjson" }), signal, cache: "no-store" });
  if (!res.ok) throw await failure(res);
  if (onOpen) onOpen(res);
  const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
  let buf = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buf += value;
    let nl;
    while ((nl = buf.indexOf("\n")) >= 0) {
      const line = buf.slice(0, nl).trim();
      buf = buf.slice(nl + 1);
      if (line) onLine(JSON.parse(line));
    }
  }
}

// Prometheus exposition parsing, for the latency histogram (the JSON
// metrics carry percentiles, /metrics the buckets).

const sampleRe = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})?\s+(\S+)/;
const labelRe = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g;

// samples returns the samples of metric in an exposition whose labels
// include want, as [{labels, value}].
export function samples(exposition, metric, want) {
  const out = [];
  for (const line of exposition.split("\n")) {
    if (!line.startsWith(metric)) continue;
    const m = sampleRe.exec(line);
    if (!m || m[1] !== metric) continue;
    const labels = {};
    for (const l of (m[3] || "").matchAll(labelRe)) labels[l[1]] = l[2].replace(/\\(.)/g, (_, c) => (c === "n" ? "\n" : c));
    if (Object.entries(want || {}).every(([k, v]) => labels[k] === v)) out.push({ labels, value: Number(m[4]) });
  }
  return out;
}
