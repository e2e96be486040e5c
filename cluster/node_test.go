package cluster

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/badbatch/badbatch/internal/clustertest"
)

// These tests run real memberlist nodes on 127.0.0.1, each on its own
// free port, with the fast timings of testConfig. They wait by polling
// with generous deadlines, so a loaded machine slows them down without
// failing them.

func TestConverge(t *testing.T) {
	nodes := startCluster(t, 5, nil)
	for _, n := range nodes {
		ms := n.Members()
		if len(ms) != 5 {
			t.Fatalf("%s sees %d members, want 5", n.ID(), len(ms))
		}
		for i, m := range ms {
			if i > 0 && ms[i-1].ID >= m.ID {
				t.Errorf("%s: members not sorted by id", n.ID())
			}
			if m.Local != (m.ID == n.ID()) {
				t.Errorf("%s: member %s Local = %v", n.ID(), m.ID, m.Local)
			}
			if m.Version != "test" || m.Meta.State != NodeReady || m.StartedAt.IsZero() || m.Since.IsZero() {
				t.Errorf("%s: member %s metadata %+v", n.ID(), m.ID, m.Meta)
			}
		}
		// A loaded machine may delay a check ping into a brief false
		// suspicion, so health is awaited rather than sampled once.
		clustertest.WaitFor(t, 10*time.Second, n.ID()+" to report a healthy cluster of 5", func() bool {
			h := n.Health()
			return h.Status == Healthy && h.Alive == 5 && h.Suspect+h.Dead+h.Left == 0
		})
	}
}

// TestFailureDetection stops one of four nodes without a leave and checks
// that each of the others shows it suspect, then dead, within the bounds
// the config gives.
func TestFailureDetection(t *testing.T) {
	nodes := startCluster(t, 4, nil)
	victim, observers := nodes[3], nodes[:3]
	tm := victim.Config().Timings(4)
	t.Logf("config: probe %v/%v, suspicion %v (max %v); bounds: suspect within %v, dead within %v",
		victim.Config().ProbeInterval, victim.Config().ProbeTimeout, tm.SuspicionTimeout,
		tm.SuspicionMaxTimeout, tm.SuspectAfter, tm.DeadAfter)

	stopped := time.Now()
	if err := victim.Shutdown(); err != nil {
		t.Fatal(err)
	}
	for _, o := range observers {
		clustertest.WaitFor(t, 4*tm.DeadAfter+10*time.Second, o.ID()+" to see the stopped node dead", func() bool {
			// The observer callback that records it may run just after the
			// table changes: wait for both.
			_, recorded := o.rec.first(victim.ID(), StateDead, stopped)
			return stateOf(o.Node, victim.ID()) == StateDead && recorded
		})
	}
	for _, o := range observers {
		suspectAt, suspected := o.rec.first(victim.ID(), StateSuspect, stopped)
		deadAt, _ := o.rec.first(victim.ID(), StateDead, stopped)
		if !suspected || !suspectAt.Before(deadAt) {
			t.Errorf("%s: the stopped node was not suspect before dead (suspect %v, dead %v)",
				o.ID(), suspectAt.Sub(stopped), deadAt.Sub(stopped))
			continue
		}
		s, d := suspectAt.Sub(stopped), deadAt.Sub(stopped)
		t.Logf("%s: suspect after %v (bound %v), dead after %v (bound %v)", o.ID(),
			s.Round(time.Millisecond), tm.SuspectAfter, d.Round(time.Millisecond), tm.DeadAfter)
		// The bounds hold on an idle machine; the race detector on a busy
		// one delays timers, so only twice the bound fails the test.
		if s > 2*tm.SuspectAfter || d > 2*tm.DeadAfter {
			t.Errorf("%s: detection took more than twice the bound", o.ID())
		}
		h := o.Health()
		if h.Status != Degraded || h.Dead != 1 || len(h.Problems) == 0 {
			t.Errorf("%s: health with a dead member = %+v", o.ID(), h)
		}
	}
}

func TestGracefulLeave(t *testing.T) {
	nodes := startCluster(t, 3, nil)
	leaver := nodes[2]
	left := time.Now()
	if err := leaver.Leave(5 * time.Second); err != nil {
		t.Fatalf("Leave: %v", err)
	}
	for _, o := range nodes[:2] {
		clustertest.WaitFor(t, 10*time.Second, o.ID()+" to see the leaver left", func() bool {
			return stateOf(o.Node, leaver.ID()) == StateLeft
		})
		if at, ok := o.rec.first(leaver.ID(), StateDead, left); ok {
			t.Errorf("%s saw the leaver dead at %v", o.ID(), at.Sub(left))
		}
		clustertest.WaitFor(t, 10*time.Second, o.ID()+" to report healthy with one member left", func() bool {
			h := o.Health()
			return h.Status == Healthy && h.Left == 1
		})
		if len(o.Owners("anything")) != 0 {
			t.Errorf("%s routes to nodes that host nothing", o.ID())
		}
	}
	if err := leaver.Shutdown(); err != nil {
		t.Errorf("Shutdown after Leave = %v", err)
	}
	if _, err := leaver.Join(context.Background(), nodes[0].Addr()); !errors.Is(err, ErrClosed) {
		t.Errorf("Join after Leave = %v, want ErrClosed", err)
	}
	if err := leaver.Start(context.Background()); !errors.Is(err, ErrClosed) {
		t.Errorf("Start after Leave = %v, want ErrClosed", err)
	}
}

