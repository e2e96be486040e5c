package replication

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/hashicorp/raft"
)

// Reads of a replicated disruptor are local: they read this node's copy
// through the engine. How fresh that copy is, and how a reader asks for
// more, is this file's business.
//
// # Applied
//
// [Node.AppliedIndex] is the index up to which the engine reflects the
// log. It is not raft's applied index: raft counts an entry applied once
// it has handed it to the state machine's queue, which may not have
// reached it yet. The state machine records the index of each command it
// applied; raft's own entries (a new leader's no-op, configuration
// changes) never reach it, so between the last command applied and
// raft's index, AppliedIndex looks at the log: entries that are not
// commands count as applied.
//
// # Waiting
//
// [Node.WaitApplied] waits until AppliedIndex reaches an index (a write's
// X-Raft-Applied-Index, for reading one's writes on any node), bounded by
// ctx. [Node.ReadIndex] makes a read linearizable on the leader without
// writing to the log (Raft's read index, section 6.4 of the Raft thesis):
// it confirms the leadership with a round of heartbeats to a quorum (raft
// sends one round for every VerifyLeader waiting, so concurrent readers
// share it), takes the last index of the log after that (it includes
// every entry committed by an earlier leader, and this leader's no-op, so
// the read waits until this term has committed), and waits until it is
// applied. [Node.Settle] waits for a node that does not know a name to
// apply what its log already holds, which answers "not found" for a name
// created a moment ago only when it really is not there.

// maxScan is the most log entries AppliedIndex reads to skip raft's own
// entries; past it, it reports the state machine's index.
const maxScan = 64

// AppliedIndex returns the index of the last log entry the local engine
// reflects: a local read reflects every entry up to it.
func (n *Node) AppliedIndex() uint64 {
	raftApplied := n.raft.AppliedIndex()
	fsmApplied := n.fsm.applied.Load()
	if fsmApplied >= raftApplied {
		return fsmApplied // after a restart, ahead of raft until raft catches up
	}
	if raftApplied-fsmApplied > maxScan {
		return fsmApplied
	}
	var l raft.Log
	for i := fsmApplied + 1; i <= raftApplied; i++ {
		err := n.logs.GetLog(i, &l)
		switch {
		case errors.Is(err, raft.ErrLogNotFound):
			// Compacted: in a snapshot the state machine holds.
		case err != nil:
			return i - 1
		case l.Type == raft.LogCommand:
			return i - 1 // the state machine has yet to apply it
		}
	}
	return raftApplied
}

// pollInterval is how often waits look at AppliedIndex besides the state
// machine's own wake-ups (raft's entries do not wake them).
const pollInterval = 2 * time.Millisecond

// WaitApplied waits until the local engine reflects the log up to index
// (AppliedIndex ≥ index), bounded by ctx: a read after it sees every
// change up to that index. It returns ctx's error, or [ErrClosed].
func (n *Node) WaitApplied(ctx context.Context, index uint64) error {
	if n.AppliedIndex() >= index {
		return nil // fast path
	}
	t := time.NewTicker(pollInterval)
	defer t.Stop()
	for {
		ch := n.fsm.progress.Wait()
		if n.AppliedIndex() >= index {
			return nil
		}
		select {
		case <-ch:
		case <-t.C:
		case <-ctx.Done():
			return ctx.Err()
		case <-n.stop:
			return ErrClosed
		}
	}
}

// ReadIndex makes the reads that follow it on this node linearizable: it
// checks that this node is the leader with a quorum (a round of
// heartbeats; no log entry), then waits until every entry in the log at
// that point is committed and applied to the local engine, and returns
// the index applied. It must be called on the leader; it returns the
// [*LeaderError] of [Node.Publish], ctx's error, or [ErrClosed].
func (n *Node) ReadIndex(ctx context.Context) (uint64, error) {
	if err := n.checkLeader(); err != nil {
		return 0, err
	}
	if err := n.waitRead(ctx, n.raft.VerifyLeader()); err != nil {
		return 0, err
	}
	index := n.raft.LastIndex()
	if err := n.checkLeader(); err != nil {
		return 0, err
	}
	if err := n.WaitApplied(ctx, index); err != nil {
		return 0, err
	}
	return n.AppliedIndex(), nil
}

