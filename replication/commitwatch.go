package replication

import (
	"errors"
	"sync/atomic"

	"github.com/hashicorp/raft"
)

// watchedTransport is the transport raft is given: the node's transport,
// with the RPCs raft consumes passed through a goroutine that notes the
// leader's commit index from each AppendEntries request, and lowers it
// to what the request verifies (see clampCommit). A follower's own
// commit index is capped by the entries it has received, so it cannot say
// how far behind the cluster it is; the leader's can: a node that has
// applied the leader's commit index as of its first contact since it
// started has caught up ([Node.CaughtUp]).
//
// Heartbeats take raft's fast path (SetHeartbeatHandler, passed through
// unchanged) and carry no commit index. Every other method is the
// wrapped transport's; raft's optional interfaces are passed through
// (pre-vote: both the TCP and the in-memory transport have it).
type watchedTransport struct {
	raft.Transport
	out  chan raft.RPC
	stop chan struct{}
	done chan struct{}

	// leaderCommit is the highest commit index a leader sent; first the
	// first one (0 until then). Both only grow: any committed index stays
	// committed, whichever leader sent it.
	leaderCommit, first atomic.Uint64
}

var (
	_ raft.Transport   = (*watchedTransport)(nil)
	_ raft.WithPreVote = (*watchedTransport)(nil)
	_ raft.WithClose   = (*watchedTransport)(nil)
)

func watchTransport(t raft.Transport) *watchedTransport {
	w := &watchedTransport{Transport: t, out: make(chan raft.RPC), stop: make(chan struct{}), done: make(chan struct{})}
	go w.run(t.Consumer())
	return w
}

func (w *watchedTransport) run(in <-chan raft.RPC) {
	defer close(w.done)
	for {
		var rpc raft.RPC
		select {
		case rpc = <-in:
		case <-w.stop:
			return
		}
		if ae, ok := rpc.Command.(*raft.AppendEntriesRequest); ok && ae.LeaderCommitIndex > 0 {
			w.first.CompareAndSwap(0, ae.LeaderCommitIndex)
			for {
				cur := w.leaderCommit.Load()
				if ae.LeaderCommitIndex <= cur || w.leaderCommit.CompareAndSwap(cur, ae.LeaderCommitIndex) {
					break
				}
			}
			rpc.Command = clampCommit(ae)
		}
		select {
		case w.out <- rpc:
		case <-w.stop:
			rpc.Respond(emptyResponse(rpc.Command), raft.ErrTransportShutdown)
			return
		}
	}
}

// clampCommit returns ae with its commit index lowered to the last entry
// it verifies: its last entry, or the previous entry when it carries
// none. Raft's rule for a follower is commitIndex = min(leaderCommit,
// index of last new entry); hashicorp/raft (v1.8) takes min(leaderCommit,
// its own last index) instead, so an AppendEntries whose previous entry
// matches and whose entries end before a stale tail of the follower's log
// (entries it appended as a leader that lost its term before they
// reached a majority), with the leader's commit index past that tail,
// would make the follower commit and apply the stale entries, which the
// next entries then overwrite in the log but not in the state machine
// (TestFollowerNeverAppliesStaleTail). With the clamp the follower
// commits only what the request proved it shares with the leader; the
// next request, which carries the leader's entries there, commits them.
// ae is left as it is (the in-memory transport shares it with the
// sender): the result is a copy when it changes.
func clampCommit(ae *raft.AppendEntriesRequest) *raft.AppendEntriesRequest {
	verified := ae.PrevLogEntry
	if n := len(ae.Entries); n > 0 {
		verified = ae.Entries[n-1].Index
	}
	if ae.LeaderCommitIndex <= verified {
		return ae
	}
	c := *ae
	c.LeaderCommitIndex = verified
	return &c
}

// emptyResponse is a response of the type the command expects: raft's
// in-memory pipeline reads the response of a failed AppendEntries too.
func emptyResponse(cmd any) any {
	switch cmd.(type) {
	case *raft.AppendEntriesRequest:
		return &raft.AppendEntriesResponse{}
	case *raft.RequestVoteRequest:
		return &raft.RequestVoteResponse{}
	case *raft.RequestPreVoteRequest:
		return &raft.RequestPreVoteResponse{}
	case *raft.InstallSnapshotRequest:
		return &raft.InstallSnapshotResponse{}
	case *raft.TimeoutNowRequest:
		return &raft.TimeoutNowResponse{}
	}
	return nil
}

// Consumer implements [raft.Transport].
func (w *watchedTransport) Consumer() <-chan raft.RPC { return w.out }

// RequestPreVote implements [raft.WithPreVote].
func (w *watchedTransport) RequestPreVote(id raft.ServerID, target raft.ServerAddress, args *raft.RequestPreVoteRequest, resp *raft.RequestPreVoteResponse) error {
	if p, ok := w.Transport.(raft.WithPreVote); ok {
		return p.RequestPreVote(id, target, args, resp)
	}
	return errors.New("replication: the transport does not support pre-vote")
}

// Close implements [raft.WithClose]: it stops the watcher and closes the
// wrapped transport.
func (w *watchedTransport) Close() error {
	select {
	case <-w.stop:
	default:
		close(w.stop)
	}
	<-w.done
	if c, ok := w.Transport.(raft.WithClose); ok {
		return c.Close()
	}
	return nil
}
