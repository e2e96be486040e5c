package api

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/raft"

	"github.com/badbatch/badbatch/cluster"
	"github.com/badbatch/badbatch/engine"
	"github.com/badbatch/badbatch/replication"
)

// Regression tests of issue 12 over HTTP (and issue 14's consistent
// reads). Each names its finding; each failed before the fix.

// raftNode is an API server with a real replication node.
type raftNode struct {
	ts   *testServer
	node *replication.Node
	lr   *lateRepl
	dir  string
	addr raft.ServerAddress
}

// raftGroup starts n API servers, each with a replication node on raft's
// in-memory transport, all voters of one group, and returns them with the
// leader first.
func raftGroup(t *testing.T, n int, edit func(*replication.Config)) []*raftNode {
	t.Helper()
	nodes := make([]*raftNode, n)
	var boot []replication.Server
	trs := make([]*raft.InmemTransport, n)
	for i := range nodes {
		addr := raft.ServerAddress(fmt.Sprintf("n%d", i+1))
		_, trs[i] = raft.NewInmemTransport(addr)
		nodes[i] = &raftNode{lr: &lateRepl{}, dir: t.TempDir(), addr: addr}
		boot = append(boot, replication.Server{ID: string(addr), Address: string(addr)})
	}
	for i, a := range trs {
		for j, b := range trs {
			if i != j {
				a.Connect(nodes[j].addr, b)
			}
		}
	}
	for i, rn := range nodes {
		rn.ts = newTestServer(t, func(_ *engine.Config, a *Config) { a.Replication = rn.lr })
		rn.start(t, trs[i], boot, edit)
	}
	var leader int
	waitFor(t, "a leader", func() bool {
		for i, rn := range nodes {
			if rn.node.IsLeader() {
				leader = i
				return true
			}
		}
		return false
	})
	nodes[0], nodes[leader] = nodes[leader], nodes[0]
	return nodes
}

// leaderOf returns the node of g that leads now, waiting for one.
func leaderOf(t *testing.T, g []*raftNode) *raftNode {
	t.Helper()
	var l *raftNode
	waitFor(t, "a leader", func() bool {
		for _, rn := range g {
			if rn.node != nil && rn.node.IsLeader() {
				l = rn
				return true
			}
		}
		return false
	})
	return l
}

// onLeader runs op on whichever node of g leads, again while it fails
// because the leader changed (an election on a loaded machine).
func onLeader(t *testing.T, g []*raftNode, op func(*raftNode) error) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		err := op(leaderOf(t, g))
		if err == nil {
			return
		}
		if !errors.Is(err, replication.ErrNotLeader) && !errors.Is(err, replication.ErrNoQuorum) && !errors.Is(err, replication.ErrOutcomeUnknown) || time.Now().After(deadline) {
			t.Fatal(err)
		}
	}
}

func (rn *raftNode) start(t *testing.T, tr raft.Transport, boot []replication.Server, edit func(*replication.Config)) {
	t.Helper()
	cfg := replication.DefaultConfig()
	cfg.NodeID, cfg.DataDir, cfg.Bootstrap = string(rn.addr), rn.dir, boot
	// Slow enough that a loaded machine seldom sees an election the test
	// did not ask for.
	cfg.HeartbeatTimeout, cfg.ElectionTimeout, cfg.LeaderLeaseTimeout = 400*time.Millisecond, 400*time.Millisecond, 400*time.Millisecond
	cfg.CommitTimeout = 5 * time.Millisecond
	if edit != nil {
		edit(&cfg)
	}
	n, err := replication.New(cfg, rn.ts.eng, replication.WithTransport(tr))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = n.Close() })
	rn.node = n
	rn.lr.p.Store(n)
}

