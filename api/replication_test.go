package api

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/badbatch/badbatch/cluster"
	"github.com/badbatch/badbatch/engine"
	"github.com/badbatch/badbatch/replication"
)

// fakeRepl is a ReplicationNode over the test's engine: the disruptors
// it creates are owned by it, and their writer fails with err while it is
// set, else changes the ring at once (a one-node group that commits at
// once).
type fakeRepl struct {
	eng   *engine.Engine
	mu    sync.Mutex
	rings map[string]*engine.Ring
	err   error
	calls int
	// readErr is what ReadIndex returns; reads counts its calls.
	readErr error
	reads   int
	// leader is the leader's id; "" stands for this node, n1.
	leader string
}

func (f *fakeRepl) ID() string { return "n1" }

func (f *fakeRepl) AppliedIndex() uint64 { return 42 }

func (f *fakeRepl) WaitApplied(_ context.Context, index uint64) error {
	if index > 42 {
		return context.DeadlineExceeded
	}
	return nil
}

func (f *fakeRepl) Settle(context.Context) error { return nil }

func (f *fakeRepl) CaughtUp() bool { return true }

func (f *fakeRepl) CatchingUp() bool { return false }

// setRead sets readErr and returns the reads counted so far, resetting
// them when reset.
func (f *fakeRepl) setRead(err error, reset bool) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := f.reads
	f.readErr = err
	if reset {
		f.reads = 0
	}
	return n
}

func (f *fakeRepl) readCount() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.reads
}

func (f *fakeRepl) ReadIndex(context.Context) (uint64, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.reads++
	return 42, f.readErr
}

func (f *fakeRepl) Status() replication.Status {
	return replication.Status{ID: "n1", Address: "127.0.0.1:7946", State: "follower", LeaderID: "n2", LeaderAddr: "127.0.0.1:7947",
		Term: 3, CommitIndex: 42, AppliedIndex: 42, LastIndex: 43, CaughtUp: true}
}

func (f *fakeRepl) Servers(context.Context) ([]replication.Server, error) {
	return []replication.Server{{ID: "n1", Address: "127.0.0.1:7946"}, {ID: "n2", Address: "127.0.0.1:7947"}}, nil
}

func (f *fakeRepl) fail() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	return f.err
}

func (f *fakeRepl) replicated(name string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.rings[name] != nil
}

func (f *fakeRepl) Leader() (string, string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.leader == "" {
		return "n1", "127.0.0.1:7946"
	}
	return f.leader, "127.0.0.1:7947"
}

func (f *fakeRepl) setLeader(id string) {
	f.mu.Lock()
	f.leader = id
	f.mu.Unlock()
}

func (f *fakeRepl) Create(_ context.Context, cfg engine.DisruptorConfig, start bool) (engine.Info, error) {
	if err := f.fail(); err != nil {
		return engine.Info{}, err
	}
	r, err := f.eng.CreateOwned(cfg, &fakeWriter{f: f, name: cfg.Name})
	if err != nil {
		return engine.Info{}, err
	}
	f.mu.Lock()
	f.rings[cfg.Name] = r
	f.mu.Unlock()
	if start {
		return r.SetState(context.Background(), engine.StateRunning)
	}
	return r.Info(), nil
}

// fakeWriter is the writer of a fakeRepl's disruptor.
type fakeWriter struct {
	f    *fakeRepl
	name string
}

func (w *fakeWriter) ring() *engine.Ring {
	w.f.mu.Lock()
	defer w.f.mu.Unlock()
	return w.f.rings[w.name]
}

func (w *fakeWriter) Publish(ctx context.Context, b *engine.Batch) (int64, error) {
	if err := w.f.fail(); err != nil {
		return 0, err
	}
	return w.ring().Publish(ctx, b)
}

func (w *fakeWriter) SetState(ctx context.Context, to engine.State) (engine.Info, error) {
	if err := w.f.fail(); err != nil {
		return engine.Info{}, err
	}
	return w.ring().SetState(ctx, to)
}

