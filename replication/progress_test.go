package replication

import (
	"fmt"
	"testing"
	"time"

	"github.com/badbatch/badbatch/engine"
	"github.com/badbatch/badbatch/internal/clustertest"
)

// TestFollowerProgress: the leader's own account of each follower, from
// the answers to its AppendEntries, follows the log on a follower that
// keeps up, stops on one cut off (while the leader's log grows past it),
// catches up once it is back, and is the new leader's own after a
// failover. Followers have none.
func TestFollowerProgress(t *testing.T) {
	c := newCluster(t, 3, true, nil)
	c.create(engine.DisruptorConfig{Name: "p"})
	publish := func(n int) {
		for i := range n {
			b := &engine.Batch{IdempotencyKey: fmt.Sprintf("k-%d-%d", time.Now().UnixNano(), i), Events: []engine.Event{{Payload: []byte(`{}`)}}}
			if _, err := c.publish(nil, "p", b); err != nil {
				t.Fatal(err)
			}
		}
	}
	publish(20)
	l := c.leader()
	caughtUp := func(l *tnode, ids ...string) func() bool {
		return func() bool {
			last := l.node.raft.LastIndex()
			p := l.node.FollowerProgress()
			for _, id := range ids {
				if p[id].Match != last || time.Since(p[id].LastContact) > 5*time.Second {
					return false
				}
			}
			return len(p) == len(ids)
		}
	}
	var others []*tnode
	for _, tn := range c.nodes {
		if tn != l {
			others = append(others, tn)
			if got := tn.node.FollowerProgress(); len(got) != 0 {
				t.Errorf("follower %s has an account of followers: %v", tn.id, got)
			}
		}
	}
	clustertest.WaitFor(t, 10*time.Second, "the leader to see both followers at its last index", caughtUp(l, others[0].id, others[1].id))

	// Cut one follower off: its match stays behind the growing log.
	cut := others[1]
	c.isolate(cut)
	before := l.node.FollowerProgress()[cut.id].Match
	publish(20)
	if last, p := l.node.raft.LastIndex(), l.node.FollowerProgress(); p[cut.id].Match != before || p[cut.id].Match >= last {
		t.Fatalf("cut-off follower: match %d (was %d), leader's last index %d", p[cut.id].Match, before, last)
	}
	clustertest.WaitFor(t, 10*time.Second, "the connected follower to keep up", func() bool {
		return l.node.FollowerProgress()[others[0].id].Match == l.node.raft.LastIndex()
	})
	c.heal()
	clustertest.WaitFor(t, 10*time.Second, "the healed follower to catch up in the leader's account", caughtUp(l, others[0].id, cut.id))

	// After a failover the new leader's account is its own.
	c.kill(l)
	nl := c.waitLeader(10 * time.Second)
	publish(5)
	var rest string
	for _, tn := range c.live() {
		if tn != nl {
			rest = tn.id
		}
	}
	clustertest.WaitFor(t, 10*time.Second, "the new leader's account of the remaining follower", caughtUp(nl, rest))
	if p, ok := nl.node.FollowerProgress()[l.id]; ok && p.Term == nl.node.raft.CurrentTerm() {
		t.Errorf("the new leader has an account of the killed old leader in its own term: %+v", p)
	}
}

// TestFollowerProgressTCP: the same account over the TCP transport, whose
// AppendEntries are pipelined.
func TestFollowerProgressTCP(t *testing.T) {
	c := newCluster(t, 3, false, nil)
	c.create(engine.DisruptorConfig{Name: "p"})
	for i := range 50 {
		b := &engine.Batch{IdempotencyKey: fmt.Sprint("k", i), Events: []engine.Event{{Payload: []byte(`{}`)}}}
		if _, err := c.publish(nil, "p", b); err != nil {
			t.Fatal(err)
		}
	}
	l := c.leader()
	clustertest.WaitFor(t, 10*time.Second, "both followers at the leader's last index", func() bool {
		p, last := l.node.FollowerProgress(), l.node.raft.LastIndex()
		return len(p) == 2 && p["n1"].Match+p["n2"].Match+p["n3"].Match == 2*last
	})
}

// TestLeaderChange: the channel of LeaderChange is closed when the leader
// this node knows changes.
func TestLeaderChange(t *testing.T) {
	c := newCluster(t, 3, true, nil)
	l := c.leader()
	var f *tnode
	for _, tn := range c.nodes {
		if tn != l {
			f = tn
		}
	}
	ch := f.node.LeaderChange()
	select {
	case <-ch:
		t.Fatal("closed before any change")
	default:
	}
	c.kill(l)
	select {
	case <-ch:
	case <-time.After(10 * time.Second):
		t.Fatal("not closed after the leader was killed")
	}
	if f.node.LeaderChange() == ch {
		t.Fatal("the same channel after a change")
	}
}
