// Plain SVG charts: a line chart over time and a bar histogram. They
// draw into an <svg class="chart"> and are redrawn whole on each update.
import { clear, s, fmt } from "./dom.js";

const W = 600, H = 180, L = 52, R = 10, T = 10, B = 26;

// niceMax rounds a maximum up to 1, 2 or 5 times a power of ten.
function niceMax(v) {
  if (!(v > 0)) return 1;
  const p = Math.pow(10, Math.floor(Math.log10(v)));
  for (const m of [1, 2, 5, 10]) if (v <= m * p) return m * p;
  return 10 * p;
}

export function chart(title) {
  const el = s("svg", { class: "chart", viewBox: `0 0 ${W} ${H}`, preserveAspectRatio: "none", role: "img", "aria-label": title });
  return el;
}

// lineChart draws points [{t: ms, v}] over the last spanMs before now.
export function lineChart(el, points, { spanMs, format = fmt.rate, unit = "" }) {
  clear(el);
  const now = Date.now();
  const max = niceMax(Math.max(0, ...points.map((p) => p.v)));
  const x = (t) => L + ((t - (now - spanMs)) / spanMs) * (W - L - R);
  const y = (v) => T + (1 - v / max) * (H - T - B);
  for (const f of [0, 0.5, 1]) {
    el.append(s("line", { class: "grid", x1: L, x2: W - R, y1: y(max * f), y2: y(max * f) }));
    el.append(s("text", { class: "end", x: L - 6, y: y(max * f) + 3, text: format(max * f) + unit }));
  }
  el.append(s("line", { class: "axis", x1: L, x2: W - R, y1: H - B, y2: H - B }));
  el.append(s("text", { x: L, y: H - 8, text: `${fmt.secs(spanMs / 1000)} ago` }));
  el.append(s("text", { class: "end", x: W - R, y: H - 8, text: "now" }));
  const pts = points.filter((p) => p.t >= now - spanMs);
  if (pts.length < 2) return;
  const line = pts.map((p) => `${x(p.t).toFixed(1)},${y(p.v).toFixed(1)}`).join(" ");
  const area = `${x(pts[0].t).toFixed(1)},${H - B} ${line} ${x(pts[pts.length - 1].t).toFixed(1)},${H - B}`;
  el.append(s("polygon", { class: "area", points: area }));
  el.append(s("polyline", { class: "line", points: line }));
}

// barChart draws bars [{label, value, mark}] (mark: a class such as
// "p99"); values are counts.
export function barChart(el, bars) {
  clear(el);
  const max = niceMax(Math.max(0, ...bars.map((b) => b.value)));
  const n = Math.max(bars.length, 1);
  const bw = (W - L - R) / n;
  const y = (v) => T + (1 - v / max) * (H - T - B);
  for (const f of [0, 0.5, 1]) {
    el.append(s("line", { class: "grid", x1: L, x2: W - R, y1: y(max * f), y2: y(max * f) }));
    el.append(s("text", { class: "end", x: L - 6, y: y(max * f) + 3, text: fmt.int(Math.round(max * f)) }));
  }
  el.append(s("line", { class: "axis", x1: L, x2: W - R, y1: H - B, y2: H - B }));
  const every = Math.ceil(n / 8);
  bars.forEach((b, i) => {
    const x = L + i * bw;
    const top = y(b.value);
    el.append(s("rect", { class: "bar" + (b.mark ? " " + b.mark : ""), x: (x + 1).toFixed(1), y: top.toFixed(1),
      width: Math.max(bw - 2, 1).toFixed(1), height: (H - B - top).toFixed(1) },
    s("title", { text: `${b.label}: ${fmt.int(b.value)}` })));
    if (i % every === 0) el.append(s("text", { class: "middle", x: (x + bw / 2).toFixed(1), y: H - 8, text: b.label }));
  });
}
