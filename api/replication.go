package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"

	"github.com/badbatch/badbatch/cluster"
	"github.com/badbatch/badbatch/engine"
	"github.com/badbatch/badbatch/replication"
	"github.com/badbatch/badbatch/wire"
)

// ReplicationNode is the server's handle on the Raft group that
// replicates the "quorum" disruptors; *[replication.Node] implements it.
// Changes to a replicated disruptor (create, state, delete, publish) go
// through it; reads stay local.
type ReplicationNode interface {
	// ID is this node's id in the Raft group, which is its cluster id.
	ID() string
	Replicated(name string) bool
	Leader() (id, addr string)
	Create(ctx context.Context, cfg engine.DisruptorConfig, start bool) (engine.Info, error)
	SetState(ctx context.Context, name string, to engine.State) (engine.Info, error)
	Delete(ctx context.Context, name string) error
	Publish(ctx context.Context, name string, b *engine.Batch) ([]int64, error)
	// AppliedIndex is the index of the last Raft entry applied locally.
	AppliedIndex() uint64
	// Barrier makes the following local reads consistent (on the leader).
	Barrier(ctx context.Context) error
	// Status is the node's view of the Raft group.
	Status() replication.Status
	// Servers is the Raft configuration as the node knows it.
	Servers(ctx context.Context) ([]replication.Server, error)
}

var _ ReplicationNode = (*replication.Node)(nil)

// Replication modes of CreateRequest.Replication.
const (
	ReplicationNone   = wire.ReplicationNone
	ReplicationQuorum = wire.ReplicationQuorum
)

// replicated returns the replication node when name is a replicated
// disruptor, else nil.
func (s *Server) replicated(name string) ReplicationNode {
	if s.repl == nil || !s.repl.Replicated(name) {
		return nil
	}
	return s.repl
}

// HeaderAppliedIndex is the response header of a read of a replicated
// disruptor: the index of the last Raft entry the answering node had
// applied, so the read reflects every change up to it.
const HeaderAppliedIndex = wire.HeaderAppliedIndex

// toLeader forwards a request about a replicated disruptor that only the
// Raft leader can answer (a change: any method but GET and HEAD, or a
// read with ?consistent=true) from a follower to the leader, through the
// cluster's forwarder, and reports whether it did. A request about a
// disruptor this node does not know goes to the leader too, whatever its
// method, unless only other members advertise the name (it is one of
// their local disruptors, for forward): it may be a replicated disruptor
// the leader created and this node has not applied yet (a publish right
// after the create), and the leader's catalog answers.
//
// It does not forward when this node leads, no leader is known, the
// leader is not a routable member, or another node forwarded the request:
// the handler then answers (NOT_LEADER with a 307, or NO_QUORUM). A
// publish therefore works on any node, with the client's credentials
// passed on, as Kafka and NATS clients expect.
func (s *Server) toLeader(w http.ResponseWriter, r *http.Request) bool {
	leader := s.leaderToForwardTo(r)
	if leader == "" {
		return false
	}
	name := r.PathValue("name")
	switch {
	case s.repl.Replicated(name):
		if r.Method == http.MethodGet || r.Method == http.MethodHead {
			if ok, err := strconv.ParseBool(r.URL.Query().Get("consistent")); err != nil || !ok {
				return false
			}
		}
	case s.hosts(name):
		return false // a local disruptor
	default:
		leaderHosts, othersHost := false, false
		for _, m := range s.cluster.node.Members() {
			if !m.Local && m.Routable() && m.Hosts(name) {
				leaderHosts = leaderHosts || m.ID == leader
				othersHost = othersHost || m.ID != leader
			}
		}
		if othersHost && !leaderHosts {
			return false
		}
	}
	return s.forwardToLeader(w, r, name, leader)
}

// hosts reports whether the local engine may hold the disruptor name
// (any answer but "not found").
func (s *Server) hosts(name string) bool {
	_, err := s.eng.Info(name)
	return !errors.Is(err, engine.ErrNotFound)
}

// leaderToForwardTo returns the id of the Raft leader when a request may
// be forwarded to it: this node does not lead, the leader is a routable
// member, and no node forwarded the request already. Else "".
func (s *Server) leaderToForwardTo(r *http.Request) string {
	h := s.cluster
	if s.repl == nil || h == nil || h.fwd == nil || h.left.Load() || cluster.IsForwarded(r) {
		return ""
	}
	leader, _ := s.repl.Leader()
	if leader == "" || leader == s.repl.ID() {
		return ""
	}
	for _, m := range h.node.Members() {
		if m.ID == leader && !m.Local && m.Routable() {
			return leader
		}
	}
	return ""
}

