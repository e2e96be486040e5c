// The cluster: this node's health, the members as gossip sees them, and
// the Raft group that replicates the quorum disruptors, refreshed every
// two seconds.
import { get } from "../api.js";
import { can, who } from "../auth.js";
import { h, badge, fmt, every, clear } from "../dom.js";

function table(cols, rows, attrs) {
  return h("table", { attrs }, h("thead", {}, h("tr", {}, cols.map(([c, cls]) => h("th", { class: cls || "", text: c })))),
    h("tbody", {}, rows.length ? rows : h("tr", {}, h("td", { class: "empty", attrs: { colspan: cols.length }, text: "none" }))));
}

function kv(pairs) {
  return h("dl", { class: "kv" }, pairs.flatMap(([k, v]) => [h("dt", { text: k }), h("dd", {}, v)]));
}

export function clusterView(main) {
  main.append(h("h1", { text: "Cluster" }));
  if (!can("view")) {
    main.append(h("div", { class: "note", text: `This key's role (${who.role || "none"}) cannot view the cluster.` }));
    return null;
  }
  const node = h("div", { class: "panel", data: { panel: "node" } });
  const health = h("div", { class: "panel", data: { panel: "cluster-health" } });
  const members = h("div", { class: "panel", data: { panel: "members" } });
  const raft = h("div", { class: "panel", data: { panel: "raft" } });
  main.append(h("div", { class: "row" }, node, health), members, raft);

  const settle = async (p) => {
    try { return { v: await p }; } catch (err) { return { err }; }
  };
  const failure = (panel, title, err) => {
    clear(panel).append(h("h2", { text: title }),
      err.code === "CLUSTER_DISABLED" ? h("div", { class: "note", text: err.message }) : h("div", { class: "error", text: `${err.message} (${err.code})` }));
  };

  return every(2000, async (signal) => {
    const [hl, ch, mem, rf] = await Promise.all([
      settle(get("/api/v1/health", { signal })),
      settle(get("/api/v1/cluster/health", { signal })),
      settle(get("/api/v1/cluster/members", { signal })),
      settle(get("/api/v1/cluster/raft", { signal })),
    ]);
    if (signal.aborted) return;

    if (hl.err) failure(node, "This node", hl.err);
    else {
      const x = hl.v;
      clear(node).append(h("h2", { text: "This node" }), kv([
        ["Status", badge(x.status)], ["Ready", badge(x.ready ? "ready" : "degraded")], ["Version", x.version || "–"],
        ["Uptime", fmt.secs(x.uptime_seconds)], ["Goroutines", fmt.int(x.goroutines)],
        ["Disruptors", `${(x.disruptors || []).filter((d) => d.healthy).length} healthy of ${(x.disruptors || []).length}`],
      ]));
    }

    if (ch.err) failure(health, "Cluster health", ch.err);
    else {
      const x = ch.v;
      clear(health).append(h("h2", { text: "Cluster health" }), kv([
        ["Status", badge(x.status)], ["Node", x.node_id],
        ["Members", `${x.alive} alive, ${x.suspect} suspect, ${x.dead} dead, ${x.left} left`],
        ["Health score", String(x.health_score) + (x.health_score ? " (probes struggling)" : " (healthy)")],
        ["Dead after", `${(x.timings.dead_after_ms / 1000).toFixed(1)} s`],
        ["Problems", (x.problems || []).join("; ") || "none"], ["Warnings", (x.warnings || []).join("; ") || "none"],
      ]));
    }

    if (mem.err) failure(members, "Members", mem.err);
    else {
      const rows = mem.v.members.map((m) => h("tr", { data: { member: m.id } },
        h("td", {}, m.id, m.local ? h("span", { class: "muted", text: " (this node)" }) : null),
        h("td", {}, badge(m.state)), h("td", {}, badge(m.node_state || "–")),
        h("td", { class: "mono", text: m.api_addr ? `${m.api_scheme || "http"}://${m.api_addr}` : "–" }),
        h("td", { class: "mono", text: m.gossip_addr }),
        h("td", { class: "num", text: m.rtt_ms ? m.rtt_ms.toFixed(2) + " ms" : "–" }),
        h("td", { text: m.routable ? "yes" : "no" }),
        h("td", {}, m.circuit ? badge(m.circuit) : "–"),
        h("td", { class: "num", text: fmt.int((m.disruptors || []).length) }),
        h("td", { text: m.version || "–" }),
        h("td", { text: m.local ? "–" : fmt.ago(m.last_seen) })));
      clear(members).append(h("h2", { text: `Members (${mem.v.members.length})` }), table([["Member"], ["State"], ["Node"], ["API"], ["Gossip"],
        ["RTT", "num"], ["Routable"], ["Circuit"], ["Disruptors", "num"], ["Version"], ["Last seen"]], rows, { "data-table": "members" }));
    }

    if (rf.err) failure(raft, "Raft", rf.err);
    else {
      const x = rf.v;
      const servers = x.servers.map((sv) => h("tr", { data: { server: sv.id } },
        h("td", {}, sv.id, sv.local ? h("span", { class: "muted", text: " (this node)" }) : null),
        h("td", { class: "mono", text: sv.raft_addr }), h("td", {}, badge(sv.suffrage)),
        h("td", {}, sv.leader ? badge("leader") : "")));
      clear(raft).append(h("h2", { text: "Raft" }), h("div", { class: "row" },
        h("div", {}, kv([
          ["State", badge(x.state)], ["Leader", x.leader_id ? `${x.leader_id} (${x.leader_raft_addr})` : h("span", { class: "badge stopped", text: "no leader" })],
          ["Term", fmt.int(x.term)], ["Commit index", fmt.int(x.commit_index)], ["Applied index", fmt.int(x.applied_index)],
          ["Last index", fmt.int(x.last_index)], ["Last contact", x.last_contact ? fmt.ago(x.last_contact) : (x.state === "leader" ? "– (leader)" : "never")],
          ["Apply stalled", x.stalled ? badge("stalled") : "no"],
        ])),
        h("div", { class: "grow" }, table([["Server"], ["Raft address"], ["Suffrage"], [""]], servers, { "data-table": "raft-servers" }))));
    }
  });
}