// waitRead waits for a raft future of a read, or for ctx: a read that did
// not finish has no outcome to be unsure of, so ctx's error is returned as
// it is, and raft's refusals as the [*LeaderError] they mean.
func (n *Node) waitRead(ctx context.Context, f raft.Future) error {
	done := make(chan error, 1)
	go func() { done <- f.Error() }()
	select {
	case err := <-done:
		switch {
		case err == nil:
			return nil
		case errors.Is(err, raft.ErrRaftShutdown):
			return ErrClosed
		case errors.Is(err, raft.ErrNotLeader), errors.Is(err, raft.ErrLeadershipLost), errors.Is(err, raft.ErrLeadershipTransferInProgress):
			return n.leaderError()
		}
		return fmt.Errorf("replication: verifying the leadership: %w", err)
	case <-ctx.Done():
		return ctx.Err()
	case <-n.stop:
		return ErrClosed
	}
}

// Settle waits, bounded by ctx, until a snapshot being restored is in
// place and the local engine reflects every entry this node's log held
// when Settle was called (committed entries apply as the leader confirms
// them). A server calls it before it answers that a name is not found: a
// replicated disruptor created a moment ago (or restored from a snapshot
// just now) is then found. It returns ctx's error or [ErrClosed].
func (n *Node) Settle(ctx context.Context) error {
	index := n.raft.LastIndex()
	t := time.NewTicker(pollInterval)
	defer t.Stop()
	for {
		ch := n.fsm.progress.Wait()
		if !n.fsm.restoring.Load() && n.AppliedIndex() >= index {
			return nil
		}
		select {
		case <-ch:
		case <-t.C:
			// Entries of a deposed leader that will never commit: the log
			// shrinks below index, and what is left is what counts.
			index = min(index, n.raft.LastIndex())
		case <-ctx.Done():
			return ctx.Err()
		case <-n.stop:
			return ErrClosed
		}
	}
}

// CaughtUp reports whether this node has applied the log as far as the
// cluster had committed it when the node first heard from a leader after
// it started (the commit index that leader sent), or, on a node that took
// the lead, as far as its log went when it did. Until then its replicated
// rings may lag by more than the usual few entries (it was down, or cut
// off, while the others went on), and a name it does not know may well
// exist; once it holds, it holds for good (later lags are a read's
// business: [Node.WaitApplied]).
func (n *Node) CaughtUp() bool {
	caught, _ := n.catchUp()
	return caught
}

// CatchingUp reports whether this node is behind a commit index it has
// learned since it started, from a leader that reached it (or its own
// log when it took the lead), and has not applied it yet: it knows it
// lags. A node that has heard from no leader yet is not catching up (it
// has nothing to catch up to: alone after a restart, it serves what it
// has), though it has not caught up either. Readiness follows this, so
// that nodes restarted together, each waiting for the others to form a
// quorum, are not all kept out of service by it.
func (n *Node) CatchingUp() bool {
	caught, known := n.catchUp()
	return !caught && known
}

// catchUp reports whether the node has caught up (see CaughtUp), and
// whether it knows the index it is to catch up to.
func (n *Node) catchUp() (caught, known bool) {
	if n.caughtUp.Load() {
		return true, true
	}
	var target uint64
	switch {
	case n.raft.State() == raft.Leader:
		n.leadTarget.CompareAndSwap(0, max(n.raft.LastIndex(), 1))
		target = n.leadTarget.Load()
	case n.trans.first.Load() > 0:
		target = n.trans.first.Load()
	default:
		return false, false // no leader heard from yet
	}
	if n.AppliedIndex() < target {
		return false, true
	}
	n.caughtUp.Store(true)
	return true, true
}