func (w *fakeWriter) Delete(ctx context.Context) error {
	if err := w.f.fail(); err != nil {
		return err
	}
	w.f.mu.Lock()
	r := w.f.rings[w.name]
	delete(w.f.rings, w.name)
	w.f.mu.Unlock()
	return r.Delete(ctx)
}

// fakeMembers is a ClusterNode whose member n2 serves its API at
// 10.0.0.2:8080 (not ready, so not routable) and n3 at 10.0.0.3:8080,
// and a ClusterForwarder whose ForwardTo answers 202 naming the member.
type fakeMembers struct{}

func (fakeMembers) Members() []cluster.Member {
	return []cluster.Member{
		{ID: "n1", Local: true, State: cluster.StateAlive},
		{ID: "n2", State: cluster.StateAlive, Meta: cluster.Meta{APIAddr: "10.0.0.2:8080", APIScheme: "http"}},
		{ID: "n3", State: cluster.StateAlive, Meta: cluster.Meta{APIAddr: "10.0.0.3:8080", APIScheme: "http", State: cluster.NodeReady, Disruptors: []string{"both"}}},
		{ID: "n4", State: cluster.StateAlive, Meta: cluster.Meta{APIAddr: "10.0.0.4:8080", APIScheme: "http", State: cluster.NodeReady, Disruptors: []string{"both", "theirs"}}},
	}
}

func (fakeMembers) ForwardTo(w http.ResponseWriter, r *http.Request, disruptor, id string) {
	w.Header().Set("X-Forwarded-To", id+" "+disruptor)
	w.Header().Set("X-Forwarded-Type", r.Header.Get("Content-Type"))
	w.WriteHeader(http.StatusAccepted)
	_, _ = io.Copy(w, r.Body)
}
func (fakeMembers) Health() cluster.Health                             { return cluster.Health{Status: cluster.Healthy} }
func (fakeMembers) Join(context.Context, ...string) (int, error)       { return 0, nil }
func (fakeMembers) Leave(time.Duration) error                          { return nil }
func (fakeMembers) SetDisruptors([]string) error                       { return nil }
func (fakeMembers) Forward(http.ResponseWriter, *http.Request, string) {}
func (fakeMembers) Peers() []cluster.PeerStatus                        { return nil }

