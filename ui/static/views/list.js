// The disruptor list: every disruptor the key may view, with its figures,
// refreshed every second; a create form and lifecycle buttons for
// operators and admins.
import { call, get } from "../api.js";
import { can, who } from "../auth.js";
import { h, badge, gauge, fmt, setText, every, clear } from "../dom.js";
import { actions } from "./actions.js";

// listAll pages through GET /api/v1/disruptors.
async function listAll(signal) {
  const out = [];
  let after = "";
  for (let page = 0; page < 20; page++) {
    const r = await get("/api/v1/disruptors?limit=1000" + (after ? "&after=" + encodeURIComponent(after) : ""), { signal });
    out.push(...r.disruptors);
    if (!r.next) break;
    after = r.next;
  }
  return out;
}

export function listView(main) {
  const msg = h("div", { class: "error hidden" });
  const count = h("span", { class: "muted" });
  main.append(h("h1", {}, "Disruptors ", count), msg);

  if (!can("view")) {
    main.append(h("div", { class: "note", text: `This key's role (${who.role || "none"}) cannot list disruptors: it may only publish to the disruptors it names.` }));
    return null;
  }
  if (can("operate")) main.append(createForm(() => refresh()));

  const cols = ["Name", "State", "Replication", "Size", "Fill", "Events/s", "p50", "p99", "Lag", "Subscribers", "Replay window", ""];
  const numeric = new Set(["Size", "Events/s", "p50", "p99", "Lag", "Subscribers", "Replay window"]);
  const tbody = h("tbody");
  const empty = h("div", { class: "empty hidden", text: "No disruptors yet." });
  main.append(h("div", { class: "panel" },
    h("table", { attrs: { "data-table": "disruptors" } },
      h("thead", {}, h("tr", {}, cols.map((c) => h("th", { class: numeric.has(c) ? "num" : "", text: c })))),
      tbody),
    empty));

  const rows = new Map(); // name -> {tr, cells, update}
  const rowFor = (name) => {
    let r = rows.get(name);
    if (r) return r;
    const c = {};
    for (const k of ["state", "replication", "size", "rate", "p50", "p99", "lag", "subs", "window"]) c[k] = h("td", { class: ["state", "replication"].includes(k) ? "" : "num" });
    const fill = gauge();
    const act = actions(name, (err) => { if (err) showError(err); refresh(); });
    const tr = h("tr", { data: { disruptor: name } },
      h("td", {}, h("a", { href: "#/d/" + encodeURIComponent(name), text: name })),
      c.state, c.replication, c.size, h("td", {}, fill), c.rate, c.p50, c.p99, c.lag, c.subs, c.window,
      h("td", { class: "actions" }, act));
    r = { tr, c, fill, act, state: "" };
    rows.set(name, r);
    return r;
  };

  let shownUntil = 0;
  const showError = (err) => {
    msg.textContent = err.message + (err.code ? ` (${err.code})` : "");
    msg.classList.remove("hidden");
    shownUntil = Date.now() + 8000;
  };

  let sig = null;
  const load = async (signal) => {
    const [list, sm] = await Promise.all([listAll(signal), get("/api/v1/metrics", { signal })]);
    const ms = new Map(sm.disruptors.map((m) => [m.disruptor, m]));
    const seen = new Set();
    list.sort((a, b) => a.name.localeCompare(b.name));
    list.forEach((d, i) => {
      seen.add(d.name);
      const r = rowFor(d.name);
      const m = ms.get(d.name) || {};
      if (tbody.children[i] !== r.tr) tbody.insertBefore(r.tr, tbody.children[i] || null);
      if (r.state !== d.state) {
        clear(r.c.state).append(badge(d.state));
        r.state = d.state;
        r.tr.dataset.state = d.state;
      }
      if (!r.c.replication.firstChild) r.c.replication.append(badge(d.replication));
      setText(r.c.size, fmt.int(d.buffer_size));
      r.fill.update(m.fill_ratio);
      setText(r.c.rate, fmt.rate(m.publish_rate));
      setText(r.c.p50, fmt.ns(m.latency && m.latency.p50_ns));
      setText(r.c.p99, fmt.ns(m.latency && m.latency.p99_ns));
      setText(r.c.lag, fmt.int(Math.max(0, ...(m.consumers || []).map((c) => c.lag))));
      setText(r.c.subs, fmt.int(d.subscribers));
      setText(r.c.window, d.latest_sequence < 0 ? "empty" : `${fmt.int(d.oldest_sequence)} – ${fmt.int(d.latest_sequence)}`);
      r.act.update(d.state);
    });
    for (const [name, r] of rows) {
      if (!seen.has(name)) { r.tr.remove(); rows.delete(name); }
    }
    setText(count, `(${list.length})`);
    empty.classList.toggle("hidden", list.length > 0);
    if (Date.now() > shownUntil) msg.classList.add("hidden");
  };
  const refresh = () => load(sig).catch((err) => { if (!sig.aborted) showError(err); });
  const stop = every(1000, (signal) => { sig = signal; return refresh(); });
  return stop;
}

// createForm is the create form (operate permission).
function createForm(onCreated) {
  const name = h("input", { name: "name", required: true, placeholder: "orders" });
  const size = h("input", { name: "buffer_size", type: "number", min: 2, step: 1, placeholder: "default" });
  const replication = h("select", { name: "replication" }, h("option", { value: "none", text: "none (this node)" }), h("option", { value: "quorum", text: "quorum (Raft)" }));
  const startNow = h("input", { type: "checkbox", checked: true, name: "start" });
  const msg = h("div", { class: "error hidden" });
  const form = h("form", { class: "inline", data: { form: "create" }, on: { submit: async (e) => {
    e.preventDefault();
    const body = { name: name.value.trim(), replication: replication.value, start: startNow.checked };
    if (size.value) body.buffer_size = Number(size.value);
    try {
      await call("POST", "/api/v1/disruptors", body);
      msg.classList.add("hidden");
      name.value = "";
      onCreated();
    } catch (err) {
      msg.textContent = err.message + ` (${err.code})`;
      msg.classList.remove("hidden");
    }
  } } },
  h("label", {}, "Name", name),
  h("label", {}, "Buffer size (power of 2)", size),
  h("label", {}, "Replication", replication),
  h("label", { class: "check" }, startNow, "start"),
  h("button", { class: "primary", type: "submit", text: "Create", data: { action: "create" } }));
  return h("div", { class: "panel" }, h("h2", { text: "Create a disruptor" }), msg, form);
}
