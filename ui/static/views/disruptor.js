// One disruptor: its figures, a publish-rate chart and a latency
// histogram, its consumers and errors, a live tail, replay by sequence,
// and a publish box for the roles that may.
import { call, get, text, tail, samples, enc } from "../api.js";
import { can } from "../auth.js";
import { h, badge, gauge, fmt, setText, every, clear } from "../dom.js";
import { chart, lineChart, barChart } from "../charts.js";
import { actions } from "./actions.js";

const RATE_SPAN = 5 * 60 * 1000; // the rate chart's window
const TAIL_ROWS = 200; // events kept in the tail table

export function disruptorView(main, name) {
  const stops = [];
  const base = `/api/v1/disruptors/${enc(name)}`;
  const stateEl = h("span");
  const msg = h("div", { class: "error hidden" });
  let shownUntil = 0;
  const showError = (err) => {
    msg.textContent = err.message + (err.code ? ` (${err.code})` : "");
    msg.classList.remove("hidden");
    shownUntil = Date.now() + 8000;
  };
  const act = actions(name, (err, what) => {
    if (err) return showError(err);
    if (what === "deleted") location.hash = "#/";
    else refresh();
  });
  main.append(
    h("div", { class: "toolbar" }, h("a", { href: "#/", text: "← Disruptors" })),
    h("h1", { data: { disruptor: name } }, name, stateEl, h("span", { class: "grow" }), act),
    msg);

  // Figures.
  const card = (label, cls) => {
    const v = h("div", { class: "value " + (cls || "") });
    return [h("div", { class: "card" }, h("div", { class: "label", text: label }), v), v];
  };
  const cards = {};
  const cardEls = [];
  for (const [k, label, cls] of [["published", "Published"], ["rate", "Events/s (10 s)"], ["p50", "p50 latency"],
    ["p95", "p95 latency"], ["p99", "p99 latency"], ["max", "max latency"], ["fill", "Ring fill", "small"],
    ["lag", "Max consumer lag"], ["subs", "Subscribers"], ["window", "Replay window", "small"],
    ["size", "Buffer size"], ["repl", "Replication", "small"], ["config", "Producer · wait · overflow", "small"],
    ["created", "Created", "small"]]) {
    const [el, v] = card(label, cls);
    cards[k] = v;
    cardEls.push(el);
  }
  const fill = gauge();
  cards.fill.append(fill);
  main.append(h("div", { class: "cards" }, cardEls));

  // Charts.
  const rateSvg = chart("publish rate");
  const histSvg = chart("latency histogram");
  const histNote = h("p", { class: "muted", text: "Publish-to-consume latency of every event since the disruptor was created (badbatch_event_latency_seconds buckets from /metrics)." });
  main.append(h("div", { class: "row" },
    h("div", { class: "panel" }, h("h2", { text: "Publish rate (events/s over 10 s) since this page opened" }), rateSvg),
    h("div", { class: "panel" }, h("h2", { text: "Latency histogram" }), histSvg, histNote)));

  // Consumers and errors.
  const consumers = h("tbody");
  const errors = h("tbody");
  main.append(h("div", { class: "row" },
    h("div", { class: "panel" }, h("h2", { text: "Consumers" }),
      h("table", {}, h("thead", {}, h("tr", {}, h("th", { text: "Consumer" }), h("th", { class: "num", text: "Sequence" }),
        h("th", { class: "num", text: "Lag" }), h("th", { text: "Running" }))), consumers)),
    h("div", { class: "panel" }, h("h2", { text: "Publish errors" }),
      h("table", {}, h("thead", {}, h("tr", {}, h("th", { text: "Code" }), h("th", { class: "num", text: "Count" }))), errors))));

  let info = null;
  const points = [];
  const load = async (signal) => {
    const [d, m] = await Promise.all([get(base, { signal }), get(base + "/metrics", { signal })]);
    info = d;
    clear(stateEl).append(badge(d.state));
    stateEl.dataset.state = d.state;
    act.update(d.state);
    setText(cards.published, fmt.int(d.published));
    setText(cards.rate, fmt.rate(m.publish_rate));
    setText(cards.p50, fmt.ns(m.latency.p50_ns));
    setText(cards.p95, fmt.ns(m.latency.p95_ns));
    setText(cards.p99, fmt.ns(m.latency.p99_ns));
    setText(cards.max, fmt.ns(m.latency.max_ns));
    fill.update(m.fill_ratio);
    setText(cards.lag, fmt.int(Math.max(0, ...m.consumers.map((c) => c.lag))));
    setText(cards.subs, fmt.int(d.subscribers));
    setText(cards.window, d.latest_sequence < 0 ? "empty" : `${fmt.int(d.oldest_sequence)} – ${fmt.int(d.latest_sequence)}`);
    setText(cards.size, fmt.int(d.buffer_size));
    setText(cards.repl, d.replication);
    setText(cards.config, `${d.producer_type} · ${d.wait_strategy} · ${d.overflow}`);
    setText(cards.created, fmt.ago(d.created_at));
    clear(consumers).append(...m.consumers.map((c) => h("tr", {}, h("td", { text: c.name }), h("td", { class: "num", text: fmt.int(c.sequence) }),
      h("td", { class: "num", text: fmt.int(c.lag) }), h("td", {}, badge(c.running ? "running" : "stopped")))));
    const errs = Object.entries(m.errors || {}).sort((a, b) => b[1] - a[1]);
    clear(errors).append(...(errs.length ? errs.map(([code, n]) => h("tr", {}, h("td", { class: "mono", text: code }), h("td", { class: "num", text: fmt.int(n) })))
      : [h("tr", {}, h("td", { class: "empty", attrs: { colspan: 2 }, text: "none" }))]));
    const now = Date.now();
    points.push({ t: now, v: m.publish_rate });
    while (points.length && points[0].t < now - RATE_SPAN) points.shift();
    lineChart(rateSvg, points, { spanMs: Math.min(RATE_SPAN, Math.max(60 * 1000, now - points[0].t)) });
    if (Date.now() > shownUntil) msg.classList.add("hidden");
  };
  let sig = null;
  const refresh = () => load(sig).catch((err) => {
    if (sig.aborted) return;
    showError(err);
    if (err.status === 404) stops.forEach((f) => f());
  });
  stops.push(every(1000, (signal) => { sig = signal; return refresh(); }));

  if (can("metrics")) {
    stops.push(every(5000, async (signal) => {
      const exp = await text("/metrics", { signal });
      const bs = samples(exp, "badbatch_event_latency_seconds_bucket", { disruptor: name })
        .map((x) => ({ le: x.labels.le === "+Inf" ? Infinity : Number(x.labels.le), cum: x.value }))
        .sort((a, b) => a.le - b.le);
      const bars = bs.map((b, i) => ({ label: b.le === Infinity ? "> " + short(bs[i - 1] ? bs[i - 1].le : 0) : "≤ " + short(b.le), value: b.cum - (i ? bs[i - 1].cum : 0) }));
      barChart(histSvg, bars);
    }));
  } else {
    histNote.textContent = "This key may not read /metrics, where the histogram's buckets are.";
  }

  if (can("read", name)) {
    main.append(tailPanel(name, stops), replayPanel(name, () => info));
  }
  if (can("publish", name)) main.append(publishPanel(name, showError, refresh));
  return () => stops.forEach((f) => f());
}

