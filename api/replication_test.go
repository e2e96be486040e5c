package api

import (
	"context"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/badbatch/badbatch/cluster"
	"github.com/badbatch/badbatch/engine"
	"github.com/badbatch/badbatch/replication"
)

// fakeRepl is a ReplicationNode over the test's engine that fails with
// err while it is set.
type fakeRepl struct {
	eng   *engine.Engine
	mu    sync.Mutex
	names map[string]bool
	err   error
	calls int
}

func (f *fakeRepl) fail() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	return f.err
}

func (f *fakeRepl) Replicated(name string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.names[name]
}

func (f *fakeRepl) Leader() (string, string) { return "n2", "127.0.0.1:7947" }

func (f *fakeRepl) Create(_ context.Context, cfg engine.DisruptorConfig, start bool) (engine.Info, error) {
	if err := f.fail(); err != nil {
		return engine.Info{}, err
	}
	info, err := f.eng.Create(cfg, start)
	if err == nil {
		f.mu.Lock()
		f.names[cfg.Name] = true
		f.mu.Unlock()
	}
	return info, err
}

func (f *fakeRepl) SetState(ctx context.Context, name string, to engine.State) (engine.Info, error) {
	if err := f.fail(); err != nil {
		return engine.Info{}, err
	}
	return f.eng.SetState(ctx, name, to)
}

func (f *fakeRepl) Delete(ctx context.Context, name string) error {
	if err := f.fail(); err != nil {
		return err
	}
	return f.eng.Delete(ctx, name)
}

func (f *fakeRepl) Publish(ctx context.Context, name string, b *engine.Batch) ([]int64, error) {
	if err := f.fail(); err != nil {
		return nil, err
	}
	return f.eng.Publish(ctx, name, b)
}

// fakeMembers is a ClusterNode whose member n2 serves its API at
// 10.0.0.2:8080.
type fakeMembers struct{}

func (fakeMembers) Members() []cluster.Member {
	return []cluster.Member{
		{ID: "n1", Local: true, State: cluster.StateAlive},
		{ID: "n2", State: cluster.StateAlive, Meta: cluster.Meta{APIAddr: "10.0.0.2:8080", APIScheme: "http"}},
	}
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

	fr := &fakeRepl{names: map[string]bool{}}
	ts := newTestServer(t, func(_ *engine.Config, a *Config) {
		a.Replication = fr
		a.ClusterNode, a.ClusterForwarder = fakeMembers{}, fakeMembers{}
	})
	fr.eng = ts.eng
	ts.client.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }

	r = ts.do(t, request{method: "POST", path: "/api/v1/disruptors", body: map[string]any{"name": "q", "replication": "quorum"}})
	if r.status != http.StatusCreated || !fr.Replicated("q") {
		t.Fatalf("create quorum: %d %s", r.status, r.body)
	}
	r = ts.do(t, request{method: "POST", path: "/api/v1/disruptors", body: map[string]any{"name": "local", "replication": "none"}})
	if r.status != http.StatusCreated || fr.Replicated("local") {
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
		{method: "POST", path: "/api/v1/disruptors/q/events?x=1", body: map[string]any{"payload": 1}},
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
