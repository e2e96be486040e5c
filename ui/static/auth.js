// Who the console's user is (GET /api/v1/auth/whoami), and what the
// role may do. The console offers only what the role may do; the server
// checks every call regardless.
import { get } from "./api.js";
import { globMatch } from "./dom.js";

export const who = {
  authEnabled: false,
  authenticated: false,
  principal: "",
  role: "",
  disruptors: null, // glob patterns of a publisher or reader; null: every disruptor
  permissions: [],
  reason: "",
};

// refresh asks the server who the current key is.
export async function refresh() {
  const w = await get("/api/v1/auth/whoami");
  who.authEnabled = !!w.auth_enabled;
  who.authenticated = !!w.authenticated;
  who.principal = w.principal || "";
  who.role = w.role || "";
  who.disruptors = w.disruptors && w.disruptors.length ? w.disruptors : null;
  who.permissions = w.permissions || [];
  who.reason = w.reason || "";
  return who;
}

// can reports whether the role holds perm (view, read, publish, operate,
// admin, metrics), for disruptor name when given.
export function can(perm, name) {
  if (!who.permissions.includes(perm)) return false;
  if (name === undefined || !who.disruptors || perm === "metrics") return true;
  return who.disruptors.some((p) => globMatch(p, name));
}

// mustSignIn reports whether the server wants a key the console lacks.
export function mustSignIn() {
  return who.authEnabled && !who.authenticated;
}
