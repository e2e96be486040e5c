// Package server is BadBatch's composition root: it builds, from one
// [config.Config], the engine, the cluster membership and its forwarder,
// the Raft replication node with its voter autopilot, and the REST API
// server, wires them together, and stops them in the right order. The
// badbatch binary (`badbatch server`) is a thin caller of this package, so
// a program that embeds BadBatch gets the same server as the binary.
//
// # Use
//
//	cfg, err := config.Load(config.Source{File: "badbatch.yaml"})
//	srv, err := server.New(ctx, cfg, server.Options{Logger: logger})
//	log.Print("serving on ", srv.Addr())
//	err = srv.Run(ctx) // until ctx ends, then a graceful shutdown
//
// [Server.Shutdown] stops gracefully and in order: the node leaves the
// gossip cluster (members see it "left"), a Raft leader hands its
// leadership over, live streams end, requests in flight finish, every
// disruptor drains.
// [Server.Close] stops at once. Both return every error they met, joined.
//
// # Journals
//
// The server opens <server.data_dir>/journal ([journal.OpenDir]; a second
// server on it is refused naming the lock), gives it to the engine
// ([engine.Config.Journal]) and, before the declared disruptors are
// created, brings back every journaled disruptor in it
// ([engine.Engine.Recover]): config, state, events, numbering and
// idempotency keys. A stream with a corrupt record keeps only its
// disruptor down, logged with the file and offset;
// server.journal_repair (--journal-repair NAME) opens it with repair. A
// declared disruptor found in the journal keeps the journal's state and
// events, and its declared settings must match the journal's, else the
// start is refused naming the difference. docs/durability.md has it all.
//
// # The voter autopilot
//
// On the Raft leader, a loop makes the Raft configuration follow the
// gossip membership: members that gossip a Raft address are added as
// non-voters, promoted once they have caught up, and removed when they
// stay dead or gone past a grace period.
package server