// TestPublishNeverBypassesRaft: a follower never acknowledges a publish
// into a replicated disruptor by itself, whatever the request: one that
// claims another node forwarded it (X-Forwarded-By, which any client can
// set, so the follower does not forward it again), one to POST
// /api/v1/events (never forwarded), one to a server that is not clustered
// (as after a cluster leave: nothing is forwarded) — not even while the
// leader creates and deletes the disruptor under it, which is when the old
// handler's check of the catalog and its publish to the engine could be
// told apart. (Finding 1.)
func TestPublishNeverBypassesRaft(t *testing.T) {
	g := raftGroup(t, 2, nil)
	follower := g[1]
	ctx := context.Background()
	var local atomic.Int64
	var answers sync.Map
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for _, path := range []string{"/api/v1/disruptors/q/events", "/api/v1/events"} {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				body := any(map[string]any{"payload": "forged"})
				if path == "/api/v1/events" {
					body = map[string]any{"batches": []any{map[string]any{"disruptor": "q", "events": []any{map[string]any{"payload": "multi"}}}}}
				}
				r := follower.ts.do(t, request{method: "POST", path: path, body: body, header: map[string]string{cluster.HeaderForwardedBy: "n9"}})
				code := errCode(r)
				if path == "/api/v1/events" {
					code = fmt.Sprint(get(r.v, "results", 0, "error", "code"))
					if r.status == http.StatusOK && !follower.node.IsLeader() {
						local.Add(1)
					}
				} else if r.status/100 == 2 && !follower.node.IsLeader() {
					local.Add(1)
				}
				answers.Store(path+" "+code, true)
			}
		})
	}
	rounds := 60
	if testing.Short() {
		rounds = 20
	}
	for range rounds {
		onLeader(t, g, func(l *raftNode) error {
			_, err := l.node.Create(ctx, engine.DisruptorConfig{Name: "q"}, true)
			if errors.Is(err, engine.ErrExists) {
				return nil // an earlier attempt committed
			}
			return err
		})
		onLeader(t, g, func(l *raftNode) error {
			w, err := l.ts.eng.Writer("q")
			if errors.Is(err, engine.ErrNotFound) {
				return nil
			}
			if err != nil {
				return err
			}
			if err := w.Delete(ctx); !errors.Is(err, engine.ErrNotFound) {
				return err
			}
			return nil
		})
	}
	close(stop)
	wg.Wait()
	if n := local.Load(); n > 0 {
		t.Errorf("the follower acknowledged %d publishes into the replicated q by itself", n)
	}
	var seen []string
	answers.Range(func(k, _ any) bool { seen = append(seen, k.(string)); return true })
	t.Logf("the follower answered: %v", seen)
	// With q there, the answer is NOT_LEADER's: the leader is named.
	onLeader(t, g, func(l *raftNode) error {
		_, err := l.node.Create(ctx, engine.DisruptorConfig{Name: "q"}, true)
		return err
	})
	leader := leaderOf(t, g)
	follower = g[0]
	if follower == leader {
		follower = g[1]
	}
	waitFor(t, "the follower to apply the create", func() bool { return follower.ts.srv.hosts("q") })
	r := follower.ts.do(t, request{method: "POST", path: "/api/v1/disruptors/q/events", body: map[string]any{"payload": 1}, header: map[string]string{cluster.HeaderForwardedBy: "n9"}})
	if r.status != http.StatusServiceUnavailable || errCode(r) != CodeNoQuorum || get(r.v, "error", "details", "leader_id") != string(leader.addr) {
		t.Errorf("forged publish on the follower: %d %s", r.status, r.body)
	}
	r = follower.ts.do(t, request{method: "POST", path: "/api/v1/events", body: map[string]any{"batches": []any{map[string]any{"disruptor": "q", "events": []any{map[string]any{"payload": 1}}}}}})
	if r.status != http.StatusMultiStatus || get(r.v, "results", 0, "error", "code") != CodeNoQuorum {
		t.Errorf("multi publish on the follower: %d %s", r.status, r.body)
	}
	if info, _ := follower.ts.eng.Info("q"); info.Published != 0 {
		t.Errorf("the follower's q holds %d events", info.Published)
	}
}

