package api

import (
	"context"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/raft"

	"github.com/badbatch/badbatch/engine"
	"github.com/badbatch/badbatch/replication"
)

// lateRepl is a ReplicationNode set after the server is made (the node
// needs the server's engine).
type lateRepl struct {
	p atomic.Pointer[replication.Node]
}

func (l *lateRepl) n() *replication.Node                          { return l.p.Load() }
func (l *lateRepl) ID() string                                    { return l.n().ID() }
func (l *lateRepl) Leader() (string, string)                      { return l.n().Leader() }
func (l *lateRepl) AppliedIndex() uint64                          { return l.n().AppliedIndex() }
func (l *lateRepl) ReadIndex(ctx context.Context) (uint64, error) { return l.n().ReadIndex(ctx) }
func (l *lateRepl) WaitApplied(ctx context.Context, i uint64) error {
	return l.n().WaitApplied(ctx, i)
}
func (l *lateRepl) Settle(ctx context.Context) error { return l.n().Settle(ctx) }
func (l *lateRepl) CaughtUp() bool                   { return l.n().CaughtUp() }
func (l *lateRepl) CatchingUp() bool                 { return l.n().CatchingUp() }
func (l *lateRepl) Status() replication.Status       { return l.n().Status() }
func (l *lateRepl) Servers(ctx context.Context) ([]replication.Server, error) {
	return l.n().Servers(ctx)
}
func (l *lateRepl) Create(ctx context.Context, cfg engine.DisruptorConfig, start bool) (engine.Info, error) {
	return l.n().Create(ctx, cfg, start)
}

// TestReplicationReadsRealNode: against a real single-voter Raft group,
// a consistent read of a replicated disruptor runs a barrier on the
// leader and answers with the node's applied index, which covers the
// publish before it; the Raft status endpoint shows the leader.
func TestReplicationReadsRealNode(t *testing.T) {
	lr := &lateRepl{}
	// journaled by default, as badbatch server is: a quorum disruptor is not
	ts := newTestServer(t, withJournal(t), func(e *engine.Config, a *Config) {
		a.Replication = lr
		e.Defaults.Durability = engine.DurabilityJournal
	})
	_, tr := raft.NewInmemTransport("")
	cfg := replication.DefaultConfig()
	cfg.NodeID, cfg.DataDir = "n1", t.TempDir()
	cfg.Bootstrap = []replication.Server{{ID: "n1", Address: string(tr.LocalAddr())}}
	node, err := replication.New(cfg, ts.eng, replication.WithTransport(tr))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = node.Close() })
	lr.p.Store(node)
	for deadline := time.Now().Add(10 * time.Second); !node.IsLeader(); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("no leader")
		}
	}
	if r := ts.do(t, request{method: "POST", path: "/api/v1/disruptors", body: map[string]any{"name": "q", "replication": "quorum"}}); r.status != http.StatusCreated ||
		get(r.v, "durability") != "memory" || get(r.v, "journal") != nil {
		t.Fatalf("create: %d %s (a quorum disruptor's record is the Raft log, not a journal)", r.status, r.body)
	}
	if r := ts.do(t, request{method: "POST", path: "/api/v1/disruptors/q/purge", body: map[string]any{"before": 0}}); r.status != http.StatusConflict || errCode(r) != CodeNotJournaled {
		t.Errorf("purge of a quorum disruptor: %d %s", r.status, r.body)
	}
	// The Raft log numbers a quorum disruptor's events.
	if r := ts.do(t, request{method: "POST", path: "/api/v1/disruptors", body: map[string]any{"name": "q2", "replication": "quorum", "first_sequence": 10}}); r.status != http.StatusBadRequest ||
		errCode(r) != CodeValidation || !strings.Contains(string(r.body), "first_sequence") {
		t.Errorf("quorum create with first_sequence: %d %s", r.status, r.body)
	}
	r := ts.do(t, request{method: "POST", path: "/api/v1/disruptors/q/events", body: map[string]any{"payload": 1}})
	if r.status != http.StatusOK {
		t.Fatalf("publish: %d %s", r.status, r.body)
	}
	published := node.AppliedIndex()
	for _, p := range []string{"/api/v1/disruptors/q/events?consistent=true", "/api/v1/disruptors/q/events/0?consistent=true", "/api/v1/disruptors/q"} {
		r = ts.do(t, request{method: "GET", path: p})
		idx, err := strconv.ParseUint(r.header.Get(HeaderAppliedIndex), 10, 64)
		if r.status != http.StatusOK || err != nil || idx < published {
			t.Errorf("GET %s: %d %q (published at %d) %s", p, r.status, r.header.Get(HeaderAppliedIndex), published, r.body)
		}
	}
	r = ts.do(t, request{method: "GET", path: "/api/v1/cluster/raft"})
	if r.status != http.StatusOK || get(r.v, "state") != "leader" || get(r.v, "leader_id") != "n1" || get(r.v, "servers", 0, "leader") != true {
		t.Errorf("raft status: %d %s", r.status, r.body)
	}
}
