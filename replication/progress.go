package replication

import (
	"context"
	"io"
	"sync"
	"time"

	"github.com/hashicorp/raft"
)

// This file gives the leader its own view of each follower's replication
// and tells callers when the leader changes. hashicorp/raft keeps each
// follower's match index to itself (followerReplication is unexported,
// and its observations carry no index), so the node wraps the transport:
// every AppendEntries (pipelined or not) and InstallSnapshot that a
// follower answers with success, in the term it was sent in, records the
// last log index the follower now holds. Only the leader sends those, so
// only the leader's records grow; they are the leader's own account, not
// anything a follower says of itself.

// Progress is the leader's account of one follower.
type Progress struct {
	// Match is the highest log index the follower acknowledged holding:
	// the last entry of a successful AppendEntries, or the last index of
	// an installed snapshot. 0 when it has acknowledged none.
	Match uint64
	// Term is the leader term of the acknowledgement.
	Term uint64
	// LastContact is when the follower last answered an AppendEntries
	// with success, heartbeats included.
	LastContact time.Time
}

// FollowerProgress returns this node's account of each follower's
// replication, by server id, for the current term only: on the leader,
// every follower that answered it since it was elected; elsewhere, none.
// The map is the caller's.
func (n *Node) FollowerProgress() map[string]Progress {
	out := map[string]Progress{}
	if n.raft.State() != raft.Leader {
		return out
	}
	term := n.raft.CurrentTerm()
	n.prog.mu.Lock()
	defer n.prog.mu.Unlock()
	for id, p := range n.prog.followers {
		if p.Term == term {
			out[string(id)] = p
		}
	}
	return out
}

// LeaderChange returns a channel that is closed at the next change of the
// leader this node knows, to none included (a follower that stops hearing
// from its leader clears it when its election timer fires). Callers take
// a new channel after each change.
func (n *Node) LeaderChange() <-chan struct{} {
	n.prog.mu.Lock()
	defer n.prog.mu.Unlock()
	return n.prog.leaderCh
}

// DemoteVoter makes the voter id a non-voter, which keeps receiving the
// log. It must be called on the leader.
func (n *Node) DemoteVoter(ctx context.Context, id string) error {
	if err := n.checkLeader(); err != nil {
		return err
	}
	return n.wait(ctx, n.raft.DemoteVoter(raft.ServerID(id), 0, timeout(ctx)))
}

// progress is the node's record of its followers and of leader changes.
type progress struct {
	mu        sync.Mutex
	followers map[raft.ServerID]Progress
	leaderCh  chan struct{} // closed and replaced at each leader change
}

// newProgress returns the record and t wrapped to feed it. The wrapper
// keeps t's optional interfaces that raft looks for (WithClose,
// WithPreVote).
func newProgress(t raft.Transport) (*progress, raft.Transport) {
	p := &progress{followers: map[raft.ServerID]Progress{}, leaderCh: make(chan struct{})}
	pt := &progressTransport{Transport: t, p: p}
	if _, ok := t.(raft.WithPreVote); ok {
		return p, progressPreVote{pt}
	}
	return p, pt
}

// contact records a successful AppendEntries or InstallSnapshot answered
// by id in term; match is the index the follower now holds, 0 for a
// heartbeat (which proves contact, not progress).
func (p *progress) contact(id raft.ServerID, term, match uint64) {
	now := time.Now()
	p.mu.Lock()
	defer p.mu.Unlock()
	f := p.followers[id]
	if f.Term != term {
		f = Progress{Term: term} // a new leadership: forget the old account
	}
	if match > f.Match {
		f.Match = match
	}
	f.LastContact = now
	p.followers[id] = f
}

// appended records what a successful AppendEntries tells of the follower.
func (p *progress) appended(id raft.ServerID, req *raft.AppendEntriesRequest, resp *raft.AppendEntriesResponse) {
	if resp == nil || !resp.Success || resp.Term != req.Term {
		return
	}
	match := req.PrevLogEntry // a probe without entries: the follower holds up to it
	if n := len(req.Entries); n > 0 {
		match = req.Entries[n-1].Index
	}
	p.contact(id, req.Term, match)
}

