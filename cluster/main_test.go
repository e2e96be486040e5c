package cluster

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"
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

// testConfig returns a config for a node on loopback with a free port and
// fast timings: probes every 200 ms, 1 s suspicion (5 probe intervals, so
// memberlist expects no confirmations in clusters of up to 5 and the
// suspicion lasts exactly 1 s).
func testConfig(id string) Config {
	c := DefaultConfig()
	c.NodeID = id
	c.BindAddr = "127.0.0.1:0"
	c.GossipInterval = 50 * time.Millisecond
	c.ProbeInterval = 200 * time.Millisecond
	c.ProbeTimeout = 100 * time.Millisecond
	c.SuspicionTimeout = time.Second
	c.DeadTimeout = 20 * time.Second
	c.PushPullInterval = time.Second
	c.RejoinInterval = 500 * time.Millisecond
	c.EncryptionKey = testKey
	c.Label = "badbatch-test"
	return c
}

// testLogger returns a logger to stderr when BADBATCH_TEST_LOG is set (to
// "debug" for everything), else nil. It does not log through t: memberlist
// goroutines may log briefly after a test ends.
func testLogger() *slog.Logger {
	v := os.Getenv("BADBATCH_TEST_LOG")
	if v == "" {
		return nil
	}
	level := slog.LevelInfo
	if v == "debug" {
		level = slog.LevelDebug
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
}

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

// waitFor polls cond until it holds, failing the test after timeout.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// never polls cond for the whole window, failing the test if it ever holds.
func never(t *testing.T, window time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(window)
	for time.Now().Before(deadline) {
		if cond() {
			t.Fatalf("%s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
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
	waitFor(t, 20*time.Second, fmt.Sprintf("%d nodes to see each other alive", len(nodes)), func() bool {
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
