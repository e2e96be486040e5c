package replication

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/badbatch/badbatch/engine"
)

func TestDefaultConfigIsValid(t *testing.T) {
	c := DefaultConfig()
	c.NodeID, c.BindAddr, c.DataDir = "n1", "127.0.0.1:7947", t.TempDir()
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
}

func TestConfigValidate(t *testing.T) {
	c := DefaultConfig()
	c.BindAddr = "nowhere"
	c.LeaderLeaseTimeout = 2 * c.HeartbeatTimeout
	c.MaxInflight = 0
	c.Bootstrap = []Server{{ID: "other", Address: "127.0.0.1:1"}, {ID: "other", Address: "127.0.0.1:2"}}
	err := c.Validate()
	if !errors.Is(err, ErrInvalidConfig) {
		t.Fatalf("got %v, want ErrInvalidConfig", err)
	}
	var fields []string
	for _, ce := range ConfigErrors(err) {
		fields = append(fields, ce.Field)
	}
	want := "node_id raft_bind_addr data_dir bootstrap[1] bootstrap leader_lease_timeout max_inflight"
	if got := strings.Join(fields, " "); got != want {
		t.Fatalf("problems with %s, want %s", got, want)
	}
	if _, err := New(c, nil); !errors.Is(err, ErrInvalidConfig) {
		t.Fatalf("New: %v", err)
	}
}

func TestSentinels(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want error
	}{
		{&LeaderError{Err: ErrNotLeader, LeaderID: "n2"}, ErrNotLeader},
		{&LeaderError{Err: ErrNoQuorum}, ErrNoQuorum},
		{&OutcomeError{Cause: context.DeadlineExceeded}, ErrOutcomeUnknown},
		{notReplicated("x"), engine.ErrNotFound},
	} {
		if !errors.Is(tc.err, tc.want) {
			t.Errorf("%v is not %v", tc.err, tc.want)
		}
	}
	oe := &OutcomeError{Cause: context.DeadlineExceeded}
	if !errors.Is(oe, context.DeadlineExceeded) || !errors.Is(oe, ErrOutcomeUnknown) {
		t.Fatal("an OutcomeError matches neither its cause nor ErrOutcomeUnknown")
	}
}