// watch closes leaderCh at every leader change r observes, until stop is
// closed.
func (p *progress) watch(r *raft.Raft, stop <-chan struct{}) {
	ch := make(chan raft.Observation, 16)
	obs := raft.NewObserver(ch, false, func(o *raft.Observation) bool {
		_, ok := o.Data.(raft.LeaderObservation)
		return ok
	})
	r.RegisterObserver(obs)
	go func() {
		defer r.DeregisterObserver(obs)
		for {
			select {
			case <-ch:
				p.mu.Lock()
				close(p.leaderCh)
				p.leaderCh = make(chan struct{})
				p.mu.Unlock()
			case <-stop:
				return
			}
		}
	}()
}

// progressTransport is a raft transport that records, on the leader, what
// its followers acknowledge.
type progressTransport struct {
	raft.Transport
	p *progress
}

func (t *progressTransport) AppendEntries(id raft.ServerID, target raft.ServerAddress, req *raft.AppendEntriesRequest, resp *raft.AppendEntriesResponse) error {
	err := t.Transport.AppendEntries(id, target, req, resp)
	if err == nil {
		t.p.appended(id, req, resp)
	}
	return err
}

func (t *progressTransport) InstallSnapshot(id raft.ServerID, target raft.ServerAddress, req *raft.InstallSnapshotRequest, resp *raft.InstallSnapshotResponse, data io.Reader) error {
	err := t.Transport.InstallSnapshot(id, target, req, resp, data)
	if err == nil && resp.Success && resp.Term == req.Term {
		t.p.contact(id, req.Term, req.LastLogIndex)
	}
	return err
}

func (t *progressTransport) AppendEntriesPipeline(id raft.ServerID, target raft.ServerAddress) (raft.AppendPipeline, error) {
	inner, err := t.Transport.AppendEntriesPipeline(id, target)
	if err != nil {
		return nil, err
	}
	pp := &progressPipeline{AppendPipeline: inner, id: id, p: t.p,
		out: make(chan raft.AppendFuture, 1), stop: make(chan struct{}), done: make(chan struct{})}
	go pp.relay()
	return pp, nil
}

// Close closes the wrapped transport when it can be closed.
func (t *progressTransport) Close() error {
	if c, ok := t.Transport.(raft.WithClose); ok {
		return c.Close()
	}
	return nil
}

// progressPreVote is a progressTransport over a transport with pre-vote.
type progressPreVote struct{ *progressTransport }

func (t progressPreVote) RequestPreVote(id raft.ServerID, target raft.ServerAddress, req *raft.RequestPreVoteRequest, resp *raft.RequestPreVoteResponse) error {
	return t.Transport.(raft.WithPreVote).RequestPreVote(id, target, req, resp)
}

var (
	_ raft.WithClose   = (*progressTransport)(nil)
	_ raft.WithPreVote = progressPreVote{}
)

// progressPipeline relays a pipeline's answered requests to raft,
// recording each success on the way.
type progressPipeline struct {
	raft.AppendPipeline
	id        raft.ServerID
	p         *progress
	out       chan raft.AppendFuture
	stop      chan struct{}
	done      chan struct{}
	closeOnce sync.Once
}

func (pp *progressPipeline) Consumer() <-chan raft.AppendFuture { return pp.out }

func (pp *progressPipeline) relay() {
	defer close(pp.done)
	in := pp.AppendPipeline.Consumer()
	for {
		select {
		case f := <-in:
			// The transports hand over futures already answered.
			if f.Error() == nil {
				pp.p.appended(pp.id, f.Request(), f.Response())
			}
			select {
			case pp.out <- f:
			case <-pp.stop:
				return
			}
		case <-pp.stop:
			return
		}
	}
}

// Close closes the wrapped pipeline and stops the relay.
func (pp *progressPipeline) Close() error {
	err := pp.AppendPipeline.Close()
	pp.closeOnce.Do(func() { close(pp.stop) })
	<-pp.done
	return err
}
