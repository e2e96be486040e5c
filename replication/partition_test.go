package replication

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/badbatch/badbatch/engine"
)

// A node cut off from the others (here the leader, the harder case) steps
// down and answers quorum publishes with ErrNoQuorum, while its
// node-local disruptors keep working; what it took before noticing is
// never committed. The majority elects a leader and goes on; after the
// partition heals, the node catches up and holds exactly what the others
// hold.
func TestMinorityPartition(t *testing.T) {
	c := newCluster(t, 3, true, nil)
	c.create(engine.DisruptorConfig{Name: "q"})
	for _, tn := range c.live() {
		if _, err := tn.eng.Create(engine.DisruptorConfig{Name: "local"}, true); err != nil {
			t.Fatal(err)
		}
	}
	ld := startLoad(c, "q", 3)
	ld.waitAcks(t, 100, 20*time.Second)

	victim := c.isolateLeader(20 * time.Second)
	t0 := time.Now()

	// Until it notices, the cut-off leader takes publishes it cannot
	// commit; they fail with an unknown outcome. Then it refuses.
	var orphans []string
	var lastErr error
	waitFor(t, 10*time.Second, "the isolated node to answer ErrNoQuorum", func() bool {
		p := fmt.Sprintf(`"orphan-%d"`, len(orphans))
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_, lastErr = victim.node.Publish(ctx, "q", &engine.Batch{Events: []engine.Event{{Payload: []byte(p)}}})
		switch {
		case errors.Is(lastErr, ErrNoQuorum):
			return true
		case errors.Is(lastErr, ErrOutcomeUnknown):
			orphans = append(orphans, p)
		case lastErr == nil:
			t.Fatalf("the isolated node acknowledged a publish")
		}
		return false
	})
	var le *LeaderError
	if !errors.As(lastErr, &le) || !errors.Is(lastErr, ErrNoQuorum) {
		t.Fatalf("isolated node: %v, want a *LeaderError with ErrNoQuorum", lastErr)
	}
	t.Logf("isolated leader %s refused with %v after %v (%d publishes before that had unknown outcomes)",
		victim.id, lastErr, time.Since(t0).Round(time.Millisecond), len(orphans))

	// Its local disruptors do not need a quorum.
	if _, err := victim.eng.Publish(context.Background(), "local", &engine.Batch{Events: []engine.Event{{Payload: []byte(`1`)}}}); err != nil {
		t.Fatalf("local publish on the minority side: %v", err)
	}

	// The majority goes on.
	first := ld.firstAckAfter(t, t0, victim.id, 20*time.Second)
	t.Logf("majority: %s acknowledged a publish %v after the partition", first.via, first.at.Sub(t0).Round(time.Millisecond))
	ld.waitAcks(t, ld.count()+100, 20*time.Second)

	c.heal()
	ld.waitAcks(t, ld.count()+50, 20*time.Second)
	ld.halt()
	evs := c.waitSame("q", 20*time.Second)
	ld.verify(t, evs)
	for _, e := range evs {
		for _, o := range orphans {
			if e.Payload == o {
				t.Fatalf("%s, published on the minority side, was committed", o)
			}
		}
	}
}

// A follower cut off from the others answers ErrNoQuorum once it has not
// heard from the leader for its heartbeat timeout (ErrNotLeader naming
// the old leader before that), and catches up after the partition heals.
func TestPartitionedFollower(t *testing.T) {
	c := newCluster(t, 3, true, nil)
	c.create(engine.DisruptorConfig{Name: "q"})
	l := c.leader()
	var victim *tnode
	for _, tn := range c.live() {
		if tn != l {
			victim = tn
			break
		}
	}
	b := &engine.Batch{Events: []engine.Event{{Payload: []byte(`"x"`)}}}
	_, err := victim.node.Publish(context.Background(), "q", b)
	var le *LeaderError
	if !errors.As(err, &le) || !errors.Is(err, ErrNotLeader) || le.LeaderID != l.id || le.LeaderAddr != l.node.Addr() {
		t.Fatalf("follower: %v, want ErrNotLeader naming %s at %s", err, l.id, l.node.Addr())
	}

	c.isolate(victim)
	waitFor(t, 10*time.Second, "the isolated follower to answer ErrNoQuorum", func() bool {
		_, err = victim.node.Publish(context.Background(), "q", b)
		return errors.Is(err, ErrNoQuorum)
	})
	for i := range 20 {
		if _, err := c.publish(nil, "q", &engine.Batch{Events: []engine.Event{{Payload: fmt.Appendf(nil, "%d", i)}}}); err != nil {
			t.Fatal(err)
		}
	}
	c.heal()
	if evs := c.waitSame("q", 20*time.Second); len(evs) != 20 {
		t.Fatalf("%d events, want 20", len(evs))
	}
}