func TestRestartWithSameID(t *testing.T) {
	nodes := startCluster(t, 3, nil)
	a, old := nodes[0], nodes[2]
	oldMember, _ := a.Member(old.ID())

	restart := func(t *testing.T, bind string) testNode {
		t.Helper()
		stopped := time.Now()
		if err := old.Shutdown(); err != nil {
			t.Fatal(err)
		}
		clustertest.WaitFor(t, 20*time.Second, "the stopped node to be dead", func() bool {
			return stateOf(a.Node, old.ID()) == StateDead
		})
		cfg := testConfig(old.ID())
		cfg.BindAddr = bind
		n := startNode(t, cfg, []string{a.Addr()})
		for _, o := range nodes[:2] {
			clustertest.WaitFor(t, 20*time.Second, o.ID()+" to see the restarted node alive", func() bool {
				m, _ := o.Member(old.ID())
				return m.State == StateAlive && m.Addr == n.Addr() && m.StartedAt.After(oldMember.StartedAt)
			})
		}
		back, _ := a.rec.first(old.ID(), StateAlive, stopped)
		t.Logf("rejoined %v after the stop", back.Sub(stopped).Round(time.Millisecond))
		waitConverged(t, nodes[0], nodes[1], n)
		return n
	}
	t.Run("same address", func(t *testing.T) {
		old = testNode{restart(t, old.Addr()).Node, nil}
	})
	t.Run("new address", func(t *testing.T) {
		restart(t, "127.0.0.1:0")
	})
}

func TestRefusesWrongKeyAndLabel(t *testing.T) {
	nodes := startCluster(t, 2, nil)
	seed := nodes[0].Addr()
	otherKey, err := GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		edit func(*Config)
	}{
		{"wrong key", func(c *Config) { c.EncryptionKey = otherKey }},
		{"no key", func(c *Config) { c.EncryptionKey = "" }},
		{"wrong label", func(c *Config) { c.Label = "another-cluster" }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := testConfig("intruder-" + tt.name[:2])
			tt.edit(&cfg)
			in := startNode(t, cfg, nil)
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if k, err := in.Join(ctx, seed); !errors.Is(err, ErrNoSeeds) {
				t.Fatalf("Join = %d, %v; want ErrNoSeeds", k, err)
			} else {
				t.Logf("refused: %v", err)
			}
			// Gossip goes on for a few push/pull and rejoin intervals; the
			// clusters must stay apart.
			clustertest.Never(t, 2*time.Second, "the clusters merged", func() bool {
				_, inSeed := nodes[0].Member(in.ID())
				_, seedIn := in.Member(nodes[0].ID())
				return inSeed || seedIn
			})
		})
	}
}

func TestMetadataPropagates(t *testing.T) {
	nodes := startCluster(t, 3, nil)
	a, b := nodes[0], nodes[1]
	hosts := func(o testNode, disruptor string, want ...string) func() bool {
		return func() bool {
			var got []string
			for _, m := range o.Owners(disruptor) {
				got = append(got, m.ID)
			}
			return slices.Equal(got, want)
		}
	}
	if err := a.SetDisruptors([]string{"payments", "orders"}); err != nil {
		t.Fatal(err)
	}
	if err := a.SetAPI("https", "127.0.0.1:8443"); err != nil {
		t.Fatal(err)
	}
	if err := a.SetTags(map[string]string{"raft_addr": "127.0.0.1:7947"}); err != nil {
		t.Fatal(err)
	}
	for _, o := range nodes {
		clustertest.WaitFor(t, 10*time.Second, o.ID()+" to see n1 host orders", hosts(o, "orders", "n1"))
	}
	// The three updates are gossiped separately: wait for the last one.
	fullMeta := func() bool {
		m, _ := b.Member("n1")
		return m.APIScheme == "https" && m.APIAddr == "127.0.0.1:8443" && m.Tags["raft_addr"] == "127.0.0.1:7947" &&
			slices.Equal(m.Disruptors, []string{"orders", "payments"})
	}
	clustertest.WaitFor(t, 10*time.Second, "n2 to see all of n1's metadata", fullMeta)

	// A node that is not ready is not routed to.
	if err := a.SetNodeState(NodeStarting); err != nil {
		t.Fatal(err)
	}
	clustertest.WaitFor(t, 10*time.Second, "n2 to stop routing to a starting node", hosts(b, "orders"))
	if err := a.SetNodeState(NodeReady); err != nil {
		t.Fatal(err)
	}
	clustertest.WaitFor(t, 10*time.Second, "n2 to route to n1 again", hosts(b, "orders", "n1"))

	// Too much metadata is refused; the previous list stays.
	var many []string // dissimilar names, which front coding cannot shrink
	for i := range 40 {
		sum := sha256.Sum256([]byte{byte(i)})
		many = append(many, hex.EncodeToString(sum[:8]))
	}
	if err := a.SetDisruptors(many); !errors.Is(err, ErrMetaTooLarge) {
		t.Fatalf("SetDisruptors(40 dissimilar names) = %v, want ErrMetaTooLarge", err)
	}
	if got := a.Meta().Disruptors; !slices.Equal(got, []string{"orders", "payments"}) {
		t.Errorf("after a refused update the list is %v", got)
	}
	if err := a.SetDisruptors([]string{"bad/name"}); !errors.Is(err, ErrInvalidMeta) {
		t.Errorf("SetDisruptors(bad name) = %v, want ErrInvalidMeta", err)
	}
	// Two owners.
	if err := b.SetDisruptors([]string{"orders"}); err != nil {
		t.Fatal(err)
	}
	clustertest.WaitFor(t, 10*time.Second, "n3 to see two owners of orders", hosts(nodes[2], "orders", "n1", "n2"))
}