// short is a bucket bound in seconds, in two significant digits.
function short(sec) {
  const [v, u] = sec >= 1 ? [sec, "s"] : sec >= 1e-3 ? [sec * 1e3, "ms"] : [sec * 1e6, "µs"];
  return Number(v.toPrecision(2)) + u;
}

// eventRow is one event in a table.
function eventRow(ev) {
  const payload = ev.payload !== undefined ? JSON.stringify(ev.payload) : "base64:" + ev.payload_base64;
  const meta = ev.metadata ? Object.entries(ev.metadata).map(([k, v]) => `${k}=${v}`).join(" ") : "";
  return h("tr", { data: { seq: String(ev.sequence) } },
    h("td", { class: "num", text: ev.sequence }),
    h("td", { class: "mono", text: fmt.time(ev.time) }),
    h("td", { class: "payload", text: payload, title: payload }),
    h("td", { class: "mono", text: meta }));
}

function eventTable(tbody, attrs) {
  return h("div", { class: "scroll" }, h("table", { attrs }, h("thead", {}, h("tr", {},
    h("th", { class: "num", text: "Sequence" }), h("th", { text: "Time" }), h("th", { text: "Payload" }), h("th", { text: "Metadata" }))), tbody));
}

// tailPanel follows the live stream, reconnecting after the last event
// seen when the connection drops.
function tailPanel(name, stops) {
  const dot = h("span", { class: "live-dot" });
  const status = h("span", { class: "muted", text: "connecting…" });
  const tbody = h("tbody");
  let last = null; // the last sequence shown
  let ctl = null;
  let running = true;
  let retry = null;
  const toggle = h("button", { text: "Pause tail", data: { action: "tail-toggle" }, on: { click: () => {
    running = !running;
    toggle.textContent = running ? "Pause tail" : "Resume tail";
    if (running) connect(); else disconnect("paused");
  } } });
  const panel = h("div", { class: "panel", data: { panel: "tail" } },
    h("div", { class: "toolbar" }, h("h2", { text: "Live tail" }), dot, status, h("span", { class: "grow" }), toggle,
      h("button", { text: "Clear", on: { click: () => clear(tbody) } })),
    eventTable(tbody, { "data-table": "tail" }));

  const setStatus = (live, textValue) => {
    dot.classList.toggle("on", live);
    setText(status, textValue);
    panel.dataset.live = live ? "true" : "false";
  };
  const disconnect = (why) => {
    clearTimeout(retry);
    if (ctl) ctl.abort();
    ctl = null;
    setStatus(false, why);
  };
  const connect = () => {
    clearTimeout(retry);
    const c = new AbortController();
    ctl = c;
    setStatus(false, "connecting…");
    tail(name, {
      from: last === null ? undefined : last + 1,
      signal: c.signal,
      onOpen: () => setStatus(true, last === null ? "live: new events appear here" : `live, resumed after ${last}`),
      onLine: (line) => {
        if (line.type === undefined) {
          last = line.sequence;
          tbody.prepend(eventRow(line));
          while (tbody.children.length > TAIL_ROWS) tbody.lastChild.remove();
        } else if (line.type === "gap") {
          last = line.to;
          tbody.prepend(h("tr", {}, h("td", { class: "empty", attrs: { colspan: 4 }, text: `skipped ${line.count} events (${line.from}–${line.to})` })));
        } else if (line.type === "lagged") {
          last = line.last_sequence;
        } else if (line.type === "end") {
          setStatus(false, `ended: ${line.reason}`);
        }
      },
    }).then(() => {
      if (ctl !== c) return;
      setStatus(false, status.textContent.startsWith("ended") ? status.textContent + "; reconnecting in 2 s" : "disconnected; reconnecting in 2 s");
      retry = setTimeout(connect, 2000);
    }, (err) => {
      if (ctl !== c || c.signal.aborted) return;
      const why = `${err.message}${err.code ? " (" + err.code + ")" : ""}`;
      if (err.status === 401 || err.status === 403 || err.status === 404) {
        setStatus(false, why); // retrying would not help
        return;
      }
      setStatus(false, why + "; retrying in 2 s");
      retry = setTimeout(connect, 2000);
    });
  };
  connect();
  stops.push(() => { running = false; disconnect("stopped"); });
  return panel;
}

