package replication

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/raft"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/goleak"

	"github.com/badbatch/badbatch/engine"
	"github.com/badbatch/badbatch/internal/clustertest"
)

// TestMain checks that no goroutine outlives the tests. Node.Close waits
// for the node's goroutines and raft's (raft.Shutdown does), and the
// node's stream layer closes every connection so that raft's connection
// handlers end too; goleak retries for a while before it reports, which
// covers those finishing their last read. Nothing needs ignoring.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// testLogger returns a logger to stderr when BADBATCH_TEST_LOG is set (to
// "debug" for everything), else nil.
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

// testEngineConfig is an engine with rings big enough to hold a whole
// test's events (so every event can be checked at the end) and small
// slots.
func testEngineConfig() engine.Config {
	c := engine.DefaultConfig()
	c.SlotBytes = 64
	c.Defaults.BufferSize = 1 << 15
	c.Defaults.MaxEventSize = 1 << 10
	c.Defaults.PublishTimeout = 100 * time.Millisecond
	return c
}

func newTestEngine(t testing.TB) *engine.Engine {
	t.Helper()
	eng, err := engine.New(testEngineConfig())
	if err != nil {
		t.Fatal(err)
	}
	return eng
}

// testConfig is the loopback preset with the tests' logger. Snapshots
// are rare unless a test asks.
func testConfig(id, dir string) Config {
	c := LoopbackConfig(id, dir)
	c.Logger = testLogger()
	return c
}

// tnode is one node of a test cluster, across restarts.
type tnode struct {
	i        int
	id, dir  string
	addr     string // Raft address, kept across restarts
	eng      *engine.Engine
	node     *Node
	inmem    *raft.InmemTransport // nil on TCP
	reg      *prometheus.Registry
	up       bool
	isolated bool
}

// tcluster is a Raft group of in-process nodes, on loopback TCP or on
// raft's in-memory transport (which can cut links, for partitions).
type tcluster struct {
	t     testing.TB
	inmem bool
	edit  func(*Config)
	// engine, when set, changes each node's engine configuration (for a
	// cluster made with newClusterEngine).
	engine func(*engine.Config)
	mu     sync.Mutex // guards nodes' fields against the publishers
	nodes  []*tnode
}

// newCluster starts size nodes: n1 bootstraps a cluster of itself, and
// the others are added as voters.
func newCluster(t testing.TB, size int, inmem bool, edit func(*Config)) *tcluster {
	t.Helper()
	return newClusterEngine(t, size, inmem, edit, nil)
}

