package replication

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/badbatch/badbatch/engine"
)

// testBatch is batch i of publishN: two events, one with metadata, the
// other binary now and then (unless binary is false).
func testBatch(i int, binary bool) *engine.Batch {
	key := fmt.Sprintf("k%d", i)
	return &engine.Batch{IdempotencyKey: key, Events: []engine.Event{
		{Payload: fmt.Appendf(nil, `{"i":%d,"j":0}`, i), Metadata: []engine.Metadata{{Key: "k", Value: key}}},
		{Payload: fmt.Appendf(nil, `{"i":%d,"j":1}`, i), Binary: binary && i%5 == 0},
	}}
}

// publishN publishes batches from to from+n-1 to name through the leader,
// and returns the sequences acknowledged by key.
func publishN(t *testing.T, c *tcluster, name string, from, n int) map[string][]int64 {
	t.Helper()
	acked := make(map[string][]int64, n)
	for i := from; i < from+n; i++ {
		key := fmt.Sprintf("k%d", i)
		seqs, err := c.publish(nil, name, testBatch(i, name != "typed"))
		if err != nil {
			t.Fatalf("publish %s: %v", key, err)
		}
		acked[key] = seqs
	}
	return acked
}

// A follower that was down while the leader compacted its log past it
// catches up from the leader's snapshot (rings that wrapped, one with a
// schema, and the idempotency keys); then the whole cluster restarts and
// recovers from its snapshots and logs, keeping sequences and keys.
func TestRestartCatchesUp(t *testing.T) {
	c := newCluster(t, 3, false, func(cfg *Config) {
		cfg.SnapshotThreshold = 64
		cfg.TrailingLogs = 16
		cfg.SnapshotInterval = 20 * time.Millisecond
	})
	c.create(engine.DisruptorConfig{Name: "small", BufferSize: 256})
	c.create(engine.DisruptorConfig{Name: "typed", BufferSize: 64, Schema: []byte(`{"type":"object","required":["i"]}`)})
	c.create(engine.DisruptorConfig{Name: "big"})
	publishN(t, c, "small", 0, 50)

	down := c.follower()
	c.kill(down)
	acked := publishN(t, c, "small", 50, 400)
	publishN(t, c, "typed", 0, 100)
	publishN(t, c, "big", 0, 300)
	// A paused ring keeps its state through snapshots.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := c.leader().node.SetState(ctx, "big", engine.StatePaused); err != nil {
		t.Fatal(err)
	}
	c.waitCompactedPast(down)

	c.start(down, false)
	waitFor(t, 20*time.Second, down.id+" to restore the leader's snapshot", func() bool {
		return down.node.fsm.restores.Load() > 0
	})
	want := map[string][]stored{}
	for _, name := range []string{"small", "typed", "big"} {
		want[name] = c.waitSame(name, 20*time.Second)
	}
	// The restored ring started at its snapshot's window: it holds the
	// same window as the leader's, counts the same 900 events, and reads
	// below the window as evicted (no placeholder, no empty slot).
	if info, _ := down.eng.Info("small"); info.Oldest != 900-256 || info.Latest != 899 || info.Published != 900 {
		t.Fatalf("small on %s: window %d..%d, published %d; want 644..899 of a wrapped ring of 900 events", down.id, info.Oldest, info.Latest, info.Published)
	}
	checkEvictedBelow(t, down, "small", 900-256)
	if info, _ := down.eng.Info("big"); info.State != engine.StatePaused {
		t.Fatalf("big on %s is %v, want paused", down.id, info.State)
	}

	// Every node restarts, from its own snapshot and log.
	for _, tn := range c.nodes {
		c.kill(tn)
	}
	for _, tn := range c.nodes {
		c.start(tn, false)
	}
	c.waitLeader(20 * time.Second)
	for name, evs := range want {
		if got := c.waitSame(name, 20*time.Second); !slices.Equal(got, evs) {
			t.Fatalf("%s after a full restart: %d events, want the %d from before (first difference at %d)", name, len(got), len(evs), firstDiff(got, evs))
		}
	}
	for _, tn := range c.nodes {
		checkEvictedBelow(t, tn, "small", 900-256)
	}
	// The keys survived: a retry gets the original sequences.
	for _, i := range []int{60, 449} {
		key := fmt.Sprintf("k%d", i)
		b := testBatch(i, true)
		seqs, err := c.publish(nil, "small", b)
		if err != nil || !b.Duplicate || !slices.Equal(seqs, acked[key]) {
			t.Fatalf("retry of %s after restarts: %v %v duplicate=%v, want %v", key, seqs, err, b.Duplicate, acked[key])
		}
	}
	// And sequences go on where they were.
	next := publishN(t, c, "small", 1000, 1)["k1000"]
	if next[0] != 900 {
		t.Fatalf("next sequence after restarts %d, want 900", next[0])
	}
	c.waitSame("small", 20*time.Second)
}

