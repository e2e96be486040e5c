package replication

import (
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/badbatch/badbatch/engine"
)

// An idempotency key is recognised after the leader that took its batch
// is killed, by the next leader and by a node restarted from its
// snapshot and log, with the first publish's sequences; and a window
// holding its maximum of keys stays full on every node (a new key is
// refused with DEDUP_WINDOW_FULL) rather than forgetting a key inside
// the window. The window and its bound are the creating leader's, in the
// log: a node whose own engine has other settings keeps the same table.
func TestDedupAcrossFailover(t *testing.T) {
	const max = 16
	c := newClusterEngine(t, 3, true, func(cfg *Config) {
		cfg.SnapshotThreshold = 8
		cfg.TrailingLogs = 4
		cfg.SnapshotInterval = 20 * time.Millisecond
	}, func(ec *engine.Config) {
		ec.DedupWindow, ec.DedupMaxKeys = time.Hour, max
	})
	c.create(engine.DisruptorConfig{Name: "d"})
	batch := func(i int) *engine.Batch {
		return &engine.Batch{IdempotencyKey: fmt.Sprintf("k%d", i), Events: []engine.Event{
			{Payload: fmt.Appendf(nil, `"%d-a"`, i)}, {Payload: fmt.Appendf(nil, `"%d-b"`, i)}}}
	}
	acked := map[int][]int64{}
	for i := range max {
		seqs, err := c.publish(nil, "d", batch(i))
		if err != nil {
			t.Fatal(err)
		}
		acked[i] = seqs
	}
	// Unkeyed publishes go on while the window is full.
	if _, err := c.publish(nil, "d", &engine.Batch{Events: []engine.Event{{Payload: []byte(`"free"`)}}}); err != nil {
		t.Fatal(err)
	}
	check := func(when string, retry, fresh int) {
		t.Helper()
		b := batch(retry)
		seqs, err := c.publish(nil, "d", b)
		if err != nil || !b.Duplicate || !slices.Equal(seqs, acked[retry]) {
			t.Fatalf("%s: retry of k%d: %v %v duplicate=%v, want %v", when, retry, seqs, err, b.Duplicate, acked[retry])
		}
		var full *engine.DedupFullError
		if seqs, err := c.publish(nil, "d", batch(fresh)); !errors.As(err, &full) || full.Keys != max {
			t.Fatalf("%s: new key k%d in a full window: %v %v, want DEDUP_WINDOW_FULL of %d keys", when, fresh, seqs, err, max)
		}
	}
	check("before any failover", 0, 100)
	first := c.waitLeader(10 * time.Second)
	c.kill(first)
	check("on the next leader", 1, 101)
	// The killed node comes back from its snapshot and log, and leads
	// once the leader after it is killed too.
	c.start(first, false)
	c.waitSame("d", 20*time.Second)
	second := c.waitLeader(10 * time.Second)
	c.kill(second)
	check("after a second failover", max-1, 102)
	c.start(second, false)
	evs := c.waitSame("d", 20*time.Second)
	if len(evs) != 2*max+1 {
		t.Fatalf("%d events, want %d: a retry or a refused key was published", len(evs), 2*max+1)
	}
	restores := int64(0)
	for _, tn := range c.live() {
		restores += tn.node.fsm.restores.Load()
	}
	t.Logf("snapshot restores across the nodes' last lives: %d", restores)
}
