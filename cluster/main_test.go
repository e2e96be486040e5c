package cluster

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/badbatch/badbatch/internal/clustertest"
)

// TestMain checks that no goroutine outlives the tests. Node.Shutdown waits
// for the package's own goroutines and memberlist's listeners; what
// memberlist may still run briefly after its Shutdown (a suspicion timer
// firing, a stream handler finishing its read within the TCP timeout) is
// gone by the time the last test ends, and goleak retries for a while
// before it reports, so no goroutine needs ignoring.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// testKey is the gossip key of the test clusters.
const testKey = "SGVyZSBpcyBhIHRlc3Qga2V5IG9mIDMyIGJ5dGVzISE=" // 32 bytes

// testConfig returns the loopback preset with the test key and label.
func testConfig(id string) Config {
	c := LoopbackConfig(id)
	c.EncryptionKey = testKey
	c.Label = "badbatch-test"
	return c
}

// testLogger is the harness's logger.
func testLogger() *slog.Logger { return clustertest.Logger() }

// recorder keeps the member events a node's observer sees.
type recorder struct {
	mu     sync.Mutex
	events []MemberEvent
}

func (r *recorder) observe(e MemberEvent) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, e)
}

// first returns when the member first entered the state at or after t0.
func (r *recorder) first(id string, s MemberState, t0 time.Time) (time.Time, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, e := range r.events {
		if e.Member.ID == id && e.Member.State == s && !e.At.Before(t0) {
			return e.At, true
		}
	}
	return time.Time{}, false
}

// testNode is a started node and what its observer saw.
type testNode struct {
	*Node
	rec *recorder
}

// startNode starts a node with cfg joined to the seeds, and shuts it down
// when the test ends.
func startNode(t *testing.T, cfg Config, seeds []string, opts ...Option) testNode {
	t.Helper()
	rec := &recorder{}
	cfg.SeedNodes = seeds
	opts = append([]Option{WithObserver(rec.observe), WithLogger(testLogger()),
		WithAPI("http", "127.0.0.1:1"), WithVersion("test")}, opts...)
	n, err := New(cfg, opts...)
	if err != nil {
		t.Fatalf("New(%s): %v", cfg.NodeID, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := n.Start(ctx); err != nil {
		t.Fatalf("Start(%s): %v", cfg.NodeID, err)
	}
	t.Cleanup(func() { _ = n.Shutdown() })
	return testNode{n, rec}
}

// startCluster starts size nodes, n1 to n<size>, each joining the first.
func startCluster(t *testing.T, size int, edit func(*Config)) []testNode {
	t.Helper()
	var nodes []testNode
	var seeds []string
	for i := range size {
		cfg := testConfig(fmt.Sprintf("n%d", i+1))
		if edit != nil {
			edit(&cfg)
		}
		n := startNode(t, cfg, seeds)
		if i == 0 {
			seeds = []string{n.Addr()}
		}
		nodes = append(nodes, n)
	}
	waitConverged(t, nodes...)
	return nodes
}

// stateOf returns the state n sees id in, or 0.
func stateOf(n *Node, id string) MemberState {
	m, ok := n.Member(id)
	if !ok {
		return 0
	}
	return m.State
}

// waitConverged waits until every node sees every other alive.
func waitConverged(t *testing.T, nodes ...testNode) {
	t.Helper()
	clustertest.WaitFor(t, 20*time.Second, fmt.Sprintf("%d nodes to see each other alive", len(nodes)), func() bool {
		for _, a := range nodes {
			for _, b := range nodes {
				if stateOf(a.Node, b.ID()) != StateAlive {
					return false
				}
			}
		}
		return true
	})
}