// TestReplicationRouting: "replication": "quorum" creates through the
// replication node, and its state changes, deletes and publishes go
// through it; NOT_LEADER is a 307 to the leader's API, NO_QUORUM and
// OUTCOME_UNKNOWN 503s with Retry-After; local disruptors are untouched.
func TestReplicationRouting(t *testing.T) {
	// Without replication, quorum is refused.
	plain := newTestServer(t)
	r := plain.do(t, request{method: "POST", path: "/api/v1/disruptors", body: map[string]any{"name": "q", "replication": "quorum"}})
	if r.status != http.StatusBadRequest || errCode(r) != CodeValidation || !strings.Contains(string(r.body), "replication") {
		t.Fatalf("quorum without replication: %d %s", r.status, r.body)
	}
	r = plain.do(t, request{method: "POST", path: "/api/v1/disruptors", body: map[string]any{"name": "q", "replication": "all"}})
	if r.status != http.StatusBadRequest || !strings.Contains(string(r.body), `"field":"replication"`) {
		t.Fatalf("bad replication: %d %s", r.status, r.body)
	}

	fr := &fakeRepl{rings: map[string]*engine.Ring{}}
	ts := newTestServer(t, func(_ *engine.Config, a *Config) {
		a.Replication = fr
		a.ClusterNode, a.ClusterForwarder = fakeMembers{}, fakeMembers{}
	})
	fr.eng = ts.eng
	ts.client.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }

	r = ts.do(t, request{method: "POST", path: "/api/v1/disruptors", body: map[string]any{"name": "q", "replication": "quorum"}})
	if r.status != http.StatusCreated || !fr.replicated("q") {
		t.Fatalf("create quorum: %d %s", r.status, r.body)
	}
	r = ts.do(t, request{method: "POST", path: "/api/v1/disruptors", body: map[string]any{"name": "local", "replication": "none"}})
	if r.status != http.StatusCreated || fr.replicated("local") {
		t.Fatalf("create none: %d %s", r.status, r.body)
	}
	before := fr.calls
	r = ts.do(t, request{method: "POST", path: "/api/v1/disruptors/q/events", body: map[string]any{"payload": 1}})
	if r.status != http.StatusOK || fr.calls != before+1 {
		t.Fatalf("publish quorum: %d %s (calls %d)", r.status, r.body, fr.calls-before)
	}
	r = ts.do(t, request{method: "POST", path: "/api/v1/disruptors/local/events", body: map[string]any{"payload": 1}})
	if r.status != http.StatusOK || fr.calls != before+1 {
		t.Fatalf("publish local went through replication: %d %s", r.status, r.body)
	}

	cases := []struct {
		err    error
		status int
		code   string
	}{
		{&replication.LeaderError{Err: replication.ErrNotLeader, LeaderID: "n2", LeaderAddr: "127.0.0.1:7947"}, http.StatusTemporaryRedirect, CodeNotLeader},
		{&replication.LeaderError{Err: replication.ErrNotLeader, LeaderID: "n9"}, http.StatusServiceUnavailable, CodeNoQuorum},
		{&replication.LeaderError{Err: replication.ErrNoQuorum}, http.StatusServiceUnavailable, CodeNoQuorum},
		{&replication.OutcomeError{Cause: context.DeadlineExceeded}, http.StatusServiceUnavailable, CodeOutcomeUnknown},
	}
	reqs := []request{
		{method: "POST", path: "/api/v1/disruptors/q/events", body: map[string]any{"payload": 1}},
		{method: "PUT", path: "/api/v1/disruptors/q/state", body: map[string]any{"state": "paused"}},
		{method: "DELETE", path: "/api/v1/disruptors/q"},
		{method: "POST", path: "/api/v1/disruptors", body: map[string]any{"name": "q2", "replication": "quorum"}},
	}
	for _, c := range cases {
		fr.mu.Lock()
		fr.err = c.err
		fr.mu.Unlock()
		for _, rq := range reqs {
			r := ts.do(t, rq)
			if r.status != c.status || errCode(r) != c.code {
				t.Errorf("%s %s with %v: %d %s", rq.method, rq.path, c.err, r.status, r.body)
				continue
			}
			switch c.code {
			case CodeNotLeader:
				if loc := r.header.Get("Location"); loc != "http://10.0.0.2:8080"+strings.SplitN(rq.path, "#", 2)[0] {
					t.Errorf("%s %s: Location %q", rq.method, rq.path, loc)
				}
			default:
				if r.header.Get("Retry-After") == "" {
					t.Errorf("%s %s: no Retry-After", rq.method, rq.path)
				}
			}
		}
	}
	// In a multi-disruptor publish the error is the batch's.
	r = ts.do(t, request{method: "POST", path: "/api/v1/events", body: map[string]any{"batches": []any{
		map[string]any{"disruptor": "q", "events": []any{map[string]any{"payload": 1}}}}}})
	if r.status != http.StatusMultiStatus || get(r.v, "results", 0, "error", "code") != CodeOutcomeUnknown {
		t.Errorf("multi: %d %s", r.status, r.body)
	}
}

