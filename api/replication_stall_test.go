package api

import (
	"net/http"
	"testing"
	"time"

	"github.com/hashicorp/raft"

	"github.com/badbatch/badbatch/engine"
	"github.com/badbatch/badbatch/replication"
)

// TestReplicationStallOnLocalName: a follower holding a local disruptor
// "x" stalls applying the create of a replicated "x" (a local condition,
// waited out until it clears). Meanwhile its API still treats "x" as the
// local disruptor, so the operator can delete it, which lets the
// replicated create through; afterwards "x" is the replicated one.
func TestReplicationStallOnLocalName(t *testing.T) {
	lrs := []*lateRepl{{}, {}}
	tss := []*testServer{
		newTestServer(t, func(_ *engine.Config, a *Config) { a.Replication = lrs[0] }),
		newTestServer(t, func(_ *engine.Config, a *Config) { a.Replication = lrs[1] }),
	}
	a1, t1 := raft.NewInmemTransport("")
	a2, t2 := raft.NewInmemTransport("")
	t1.Connect(a2, t2)
	t2.Connect(a1, t1)
	boot := []replication.Server{{ID: "n1", Address: string(a1)}, {ID: "n2", Address: string(a2)}}
	nodes := make([]*replication.Node, 2)
	for i, tr := range []*raft.InmemTransport{t1, t2} {
		cfg := replication.DefaultConfig()
		cfg.NodeID, cfg.DataDir, cfg.Bootstrap = []string{"n1", "n2"}[i], t.TempDir(), boot
		cfg.HeartbeatTimeout, cfg.ElectionTimeout, cfg.LeaderLeaseTimeout = 150*time.Millisecond, 150*time.Millisecond, 150*time.Millisecond
		n, err := replication.New(cfg, tss[i].eng, replication.WithTransport(tr))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = n.Close() })
		lrs[i].p.Store(n)
		nodes[i] = n
	}
	leader, follower := -1, -1
	for deadline := time.Now().Add(10 * time.Second); leader < 0; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("no leader")
		}
		for i, n := range nodes {
			if n.IsLeader() {
				leader, follower = i, 1-i
			}
		}
	}
	L, F := tss[leader], tss[follower]
	if r := F.do(t, request{method: "POST", path: "/api/v1/disruptors", body: map[string]any{"name": "x"}}); r.status != http.StatusCreated {
		t.Fatalf("local create on the follower: %d %s", r.status, r.body)
	}
	if r := L.do(t, request{method: "POST", path: "/api/v1/disruptors", body: map[string]any{"name": "x", "replication": "quorum"}}); r.status != http.StatusCreated {
		t.Fatalf("replicated create on the leader: %d %s", r.status, r.body)
	}
	for deadline := time.Now().Add(5 * time.Second); !nodes[follower].Status().Stalled; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the follower did not stall")
		}
	}
	// The operator removes the local disruptor that holds the name.
	r := F.do(t, request{method: "DELETE", path: "/api/v1/disruptors/x"})
	if r.status != http.StatusNoContent {
		t.Errorf("DELETE of the follower's local x: %d %s (Replicated(x)=%v while stalled)", r.status, r.body, nodes[follower].Replicated("x"))
	}
	for deadline := time.Now().Add(10 * time.Second); nodes[follower].Status().Stalled || !nodes[follower].Replicated("x"); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the follower is still stalled (%v) or x is not replicated there (%v)", nodes[follower].Status().Stalled, nodes[follower].Replicated("x"))
		}
	}
	if info, err := F.eng.Info("x"); err != nil || info.State != engine.StateRunning {
		t.Errorf("the follower's replicated x: %+v %v", info, err)
	}
}