// TestReadsAreDeclared: every read of one disruptor is declared a read
// in the route table, so the endpoint applies consistent= and min_index=
// to it; nothing else takes them.
func TestReadsAreDeclared(t *testing.T) {
	ts := newTestServer(t)
	for _, rt := range ts.srv.routes {
		isRead := rt.method == http.MethodGet && strings.HasPrefix(rt.pattern, "/api/v1/disruptors/{name}") && !strings.HasSuffix(rt.pattern, "/metrics")
		if rt.read != isRead {
			t.Errorf("%s %s: read %v", rt.method, rt.pattern, rt.read)
		}
	}
}

// TestStateReadIsFenced: GET .../state is a read like the others: with
// consistent=true it runs the read index (on the leader) and says the
// applied index, and consistent=junk is refused; min_index waits or
// answers CATCHING_UP. (Finding 4: before, /state ignored consistent=true,
// junk included.)
func TestStateReadIsFenced(t *testing.T) {
	fr := &fakeRepl{rings: map[string]*engine.Ring{}}
	ts := newTestServer(t, func(_ *engine.Config, a *Config) {
		a.Replication = fr
		a.ClusterNode, a.ClusterForwarder = fakeMembers{}, fakeMembers{}
	})
	fr.eng = ts.eng
	if r := ts.do(t, request{method: "POST", path: "/api/v1/disruptors", body: map[string]any{"name": "q", "replication": "quorum"}}); r.status != http.StatusCreated {
		t.Fatalf("create: %d %s", r.status, r.body)
	}
	r := ts.do(t, request{method: "GET", path: "/api/v1/disruptors/q/state?consistent=true"})
	if r.status != http.StatusOK || fr.readCount() != 1 || r.header.Get(HeaderAppliedIndex) != "42" {
		t.Errorf("state?consistent=true: %d, %d read indexes, applied index %q", r.status, fr.readCount(), r.header.Get(HeaderAppliedIndex))
	}
	for _, q := range []string{"consistent=junk", "min_index=-1", "min_index=x"} {
		if r := ts.do(t, request{method: "GET", path: "/api/v1/disruptors/q/state?" + q}); r.status != http.StatusBadRequest || errCode(r) != CodeInvalidParameter {
			t.Errorf("state?%s: %d %s", q, r.status, r.body)
		}
	}
	if r := ts.do(t, request{method: "GET", path: "/api/v1/disruptors/q/state?min_index=42"}); r.status != http.StatusOK {
		t.Errorf("state?min_index=42 on a node at 42: %d %s", r.status, r.body)
	}
	r = ts.do(t, request{method: "GET", path: "/api/v1/disruptors/q/state?min_index=43"})
	if r.status != http.StatusServiceUnavailable || errCode(r) != CodeCatchingUp || r.header.Get("Retry-After") == "" {
		t.Errorf("state?min_index=43 on a node at 42: %d %s", r.status, r.body)
	}
	if r := ts.do(t, request{method: "GET", path: "/api/v1/disruptors/q/metrics?consistent=true"}); r.status != http.StatusBadRequest {
		t.Errorf("metrics?consistent=true: %d (metrics are not a replicated read)", r.status)
	}
}

// TestTailFromAcknowledgedSequence: a live tail of a replicated
// disruptor from a sequence this node has not applied yet (one another
// node acknowledged) waits for it instead of answering 404. (Finding 3.)
func TestTailFromAcknowledgedSequence(t *testing.T) {
	g := raftGroup(t, 2, nil)
	leader, follower := g[0], g[1]
	ctx := context.Background()
	if _, err := leader.node.Create(ctx, engine.DisruptorConfig{Name: "q"}, true); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the follower to apply the create", func() bool { return follower.ts.srv.hosts("q") })
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(cctx, "GET", follower.ts.url+"/api/v1/disruptors/q/events/stream?from=2&format=ndjson", nil)
	resp, err := follower.ts.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("a tail from sequence 2 on a replica at -1: %s", resp.Status)
	}
	for i := range 3 {
		if _, err := leader.node.Publish(ctx, "q", &engine.Batch{Events: []engine.Event{{Payload: fmt.Appendf(nil, "%d", i)}}}); err != nil {
			t.Fatal(err)
		}
	}
	line, err := bufio.NewReader(resp.Body).ReadString('\n')
	if err != nil || !strings.Contains(line, `"sequence":2`) || !strings.Contains(line, `"payload":2`) {
		t.Fatalf("first line %q %v", line, err)
	}
}