// Concurrent publishes on the leader share log entries, each caller
// getting its own sequences; the metrics show it.
func TestBatchingAndMetrics(t *testing.T) {
	c := newCluster(t, 3, true, func(cfg *Config) { cfg.MaxBatchDelay = 2 * time.Millisecond })
	c.create(engine.DisruptorConfig{Name: "m"})
	l := c.leader()
	var wg sync.WaitGroup
	var mu sync.Mutex
	seen := map[int64]bool{}
	for range 32 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 20 {
				first, err := l.node.Publish(context.Background(), "m", &engine.Batch{Events: []engine.Event{{Payload: []byte(`1`)}, {Payload: []byte(`2`)}}})
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				for _, s := range seqSpan(first, 2) {
					if seen[s] {
						t.Errorf("sequence %d handed out twice", s)
					}
					seen[s] = true
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if len(seen) != 32*20*2 {
		t.Fatalf("%d sequences, want %d", len(seen), 32*20*2)
	}
	c.waitSame("m", 10*time.Second)

	families, err := l.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, mf := range families {
		for _, m := range mf.GetMetric() {
			key := mf.GetName()
			for _, lp := range m.GetLabel() {
				key += "{" + lp.GetName() + "=" + lp.GetValue() + "}"
			}
			switch {
			case m.GetHistogram() != nil:
				got[key+"_count"] = float64(m.GetHistogram().GetSampleCount())
				got[key+"_sum"] = m.GetHistogram().GetSampleSum()
			case m.GetCounter() != nil:
				got[key] = m.GetCounter().GetValue()
			default:
				got[key] = m.GetGauge().GetValue()
			}
		}
	}
	proposals, entries := got["badbatch_replication_entry_proposals_sum"], got["badbatch_replication_entry_proposals_count"]
	t.Logf("%v proposals in %v log entries (%.1f per entry)", proposals, entries, proposals/entries)
	if entries >= proposals {
		t.Errorf("no batching: %v proposals in %v entries", proposals, entries)
	}
	for key, ok := range map[string]bool{
		"badbatch_raft_state{state=leader}":            got["badbatch_raft_state{state=leader}"] == 1,
		"badbatch_raft_state{state=follower}":          got["badbatch_raft_state{state=follower}"] == 0,
		"badbatch_raft_term":                           got["badbatch_raft_term"] >= 1,
		"badbatch_raft_commit_index":                   got["badbatch_raft_commit_index"] >= entries,
		"badbatch_raft_applied_index":                  got["badbatch_raft_applied_index"] >= entries,
		"badbatch_raft_last_index":                     got["badbatch_raft_last_index"] >= entries,
		"badbatch_raft_leader_changes_total":           got["badbatch_raft_leader_changes_total"] >= 1,
		"badbatch_replication_commit_seconds_count":    got["badbatch_replication_commit_seconds_count"] >= 640,
		"badbatch_replication_disruptors":              got["badbatch_replication_disruptors"] == 1,
		"badbatch_replication_fsm_stalled":             got["badbatch_replication_fsm_stalled"] == 0,
		"badbatch_replication_snapshot_restores_total": got["badbatch_replication_snapshot_restores_total"] == 0,
	} {
		if !ok {
			t.Errorf("%s = %v", key, got[key])
		}
	}
	if n, err := testutil.GatherAndCount(c.live()[0].reg); err != nil || n == 0 {
		t.Fatalf("follower metrics: %d, %v", n, err)
	}
}

// The catalog calls: create resolves defaults on the leader, state
// changes and deletes replicate, and refusals are the engine's.
func TestCatalog(t *testing.T) {
	c := newCluster(t, 3, true, nil)
	l := c.leader()
	ctx := context.Background()
	info, err := l.node.Create(ctx, engine.DisruptorConfig{Name: "cat", BufferSize: 64}, false)
	if err != nil || info.State != engine.StateCreated || info.ProducerType != "single" {
		t.Fatalf("Create: %+v, %v", info, err)
	}
	if _, err := l.node.Create(ctx, engine.DisruptorConfig{Name: "cat"}, true); !errors.Is(err, engine.ErrExists) {
		t.Fatalf("second Create: %v", err)
	}
	if _, err := l.node.Create(ctx, engine.DisruptorConfig{Name: "bad", BufferSize: 3}, true); !errors.Is(err, engine.ErrInvalidConfig) {
		t.Fatalf("Create with a bad size: %v", err)
	}
	_, err = l.node.Create(ctx, engine.DisruptorConfig{Name: "far", FirstSequence: 1000}, true)
	if ces := engine.ConfigErrors(err); !errors.Is(err, engine.ErrInvalidConfig) || len(ces) != 1 || ces[0].Field != "first_sequence" {
		t.Fatalf("Create starting at 1000: %v", err)
	}
	if _, err := l.eng.Create(engine.DisruptorConfig{Name: "mine"}, true); err != nil {
		t.Fatal(err)
	}
	if _, err := l.node.Create(ctx, engine.DisruptorConfig{Name: "mine"}, true); !errors.Is(err, engine.ErrExists) {
		t.Fatalf("Create over a local disruptor: %v", err)
	}
	if _, err := l.node.SetState(ctx, "cat", engine.StateRunning); err != nil {
		t.Fatal(err)
	}
	if _, err := l.node.SetState(ctx, "cat", engine.StateCreated); !errors.Is(err, engine.ErrInvalidTransition) {
		t.Fatalf("SetState back to created: %v", err)
	}
	publishN(t, c, "cat", 0, 3)
	c.waitSame("cat", 10*time.Second)
	for _, tn := range c.live() {
		ri, ok := tn.node.Lookup("cat")
		if !ok || ri.State != engine.StateRunning || ri.Config.BufferSize != 64 || ri.Config.WaitStrategy == "" || !tn.node.Replicated("cat") || tn.node.Replicated("mine") {
			t.Fatalf("%s catalog: %+v %v", tn.id, ri, ok)
		}
		if len(tn.node.Disruptors()) != 1 {
			t.Fatalf("%s catalog: %+v", tn.id, tn.node.Disruptors())
		}
	}
	if err := l.node.Delete(ctx, "cat"); err != nil {
		t.Fatal(err)
	}
	if err := l.node.Delete(ctx, "cat"); !errors.Is(err, engine.ErrNotFound) {
		t.Fatalf("second Delete: %v", err)
	}
	waitFor(t, 10*time.Second, "every node to delete cat", func() bool {
		for _, tn := range c.live() {
			if _, err := tn.eng.Info("cat"); err == nil || tn.node.Replicated("cat") {
				return false
			}
		}
		return true
	})
	if _, err := l.eng.Info("mine"); err != nil {
		t.Fatalf("the local disruptor went: %v", err)
	}
}

// Membership changes: a non-voter joins and gets the log, is promoted,
// and a server is removed; followers refuse membership changes.
func TestMembership(t *testing.T) {
	c := newCluster(t, 3, true, nil)
	c.create(engine.DisruptorConfig{Name: "m"})
	publishN(t, c, "m", 0, 10)
	fourth := &tnode{i: 3, id: "n4", addr: "n4", dir: t.TempDir()}
	c.mu.Lock()
	c.nodes = append(c.nodes, fourth)
	c.mu.Unlock()
	c.start(fourth, false)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	// Each change goes to whoever leads (again if an election on a
	// loaded machine moves the leadership meanwhile).
	c.onLeader("AddNonvoter(n4)", func(l *tnode) error { return l.node.AddNonvoter(ctx, "n4", "n4") })
	c.waitSame("m", 10*time.Second)
	l := c.waitLeader(10 * time.Second) // n4 knows it too once it is in the configuration
	servers, err := l.node.Servers(ctx)
	if err != nil || len(servers) != 4 || !servers[3].Nonvoter || servers[3].ID != "n4" {
		t.Fatalf("Servers: %+v, %v", servers, err)
	}
	// A follower (one of the three voters) refuses a change.
	var follower *tnode
	for _, tn := range c.live() {
		if tn != l && tn != fourth {
			follower = tn
			break
		}
	}
	if err := follower.node.RemoveServer(ctx, "n4"); !errors.Is(err, ErrNotLeader) && !errors.Is(err, ErrNoQuorum) {
		t.Fatalf("RemoveServer on a follower: %v", err)
	}
	c.onLeader("AddVoter(n4)", func(l *tnode) error { return l.node.AddVoter(ctx, "n4", "n4") })
	// Remove a voter that is not the leader when the change is made.
	c.onLeader("RemoveServer", func(l *tnode) error {
		if follower == l {
			for _, tn := range c.live() {
				if tn != l && tn != fourth {
					follower = tn
					break
				}
			}
		}
		return l.node.RemoveServer(ctx, follower.id)
	})
	waitFor(t, 10*time.Second, "the configuration to settle", func() bool {
		s, err := c.leader().node.Servers(ctx)
		return err == nil && len(s) == 3
	})
	c.kill(follower)
	publishN(t, c, "m", 10, 10)
	if evs := c.waitSame("m", 10*time.Second); len(evs) != 40 {
		t.Fatalf("%d events, want 40", len(evs))
	}
	st := fourth.node.Status()
	if st.ID != "n4" || st.State != "follower" || st.AppliedIndex == 0 || st.LeaderID == "" {
		t.Fatalf("status of n4: %+v", st)
	}
}

// After Close every call says so, and a publish whose ctx ends before it
// is proposed is not proposed.
func TestCloseAndCancel(t *testing.T) {
	c := newCluster(t, 1, true, nil)
	c.create(engine.DisruptorConfig{Name: "x"})
	l := c.leader()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := l.node.Publish(ctx, "x", &engine.Batch{Events: []engine.Event{{Payload: []byte(`1`)}}}); err == nil {
		t.Fatal("a publish with a cancelled ctx succeeded")
	} else if !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled publish: %v", err)
	}
	if _, err := l.node.Publish(context.Background(), "x", &engine.Batch{}); !errors.Is(err, engine.ErrEmptyBatch) {
		t.Fatalf("empty batch: %v", err)
	}
	if err := l.node.TransferLeadership(context.Background()); err == nil {
		t.Fatal("a single node handed its leadership over")
	}
	c.kill(l)
	if _, err := l.node.Publish(context.Background(), "x", &engine.Batch{Events: []engine.Event{{Payload: []byte(`1`)}}}); !errors.Is(err, ErrClosed) {
		t.Fatalf("publish after Close: %v", err)
	}
	if err := l.node.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
}