// forwardCreate forwards the create of a quorum disruptor from a follower
// to the Raft leader, and reports whether it did. The body was read to
// learn that the disruptor is replicated, so the request goes on with req
// encoded as JSON (the client's Accept, credentials and request id kept).
func (c *call) forwardCreate(req CreateRequest) bool {
	leader := c.s.leaderToForwardTo(c.r)
	if leader == "" {
		return false
	}
	req.Schema = normalizeSchema(req.Schema)
	body, err := json.Marshal(req)
	if err != nil {
		return false // the handler reports the schema
	}
	r := c.r.Clone(c.r.Context())
	r.Body = io.NopCloser(bytes.NewReader(body))
	r.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(body)), nil }
	r.ContentLength = int64(len(body))
	r.Header.Set("Content-Type", formatJSON.contentType())
	r.Header.Del("Content-Encoding")
	r.Header.Del("Content-Length")
	return c.s.forwardToLeader(c.w, r, req.Name, leader)
}

// readReplicated prepares a read of the disruptor name: for a replicated
// one, with ?consistent=true, it runs a Raft barrier (on the leader; a
// follower forwards such reads to the leader before they get here, and
// answers NOT_LEADER with a 307 when it cannot), and it sets the
// X-Raft-Applied-Index header. It reports false when it
// wrote an error.
func (c *call) readReplicated(name string) bool {
	consistent := false
	if v := c.r.URL.Query().Get("consistent"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			c.fail(newError(CodeInvalidParameter, fmt.Sprintf("consistent=%q must be true or false", v),
				map[string]any{"parameter": "consistent", "value": v}))
			return false
		}
		consistent = b
	}
	rn := c.s.replicated(name)
	if rn == nil {
		return true
	}
	if consistent {
		if err := rn.Barrier(c.r.Context()); err != nil {
			c.failReplication(err)
			return false
		}
	}
	c.w.Header().Set(HeaderAppliedIndex, strconv.FormatUint(rn.AppliedIndex(), 10))
	return true
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

// createReplicated creates a quorum disruptor through the Raft group: on
// a follower, by forwarding req to the leader.
func (c *call) createReplicated(req CreateRequest, cfg engine.DisruptorConfig, start bool) (engine.Info, bool) {
	if c.s.repl == nil {
		c.fail(newError(CodeValidation, "invalid disruptor settings", map[string]any{"errors": []map[string]any{{
			"field": "replication", "value": ReplicationQuorum,
			"reason": "this server does not replicate (enable cluster.replication)"}}}))
		return engine.Info{}, false
	}
	if c.forwardCreate(req) {
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

// clusterRaft answers GET /api/v1/cluster/raft.
func (c *call) clusterRaft() {
	if c.s.repl == nil {
		c.fail(errorf(CodeClusterDisabled, "this server does not replicate (start it with --cluster --replication, or cluster.replication.enabled: true)"))
		return
	}
	st := c.s.repl.Status()
	servers, err := c.s.repl.Servers(c.r.Context())
	if err != nil {
		c.failReplication(err)
		return
	}
	out := RaftStatus{
		NodeID: st.ID, RaftAddr: st.Address, State: st.State,
		LeaderID: st.LeaderID, LeaderRaftAddr: st.LeaderAddr,
		Term: st.Term, CommitIndex: st.CommitIndex, AppliedIndex: st.AppliedIndex, LastIndex: st.LastIndex,
		Stalled: st.Stalled,
		Servers: make([]RaftServer, 0, len(servers)),
	}
	if !st.LastContact.IsZero() {
		lc := st.LastContact.UTC()
		out.LastContact = &lc
	}
	for _, sv := range servers {
		suffrage := "voter"
		if sv.Nonvoter {
			suffrage = "nonvoter"
		}
		out.Servers = append(out.Servers, RaftServer{ID: sv.ID, RaftAddr: sv.Address, Suffrage: suffrage,
			Leader: sv.ID != "" && sv.ID == st.LeaderID, Local: sv.ID == st.ID})
	}
	c.w.Header().Set(HeaderAppliedIndex, strconv.FormatUint(st.AppliedIndex, 10))
	c.respond(http.StatusOK, out)
}