func TestKeyRotation(t *testing.T) {
	nodes := startCluster(t, 2, nil)
	newKey, err := GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	oldFP, _ := KeyFingerprint(testKey)
	newFP, _ := KeyFingerprint(newKey)
	for _, step := range []struct {
		name string
		do   func(*Node) error
		want []string
	}{
		{"install", func(n *Node) error { return n.InstallKey(newKey) }, []string{oldFP, newFP}},
		{"use", func(n *Node) error { return n.UseKey(newKey) }, []string{newFP, oldFP}},
		{"remove", func(n *Node) error { return n.RemoveKey(testKey) }, []string{newFP}},
	} {
		for _, n := range nodes {
			if err := step.do(n.Node); err != nil {
				t.Fatalf("%s on %s: %v", step.name, n.ID(), err)
			}
			if got := n.KeyFingerprints(); !slices.Equal(got, step.want) {
				t.Errorf("%s on %s: fingerprints %v, want %v", step.name, n.ID(), got, step.want)
			}
		}
	}
	// The cluster still works under the new key: a third node with it
	// joins, one with only the old key cannot.
	cfg := testConfig("n3")
	cfg.EncryptionKey = newKey
	n3 := startNode(t, cfg, []string{nodes[0].Addr()})
	waitConverged(t, nodes[0], nodes[1], n3)
	old := startNode(t, testConfig("n4"), nil)
	if _, err := old.Join(context.Background(), nodes[0].Addr()); !errors.Is(err, ErrNoSeeds) {
		t.Errorf("a node with the removed key joined: %v", err)
	}
}

func TestNodeLifecycleErrors(t *testing.T) {
	n, err := New(testConfig("solo"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := n.Join(context.Background(), "127.0.0.1:1"); !errors.Is(err, ErrNotStarted) {
		t.Errorf("Join before Start = %v", err)
	}
	if err := n.InstallKey(testKey); !errors.Is(err, ErrNotStarted) {
		t.Errorf("InstallKey before Start = %v", err)
	}
	if ms := n.Members(); len(ms) != 1 || !ms[0].Local {
		t.Errorf("Members before Start = %+v", ms)
	}
	if h := n.Health(); h.Status != Degraded {
		t.Errorf("Health before Start = %+v", h)
	}
	if err := n.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := n.Start(context.Background()); !errors.Is(err, ErrAlreadyStarted) {
		t.Errorf("second Start = %v", err)
	}
	// Joining itself is skipped.
	if k, err := n.Join(context.Background(), n.Addr()); k != 0 || err != nil {
		t.Errorf("Join(self) = %d, %v", k, err)
	}
	if h := n.Health(); h.Status != Healthy || h.Alive != 1 {
		t.Errorf("Health of a lone node = %+v", h)
	}
	if err := n.Leave(time.Second); err != nil {
		t.Errorf("Leave of a lone node = %v", err)
	}
	if err := n.Shutdown(); err != nil {
		t.Errorf("Shutdown after Leave = %v", err)
	}
	if err := n.InstallKey(testKey); !errors.Is(err, ErrClosed) {
		t.Errorf("InstallKey after Shutdown = %v", err)
	}
}

func TestStartWithUnreachableSeedsAndRejoin(t *testing.T) {
	// b starts first with a seed that is not up yet: it starts anyway and
	// the rejoin loop joins a as soon as a is up on that address.
	a0 := startNode(t, testConfig("a"), nil)
	addr := a0.Addr()
	if err := a0.Shutdown(); err != nil {
		t.Fatal(err)
	}
	b := startNode(t, testConfig("b"), []string{addr})
	if h := b.Health(); len(h.Warnings) == 0 {
		t.Errorf("a node alone despite seeds has no warning: %+v", h)
	}
	cfg := testConfig("a")
	cfg.BindAddr = addr
	a := startNode(t, cfg, nil)
	waitConverged(t, a, b)
}