// TestReadYourWritesAnywhere: a write's X-Raft-Applied-Index, given to a
// read on another node as min_index, makes that read see the write; an
// index the node does not reach in time is 503 CATCHING_UP. The
// follower's applied index is never 0. (Finding 15.)
func TestReadYourWritesAnywhere(t *testing.T) {
	g := raftGroup(t, 2, func(c *replication.Config) { c.CommitTimeout = 100 * time.Millisecond })
	leader, follower := g[0], g[1]
	follower.ts.srv.readWait = 3 * time.Second
	r := leader.ts.do(t, request{method: "POST", path: "/api/v1/disruptors", body: map[string]any{"name": "q", "replication": "quorum"}})
	if r.status != http.StatusCreated || r.header.Get(HeaderAppliedIndex) == "" {
		t.Fatalf("create: %d %q %s", r.status, r.header.Get(HeaderAppliedIndex), r.body)
	}
	// The create itself, read with its index on the follower (which may
	// not have applied it: min_index is waited for before the name is
	// looked up).
	rr := follower.ts.do(t, request{method: "GET", path: "/api/v1/disruptors/q?min_index=" + r.header.Get(HeaderAppliedIndex),
		header: map[string]string{cluster.HeaderForwardedBy: "n9"}})
	if rr.status != http.StatusOK {
		t.Fatalf("GET of a created disruptor with the create's index on the follower: %d %s", rr.status, rr.body)
	}
	for i := range 5 {
		r = leader.ts.do(t, request{method: "POST", path: "/api/v1/disruptors/q/events", body: map[string]any{"payload": i}})
		if r.status != http.StatusOK || r.header.Get(HeaderAppliedIndex) == "" {
			t.Fatalf("publish: %d %q %s", r.status, r.header.Get(HeaderAppliedIndex), r.body)
		}
		idx := r.header.Get(HeaderAppliedIndex)
		for _, p := range []string{"/api/v1/disruptors/q/events/%d?min_index=%s", "/api/v1/disruptors/q/events?from=%d&min_index=%s"} {
			rr := follower.ts.do(t, request{method: "GET", path: fmt.Sprintf(p, i, idx)})
			got, _ := strconv.ParseUint(rr.header.Get(HeaderAppliedIndex), 10, 64)
			want, _ := strconv.ParseUint(idx, 10, 64)
			if rr.status != http.StatusOK || got < want || !strings.Contains(string(rr.body), fmt.Sprintf(`"sequence":%d`, i)) {
				t.Fatalf("read of write %d at index %s on the follower: %d, applied %d, %s", i, idx, rr.status, got, rr.body)
			}
		}
	}
	follower.ts.srv.readWait = 200 * time.Millisecond
	rr = follower.ts.do(t, request{method: "GET", path: "/api/v1/disruptors/q/events?min_index=1000000"})
	if rr.status != http.StatusServiceUnavailable || errCode(rr) != CodeCatchingUp || get(rr.v, "error", "details", "min_index") != 1e6 {
		t.Fatalf("min_index past the log: %d %s", rr.status, rr.body)
	}
}