// replayPanel reads a page of events from a sequence.
function replayPanel(name, infoOf) {
  const from = h("input", { type: "number", min: 0, step: 1, name: "from", placeholder: "oldest" });
  const limit = h("input", { type: "number", min: 1, max: 10000, step: 1, name: "limit", value: 50 });
  const tbody = h("tbody");
  const note = h("span", { class: "muted" });
  const msg = h("div", { class: "error hidden" });
  const next = h("button", { text: "Next page", class: "hidden", data: { action: "replay-next" } });
  let nextSeq = null;
  const read = async (start) => {
    let path = `/api/v1/disruptors/${enc(name)}/events?limit=${Number(limit.value) || 50}`;
    if (start !== "" && start !== null && start !== undefined) path += "&from=" + start;
    try {
      const page = await get(path);
      clear(tbody).append(...page.events.map(eventRow));
      if (!page.events.length) tbody.append(h("tr", {}, h("td", { class: "empty", attrs: { colspan: 4 }, text: "no events from there" })));
      nextSeq = page.next_sequence;
      next.classList.toggle("hidden", !page.events.length || page.next_sequence > page.latest_sequence);
      setText(note, `window ${fmt.int(page.oldest_sequence)} – ${fmt.int(page.latest_sequence)}; next ${fmt.int(page.next_sequence)}`);
      msg.classList.add("hidden");
    } catch (err) {
      msg.textContent = err.message + ` (${err.code})`;
      msg.classList.remove("hidden");
    }
  };
  next.addEventListener("click", () => { from.value = nextSeq; read(nextSeq); });
  const form = h("form", { class: "inline", data: { form: "replay" }, on: { submit: (e) => { e.preventDefault(); read(from.value); } } },
    h("label", {}, "From sequence", from), h("label", {}, "Limit", limit),
    h("button", { class: "primary", type: "submit", text: "Replay", data: { action: "replay" } }), next, note);
  const info = infoOf();
  if (info && info.oldest_sequence >= 0) from.placeholder = String(info.oldest_sequence);
  return h("div", { class: "panel", data: { panel: "replay" } }, h("h2", { text: "Replay" }), msg, form, eventTable(tbody, { "data-table": "replay" }));
}

// publishPanel publishes one event (publish permission).
function publishPanel(name, showError, refresh) {
  const payload = h("textarea", { name: "payload", value: '{"hello": "world"}', spellcheck: false });
  const out = h("span", { class: "muted" });
  const form = h("form", { data: { form: "publish" }, on: { submit: async (e) => {
    e.preventDefault();
    let body;
    try {
      body = { payload: JSON.parse(payload.value) };
    } catch (err) {
      setText(out, "the payload is not JSON: " + err.message);
      return;
    }
    try {
      const r = await call("POST", `/api/v1/disruptors/${enc(name)}/events`, body);
      setText(out, `published as sequence ${r.first_sequence}`);
      refresh();
    } catch (err) {
      showError(err);
    }
  } } }, payload, h("div", { class: "toolbar" }, h("button", { class: "primary", type: "submit", text: "Publish", data: { action: "publish" } }), out));
  return h("div", { class: "panel", data: { panel: "publish" } }, h("h2", { text: "Publish an event" }), form);
}
