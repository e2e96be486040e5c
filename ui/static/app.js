// The BadBatch console: a hash-routed single-page application over the
// REST API. Routes: #/ (disruptors), #/d/NAME (one disruptor), #/cluster,
// #/login. api.html renders the OpenAPI document.
import { get, session } from "./api.js";
import { who, refresh, mustSignIn } from "./auth.js";
import { h, clear } from "./dom.js";
import { listView } from "./views/list.js";
import { disruptorView } from "./views/disruptor.js";
import { clusterView } from "./views/cluster.js";

// A violation of the Content-Security-Policy is a bug: say so loudly (the
// browser test fails on any console error).
document.addEventListener("securitypolicyviolation", (e) => {
  console.error("CSP violation:", e.violatedDirective, e.blockedURI);
});

const main = document.getElementById("main");
let stopView = null;

const routes = [
  { re: /^#?\/?$/, nav: "disruptors", view: listView },
  { re: /^#\/d\/(.+)$/, nav: "disruptors", view: disruptorView },
  { re: /^#\/cluster$/, nav: "cluster", view: clusterView },
  { re: /^#\/login$/, nav: "", view: loginView },
];

function route() {
  if (stopView) stopView();
  stopView = null;
  clear(main);
  let hash = location.hash || "#/";
  if (mustSignIn() && hash !== "#/login") {
    sessionStorage.setItem("badbatch.after-login", hash);
    location.replace("#/login");
    return;
  }
  const r = routes.find((x) => x.re.test(hash)) || routes[0];
  const m = hash.match(r.re);
  for (const a of document.querySelectorAll(".nav a")) a.classList.toggle("active", a.dataset.nav === r.nav);
  const params = m ? m.slice(1).map(decodeURIComponent) : [];
  stopView = r.view(main, ...params) || null;
}

function renderWho() {
  const el = clear(document.getElementById("who"));
  if (!who.authEnabled) {
    el.append(h("span", { class: "muted", text: "authentication off" }), h("span", { class: "role", text: "admin", data: { role: "admin" } }));
    return;
  }
  if (!who.authenticated) {
    el.append(h("span", { class: "muted", text: "not signed in" }));
    return;
  }
  el.append(
    h("span", { text: who.principal, title: "the API key's name" }),
    h("span", { class: "role", text: who.role || "no role", data: { role: who.role } }),
    h("button", { text: "Sign out", data: { action: "sign-out" }, on: { click: signOut } }),
  );
}

async function signOut() {
  session.clear();
  await refresh();
  renderWho();
  location.hash = "#/login";
  route();
}

function loginView(main) {
  const input = h("input", { type: "password", autocomplete: "off", placeholder: "bb_…", attrs: { "aria-label": "API key" } });
  const msg = h("div", { class: "error hidden" });
  if (who.reason && who.reason !== "no_credentials") {
    msg.textContent = reasonText(who.reason);
    msg.classList.remove("hidden");
  }
  const form = h("form", { class: "panel login", on: { submit: async (e) => {
    e.preventDefault();
    const key = input.value.trim();
    if (!key) return;
    session.set(key);
    try {
      await refresh();
    } catch (err) {
      msg.textContent = err.message;
      msg.classList.remove("hidden");
      return;
    }
    if (!who.authenticated) {
      session.clear();
      msg.textContent = reasonText(who.reason);
      msg.classList.remove("hidden");
      input.value = "";
      input.focus();
      return;
    }
    renderWho();
    location.hash = sessionStorage.getItem("badbatch.after-login") || "#/";
    sessionStorage.removeItem("badbatch.after-login");
  } } },
  h("h1", { text: "Sign in" }),
  h("p", { class: "muted", text: "This server asks for an API key. It is kept in this tab's session storage only, and sent to this server as Authorization: Bearer." }),
  msg,
  h("label", { text: "API key" }), input,
  h("button", { class: "primary", type: "submit", text: "Sign in", data: { action: "sign-in" } }));
  main.append(form);
  input.focus();
}

function reasonText(reason) {
  switch (reason) {
    case "unknown_key": return "The server does not know this API key.";
    case "expired_key": return "This API key has expired.";
    case "malformed_credentials": return "That is not a well-formed API key.";
    default: return "The key was not accepted (" + reason + ").";
  }
}

async function start() {
  try {
    await refresh();
  } catch (err) {
    clear(main).append(h("div", { class: "error", text: "Cannot reach the server: " + err.message }));
    return;
  }
  renderWho();
  window.addEventListener("hashchange", route);
  route();
  try {
    const v = await get("/api/v1/version");
    document.getElementById("footer").textContent = `BadBatch ${v.version} · API ${v.api_version} · ${v.go_version}`;
  } catch { /* the footer is optional */ }
}

start();