// TestFollowerKnowsNameJustCreated: right after a create is acknowledged,
// a follower asked about the name (by a request another node forwarded,
// so it cannot ask the leader) finds it: the entry is in its log, and the
// follower waits for it to apply rather than answering 404 until the
// leader tells it the entry committed. (Finding 12: before, followers
// answered 404 for up to a commit timeout after the create.)
func TestFollowerKnowsNameJustCreated(t *testing.T) {
	g := raftGroup(t, 2, func(c *replication.Config) { c.CommitTimeout = 500 * time.Millisecond })
	for i := range 5 {
		name := fmt.Sprintf("q%d", i)
		var follower *raftNode
		onLeader(t, g, func(l *raftNode) error {
			follower = g[0]
			if follower == l {
				follower = g[1]
			}
			r := l.ts.do(t, request{method: "POST", path: "/api/v1/disruptors", body: map[string]any{"name": name, "replication": "quorum"}})
			switch {
			case r.status == http.StatusCreated:
				return nil
			case errCode(r) == CodeDisruptorExists: // an earlier attempt committed
				return nil
			case errCode(r) == CodeNoQuorum || errCode(r) == CodeOutcomeUnknown || errCode(r) == CodeNotLeader:
				return replication.ErrNoQuorum
			}
			return fmt.Errorf("create: %d %s", r.status, r.body)
		})
		r := follower.ts.do(t, request{method: "GET", path: "/api/v1/disruptors/" + name, header: map[string]string{cluster.HeaderForwardedBy: "n9"}})
		if r.status != http.StatusOK || get(r.v, "replication") != ReplicationQuorum {
			t.Fatalf("GET %s on the follower right after the create: %d %s", name, r.status, r.body)
		}
	}
	if r := g[1].ts.do(t, request{method: "GET", path: "/api/v1/disruptors/nope"}); r.status != http.StatusNotFound {
		t.Errorf("GET of a name nobody created: %d %s", r.status, r.body)
	}
}

// TestRestartedNodeNeverDeniesName: a restarted node answers for the
// replicated disruptors it had, from the moment it serves, with its
// events and an applied index that is not 0; until it hears from a leader
// it is not ready, and a name it does not know is 503 CATCHING_UP (it may
// exist), not 404. (Findings 12 and 15: before, the restarted node
// answered 404 for its replicated disruptors, with applied index 0, until
// the leader reached it.)
func TestRestartedNodeNeverDeniesName(t *testing.T) {
	g := raftGroup(t, 3, nil)
	leader := g[0]
	if r := leader.ts.do(t, request{method: "POST", path: "/api/v1/disruptors", body: map[string]any{"name": "q", "replication": "quorum"}}); r.status != http.StatusCreated {
		t.Fatalf("create: %d %s", r.status, r.body)
	}
	for i := range 10 {
		if r := leader.ts.do(t, request{method: "POST", path: "/api/v1/disruptors/q/events", body: map[string]any{"payload": i}}); r.status != http.StatusOK {
			t.Fatalf("publish: %d %s", r.status, r.body)
		}
	}
	victim := g[2]
	waitFor(t, string(victim.addr)+" to apply everything", func() bool {
		info, err := victim.ts.eng.Info("q")
		return err == nil && info.Latest == 9
	})
	time.Sleep(300 * time.Millisecond) // its applied index is saved
	for _, rn := range g {
		_ = rn.node.Close()
	}
	// The victim comes back alone, in a fresh process: a new engine and
	// server over its data directory, and no leader to hear from.
	victim.ts = newTestServer(t, func(_ *engine.Config, a *Config) { a.Replication = victim.lr })
	_, tr := raft.NewInmemTransport(victim.addr)
	victim.start(t, tr, nil, nil)
	r := victim.ts.do(t, request{method: "GET", path: "/api/v1/disruptors/q/events?from=0&limit=100"})
	if r.status != http.StatusOK || r.header.Get(HeaderAppliedIndex) == "0" || len(get(r.v, "events").([]any)) != 10 {
		t.Fatalf("the restarted node on q: %d applied index %q %s", r.status, r.header.Get(HeaderAppliedIndex), r.body)
	}
	// Alone, it has no leader to catch up with: ready (nodes restarted
	// together must not all wait for one another); but it cannot tell
	// whether a name it does not know exists.
	if r := victim.ts.do(t, request{method: "GET", path: "/health/ready"}); r.status != http.StatusOK {
		t.Errorf("readiness alone after a restart: %d %s", r.status, r.body)
	}
	victim.ts.srv.readWait = 200 * time.Millisecond
	r = victim.ts.do(t, request{method: "GET", path: "/api/v1/disruptors/created-while-down"})
	if r.status != http.StatusServiceUnavailable || errCode(r) != CodeCatchingUp || r.header.Get("Retry-After") == "" {
		t.Errorf("a name the node cannot know yet: %d %s", r.status, r.body)
	}
}

