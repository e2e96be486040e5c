// Package cluster is BadBatch's cluster membership, failure detection,
// service discovery and request forwarding, on hashicorp/memberlist (SWIM,
// the implementation under Consul and Serf).
//
// # Use
//
// A server that runs clustered creates a [Node] from the `cluster:`
// section of its configuration ([Config]), starts it, keeps its disruptor
// list up to date, and forwards requests for disruptors it does not host:
//
//	node, err := cluster.New(cfg,
//		cluster.WithAPI("http", apiAddr), cluster.WithVersion(version),
//		cluster.WithLogger(logger), cluster.WithRegisterer(registry))
//	err = node.Start(ctx)
//	defer node.Leave(5 * time.Second) // members see "left"
//
//	err = node.SetDisruptors(names) // after each create or delete
//
//	fwd, err := cluster.NewForwarder(node, cluster.DefaultForwardConfig())
//	// in a disruptor handler, when the engine does not host the name:
//	if !cluster.IsForwarded(r) {
//		fwd.Forward(w, r, name) // or fwd.Redirect(w, r, name) for a 307
//	}
//
// [Node.Members], [Node.Health] and [Node.Owners] answer the members and
// health endpoints and discovery lookups; [Forwarder.Peers] tells each
// peer's API reachability as its circuit breaker sees it.
//
// # Member states
//
// Every node keeps its own view of the membership. Memberlist decides who
// is in (alive, possibly suspected) and who is out (failed, or left); this
// package adds what memberlist keeps to itself, because it does not show a
// suspicion or tell a leave from a failure through its API (the State
// field of memberlist.Node is not filled in by Members or the event
// callbacks):
//
//   - [StateAlive]: memberlist counts the member in, and it answered
//     this node's last probe or check.
//   - [StateSuspect]: memberlist still counts it in, but it did not answer
//     a check. Memberlist probes one member per probe interval; a member
//     this node has not heard from (no probe ack, no update) for
//     [Timings.CheckAfter] is pinged with memberlist's own ping, and is
//     suspect when the ping goes unanswered. It turns alive again on the
//     next answer.
//   - [StateDead]: memberlist declared it failed (its SWIM suspicion ran
//     out without a refutation) and its last metadata did not say it was
//     leaving.
//   - [StateLeft]: memberlist counts it out after it announced
//     [NodeLeaving] in its metadata, which [Node.Leave] does before
//     memberlist's own leave.
//
// Dead and left members stay listed, and are still gossiped to so that a
// wrongly declared one can refute, for the dead timeout; then they are
// forgotten. A node restarted with the same id takes its place back: on
// the same address by refuting its old incarnation, on a new address once
// the old one is dead or left. [Config.Timings] gives the figures.
//
// # What is eventually consistent
//
// Membership, member states and metadata (API address, node state,
// hosted disruptors) spread by gossip: two nodes may disagree for a few
// gossip intervals, and about suspicion for longer, since each node's
// suspect view is its own. Forwarding therefore works on a view that may
// be slightly stale: a request can reach a node that just dropped the
// disruptor (it answers 404) or miss one that just added it.
//
// # Security
//
// Gossip is encrypted and authenticated with AES-GCM under a key shared
// by every node ([Config.EncryptionKey]): anyone with the key is a member,
// there is no per-node identity. A node with another key, or none, cannot
// join. [Config.Label] is written on every packet and stream (and
// authenticated with the key): nodes with different labels never merge.
//
// Rotation, with no downtime: (1) on every node, [Node.InstallKey] the new
// key (or restart with it in secondary_encryption_keys); (2) once all have
// it, [Node.UseKey] it on every node (or restart with it as
// encryption_key, the old one secondary); (3) once all use it,
// [Node.RemoveKey] the old one (or restart without it).
// [Node.KeyFingerprints] lets you check each step.
//
// # Observability
//
// Logs go to the [WithLogger] logger (memberlist's included), metrics to
// the [WithRegisterer] registerer; nil means off. [WithObserver] reports
// every member state change, for modules that follow membership.
package cluster
