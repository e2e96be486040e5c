package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/badbatch/badbatch/cluster"
)

// ClusterNode is the server's handle on its cluster membership;
// *[cluster.Node] implements it. The server calls Members and Health for
// the cluster endpoints and for readiness, SetDisruptors after every
// create and delete (one call at a time), and Join and Leave from their
// endpoints; the others may be called concurrently.
type ClusterNode interface {
	Members() []cluster.Member
	Health() cluster.Health
	Join(ctx context.Context, addrs ...string) (int, error)
	Leave(timeout time.Duration) error
	SetDisruptors(names []string) error
}

// ClusterForwarder sends a request for a disruptor hosted on another node
// to that node and copies the answer back; *[cluster.Forwarder]
// implements it. The server calls Forward, concurrently, for a request
// about a disruptor it does not host, unless another node forwarded it;
// Peers tells each peer's API reachability for the members endpoint.
type ClusterForwarder interface {
	Forward(w http.ResponseWriter, r *http.Request, disruptor string)
	// ForwardTo sends a request to the member with the id (the Raft
	// leader, for a change of a replicated disruptor).
	ForwardTo(w http.ResponseWriter, r *http.Request, disruptor, id string)
	Peers() []cluster.PeerStatus
}

var (
	_ ClusterNode      = (*cluster.Node)(nil)
	_ ClusterForwarder = (*cluster.Forwarder)(nil)
)

// clusterHook is a clustered server's state; nil on a standalone server.
type clusterHook struct {
	node ClusterNode
	fwd  ClusterForwarder
	// mu serialises advertise, so that the list read last is the one
	// advertised last.
	mu sync.Mutex
	// left is set by POST /api/v1/cluster/leave: nothing is forwarded
	// after it.
	left atomic.Bool
}

func newClusterHook(cfg Config) *clusterHook {
	if cfg.ClusterNode == nil {
		return nil
	}
	return &clusterHook{node: cfg.ClusterNode, fwd: cfg.ClusterForwarder}
}