// TestReplicationForwardsToLeader: on a follower, a change of a
// replicated disruptor and a consistent read go to the Raft leader through
// the forwarder, without touching the local replication node; plain reads
// and local disruptors stay here, and a forwarded request is answered here.
func TestReplicationForwardsToLeader(t *testing.T) {
	fr := &fakeRepl{rings: map[string]*engine.Ring{}}
	ts := newTestServer(t, func(_ *engine.Config, a *Config) {
		a.Replication = fr
		a.ClusterNode, a.ClusterForwarder = fakeMembers{}, fakeMembers{}
	})
	fr.eng = ts.eng
	for _, body := range []map[string]any{{"name": "q", "replication": "quorum"}, {"name": "local"}} {
		if r := ts.do(t, request{method: "POST", path: "/api/v1/disruptors", body: body}); r.status != http.StatusCreated {
			t.Fatalf("create: %d %s", r.status, r.body)
		}
	}
	fr.setLeader("n3")
	before := fr.calls
	for _, rq := range []request{
		{method: "POST", path: "/api/v1/disruptors/q/events", body: map[string]any{"payload": 1}},
		{method: "POST", path: "/api/v1/disruptors/q/events", body: map[string]any{"events": []any{map[string]any{"payload": 1}}}},
		{method: "PUT", path: "/api/v1/disruptors/q/state", body: map[string]any{"state": "paused"}},
		{method: "DELETE", path: "/api/v1/disruptors/q"},
		{method: "GET", path: "/api/v1/disruptors/q?consistent=true"},
	} {
		r := ts.do(t, rq)
		if r.status != http.StatusAccepted || r.header.Get("X-Forwarded-To") != "n3 q" {
			t.Errorf("%s %s: %d %q %s", rq.method, rq.path, r.status, r.header.Get("X-Forwarded-To"), r.body)
		}
	}
	// A create of a quorum disruptor: its body was read, so it goes on as
	// JSON, whatever the client sent.
	r := ts.do(t, request{method: "POST", path: "/api/v1/disruptors", f: formatYAML,
		body: map[string]any{"name": "q3", "replication": "quorum", "buffer_size": 64, "schema": map[string]any{"type": "object"}}})
	var fwd CreateRequest
	if err := json.Unmarshal(r.body, &fwd); err != nil || r.status != http.StatusAccepted || r.header.Get("X-Forwarded-To") != "n3 q3" ||
		r.header.Get("X-Forwarded-Type") != "application/json" || fwd.Name != "q3" || fwd.BufferSize != 64 || fwd.Replication != "quorum" || fwd.Schema == nil {
		t.Errorf("create through a follower: %d %q %v %s", r.status, r.header.Get("X-Forwarded-To"), err, r.body)
	}
	// A disruptor this node does not know may be one the leader created
	// and this node has not applied yet: the leader answers.
	if r := ts.do(t, request{method: "POST", path: "/api/v1/disruptors/new/events", body: map[string]any{"payload": 1}}); r.status != http.StatusAccepted || r.header.Get("X-Forwarded-To") != "n3 new" {
		t.Errorf("publish to an unknown disruptor: %d %q %s", r.status, r.header.Get("X-Forwarded-To"), r.body)
	}
	// A name another node advertises is its local disruptor, for the
	// owner forwarding; unless the leader advertises it too.
	if r := ts.do(t, request{method: "POST", path: "/api/v1/disruptors/theirs/events", body: map[string]any{"payload": 1}}); r.header.Get("X-Forwarded-To") != "" {
		t.Errorf("publish to n4's disruptor went to the leader: %d %s", r.status, r.body)
	}
	if r := ts.do(t, request{method: "POST", path: "/api/v1/disruptors/both/events", body: map[string]any{"payload": 1}}); r.header.Get("X-Forwarded-To") != "n3 both" {
		t.Errorf("publish to a name the leader advertises: %d %q %s", r.status, r.header.Get("X-Forwarded-To"), r.body)
	}
	if fr.calls != before || fr.readCount() != 0 {
		t.Errorf("forwarded requests reached the local node: %d calls, %d barriers", fr.calls-before, fr.readCount())
	}
	for _, rq := range []request{
		{method: "GET", path: "/api/v1/disruptors/q"},
		{method: "POST", path: "/api/v1/disruptors/local/events", body: map[string]any{"payload": 1}},
		{method: "POST", path: "/api/v1/disruptors/q/events", body: map[string]any{"payload": 1}, header: map[string]string{cluster.HeaderForwardedBy: "n2"}},
	} {
		if r := ts.do(t, rq); r.status != http.StatusOK || r.header.Get("X-Forwarded-To") != "" {
			t.Errorf("%s %s: %d %q %s", rq.method, rq.path, r.status, r.header.Get("X-Forwarded-To"), r.body)
		}
	}
	// A leader that is not routable (n2 is not ready) is not forwarded to.
	fr.setLeader("n2")
	if r := ts.do(t, request{method: "POST", path: "/api/v1/disruptors/q/events", body: map[string]any{"payload": 1}}); r.status != http.StatusOK || r.header.Get("X-Forwarded-To") != "" {
		t.Errorf("publish with an unroutable leader: %d %s", r.status, r.body)
	}
}

