// Package replication replicates disruptors across the cluster with Raft
// (hashicorp/raft, the implementation under Consul, Nomad and Vault): a
// publish to a replicated disruptor is acknowledged once a majority of
// the nodes stored it, and every node exposes the same events at the same
// sequences.
//
// # Use
//
// Each node runs a [Node] beside its engine ([engine.Engine]); the Node
// applies the replicated log to that engine, through its one publish path:
//
//	cfg := replication.DefaultConfig()
//	cfg.NodeID, cfg.BindAddr, cfg.DataDir = "n1", "10.0.0.1:7947", "data/raft"
//	cfg.Bootstrap = []replication.Server{{ID: "n1", Address: "10.0.0.1:7947"}, ...}
//	node, err := replication.New(cfg, eng)
//	defer node.Close()
//
//	// on the leader (others answer ErrNotLeader with the leader's address):
//	info, err := node.Create(ctx, engine.DisruptorConfig{Name: "orders"}, true)
//	first, err := node.Publish(ctx, "orders", &engine.Batch{Events: events, IdempotencyKey: key})
//	// or, as a server does, through the writer the engine resolves:
//	w, err := eng.Writer("orders") // the Node's proposals, for a replicated ring
//	first, err = w.Publish(ctx, &engine.Batch{Events: events})
//
//	// on any node: local reads, which may lag the leader by a few entries
//	_, err = eng.Read("orders", 0, 100, &rec)
//
// Reads stay the engine's ([engine.Engine.Read], [engine.Engine.Subscribe]);
// [Node.AppliedIndex] says how far the local engine is, [Node.WaitApplied]
// waits until it gets somewhere (reading one's writes on any node), and
// [Node.ReadIndex] on the leader makes the reads after it linearizable
// without a log entry. See reads.go for how fresh a read is.
//
// # One write door
//
// The rings the Node replicates are owned by it in the engine
// ([engine.Engine.CreateOwned]): the engine refuses to publish into them,
// change them or delete them directly, and [engine.Engine.Writer] returns
// the Node's proposals for them. The state machine is the only holder of
// the [engine.Ring] handles that change them. So nothing reaches a
// replicated ring except through the log, on any node, at any moment of
// its creation, restore or deletion.
//
// # The log
//
// There is one Raft group, and its log carries every change to replicated
// state: creating, deleting and changing the state of replicated
// disruptors (the catalog) and publishing batches to them. Each node's
// state machine applies the committed entries in log order: it creates
// and deletes rings in its engine, and publishes each batch with
// [engine.Engine.Publish] at the time the leader stamped on the entry
// ([engine.Batch.Time]), so every node assigns the same sequences and
// stores the same times. The log is durable (github.com/hashicorp/raft-boltdb,
// fsynced before a node acknowledges an entry); snapshots hold each
// replicated ring's retained window, the catalog and the idempotency keys,
// and a restarted node recovers from its latest snapshot and the log after
// it (or from the leader's snapshot when it is too far behind).
//
// # Batching
//
// Raft's cost is per log entry (a disk sync on a majority and a round
// trip), so the leader groups concurrent proposals into one entry: a
// batcher goroutine takes the proposals queued, up to
// [Config.MaxBatchEvents] and [Config.MaxBatchBytes] (waiting up to
// [Config.MaxBatchDelay] for more), and proposes them together while up
// to [Config.MaxInflight] earlier entries commit. Each proposer encodes its
// own command on its own goroutine and gets its own sequences back.
//
// # Idempotency
//
// The state machine, not the engine, deduplicates idempotency keys: it
// keeps a table per replicated disruptor (the leader's engine's
// DedupWindow and DedupMaxKeys, recorded at creation), counts the window
// in log time, and keeps the table in snapshots. A key is never
// forgotten before its window ends: while DedupMaxKeys keys are inside
// it, a publish with a new key is refused (DEDUP_WINDOW_FULL) on every
// node alike. A retry after a timeout or a leader change finds the key on
// whichever node leads and gets the first publish's sequences; nothing is
// published twice.
//
// # Determinism
//
// Replicas stay identical because the state machine is deterministic: the
// same entries give the same catalog, keys and sequences. That holds when
//
//   - every node's engine has the same limits (max_batch_events,
//     max_metadata, max_buffer_size, ...), since they decide whether a
//     batch is valid.
//
// (That nothing but the Node changes a replicated ring is not a rule for
// the caller to keep: the engine enforces it.) The state machine never
// skips a committed command, and a command's result depends only on the
// replicated state and the command. A condition local to one node (a full
// ring, a local disruptor holding the name of a replicated one, the
// engine's disruptor limit, a local ring that failed to start or change
// state) is never a result, since the other nodes applied the command: it
// is waited out: the node retries, logs, and reports itself stalled
// ([Status.Stalled], badbatch_replication_fsm_stalled) until it clears.
// The leader checks a publish (the ring runs, the batch fits its limits
// and schema) and a state change before it proposes them, so what every
// node would refuse costs no log entry.
//
// # Restarts and snapshots
//
// A restarted node restores its newest snapshot and re-applies the log
// entries it had applied before it stopped, before Raft hands it anything
// (store.go), so it serves its replicated rings as they were at once;
// [Node.CaughtUp] says when it has applied as far as the cluster had
// committed when it started. A snapshot the leader sends to a follower too
// far behind continues each ring the follower has in place when it can
// (its live tails go on), and replaces it otherwise (its tails end with
// "replaced").
//
// # Errors
//
// Calls that change replicated state must be made on the leader. Elsewhere
// they return a [*LeaderError] wrapping [ErrNotLeader] (with the leader's
// ID and Raft address, for the API to forward to) or, when no leader is
// known (an election, or the minority side of a partition),
// [ErrNoQuorum]; nothing was proposed. A proposal whose commit could not
// be confirmed (leadership lost while committing, ctx ended, node closed)
// returns an [*OutcomeError] ([ErrOutcomeUnknown]): it may have been
// committed, and retrying with the same idempotency key is safe. [Code]
// maps every error to a stable API code.
//
// # Membership
//
// [Node.AddVoter], [Node.AddNonvoter] and [Node.RemoveServer] change the
// Raft configuration, on the leader. The server makes Raft membership
// follow the cluster's (memberlist): a member that joins is added, one dead
// for longer than a grace period is removed. Keep 3 or 5 voters; the
// others can be non-voters, which apply the log and serve local reads but
// do not slow commits down.
//
// # Transport
//
// Raft's TCP transport, on [Config.BindAddr], wrapped in TLS when
// [Config.TLS] is set (mutual TLS with client certificates required).
// [WithTransport] replaces it (raft's InmemTransport in tests).
//
// # Metrics
//
// With [Config.Registerer] set, the node exports:
//
//	badbatch_raft_state{state}                    1 for the node's Raft state (follower, candidate, leader, shutdown)
//	badbatch_raft_term                            the current term
//	badbatch_raft_commit_index                    the highest log index known committed
//	badbatch_raft_applied_index                   the highest log index applied to the engine
//	badbatch_raft_last_index                      the highest log index stored
//	badbatch_raft_leader_changes_total            leader changes observed (losing the leader included)
//	badbatch_replication_commit_seconds           proposal to committed and applied on the leader
//	badbatch_replication_entry_proposals          proposals batched into one log entry
//	badbatch_replication_snapshot_restores_total  snapshots restored
//	badbatch_replication_fsm_stalled              1 while a committed entry waits for a local condition
//	badbatch_replication_disruptors               replicated disruptors in the catalog
package replication