// TestConsistentReadsWriteNothing: consistent reads over HTTP cost no log
// entry, and see the writes acknowledged before them. (Issue 14: before,
// each appended a barrier entry that a quorum fsynced.)
func TestConsistentReadsWriteNothing(t *testing.T) {
	g := raftGroup(t, 3, nil)
	leader := g[0]
	if r := leader.ts.do(t, request{method: "POST", path: "/api/v1/disruptors", body: map[string]any{"name": "q", "replication": "quorum"}}); r.status != http.StatusCreated {
		t.Fatalf("create: %d %s", r.status, r.body)
	}
	if r := leader.ts.do(t, request{method: "POST", path: "/api/v1/disruptors/q/events", body: map[string]any{"payload": 1}}); r.status != http.StatusOK {
		t.Fatalf("publish: %d %s", r.status, r.body)
	}
	before := leader.node.Status().LastIndex
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 5 {
				r := leader.ts.do(t, request{method: "GET", path: "/api/v1/disruptors/q/events/0?consistent=true"})
				if r.status != http.StatusOK {
					t.Errorf("consistent read: %d %s", r.status, r.body)
				}
			}
		})
	}
	wg.Wait()
	if after := leader.node.Status().LastIndex; after != before {
		t.Errorf("40 consistent reads appended %d log entries", after-before)
	}
}

// TestDedupWindowFullOverHTTP: a new idempotency key while the
// disruptor's window holds its maximum is 429 DEDUP_WINDOW_FULL with the
// time until the oldest key expires, and publishes nothing. (Finding 11.)
func TestDedupWindowFullOverHTTP(t *testing.T) {
	ts := newTestServer(t, func(e *engine.Config, _ *Config) { e.DedupMaxKeys = 2; e.DedupWindow = time.Hour })
	if r := ts.do(t, request{method: "POST", path: "/api/v1/disruptors", body: map[string]any{"name": "d"}}); r.status != http.StatusCreated {
		t.Fatal(r.status)
	}
	for _, k := range []string{"a", "b"} {
		if r := ts.do(t, request{method: "POST", path: "/api/v1/disruptors/d/events", body: map[string]any{"payload": k}, header: map[string]string{"Idempotency-Key": k}}); r.status != http.StatusOK {
			t.Fatalf("%s: %d %s", k, r.status, r.body)
		}
	}
	r := ts.do(t, request{method: "POST", path: "/api/v1/disruptors/d/events", body: map[string]any{"payload": "c"}, header: map[string]string{"Idempotency-Key": "c"}})
	ra, _ := strconv.Atoi(r.header.Get("Retry-After"))
	if r.status != http.StatusTooManyRequests || errCode(r) != CodeDedupWindowFull || ra < 3500 || ra > 3600 {
		t.Fatalf("a third key: %d Retry-After %q %s", r.status, r.header.Get("Retry-After"), r.body)
	}
	if r := ts.do(t, request{method: "POST", path: "/api/v1/disruptors/d/events", body: map[string]any{"payload": "a"}, header: map[string]string{"Idempotency-Key": "a"}}); r.status != http.StatusOK || r.header.Get("Idempotent-Replayed") != "true" {
		t.Fatalf("a retry of a: %d %s", r.status, r.body)
	}
	if info, _ := ts.eng.Info("d"); info.Published != 2 {
		t.Fatalf("%d events published", info.Published)
	}
}