// TestReplicationReads: reads of a replicated disruptor (get, replay, get
// event) carry X-Raft-Applied-Index; ?consistent=true runs a barrier
// first, and a follower answers it with the 307 NOT_LEADER of publishes;
// local disruptors carry no header and run no barrier.
func TestReplicationReads(t *testing.T) {
	fr := &fakeRepl{rings: map[string]*engine.Ring{}}
	ts := newTestServer(t, func(_ *engine.Config, a *Config) {
		a.Replication = fr
		a.ClusterNode, a.ClusterForwarder = fakeMembers{}, fakeMembers{}
	})
	fr.eng = ts.eng
	ts.client.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	for _, body := range []map[string]any{{"name": "q", "replication": "quorum"}, {"name": "local"}} {
		if r := ts.do(t, request{method: "POST", path: "/api/v1/disruptors", body: body}); r.status != http.StatusCreated {
			t.Fatalf("create: %d %s", r.status, r.body)
		}
		if r := ts.do(t, request{method: "POST", path: "/api/v1/disruptors/" + body["name"].(string) + "/events", body: map[string]any{"payload": 1}}); r.status != http.StatusOK {
			t.Fatalf("publish: %d %s", r.status, r.body)
		}
	}
	paths := []string{"/api/v1/disruptors/%s", "/api/v1/disruptors/%s/events", "/api/v1/disruptors/%s/events/0"}
	for _, p := range paths {
		q := strings.Replace(p, "%s", "q", 1)
		r := ts.do(t, request{method: "GET", path: q})
		if r.status != http.StatusOK || r.header.Get(HeaderAppliedIndex) != "42" || fr.readCount() != 0 {
			t.Errorf("GET %s: %d %q barriers %d %s", q, r.status, r.header.Get(HeaderAppliedIndex), fr.readCount(), r.body)
		}
		r = ts.do(t, request{method: "GET", path: q + "?consistent=true"})
		if r.status != http.StatusOK || r.header.Get(HeaderAppliedIndex) != "42" || fr.readCount() != 1 {
			t.Errorf("GET %s consistent: %d %q barriers %d %s", q, r.status, r.header.Get(HeaderAppliedIndex), fr.readCount(), r.body)
		}
		fr.setRead(&replication.LeaderError{Err: replication.ErrNotLeader, LeaderID: "n2", LeaderAddr: "127.0.0.1:7947"}, false)
		r = ts.do(t, request{method: "GET", path: q + "?consistent=true"})
		if r.status != http.StatusTemporaryRedirect || errCode(r) != CodeNotLeader || r.header.Get("Location") != "http://10.0.0.2:8080"+q+"?consistent=true" {
			t.Errorf("GET %s consistent on a follower: %d %q %s", q, r.status, r.header.Get("Location"), r.body)
		}
		fr.setRead(&replication.LeaderError{Err: replication.ErrNoQuorum}, false)
		r = ts.do(t, request{method: "GET", path: q + "?consistent=true"})
		if r.status != http.StatusServiceUnavailable || errCode(r) != CodeNoQuorum {
			t.Errorf("GET %s consistent without a leader: %d %s", q, r.status, r.body)
		}
		fr.setRead(nil, true)
		r = ts.do(t, request{method: "GET", path: q + "?consistent=maybe"})
		if r.status != http.StatusBadRequest || errCode(r) != CodeInvalidParameter {
			t.Errorf("GET %s consistent=maybe: %d %s", q, r.status, r.body)
		}
		l := strings.Replace(p, "%s", "local", 1)
		r = ts.do(t, request{method: "GET", path: l + "?consistent=true"})
		if r.status != http.StatusOK || r.header.Get(HeaderAppliedIndex) != "" || fr.readCount() != 0 {
			t.Errorf("GET %s: %d %q barriers %d %s", l, r.status, r.header.Get(HeaderAppliedIndex), fr.readCount(), r.body)
		}
	}
	// A live tail says the applied index it starts from, and with
	// consistent=true starts after a barrier (HEAD: the headers only).
	fr.setRead(nil, true)
	r := ts.do(t, request{method: "HEAD", path: "/api/v1/disruptors/q/events/stream"})
	if r.status != http.StatusOK || r.header.Get(HeaderAppliedIndex) != "42" || fr.readCount() != 0 {
		t.Errorf("stream: %d %q barriers %d", r.status, r.header.Get(HeaderAppliedIndex), fr.readCount())
	}
	r = ts.do(t, request{method: "HEAD", path: "/api/v1/disruptors/q/events/stream?consistent=true"})
	if r.status != http.StatusOK || r.header.Get(HeaderAppliedIndex) != "42" || fr.readCount() != 1 {
		t.Errorf("consistent stream: %d %q barriers %d", r.status, r.header.Get(HeaderAppliedIndex), fr.readCount())
	}
	fr.setRead(&replication.LeaderError{Err: replication.ErrNoQuorum}, false)
	r = ts.do(t, request{method: "GET", path: "/api/v1/disruptors/q/events/stream?consistent=true"})
	if r.status != http.StatusServiceUnavailable || errCode(r) != CodeNoQuorum {
		t.Errorf("consistent stream without a leader: %d %s", r.status, r.body)
	}
	fr.setRead(nil, true)
}