// newClusterEngine is newCluster with every node's engine configuration
// changed by eng.
func newClusterEngine(t testing.TB, size int, inmem bool, edit func(*Config), eng func(*engine.Config)) *tcluster {
	t.Helper()
	c := &tcluster{t: t, inmem: inmem, edit: edit, engine: eng}
	for i := range size {
		tn := &tnode{i: i, id: fmt.Sprintf("n%d", i+1), dir: t.TempDir()}
		if inmem {
			tn.addr = tn.id
		}
		c.nodes = append(c.nodes, tn)
	}
	t.Cleanup(c.closeAll)
	c.start(c.nodes[0], true)
	c.waitLeader(10 * time.Second)
	for _, tn := range c.nodes[1:] {
		c.start(tn, false)
		// An election on a loaded machine may take the leader away in
		// the middle: add through whoever leads, until one does.
		deadline := time.Now().Add(20 * time.Second)
		for {
			err := ErrNoQuorum
			if l := c.leader(); l != nil {
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				err = l.node.AddVoter(ctx, tn.id, tn.addr)
				cancel()
			}
			if err == nil {
				break
			}
			if !retryable(err) || time.Now().After(deadline) {
				t.Fatalf("AddVoter(%s): %v", tn.id, err)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	c.waitLeader(10 * time.Second)
	return c
}

// start starts tn with a fresh engine (a restart is a new process: the
// node rebuilds the engine's replicated rings from its snapshot and log).
func (c *tcluster) start(tn *tnode, bootstrap bool) {
	c.t.Helper()
	cfg := testConfig(tn.id, tn.dir)
	if tn.addr != "" && !c.inmem {
		cfg.BindAddr = tn.addr
	}
	if c.edit != nil {
		c.edit(&cfg)
	}
	var opts []Option
	if c.inmem {
		_, tr := raft.NewInmemTransportWithTimeout(raft.ServerAddress(tn.addr), time.Second)
		opts = append(opts, WithTransport(tr))
		c.mu.Lock()
		for _, o := range c.nodes {
			if o != tn && o.up && !o.isolated {
				tr.Connect(raft.ServerAddress(o.addr), o.inmem)
				o.inmem.Connect(raft.ServerAddress(tn.addr), tr)
			}
		}
		tn.inmem = tr
		c.mu.Unlock()
	}
	if bootstrap {
		addr := tn.addr
		if addr == "" { // TCP, first start: take a port now so the bootstrap names it
			addr = freeAddr(c.t)
			cfg.BindAddr = addr
		}
		cfg.Bootstrap = []Server{{ID: tn.id, Address: addr}}
	}
	reg := prometheus.NewRegistry()
	cfg.Registerer = reg
	ec := testEngineConfig()
	if c.engine != nil {
		c.engine(&ec)
	}
	eng, err := engine.New(ec)
	if err != nil {
		c.t.Fatal(err)
	}
	n, err := New(cfg, eng, opts...)
	if err != nil {
		c.t.Fatalf("New(%s): %v", tn.id, err)
	}
	c.mu.Lock()
	tn.eng, tn.node, tn.reg, tn.up, tn.isolated = eng, n, reg, true, false
	tn.addr = n.Addr()
	c.mu.Unlock()
}

// kill stops tn. On the in-memory transport it is cut off first, so its
// entries in flight fail as on a crash rather than finish.
func (c *tcluster) kill(tn *tnode) {
	c.t.Helper()
	if c.inmem {
		c.isolate(tn)
	}
	c.mu.Lock()
	tn.up = false
	n, eng := tn.node, tn.eng
	c.mu.Unlock()
	if err := n.Close(); err != nil {
		c.t.Errorf("Close(%s): %v", tn.id, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = eng.Close(ctx)
}

func (c *tcluster) closeAll() {
	for _, tn := range c.nodes {
		c.mu.Lock()
		up := tn.up
		c.mu.Unlock()
		if up {
			c.kill(tn)
		}
	}
}

// isolate cuts every link of tn (in-memory transport only).
func (c *tcluster) isolate(tn *tnode) {
	c.t.Helper()
	if tn == nil {
		c.t.Fatal("isolate: no node to cut off (no leader at that moment?)")
	}
	if tn.inmem == nil {
		c.t.Fatalf("isolate(%s): only the in-memory transport can cut links", tn.id)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	tn.isolated = true
	tn.inmem.DisconnectAll()
	for _, o := range c.nodes {
		if o != tn && o.inmem != nil {
			o.inmem.Disconnect(raft.ServerAddress(tn.addr))
		}
	}
}

// isolateLeader cuts off the node that leads, once every node agrees on
// one, and returns it. The leadership may move between the look and the
// cut (an election on a loaded machine): the cut node is then a
// follower, so the links are healed and it tries again, until a node
// that still led when it was cut off is found or timeout passes.
func (c *tcluster) isolateLeader(timeout time.Duration) *tnode {
	c.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		l := c.waitLeader(time.Until(deadline))
		c.isolate(l)
		if l.node.IsLeader() {
			return l
		}
		c.heal()
		if time.Now().After(deadline) {
			c.t.Fatalf("no node still led when it was cut off, within %v", timeout)
		}
	}
}

// heal reconnects every pair of running nodes.
func (c *tcluster) heal() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, a := range c.nodes {
		a.isolated = false
	}
	for _, a := range c.nodes {
		for _, b := range c.nodes {
			if a != b && a.up && b.up {
				a.inmem.Connect(raft.ServerAddress(b.addr), b.inmem)
			}
		}
	}
}

// live returns the running nodes.
func (c *tcluster) live() []*tnode {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []*tnode
	for _, tn := range c.nodes {
		if tn.up {
			out = append(out, tn)
		}
	}
	return out
}

// leader returns the running node that is leader now, or nil.
func (c *tcluster) leader() *tnode {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, tn := range c.nodes {
		if tn.up && !tn.isolated && tn.node.IsLeader() {
			return tn
		}
	}
	return nil
}

// waitLeader waits until a running, connected node leads and every other
// such node knows it.
func (c *tcluster) waitLeader(timeout time.Duration) *tnode {
	c.t.Helper()
	var l *tnode
	waitFor(c.t, timeout, "a leader everyone knows", func() bool {
		l = c.leader()
		if l == nil {
			return false
		}
		for _, tn := range c.live() {
			if id, _ := tn.node.Leader(); !tn.isolated && id != l.id {
				return false
			}
		}
		return true
	})
	return l
}

// onLeader runs op on the node that leads, again on whoever leads next
// while it fails because the leadership moved (an election on a loaded
// machine), and returns the node it succeeded on. op must be safe to
// run again after an unknown outcome, as membership changes are.
func (c *tcluster) onLeader(what string, op func(l *tnode) error) *tnode {
	c.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		var l *tnode
		waitFor(c.t, 20*time.Second, "a leader", func() bool { l = c.leader(); return l != nil })
		err := op(l)
		if err == nil {
			return l
		}
		if !retryable(err) || time.Now().After(deadline) {
			c.t.Fatalf("%s on %s: %v", what, l.id, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// waitFor is the shared harness's.
func waitFor(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	clustertest.WaitFor(t, timeout, what, cond)
}

// create creates a replicated disruptor through the leader.
func (c *tcluster) create(cfg engine.DisruptorConfig) {
	c.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		l := c.leader()
		if l != nil {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			_, err := l.node.Create(ctx, cfg, true)
			cancel()
			if err == nil {
				return
			}
			if !retryable(err) {
				c.t.Fatalf("Create(%s): %v", cfg.Name, err)
			}
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("Create(%s): no leader took it", cfg.Name)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// retryable reports whether a publish may be retried elsewhere with the
// same idempotency key.
func retryable(err error) bool {
	return errors.Is(err, ErrNotLeader) || errors.Is(err, ErrNoQuorum) ||
		errors.Is(err, ErrOutcomeUnknown) || errors.Is(err, ErrClosed)
}

// publish publishes b through whichever node leads, retrying with the same
// key (as a client following the package's promises does) until it is
// acknowledged or stop closes. It returns the sequences, or nil if
// stopped first.
func (c *tcluster) publish(stop <-chan struct{}, name string, b *engine.Batch) ([]int64, error) {
	seqs, _, err := c.publishVia(stop, name, b)
	return seqs, err
}

// publishVia is publish, also saying which node acknowledged.
func (c *tcluster) publishVia(stop <-chan struct{}, name string, b *engine.Batch) ([]int64, string, error) {
	for {
		if l := c.leader(); l != nil {
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
			first, err := l.node.Publish(ctx, name, b)
			cancel()
			if err == nil {
				return seqSpan(first, len(b.Events)), l.id, nil
			}
			if !retryable(err) {
				return nil, l.id, err
			}
		}
		select {
		case <-stop:
			return nil, "", nil
		case <-time.After(5 * time.Millisecond):
		}
	}
}

// seqSpan is the n sequences from first on.
func seqSpan(first int64, n int) []int64 {
	out := make([]int64, n)
	for i := range out {
		out[i] = first + int64(i)
	}
	return out
}

// load publishes continuously from several goroutines through whichever
// node leads, each batch under its own idempotency key, retried until
// acknowledged, and records what was acknowledged.
type load struct {
	c    *tcluster
	name string
	stop chan struct{}
	wg   sync.WaitGroup

	mu    sync.Mutex
	acked map[string]ackRecord // by key
	order []ackRecord          // in acknowledgement order
	err   error
}

type ackRecord struct {
	key     string
	seqs    []int64
	payload []string
	via     string
	at      time.Time
}

func startLoad(c *tcluster, name string, publishers int) *load {
	ld := &load{c: c, name: name, stop: make(chan struct{}), acked: make(map[string]ackRecord)}
	for g := range publishers {
		ld.wg.Add(1)
		go ld.run(g)
	}
	c.t.Cleanup(ld.halt)
	return ld
}

func (ld *load) run(g int) {
	defer ld.wg.Done()
	for i := 0; ; i++ {
		select {
		case <-ld.stop:
			return
		default:
		}
		key := fmt.Sprintf("g%d-%d", g, i)
		b := &engine.Batch{IdempotencyKey: key}
		var payload []string
		for j := range 1 + i%3 {
			p := fmt.Sprintf(`"%s-%d"`, key, j)
			payload = append(payload, p)
			b.Events = append(b.Events, engine.Event{Payload: []byte(p)})
		}
		seqs, via, err := ld.c.publishVia(ld.stop, ld.name, b)
		ld.mu.Lock()
		switch {
		case err != nil:
			if ld.err == nil {
				ld.err = fmt.Errorf("publish %s: %w", key, err)
			}
			ld.mu.Unlock()
			return
		case seqs != nil:
			a := ackRecord{key: key, seqs: seqs, payload: payload, via: via, at: time.Now()}
			ld.acked[key] = a
			ld.order = append(ld.order, a)
		}
		ld.mu.Unlock()
	}
}

// halt stops the publishers and waits for them.
func (ld *load) halt() {
	select {
	case <-ld.stop:
	default:
		close(ld.stop)
	}
	ld.wg.Wait()
}

func (ld *load) count() int {
	ld.mu.Lock()
	defer ld.mu.Unlock()
	return len(ld.order)
}

// waitAcks waits until n batches in all were acknowledged.
func (ld *load) waitAcks(t testing.TB, n int, timeout time.Duration) {
	t.Helper()
	waitFor(t, timeout, fmt.Sprintf("%d acknowledged publishes", n), func() bool {
		ld.mu.Lock()
		defer ld.mu.Unlock()
		if ld.err != nil {
			t.Fatal(ld.err)
		}
		return len(ld.order) >= n
	})
}

// firstAckAfter waits for the first batch acknowledged after t0 by a node
// other than not, and returns when it was.
func (ld *load) firstAckAfter(t testing.TB, t0 time.Time, not string, timeout time.Duration) ackRecord {
	t.Helper()
	var found ackRecord
	waitFor(t, timeout, "a publish acknowledged by a new leader", func() bool {
		ld.mu.Lock()
		defer ld.mu.Unlock()
		if ld.err != nil {
			t.Fatal(ld.err)
		}
		for _, a := range ld.order {
			if a.at.After(t0) && a.via != not {
				found = a
				return true
			}
		}
		return false
	})
	return found
}

// verify checks the events a node holds against what was acknowledged:
// every acknowledged event is there exactly once, at the sequence it was
// acknowledged with, and no event is there twice (an unacknowledged
// batch may be there, once).
func (ld *load) verify(t testing.TB, evs []stored) {
	t.Helper()
	ld.mu.Lock()
	defer ld.mu.Unlock()
	if ld.err != nil {
		t.Fatal(ld.err)
	}
	count := make(map[string]int, len(evs))
	at := make(map[string]int64, len(evs))
	for _, e := range evs {
		count[e.Payload]++
		at[e.Payload] = e.Seq
	}
	for p, n := range count {
		if n > 1 {
			t.Fatalf("event %s stored %d times", p, n)
		}
	}
	events := 0
	for _, a := range ld.order {
		for i, p := range a.payload {
			if count[p] != 1 || at[p] != a.seqs[i] {
				t.Fatalf("acknowledged event %s at %d: stored %d times, at %d", p, a.seqs[i], count[p], at[p])
			}
			events++
		}
	}
	t.Logf("%d acknowledged publishes (%d events) all present exactly once among %d events stored", len(ld.order), events, len(evs))
}

// stored is an event as a node holds it.
type stored struct {
	Seq     int64
	Time    int64
	Payload string
	Binary  bool
	Meta    string
}

// events reads every event of name that tn still holds.
func events(t testing.TB, tn *tnode, name string) []stored {
	t.Helper()
	info, err := tn.eng.Info(name)
	if err != nil {
		t.Fatalf("Info(%s on %s): %v", name, tn.id, err)
	}
	var rec engine.Records
	var out []stored
	for from := info.Oldest; ; {
		w, err := tn.eng.Read(name, from, 4096, &rec)
		if err != nil {
			t.Fatalf("Read(%s on %s): %v", name, tn.id, err)
		}
		for _, e := range rec.Events {
			out = append(out, stored{Seq: e.Sequence, Time: e.Time.UnixNano(), Payload: string(e.Payload),
				Binary: e.Binary, Meta: fmt.Sprint(e.Metadata)})
		}
		if len(rec.Events) == 0 || w.Next > w.Latest {
			return out
		}
		from = w.Next
	}
}

// latest returns the latest sequence of name on tn, or -2 when tn does
// not host it (yet).
func latest(tn *tnode, name string) int64 {
	info, err := tn.eng.Info(name)
	if err != nil {
		return -2
	}
	return info.Latest
}

// waitSame waits until every running node holds the same events of name
// as the leader, and returns them.
func (c *tcluster) waitSame(name string, timeout time.Duration) []stored {
	c.t.Helper()
	// Everything committed so far is applied on the leader after a read
	// index (again through the next leader if an election comes between).
	var l *tnode
	deadline := time.Now().Add(timeout)
	for {
		l = c.waitLeader(timeout)
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		_, err := l.node.ReadIndex(ctx)
		cancel()
		if err == nil {
			break
		}
		if !retryable(err) || time.Now().After(deadline) {
			c.t.Fatalf("ReadIndex: %v", err)
		}
	}
	want := latest(l, name)
	waitFor(c.t, timeout, fmt.Sprintf("every node at sequence %d of %s", want, name), func() bool {
		for _, tn := range c.live() {
			if latest(tn, name) != want {
				return false
			}
		}
		return true
	})
	ref := events(c.t, l, name)
	for _, tn := range c.live() {
		got := events(c.t, tn, name)
		if !slices.Equal(got, ref) {
			i := firstDiff(got, ref)
			c.t.Fatalf("%s holds %d events of %s that differ from the leader %s's %d (first difference at %d: %s has %s, %s has %s)",
				tn.id, len(got), name, l.id, len(ref), i, tn.id, around(got, i), l.id, around(ref, i))
		}
	}
	return ref
}

// around shows the events of evs from i-2 to i+2.
func around(evs []stored, i int) string {
	return fmt.Sprintf("%+v", evs[max(i-2, 0):min(i+3, len(evs))])
}

func firstDiff(a, b []stored) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}

// freeAddr returns a loopback address with a port free a moment ago.
func freeAddr(t testing.TB) string {
	t.Helper()
	return clustertest.FreeAddr(t)
}
