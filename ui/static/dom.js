// DOM helpers: every node is built with createElement and textContent,
// never from HTML strings, so nothing the server returns can become
// markup (and the CSP needs no 'unsafe-inline').

// h builds an element. props: class, text, title, attrs (attributes),
// data (dataset), on (event listeners), and any DOM property (value,
// type, disabled...). Children may be nodes, strings, numbers, arrays,
// or null/false (skipped).
export function h(tag, props, ...children) {
  const el = document.createElement(tag);
  apply(el, props);
  append(el, children);
  return el;
}

const SVGNS = "http://www.w3.org/2000/svg";

// s builds an SVG element; props are attributes, but for text and class.
export function s(tag, props, ...children) {
  const el = document.createElementNS(SVGNS, tag);
  for (const [k, v] of Object.entries(props || {})) {
    if (v === undefined || v === null) continue;
    if (k === "text") el.textContent = String(v);
    else el.setAttribute(k, String(v));
  }
  append(el, children);
  return el;
}

function apply(el, props) {
  for (const [k, v] of Object.entries(props || {})) {
    if (v === undefined || v === null) continue;
    switch (k) {
      case "class": el.className = v; break;
      case "text": el.textContent = String(v); break;
      case "attrs": for (const [a, av] of Object.entries(v)) if (av !== undefined && av !== null) el.setAttribute(a, String(av)); break;
      case "data": Object.assign(el.dataset, v); break;
      case "on": for (const [ev, fn] of Object.entries(v)) el.addEventListener(ev, fn); break;
      default: el[k] = v;
    }
  }
}

function append(el, children) {
  for (const c of children.flat(Infinity)) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
}

// clear removes every child of el.
export function clear(el) {
  while (el.firstChild) el.firstChild.remove();
  return el;
}

// setText sets el's text only when it changed (no needless layout).
export function setText(el, text) {
  text = String(text);
  if (el.textContent !== text) el.textContent = text;
}

// badge is a state badge: its class is the state.
export function badge(state, extra) {
  const b = h("span", { class: "badge " + String(state).toLowerCase(), text: state });
  if (extra) b.dataset.kind = extra;
  return b;
}

// gauge is a fill bar and percentage for a ratio in 0..1; update sets it.
export function gauge() {
  const bar = h("div", { class: "bar" });
  const label = h("span", { class: "num" });
  const el = h("span", { class: "gauge" }, h("span", { class: "track" }, bar), label);
  el.update = (ratio) => {
    const r = Math.max(0, Math.min(1, Number(ratio) || 0));
    bar.style.width = (r * 100).toFixed(1) + "%"; // CSSOM: allowed by the CSP
    bar.classList.toggle("high", r >= 0.75 && r < 0.95);
    bar.classList.toggle("full", r >= 0.95);
    setText(label, fmt.pct(r));
  };
  return el;
}

export const fmt = {
  int(n) {
    if (n === undefined || n === null) return "–";
    return Number(n).toLocaleString("en-US");
  },
  rate(r) {
    r = Number(r) || 0;
    if (r === 0) return "0";
    if (r >= 1e6) return (r / 1e6).toFixed(2) + "M";
    if (r >= 1e4) return (r / 1e3).toFixed(1) + "k";
    if (r >= 100) return r.toFixed(0);
    return r.toFixed(1);
  },
  // ns formats a duration in nanoseconds.
  ns(n) {
    n = Number(n) || 0;
    if (n === 0) return "–";
    if (n < 1e3) return n.toFixed(0) + " ns";
    if (n < 1e6) return (n / 1e3).toFixed(n < 1e4 ? 2 : 1) + " µs";
    if (n < 1e9) return (n / 1e6).toFixed(n < 1e7 ? 2 : 1) + " ms";
    return (n / 1e9).toFixed(2) + " s";
  },
  // secs formats a duration in seconds.
  secs(x) {
    x = Math.floor(Number(x) || 0);
    const d = Math.floor(x / 86400), hh = Math.floor((x % 86400) / 3600), m = Math.floor((x % 3600) / 60), sec = x % 60;
    if (d) return `${d}d ${hh}h`;
    if (hh) return `${hh}h ${m}m`;
    if (m) return `${m}m ${sec}s`;
    return `${sec}s`;
  },
  pct(r) { return (100 * (Number(r) || 0)).toFixed(1) + "%"; },
  bytes(b) {
    b = Number(b) || 0;
    const u = ["B", "KiB", "MiB", "GiB", "TiB"];
    let i = 0;
    while (b >= 1024 && i < u.length - 1) { b /= 1024; i++; }
    return (i ? b.toFixed(1) : b.toFixed(0)) + " " + u[i];
  },
  time(t) {
    if (!t) return "–";
    const d = new Date(t);
    return isNaN(d) ? String(t) : d.toISOString().replace("T", " ").replace(/\.(\d{3})\d*Z$/, ".$1Z");
  },
  ago(t) {
    if (!t) return "–";
    const s = (Date.now() - new Date(t).getTime()) / 1000;
    if (!isFinite(s)) return "–";
    return s < 1 ? "just now" : fmt.secs(s) + " ago";
  },
};

// every calls fn now and then ms after each call settles, until the
// returned stop() is called. fn gets an AbortSignal that stop() fires.
export function every(ms, fn) {
  const ctl = new AbortController();
  let timer = null;
  const tick = async () => {
    if (ctl.signal.aborted) return;
    try { await fn(ctl.signal); } catch (e) { if (!ctl.signal.aborted) console.warn(e); }
    if (!ctl.signal.aborted) timer = setTimeout(tick, ms);
  };
  tick();
  return () => { ctl.abort(); clearTimeout(timer); };
}

// globMatch is Go's path.Match for the patterns keys are scoped by:
// * is any run of characters but /, ? one character, [...] a class.
export function globMatch(pattern, name) {
  let re = "^";
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i];
    if (c === "*") re += "[^/]*";
    else if (c === "?") re += "[^/]";
    else if (c === "[") {
      const j = pattern.indexOf("]", i + 1);
      if (j < 0) return false;
      let cls = pattern.slice(i + 1, j).replace(/\\/g, "\\\\");
      if (cls.startsWith("^")) cls = "^" + cls.slice(1);
      re += "[" + cls + "]";
      i = j;
    } else if (c === "\\" && i + 1 < pattern.length) re += "\\" + pattern[++i];
    else re += c.replace(/[.+^${}()|\]\\]/g, "\\$&");
  }
  try { return new RegExp(re + "$").test(name); } catch { return false; }
}
