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
	"time"

	"github.com/badbatch/badbatch/cluster"
	"github.com/badbatch/badbatch/engine"
	"github.com/badbatch/badbatch/replication"
	"github.com/badbatch/badbatch/wire"
)

// ReplicationNode is the server's handle on the Raft group that
// replicates the "quorum" disruptors; *[replication.Node] implements it.
// The changes of a replicated disruptor do not go through it but through
// the writer the engine resolves for the disruptor (the Node's
// proposals): only a create, which has no disruptor yet, does. Reads stay
// local; the node says how fresh they are and waits to make them fresher.
// Every method may be called concurrently.
type ReplicationNode interface {
	// ID is this node's id in the Raft group, which is its cluster id.
	ID() string
	Leader() (id, addr string)
	// Create creates a replicated disruptor (on the leader).
	Create(ctx context.Context, cfg engine.DisruptorConfig, start bool) (engine.Info, error)
	// AppliedIndex is the index of the last Raft entry the local engine
	// reflects.
	AppliedIndex() uint64
	// ReadIndex makes the reads after it linearizable (on the leader),
	// without a log entry, and returns the index applied.
	ReadIndex(ctx context.Context) (uint64, error)
	// WaitApplied waits until AppliedIndex reaches index.
	WaitApplied(ctx context.Context, index uint64) error
	// Settle waits until the local engine reflects what the node's log
	// holds now (and a snapshot being restored is in place).
	Settle(ctx context.Context) error
	// CaughtUp reports whether the node has applied the log as far as
	// the cluster had committed it when the node started.
	CaughtUp() bool
	// CatchingUp reports whether the node knows it is behind that commit
	// index (it heard from a leader) and has not applied it yet.
	CatchingUp() bool
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

// HeaderAppliedIndex is the response header of a read of a replicated
// disruptor: the index of the last Raft entry the answering node had
// applied, so the read reflects every change up to it.
const HeaderAppliedIndex = wire.HeaderAppliedIndex

// toLeader forwards a request about a replicated disruptor that only the
// Raft leader can answer (a change: any method but GET and HEAD, or a
// read with consistent=true) from a follower to the leader, through the
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
func (s *Server) toLeader(w http.ResponseWriter, r *http.Request, consistent bool) bool {
	leader := s.leaderToForwardTo(r)
	if leader == "" {
		return false
	}
	name := r.PathValue("name")
	info, err := s.eng.Info(name)
	switch {
	case err == nil && info.Owned:
		if (r.Method == http.MethodGet || r.Method == http.MethodHead) && !consistent {
			return false
		}
	case !errors.Is(err, engine.ErrNotFound):
		return false // a local disruptor
	default:
		// Only local disruptors are advertised (see advertise): a name
		// another member advertises is one of its own, for forward, unless
		// the leader advertises it too.
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

// maxReadWait bounds how long a read waits for this node to be fresh
// enough (min_index) and how long a request naming a disruptor this node
// does not know waits for it to settle, besides the request's own
// context: then it is answered 503 CATCHING_UP, with Retry-After. (The
// server's readWait, which tests shorten.)
const maxReadWait = 5 * time.Second

// readFence is what a read of a replicated disruptor asks about its
// freshness: consistent=true (linearizable: on the leader, after a read
// index) and min_index=N (at least as fresh as Raft index N, on any
// node: the X-Raft-Applied-Index of a write, for reading one's writes).
type readFence struct {
	consistent bool
	minIndex   uint64
}

// readParams are the query parameters of every route declared a read.
var readParams = []string{"consistent", "min_index"}

// parseFence reads consistent= and min_index=, or writes the 400 and
// returns false.
func (c *call) parseFence() (readFence, bool) {
	var f readFence
	q := c.r.URL.Query()
	if v := q.Get("consistent"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			c.fail(newError(CodeInvalidParameter, fmt.Sprintf("consistent=%q must be true or false", v),
				map[string]any{"parameter": "consistent", "value": v}))
			return f, false
		}
		f.consistent = b
	}
	if v := q.Get("min_index"); v != "" {
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			c.fail(newError(CodeInvalidParameter, fmt.Sprintf("min_index=%q must be a Raft index (an integer >= 0)", v),
				map[string]any{"parameter": "min_index", "value": v}))
			return f, false
		}
		f.minIndex = n
	}
	return f, true
}

// waitIndex makes a read with min_index wait, on a replicating node,
// until the node's copy reflects the log up to that index (bounded by
// maxReadWait and the request), before anything else about the read is
// decided: the disruptor it names may be created by an entry up to the
// index, so even whether it exists is answered only then. It reports
// false when it wrote an error.
func (c *call) waitIndex(f readFence) bool {
	if c.s.repl == nil || f.minIndex == 0 {
		return true
	}
	ctx, cancel := context.WithTimeout(c.r.Context(), c.s.readWait)
	defer cancel()
	if err := c.s.repl.WaitApplied(ctx, f.minIndex); err != nil {
		c.failRead(err, f)
		return false
	}
	return true
}

// fence prepares a read of the disruptor name: for a replicated one, with
// consistent=true, it runs a read index on the leader (a follower
// forwarded such reads to the leader before they got here, and answers
// NOT_LEADER with a 307 when it could not), and it sets
// X-Raft-Applied-Index. Disruptors that are not replicated take the
// parameter and ignore it. It reports false when it wrote an error.
func (c *call) fence(name string, f readFence) bool {
	rn := c.s.repl
	if rn == nil {
		return true
	}
	if info, err := c.s.eng.Info(name); err != nil || !info.Owned {
		return true
	}
	if f.consistent {
		ctx, cancel := context.WithTimeout(c.r.Context(), c.s.readWait)
		defer cancel()
		if _, err := rn.ReadIndex(ctx); err != nil {
			c.failRead(err, f)
			return false
		}
	}
	c.w.Header().Set(HeaderAppliedIndex, strconv.FormatUint(rn.AppliedIndex(), 10))
	return true
}

// failRead writes why a read could not be made as fresh as asked: this
// node did not get there within maxReadWait (503 CATCHING_UP), the
// client went away, or the errors of a change (NOT_LEADER, NO_QUORUM).
func (c *call) failRead(err error, f readFence) {
	if errors.Is(err, context.DeadlineExceeded) && c.r.Context().Err() == nil {
		d := map[string]any{"applied_index": c.s.repl.AppliedIndex()}
		if f.minIndex > 0 {
			d["min_index"] = f.minIndex
		}
		c.fail(newError(CodeCatchingUp, "this node has not applied the Raft log far enough to answer yet; retry, or read from the leader", d))
		return
	}
	c.failChange(err)
}

// settle is for a request naming a disruptor that this replicating node
// does not have: the name may be in the Raft log, created a moment ago
// and not applied here yet, or created while this node was down. It
// waits (bounded) until the node reflects what its log held when asked;
// then, when the node has still not caught up since it started, the
// answer is 503 CATCHING_UP rather than a 404 for a disruptor that may
// exist. It returns nil when the request may go on (to find the name, or
// to answer 404). Without wait it only decides.
func (s *Server) settle(ctx context.Context, name string, wait bool) *Error {
	if wait {
		ctx, cancel := context.WithTimeout(ctx, s.readWait)
		defer cancel()
		_ = s.repl.Settle(ctx)
	}
	if s.hosts(name) || s.repl.CaughtUp() {
		return nil
	}
	return newError(CodeCatchingUp, fmt.Sprintf("this node is catching up with the Raft log and cannot tell yet whether %q exists; retry, or ask another node", name),
		map[string]any{"disruptor": name, "applied_index": s.repl.AppliedIndex()})
}

// known lets a request about the disruptor name go on to its handler, or
// writes the CATCHING_UP of settle.
func (c *call) known(name string) bool {
	if c.s.repl == nil || name == "" || c.s.hosts(name) {
		return true
	}
	if e := c.s.settle(c.r.Context(), name, true); e != nil {
		c.fail(e)
		return false
	}
	return true
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

// replicationProblem returns why replication makes the server not ready,
// or nil: the node knows it has not yet applied the Raft log as far as
// the cluster had committed it when the node started (it was down or cut
// off while the others went on), so its quorum disruptors lag by more
// than reads expect, and names it does not know may exist. A node that
// has heard from no leader yet is ready as far as replication goes: nodes
// restarted together wait for one another to elect a leader, and an
// orchestrator that starts them one at a time once each is ready
// (a StatefulSet's OrderedReady) must not wait for ever.
func (s *Server) replicationProblem() *Error {
	if s.repl == nil || !s.repl.CatchingUp() {
		return nil
	}
	return newError(CodeNotReady, "catching up with the Raft log", map[string]any{"replication": "catching_up", "applied_index": s.repl.AppliedIndex()})
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
		c.failChange(err)
		return engine.Info{}, false
	}
	return info, true
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
		c.failChange(err)
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
