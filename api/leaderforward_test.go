package api

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/badbatch/badbatch/cluster"
	"github.com/badbatch/badbatch/engine"
)

// leaderCluster is a ClusterNode and a cluster.Directory of three members:
// n1 (this node), and n3 and n4 serving their APIs at the given test
// servers, ready.
type leaderCluster struct {
	members []cluster.Member
}

func newLeaderCluster(n3, n4 string) *leaderCluster {
	m := func(id, url string) cluster.Member {
		return cluster.Member{ID: id, State: cluster.StateAlive,
			Meta: cluster.Meta{APIAddr: strings.TrimPrefix(url, "http://"), APIScheme: "http", State: cluster.NodeReady}}
	}
	return &leaderCluster{members: []cluster.Member{{ID: "n1", Local: true, State: cluster.StateAlive}, m("n3", n3), m("n4", n4)}}
}

func (c *leaderCluster) Members() []cluster.Member { return c.members }
func (c *leaderCluster) Health() cluster.Health {
	return cluster.Health{Status: cluster.Healthy, Running: true}
}
func (c *leaderCluster) Join(context.Context, ...string) (int, error) { return 0, nil }
func (c *leaderCluster) Leave(time.Duration) error                    { return nil }
func (c *leaderCluster) SetDisruptors([]string) error                 { return nil }
func (c *leaderCluster) LocalID() string                              { return "n1" }
func (c *leaderCluster) Owners(string) []cluster.Member               { return nil }
func (c *leaderCluster) Member(id string) (cluster.Member, bool) {
	for _, m := range c.members {
		if m.ID == id {
			return m, true
		}
	}
	return cluster.Member{}, false
}

// TestLeaderChangeCancelsForward: a change forwarded to a leader that
// froze (it never answers) is not left waiting for the forwarder's 10 s
// response timeout once this node learns of another leader: with an
// Idempotency-Key it is sent to the new leader, which answers; without
// one it is answered OUTCOME_UNKNOWN at once; and when this node is the
// new leader it is handled here. Before, each waited the full 10 s and
// was answered OUTCOME_UNKNOWN.
func TestLeaderChangeCancelsForward(t *testing.T) {
	release := make(chan struct{})
	var mu sync.Mutex
	var got []string // "node key" of each request the leaders received
	record := func(node string, r *http.Request) {
		mu.Lock()
		got = append(got, node+" "+r.Header.Get("Idempotency-Key"))
		mu.Unlock()
	}
	frozen := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		record("n3", r)
		_, _ = io.Copy(io.Discard, r.Body)
		<-release // a leader paused with SIGSTOP
	}))
	defer frozen.Close()
	defer close(release)
	next := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		record("n4", r)
		b, _ := io.ReadAll(r.Body)
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"answered_by":"n4","body":` + string(b) + `}`))
	}))
	defer next.Close()

	lc := newLeaderCluster(frozen.URL, next.URL)
	fcfg := cluster.DefaultForwardConfig()
	fcfg.ErrorHandler = ForwardErrorHandler
	fwd, err := cluster.NewForwarder(lc, fcfg)
	if err != nil {
		t.Fatal(err)
	}
	defer fwd.Close()
	fr := &fakeRepl{rings: map[string]*engine.Ring{}}
	ts := newTestServer(t, func(_ *engine.Config, a *Config) {
		a.Replication = fr
		a.ClusterNode, a.ClusterForwarder = lc, fwd
	})
	fr.eng = ts.eng
	if r := ts.do(t, request{method: "POST", path: "/api/v1/disruptors", body: map[string]any{"name": "q", "replication": "quorum"}}); r.status != http.StatusCreated {
		t.Fatalf("create: %d %s", r.status, r.body)
	}

	for _, c := range []struct {
		name      string
		key       string
		newLeader string // "" is this node
		want      func(r *response) bool
		wantGot   []string
	}{
		{"a keyed publish goes to the new leader", "k1", "n4",
			func(r *response) bool {
				return r.status == 200 && strings.Contains(string(r.body), `"answered_by":"n4"`)
			},
			[]string{"n3 k1", "n4 k1"}},
		{"an unkeyed publish is OUTCOME_UNKNOWN at once", "", "n4",
			func(r *response) bool { return r.status == 503 && errCode(r) == CodeOutcomeUnknown },
			[]string{"n3 "}},
		{"a keyed publish is handled here when this node leads now", "k3", "",
			func(r *response) bool {
				return r.status == 200 && strings.Contains(string(r.body), `"first_sequence":0`)
			},
			[]string{"n3 k3"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			mu.Lock()
			got = nil
			mu.Unlock()
			fr.setLeader("n3")
			start := time.Now()
			go func() {
				// The leader freezes; this node learns of the next one
				// after a heartbeat timeout and an election.
				time.Sleep(500 * time.Millisecond)
				fr.setLeader(c.newLeader)
			}()
			h := map[string]string{}
			if c.key != "" {
				h["Idempotency-Key"] = c.key
			}
			r := ts.do(t, request{method: "POST", path: "/api/v1/disruptors/q/events", header: h, body: map[string]any{"events": []any{map[string]any{"payload": 1}}}})
			took := time.Since(start)
			if !c.want(r) {
				t.Errorf("answer: %d %s", r.status, r.body)
			}
			if took > 5*time.Second {
				t.Errorf("answered after %v: the forward to the frozen leader waited out its timeout", took)
			}
			mu.Lock()
			defer mu.Unlock()
			if strings.Join(got, ",") != strings.Join(c.wantGot, ",") {
				t.Errorf("requests the leaders received: %q, want %q", got, c.wantGot)
			}
			t.Logf("answered %d after %v", r.status, took.Round(time.Millisecond))
		})
	}
}
