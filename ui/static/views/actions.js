// Lifecycle buttons of a disruptor (start, pause, resume, stop, delete),
// shown only to roles with the operate permission. Delete asks for a
// second click within 4 s.
import { call, enc } from "../api.js";
import { can } from "../auth.js";
import { h } from "../dom.js";

// actions returns an element with the buttons, and update(state) to show
// the ones that apply. onDone(err, what) is called after each action.
export function actions(name, onDone) {
  const el = h("span", { class: "actions" });
  if (!can("operate", name)) {
    el.update = () => {};
    return el;
  }
  const put = (state) => async () => {
    try {
      await call("PUT", `/api/v1/disruptors/${enc(name)}/state`, { state });
      onDone(null, state);
    } catch (err) {
      onDone(err, state);
    }
  };
  const btn = (action, text, fn, cls) => h("button", { text, class: cls || "", data: { action, disruptor: name }, on: { click: fn } });
  const start = btn("start", "Start", put("running"));
  const pause = btn("pause", "Pause", put("paused"));
  const resume = btn("resume", "Resume", put("running"));
  const stop = btn("stop", "Stop", put("stopped"));
  let armed = null;
  const del = btn("delete", "Delete", async () => {
    if (!armed) {
      del.textContent = "Confirm delete";
      del.classList.add("confirm");
      armed = setTimeout(() => { armed = null; del.textContent = "Delete"; del.classList.remove("confirm"); }, 4000);
      return;
    }
    clearTimeout(armed);
    armed = null;
    try {
      await call("DELETE", `/api/v1/disruptors/${enc(name)}`);
      onDone(null, "deleted");
    } catch (err) {
      onDone(err, "deleted");
    }
  }, "danger");
  el.append(start, pause, resume, stop, " ", del);
  el.update = (state) => {
    start.classList.toggle("hidden", state !== "created");
    pause.classList.toggle("hidden", state !== "running");
    resume.classList.toggle("hidden", state !== "paused");
    stop.classList.toggle("hidden", state !== "running" && state !== "paused");
  };
  return el;
}
