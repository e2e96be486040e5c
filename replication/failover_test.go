package replication

import (
	"testing"
	"time"

	"github.com/badbatch/badbatch/engine"
)

// The leader is killed while several goroutines publish: afterwards every
// acknowledged event is on the survivors exactly once, and publishing
// resumed on a new leader.
func TestLeaderKilledUnderLoad(t *testing.T) {
	c := newCluster(t, 3, true, nil)
	c.create(engine.DisruptorConfig{Name: "stream"})
	ld := startLoad(c, "stream", 4)
	ld.waitAcks(t, 200, 20*time.Second)

	old := c.leader()
	t0 := time.Now()
	c.kill(old)
	first := ld.firstAckAfter(t, t0, old.id, 20*time.Second)
	t.Logf("failover: leader %s killed; %s acknowledged the first publish %v later", old.id, first.via, first.at.Sub(t0).Round(time.Millisecond))
	ld.waitAcks(t, ld.count()+200, 20*time.Second)
	ld.halt()

	ld.verify(t, c.waitSame("stream", 20*time.Second))
}

// Leaders are killed one after another under load, each restarted (from
// its log and snapshots, with a fresh engine) before the next kill, with
// snapshots frequent enough that restarts restore them: nothing
// acknowledged is lost or duplicated, and every node ends up identical.
func TestRepeatedLeaderKills(t *testing.T) {
	rounds := 20
	if testing.Short() {
		rounds = 5
	}
	c := newCluster(t, 3, true, func(cfg *Config) {
		cfg.SnapshotThreshold = 128
		cfg.TrailingLogs = 32
	})
	c.create(engine.DisruptorConfig{Name: "stream"})
	ld := startLoad(c, "stream", 4)
	var worst, total time.Duration
	for r := range rounds {
		ld.waitAcks(t, ld.count()+50, 20*time.Second)
		old := c.waitLeader(20 * time.Second)
		t0 := time.Now()
		c.kill(old)
		first := ld.firstAckAfter(t, t0, old.id, 20*time.Second)
		d := first.at.Sub(t0)
		worst, total = max(worst, d), total+d
		c.start(old, false)
		t.Logf("round %d: killed leader %s, %s took over in %v; %s restarted", r+1, old.id, first.via, d.Round(time.Millisecond), old.id)
	}
	ld.waitAcks(t, ld.count()+50, 20*time.Second)
	ld.halt()
	t.Logf("failover over %d kills: mean %v, worst %v", rounds, (total / time.Duration(rounds)).Round(time.Millisecond), worst.Round(time.Millisecond))

	evs := c.waitSame("stream", 20*time.Second)
	ld.verify(t, evs)
	restores := int64(0)
	for _, tn := range c.live() {
		restores += tn.node.fsm.restores.Load()
	}
	t.Logf("snapshot restores across the nodes' last lives: %d", restores)
}
