package api

import (
	"context"
	"errors"
	"net/url"

	"github.com/badbatch/badbatch/engine"
	"github.com/badbatch/badbatch/replication"
)

// ReplicationNode is the server's handle on the Raft group that
// replicates the "quorum" disruptors; *[replication.Node] implements it.
// Changes to a replicated disruptor (create, state, delete, publish) go
// through it; reads stay local.
type ReplicationNode interface {
	Replicated(name string) bool
	Leader() (id, addr string)
	Create(ctx context.Context, cfg engine.DisruptorConfig, start bool) (engine.Info, error)
	SetState(ctx context.Context, name string, to engine.State) (engine.Info, error)
	Delete(ctx context.Context, name string) error
	Publish(ctx context.Context, name string, b *engine.Batch) ([]int64, error)
}

var _ ReplicationNode = (*replication.Node)(nil)

// Replication modes of CreateRequest.Replication.
const (
	ReplicationNone   = "none"
	ReplicationQuorum = "quorum"
)

// replicated returns the replication node when name is a replicated
// disruptor, else nil.
func (s *Server) replicated(name string) ReplicationNode {
	if s.repl == nil || !s.repl.Replicated(name) {
		return nil
	}
	return s.repl
}

// failReplication writes a replication error: NOT_LEADER as a 307 to the
// same request on the leader's API when its address is known (else
// NO_QUORUM), NO_QUORUM and OUTCOME_UNKNOWN as 503s, the others as the
// engine's.
func (c *call) failReplication(err error) {
	var le *replication.LeaderError
	var oe *replication.OutcomeError
	switch {
	case errors.As(err, &le) && errors.Is(err, replication.ErrNotLeader):
		d := map[string]any{"leader_id": le.LeaderID, "leader_raft_addr": le.LeaderAddr}
		if u := c.s.leaderURL(le.LeaderID, c.r.URL); u != "" {
			d["leader_api"] = u
			c.w.Header().Set("Location", u)
			c.fail(newError(CodeNotLeader, "this node is not the Raft leader; resend the request to the leader", d))
			return
		}
		c.fail(newError(CodeNoQuorum, "the Raft leader's API address is not known yet", d))
	case errors.As(err, &le):
		c.fail(newError(CodeNoQuorum, "no Raft leader is known (an election, or this node is on the minority side of a partition)", nil))
	case errors.As(err, &oe) || errors.Is(err, replication.ErrOutcomeUnknown):
		c.fail(newError(CodeOutcomeUnknown, "the change was proposed but its commit could not be confirmed; retry with the same idempotency key", nil))
	case errors.Is(err, replication.ErrClosed):
		c.fail(newError(CodeShuttingDown, "the replication node is closed", nil))
	default:
		c.failEngine(err)
	}
}

// leaderURL returns the URL of the request on the leader's API, from the
// cluster's member list, or "".
func (s *Server) leaderURL(leaderID string, u *url.URL) string {
	if leaderID == "" || s.cluster == nil {
		return ""
	}
	for _, m := range s.cluster.node.Members() {
		if m.ID != leaderID || m.APIAddr == "" || m.Local {
			continue
		}
		scheme := m.APIScheme
		if scheme == "" {
			scheme = "http"
		}
		out := url.URL{Scheme: scheme, Host: m.APIAddr, Path: u.Path, RawPath: u.RawPath, RawQuery: u.RawQuery}
		return out.String()
	}
	return ""
}

// createReplicated creates a quorum disruptor through the Raft group.
func (c *call) createReplicated(cfg engine.DisruptorConfig, start bool) (engine.Info, bool) {
	if c.s.repl == nil {
		c.fail(newError(CodeValidation, "invalid disruptor settings", map[string]any{"errors": []map[string]any{{
			"field": "replication", "value": ReplicationQuorum,
			"reason": "this server does not replicate (enable cluster.replication)"}}}))
		return engine.Info{}, false
	}
	info, err := c.s.repl.Create(c.r.Context(), cfg, start)
	if err != nil {
		c.failReplication(err)
		return engine.Info{}, false
	}
	return info, true
}

// publishTo publishes b to a disruptor, through the Raft group when it is
// replicated (for the multi-disruptor publish, which reports each batch's
// error in its result: a follower reports NO_QUORUM or NOT_LEADER there,
// without a redirect).
func (s *Server) publishTo(ctx context.Context, name string, b *engine.Batch) ([]int64, error) {
	rn := s.replicated(name)
	if rn == nil {
		return s.eng.Publish(ctx, name, b)
	}
	seqs, err := rn.Publish(ctx, name, b)
	if err != nil {
		return nil, replicationError(err)
	}
	return seqs, nil
}

// replicationError maps a replication error to an *Error without
// redirecting.
func replicationError(err error) error {
	var le *replication.LeaderError
	switch {
	case errors.As(err, &le) && errors.Is(err, replication.ErrNotLeader):
		return newError(CodeNotLeader, "this node is not the Raft leader", map[string]any{"leader_id": le.LeaderID, "leader_raft_addr": le.LeaderAddr})
	case errors.As(err, &le):
		return newError(CodeNoQuorum, "no Raft leader is known", nil)
	case errors.Is(err, replication.ErrOutcomeUnknown):
		return newError(CodeOutcomeUnknown, "the change was proposed but its commit could not be confirmed; retry with the same idempotency key", nil)
	}
	return err
}