// follower returns a running node that does not lead, once one leads.
func (c *tcluster) follower() *tnode {
	c.t.Helper()
	l := c.waitLeader(10 * time.Second)
	for _, tn := range c.live() {
		if tn != l {
			return tn
		}
	}
	c.t.Fatal("no follower")
	return nil
}

// waitCompactedPast waits until the leader's log starts after what the
// stopped node down had applied, so that it catches up from a snapshot.
func (c *tcluster) waitCompactedPast(down *tnode) {
	c.t.Helper()
	waitFor(c.t, 10*time.Second, "the leader to compact its log past the stopped "+down.id, func() bool {
		l := c.leader()
		if l == nil {
			return false
		}
		first, err := l.node.store.FirstIndex()
		return err == nil && first > down.node.AppliedIndex()+1
	})
}

// checkEvictedBelow checks that tn's ring name reads every sequence below
// oldest as evicted, naming oldest.
func checkEvictedBelow(t *testing.T, tn *tnode, name string, oldest int64) {
	t.Helper()
	var rec engine.Records
	for _, below := range []int64{0, oldest / 2, oldest - 1} {
		var ev *engine.EvictedError
		if _, err := tn.eng.Read(name, below, 10, &rec); !errors.As(err, &ev) || ev.Oldest != oldest || len(rec.Events) != 0 {
			t.Fatalf("%s on %s: read from %d: %d events, %v; want evicted, oldest %d", name, tn.id, below, len(rec.Events), err, oldest)
		}
	}
}

// A follower killed while it installs the leader's snapshot (here in
// the middle of rebuilding its rings from it) and started again from its
// data directory ends up with every ring as the leader has it: the same
// events at the same sequences, the idempotency keys (a retry gets the
// original sequences) and the next sequence.
func TestRestartDuringSnapshotInstall(t *testing.T) {
	c := newCluster(t, 3, true, func(cfg *Config) {
		cfg.SnapshotThreshold = 64
		cfg.TrailingLogs = 16
		cfg.SnapshotInterval = 20 * time.Millisecond
	})
	c.create(engine.DisruptorConfig{Name: "small", BufferSize: 256})
	c.create(engine.DisruptorConfig{Name: "big"})
	publishN(t, c, "small", 0, 50)
	publishN(t, c, "big", 0, 50)

	down := c.follower()
	c.kill(down)
	acked := publishN(t, c, "small", 50, 400)
	publishN(t, c, "big", 50, 300)
	c.waitCompactedPast(down)

	// Start it cut off, so that nothing reaches it before the hook that
	// holds up the install is in place.
	c.start(down, false)
	c.isolate(down)
	hit := make(chan struct{})
	var once sync.Once
	fctx := down.node.fsm.ctx
	restoring := &down.node.fsm.restoring
	down.node.fsm.setFault(func(op, _ string) error {
		if !restoring.Load() || (op != "create" && op != "publish") {
			return nil
		}
		once.Do(func() { close(hit) })
		<-fctx.Done() // held until the node closes
		return fctx.Err()
	})
	c.heal()
	select {
	case <-hit:
	case <-time.After(20 * time.Second):
		t.Fatal("the follower did not start installing the leader's snapshot")
	}
	c.kill(down) // in the middle of the install

	c.start(down, false)
	for _, name := range []string{"small", "big"} {
		c.waitSame(name, 20*time.Second)
	}
	for _, i := range []int{60, 449} {
		key := fmt.Sprintf("k%d", i)
		b := testBatch(i, true)
		seqs, err := c.publish(nil, "small", b)
		if err != nil || !b.Duplicate || !slices.Equal(seqs, acked[key]) {
			t.Fatalf("retry of %s after the interrupted install: %v %v duplicate=%v, want %v", key, seqs, err, b.Duplicate, acked[key])
		}
	}
	if next := publishN(t, c, "small", 1000, 1)["k1000"]; next[0] != 450*2 {
		t.Fatalf("next sequence of small %d, want %d", next[0], 450*2)
	}
	if next := publishN(t, c, "big", 1000, 1)["k1000"]; next[0] != 350*2 {
		t.Fatalf("next sequence of big %d, want %d", next[0], 350*2)
	}
	c.waitSame("small", 20*time.Second)
	c.waitSame("big", 20*time.Second)
}