// advertise gossips the names of the local disruptors the engine hosts
// (not the replicated ones: every node has those, the Raft catalog says
// which they are, and a name gossiped by one node only would send
// requests for it to that node rather than the leader); the server calls
// it after every create and delete of a local disruptor.
func (s *Server) advertise() {
	h := s.cluster
	if h == nil {
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	infos := s.eng.List()
	names := make([]string, 0, len(infos))
	for _, info := range infos {
		if !info.Owned {
			names = append(names, info.Name)
		}
	}
	if err := h.node.SetDisruptors(names); err != nil {
		// The disruptors work here; the cluster does not learn of the
		// change and keeps the previous list.
		s.log.Warn("cluster: advertising the disruptor list", "err", err, "disruptors", len(names))
	}
}

// forwardable reports whether a route is about one disruptor, so that a
// request for one hosted elsewhere is forwarded to its node.
func forwardable(pattern string) bool {
	return strings.HasPrefix(pattern, "/api/v1/disruptors/{name}")
}

// forward sends a request about a disruptor this node does not host to a
// node that does, and reports whether it did. A request another node
// forwarded is answered here (404 if the disruptor is not here either).
func (s *Server) forward(w http.ResponseWriter, r *http.Request) bool {
	h := s.cluster
	if h.left.Load() || cluster.IsForwarded(r) {
		return false
	}
	name := r.PathValue("name")
	if s.hosts(name) {
		return false
	}
	w, r = s.forwarding(w, r, false)
	h.fwd.Forward(w, r, name)
	return true
}

// forwarding prepares a request for the forwarder: the response headers
// set so far are kept aside for ForwardErrorHandler and cleared (the
// answer is the other node's, headers included), and a stream gets a
// write deadline per write instead of a read deadline. toLeader marks a
// request sent to the Raft leader.
func (s *Server) forwarding(w http.ResponseWriter, r *http.Request, toLeader bool) (http.ResponseWriter, *http.Request) {
	fw := &forwarding{c: &call{s: s, w: w, r: r, out: formatJSON}, header: w.Header().Clone(), toLeader: toLeader}
	if f, ok := negotiate(r.Header.Get("Accept")); ok {
		fw.c.out = f // for the errors ForwardErrorHandler writes
	}
	// The answer is the owner's, headers included: its request id (the
	// same, as it gets ours), security and CORS headers. Those set here
	// would be doubled; they are put back if the owner does not answer.
	r.Header.Set("X-Request-Id", w.Header().Get("X-Request-Id"))
	clear(w.Header())
	if strings.HasSuffix(r.Pattern, "/events/stream") {
		// As the stream handler does: no read deadline, and a bound on
		// each write rather than on the whole response.
		rc := http.NewResponseController(w)
		_ = rc.SetReadDeadline(time.Time{})
		w = &deadlineWriter{ResponseWriter: w, rc: rc, timeout: s.cfg.StreamWriteTimeout}
	}
	return w, r.WithContext(context.WithValue(r.Context(), forwardingKey{}, fw))
}

// forwarding is a request on its way to another node, for
// ForwardErrorHandler: the call, the response headers set before, and
// whether it goes to the Raft leader.
type forwarding struct {
	c        *call
	header   http.Header
	toLeader bool
}

// forwardingKey carries a *forwarding in a forwarded request's context.
type forwardingKey struct{}

// deadlineWriter bounds each write and flush of a forwarded stream.
type deadlineWriter struct {
	http.ResponseWriter
	rc      *http.ResponseController
	timeout time.Duration
}

func (w *deadlineWriter) Write(p []byte) (int, error) {
	_ = w.rc.SetWriteDeadline(time.Now().Add(w.timeout))
	return w.ResponseWriter.Write(p)
}

func (w *deadlineWriter) FlushError() error {
	_ = w.rc.SetWriteDeadline(time.Now().Add(w.timeout))
	return w.rc.Flush()
}

func (w *deadlineWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// ForwardErrorHandler writes a failure to forward a request (a
// *[cluster.ForwardError]) in the API's error envelope. Set it as the
// ErrorHandler of the [cluster.ForwardConfig] of the server's
// [Config.ClusterForwarder]:
//
//   - no alive, ready node hosts the disruptor: 404 DISRUPTOR_NOT_FOUND;
//   - every owner's circuit breaker is open: 503 PEER_CIRCUIT_OPEN;
//   - the owner could not be reached or failed: 502 PEER_UNAVAILABLE,
//     504 PEER_TIMEOUT when it timed out;
//   - the request was already forwarded: 508 FORWARD_LOOP;
//   - the owner serves plain HTTP and the request came over TLS with
//     credentials, which are not sent in clear text: 502 PEER_UNAVAILABLE.
func ForwardErrorHandler(w http.ResponseWriter, r *http.Request, err error) {
	e := forwardError(err)
	fw, _ := r.Context().Value(forwardingKey{}).(*forwarding)
	if fw == nil { // not forwarded by a Server
		b, _ := json.Marshal(errorBody{Error: e})
		w.Header().Set("Content-Type", formatJSON.contentType())
		w.WriteHeader(e.Status())
		_, _ = w.Write(append(b, '\n'))
		return
	}
	clear(w.Header()) // whatever a failed attempt left
	for k, v := range fw.header {
		w.Header()[k] = v
	}
	if fw.toLeader {
		e = leaderForwardError(r, err, e)
	}
	c := *fw.c
	c.w = w
	c.fail(e)
}

// leaderForwardError maps the failure to forward a change (or consistent
// read) of a replicated disruptor to the Raft leader: the leader may have
// committed a change whose answer was lost, so a change that was sent is
// OUTCOME_UNKNOWN (safe to retry with the same idempotency key), and one
// that was not (the leader's breaker is open, or it left the cluster) is
// NO_QUORUM, as if no leader were known.
func leaderForwardError(r *http.Request, err error, e *Error) *Error {
	sent := !errors.Is(err, cluster.ErrCircuitOpen) && !errors.Is(err, cluster.ErrNoOwner) && !errors.Is(err, cluster.ErrForwardLoop) &&
		!errors.Is(err, cluster.ErrInsecurePeer)
	if sent && r.Method != http.MethodGet && r.Method != http.MethodHead {
		return newError(CodeOutcomeUnknown, "the Raft leader did not answer a change forwarded to it; retry with the same idempotency key", e.Details)
	}
	if errors.Is(err, cluster.ErrForwardLoop) || errors.Is(err, cluster.ErrInsecurePeer) {
		return e // nothing was sent, for a reason the error says
	}
	return newError(CodeNoQuorum, "the Raft leader cannot be reached from this node", e.Details)
}

// forwardError maps a forwarding failure to the API's error.
func forwardError(err error) *Error {
	var fe *cluster.ForwardError
	if !errors.As(err, &fe) {
		return newError(CodePeerUnavailable, "forwarding failed: "+err.Error(), nil)
	}
	d := map[string]any{"disruptor": fe.Disruptor}
	if fe.Peer != "" {
		d["node"] = fe.Peer
	}
	switch {
	case errors.Is(err, cluster.ErrNoOwner):
		return newError(CodeDisruptorNotFound, fmt.Sprintf("no node of the cluster hosts disruptor %q", fe.Disruptor), d)
	case errors.Is(err, cluster.ErrCircuitOpen):
		return newError(CodePeerCircuitOpen, fmt.Sprintf("the nodes hosting %q failed recently and are given time to recover", fe.Disruptor), d)
	case errors.Is(err, cluster.ErrForwardLoop):
		return newError(CodeForwardLoop, "the request was already forwarded by another node", d)
	case errors.Is(err, cluster.ErrInsecurePeer):
		return newError(CodePeerUnavailable, fmt.Sprintf("the node hosting %q serves plain HTTP, and this request came over TLS with credentials, which are never sent in clear text; serve HTTPS on every node (security.tls)", fe.Disruptor), d)
	case fe.Status == http.StatusBadRequest:
		return newError(CodeMalformedBody, "the request body could not be read", d)
	case fe.Status == http.StatusGatewayTimeout:
		return newError(CodePeerTimeout, fmt.Sprintf("the node hosting %q did not answer in time", fe.Disruptor), d)
	}
	return newError(CodePeerUnavailable, fmt.Sprintf("the node hosting %q is unavailable", fe.Disruptor), d)
}

// ---- /api/v1/cluster ----

// joinTimeout bounds POST /api/v1/cluster/join.
const joinTimeout = 15 * time.Second

// clustered returns the cluster hook, or answers CLUSTER_DISABLED.
func (c *call) clustered() *clusterHook {
	if c.s.cluster == nil {
		c.fail(errorf(CodeClusterDisabled, "this server is not clustered (start it with --cluster, or server.cluster_mode: true)"))
	}
	return c.s.cluster
}

func (c *call) clusterMembers() {
	h := c.clustered()
	if h == nil {
		return
	}
	peers := map[string]cluster.PeerStatus{}
	for _, p := range h.fwd.Peers() {
		peers[p.ID+" "+p.URL] = p
	}
	ms := h.node.Members()
	out := ClusterMembers{Members: make([]ClusterMember, len(ms))}
	for i, m := range ms {
		if m.Local {
			out.NodeID = m.ID
		}
		out.Members[i] = toClusterMember(m, peers)
	}
	c.respond(http.StatusOK, out)
}

func toClusterMember(m cluster.Member, peers map[string]cluster.PeerStatus) ClusterMember {
	out := ClusterMember{
		ID:         m.ID,
		GossipAddr: m.Addr,
		State:      m.State.String(),
		Since:      m.Since.UTC(),
		RTTMillis:  float64(m.RTT) / float64(time.Millisecond),
		Local:      m.Local,
		APIAddr:    m.APIAddr,
		APIScheme:  m.APIScheme,
		Version:    m.Version,
		NodeState:  m.Meta.State.String(),
		Disruptors: m.Disruptors,
		Routable:   m.Routable(),
		Tags:       m.Tags,
		MetaError:  m.MetaError,
	}
	if out.Disruptors == nil {
		out.Disruptors = []string{}
	}
	if !m.LastSeen.IsZero() {
		t := m.LastSeen.UTC()
		out.LastSeen = &t
	}
	if !m.StartedAt.IsZero() {
		t := m.StartedAt.UTC()
		out.StartedAt = &t
	}
	scheme := m.APIScheme
	if scheme == "" {
		scheme = "http"
	}
	if p, ok := peers[m.ID+" "+scheme+"://"+m.APIAddr]; ok {
		out.Circuit, out.ForwardFailures = p.Circuit, p.ConsecutiveFailures
	}
	return out
}

func (c *call) clusterHealth() {
	h := c.clustered()
	if h == nil {
		return
	}
	ch := h.node.Health()
	out := ClusterHealth{
		Status:      string(ch.Status),
		NodeID:      ch.NodeID,
		Alive:       ch.Alive,
		Suspect:     ch.Suspect,
		Dead:        ch.Dead,
		Left:        ch.Left,
		HealthScore: ch.HealthScore,
		Problems:    ch.Problems,
		Warnings:    ch.Warnings,
		Timings: ClusterTimings{
			SuspectAfterMS:     ch.Timings.SuspectAfter.Milliseconds(),
			SuspicionTimeoutMS: ch.Timings.SuspicionTimeout.Milliseconds(),
			DeadAfterMS:        ch.Timings.DeadAfter.Milliseconds(),
			ForgetAfterMS:      ch.Timings.ForgetAfter.Milliseconds(),
		},
	}
	if out.Problems == nil {
		out.Problems = []string{}
	}
	if out.Warnings == nil {
		out.Warnings = []string{}
	}
	c.respond(http.StatusOK, out)
}

func (c *call) clusterJoin() {
	h := c.clustered()
	if h == nil {
		return
	}
	var req JoinRequest
	if !c.body(&req) {
		return
	}
	var problems []map[string]any
	if len(req.Addrs) == 0 {
		problems = append(problems, map[string]any{"field": "addrs", "value": "[]", "reason": "must list at least one gossip address"})
	}
	for i, a := range req.Addrs {
		if strings.TrimSpace(a) == "" {
			problems = append(problems, map[string]any{"field": "addrs", "value": a, "reason": "must be host[:port]", "index": i})
		}
	}
	if len(problems) > 0 {
		c.fail(newError(CodeValidation, "invalid join request", map[string]any{"errors": problems}))
		return
	}
	ctx, cancel := context.WithTimeout(c.r.Context(), joinTimeout)
	defer cancel()
	n, err := h.node.Join(ctx, req.Addrs...)
	switch {
	case err == nil:
		c.respond(http.StatusOK, JoinResponse{Contacted: n})
	case errors.Is(err, cluster.ErrNotStarted) || errors.Is(err, cluster.ErrClosed) || h.left.Load():
		c.fail(newError(CodeClusterNotRunning, "this node is not running in the cluster (it left, or has not started)", nil))
	case c.r.Context().Err() != nil:
		c.fail(fromEngine(c.r.Context().Err()))
	default:
		c.fail(newError(CodeClusterJoinFailed, "no address answered: "+err.Error(), map[string]any{"addrs": req.Addrs}))
	}
}

func (c *call) clusterLeave() {
	h := c.clustered()
	if h == nil {
		return
	}
	h.left.Store(true)
	out := LeaveResponse{Status: "left", Warnings: []string{}}
	for _, m := range h.node.Members() {
		if m.Local {
			out.NodeID = m.ID
		}
	}
	if err := h.node.Leave(0); err != nil {
		out.Warnings = append(out.Warnings, err.Error())
	}
	c.s.log.Info("cluster: left", "warnings", out.Warnings)
	c.respond(http.StatusOK, out)
}
