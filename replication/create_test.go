package replication

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/badbatch/badbatch/engine"
	"github.com/badbatch/badbatch/journal"
)

// A replicated disruptor's record is the Raft log: a create that asks
// for a journal (durability, sync or retention) is refused, before
// anything is proposed, rather than created as a memory ring with the
// settings dropped.
func TestCreateRefusesJournal(t *testing.T) {
	c := newCluster(t, 1, true, nil)
	l := c.leader()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	before := l.node.raft.LastIndex()
	for _, cfg := range []engine.DisruptorConfig{
		{Name: "j1", Durability: engine.DurabilityJournal},
		{Name: "j2", Sync: "always"},
		{Name: "j3", Retention: journal.Retention{MaxEvents: 10}},
	} {
		var ce *engine.ConfigError
		if _, err := l.node.Create(ctx, cfg, true); !errors.Is(err, engine.ErrInvalidConfig) || !errors.As(err, &ce) || ce.Field != "durability" {
			t.Errorf("Create(%+v): %v, want ErrInvalidConfig naming durability", cfg, err)
		}
		if l.node.Replicated(cfg.Name) {
			t.Errorf("%s was created", cfg.Name)
		}
	}
	if got := l.node.raft.LastIndex(); got != before {
		t.Errorf("the refused creates cost log entries: last index %d, was %d", got, before)
	}
	if info, err := l.node.Create(ctx, engine.DisruptorConfig{Name: "m", Durability: engine.DurabilityMemory}, true); err != nil || info.Durability != engine.DurabilityMemory {
		t.Fatalf("Create of a memory disruptor: %+v %v", info, err)
	}
}