// TestClusterRaft: GET /api/v1/cluster/raft is the node's Raft status
// with its servers; a server that does not replicate answers
// CLUSTER_DISABLED.
func TestClusterRaft(t *testing.T) {
	plain := newTestServer(t)
	if r := plain.do(t, request{method: "GET", path: "/api/v1/cluster/raft"}); r.status != http.StatusNotFound || errCode(r) != CodeClusterDisabled {
		t.Errorf("without replication: %d %s", r.status, r.body)
	}
	fr := &fakeRepl{rings: map[string]*engine.Ring{}}
	ts := newTestServer(t, func(_ *engine.Config, a *Config) {
		a.Replication = fr
		a.ClusterNode, a.ClusterForwarder = fakeMembers{}, fakeMembers{}
	})
	fr.eng = ts.eng
	r := ts.do(t, request{method: "GET", path: "/api/v1/cluster/raft"})
	if r.status != http.StatusOK || r.header.Get(HeaderAppliedIndex) != "42" {
		t.Fatalf("raft: %d %s", r.status, r.body)
	}
	var st RaftStatus
	if err := json.Unmarshal(r.body, &st); err != nil {
		t.Fatal(err)
	}
	want := RaftStatus{NodeID: "n1", RaftAddr: "127.0.0.1:7946", State: "follower", LeaderID: "n2", LeaderRaftAddr: "127.0.0.1:7947",
		Term: 3, CommitIndex: 42, AppliedIndex: 42, LastIndex: 43, Servers: []RaftServer{
			{ID: "n1", RaftAddr: "127.0.0.1:7946", Suffrage: "voter", Local: true},
			{ID: "n2", RaftAddr: "127.0.0.1:7947", Suffrage: "voter", Leader: true}}}
	if diff := cmp.Diff(want, st); diff != "" {
		t.Errorf("raft status (-want +got):\n%s", diff)
	}
	r = ts.do(t, request{method: "GET", path: "/api/v1/cluster/raft", accept: formatYAML})
	if r.status != http.StatusOK || !strings.Contains(string(r.body), "applied_index: 42") {
		t.Errorf("raft as YAML: %d %s", r.status, r.body)
	}
}
