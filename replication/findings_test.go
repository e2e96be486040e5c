package replication

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/raft"

	"github.com/badbatch/badbatch/engine"
)

// Regression tests of issue 12 (and issue 14's consistent reads). Each
// says which finding it covers; each failed on the code before the fix
// (the report of the change has the output).

// faults makes local operations of an FSM fail on demand.
type faults struct {
	mu   sync.Mutex
	left map[string]int // op → failures still to come
	seen map[string]int // op → failures given
}

func newFaults() *faults { return &faults{left: map[string]int{}, seen: map[string]int{}} }

func (fs *faults) set(op string, n int) {
	fs.mu.Lock()
	fs.left[op] = n
	fs.mu.Unlock()
}

func (fs *faults) given(op string) int {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	return fs.seen[op]
}

var errLocal = errors.New("a local failure")

func (fs *faults) hook(op, _ string) error {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	if fs.left[op] > 0 {
		fs.left[op]--
		fs.seen[op]++
		return errLocal
	}
	return nil
}

// TestReplicatedRingHasOneDoor: a replicated ring is owned by the Node
// from its creation: the engine refuses to publish into it, change its
// state or delete it directly, and the Writer it resolves for the name
// proposes through the log, so its events are on every node. (Finding 1:
// before, the engine took a direct publish into a replicated ring and
// acknowledged it, on one node only.)
func TestReplicatedRingHasOneDoor(t *testing.T) {
	c := newCluster(t, 3, true, nil)
	c.create(engine.DisruptorConfig{Name: "q"})
	ctx := context.Background()
	for _, tn := range c.live() {
		waitFor(t, 10*time.Second, tn.id+" to apply the create", func() bool { return latest(tn, "q") == -1 })
		b := engine.Batch{Events: []engine.Event{{Payload: []byte(`"direct"`)}}}
		if _, err := tn.eng.Publish(ctx, "q", &b); !errors.Is(err, engine.ErrReplicated) {
			t.Errorf("%s: a direct engine publish into q: %v", tn.id, err)
		}
		if _, err := tn.eng.SetState(ctx, "q", engine.StatePaused); !errors.Is(err, engine.ErrReplicated) {
			t.Errorf("%s: a direct engine state change of q: %v", tn.id, err)
		}
		if err := tn.eng.Delete(ctx, "q"); !errors.Is(err, engine.ErrReplicated) {
			t.Errorf("%s: a direct engine delete of q: %v", tn.id, err)
		}
		if info, err := tn.eng.Info("q"); err != nil || !info.Owned {
			t.Errorf("%s: q is not owned: %+v %v", tn.id, info, err)
		}
	}
	l := c.waitLeader(10 * time.Second)
	w, err := l.eng.Writer("q")
	if err != nil {
		t.Fatal(err)
	}
	before := l.node.raft.LastIndex()
	if first, err := w.Publish(ctx, &engine.Batch{Events: []engine.Event{{Payload: []byte(`"through the log"`)}}}); err != nil || first != 0 {
		t.Fatalf("publish through the leader's writer: %d %v", first, err)
	}
	if l.node.raft.LastIndex() == before {
		t.Fatal("the writer's publish did not go through the log")
	}
	for _, tn := range c.live() {
		if tn == l {
			continue
		}
		fw, err := tn.eng.Writer("q")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := fw.Publish(ctx, &engine.Batch{Events: []engine.Event{{Payload: []byte(`"follower"`)}}}); !errors.Is(err, ErrNotLeader) {
			t.Errorf("%s: publish through a follower's writer: %v, want ErrNotLeader", tn.id, err)
		}
	}
	if evs := c.waitSame("q", 10*time.Second); len(evs) != 1 {
		t.Fatalf("%d events, want 1", len(evs))
	}
}

// TestFSMLocalFailureIsNotTheOutcome: a failure local to one node (the
// local ring fails to start, to change state, to take a publish) is never
// a command's result, which every other node applied: the FSM reports
// itself stalled, retries, and the result is the command's own; the local
// ring ends in the replicated state, and the catalog keeps the ring.
// (Finding 2: before, a failed SetState was only logged, leaving the ring
// in another state than the catalog's; a failed start dropped the ring
// from the catalog while the engine kept it; and on the leader the local
// error was answered as a definite failure.)
func TestFSMLocalFailureIsNotTheOutcome(t *testing.T) {
	f := newTestFSM(t)
	fs := newFaults()
	f.setFault(fs.hook)
	apply := func(ts int64, op string, n int, cmd []byte) result {
		t.Helper()
		fs.set(op, n)
		done := make(chan []result, 1)
		go func() { done <- f.applyAt(t, ts, cmd) }()
		select {
		case res := <-done:
			if fs.given(op) < n {
				t.Fatalf("%s failed %d times of %d", op, fs.given(op), n)
			}
			return res[0]
		case <-time.After(20 * time.Second):
			t.Fatalf("%s: still not applied", op)
		}
		return result{}
	}
	if res := apply(1, "state", 3, createCmd("q", 16, true)); res.err != nil {
		t.Fatalf("create with a start failing 3 times: %v", res.err)
	}
	if ri, ok := f.lookup("q"); !ok || ri.State != engine.StateRunning {
		t.Fatalf("the catalog lost q: %+v %v", ri, ok)
	}
	if info, _ := f.eng.Info("q"); info.State != engine.StateRunning {
		t.Fatalf("local q is %s after its start failed and was retried", info.State)
	}
	if res := apply(2, "publish", 2, pubCmd("q", "k", "1", "2")); res.err != nil || res.first != 0 || res.count != 2 {
		t.Fatalf("publish failing twice locally: %+v", res)
	}
	if res := apply(3, "state", 2, appendSetState(nil, "q", engine.StatePaused)); res.err != nil {
		t.Fatalf("pause failing twice locally: %v", res.err)
	}
	if info, _ := f.eng.Info("q"); info.State != engine.StatePaused {
		t.Fatalf("local q is %s, the catalog's is paused", info.State)
	}
	if res := apply(4, "create", 2, createCmd("r", 16, false)); res.err != nil {
		t.Fatalf("create failing twice locally: %v", res.err)
	}
	if _, ok := f.lookup("r"); !ok {
		t.Fatal("r not in the catalog")
	}
	if f.stalled.Load() {
		t.Fatal("still reported stalled")
	}
	// The replicated state decides: a publish to the paused ring is the
	// state error on every node, not a local one.
	if res := apply(5, "publish", 0, pubCmd("q", "", "3")); !errors.Is(res.err, engine.ErrNotRunning) {
		t.Fatalf("publish to paused q: %v", res.err)
	}
}

// TestFSMLocalFailureStalls: while a local failure persists the FSM says
// it is stalled and does not move on to the next entry.
func TestFSMLocalFailureStalls(t *testing.T) {
	f := newTestFSM(t)
	fs := newFaults()
	f.setFault(fs.hook)
	f.applyAt(t, 1, createCmd("q", 16, true))
	fs.set("publish", 1<<30)
	done := make(chan []result, 1)
	go func() { done <- f.applyAt(t, 2, pubCmd("q", "", "1")) }()
	waitFor(t, 10*time.Second, "the FSM to say it is stalled", f.stalled.Load)
	select {
	case <-done:
		t.Fatal("applied while the local ring refuses")
	case <-time.After(50 * time.Millisecond):
	}
	fs.set("publish", 0)
	select {
	case res := <-done:
		if res[0].err != nil || res[0].first != 0 {
			t.Fatalf("%+v", res[0])
		}
	case <-time.After(10 * time.Second):
		t.Fatal("still stalled")
	}
}

// TestFSMRestoreContinuesTails: a snapshot installed on a replica
// continues, in place, every ring whose local copy it extends, so their
// live tails go on with the events they lacked; a ring that was deleted
// and created again meanwhile is replaced, and its tails end with
// "replaced" (resume after the last event) rather than "deleted"; a ring
// the snapshot lacks ends with "deleted". (Finding 6: before, Restore
// deleted and rebuilt every ring, ending every live tail with "deleted".)
func TestFSMRestoreContinuesTails(t *testing.T) {
	src, dst := newTestFSM(t), newTestFSM(t)
	both := func(ts int64, cmds ...[]byte) {
		src.applyAt(t, ts, cmds...)
		dst.applyAt(t, ts, cmds...)
	}
	both(1, createCmd("q", 8, true), createCmd("p", 8, true), createCmd("gone", 8, true), createCmd("re", 8, true))
	both(2, pubCmd("q", "", "1", "2"), pubCmd("p", "k", "x"), pubCmd("re", "", "old"))
	// The leader goes on while dst is away: q wraps its ring (12 more
	// events in 8 slots), p is paused, gone is deleted, re is deleted and
	// created again.
	for i := range 6 {
		src.applyAt(t, int64(3+i), pubCmd("q", "", fmt.Sprintf("a%d", i), fmt.Sprintf("b%d", i)))
	}
	src.applyAt(t, 10, appendSetState(nil, "p", engine.StatePaused), appendDelete(nil, "gone"), appendDelete(nil, "re"))
	src.applyAt(t, 11, createCmd("re", 8, true))
	src.applyAt(t, 12, pubCmd("re", "", "new"))
	subs := map[string]*engine.Subscription{}
	for _, name := range []string{"q", "p", "gone", "re"} {
		sub, err := dst.eng.Subscribe(name, engine.SubscribeOptions{From: 0})
		if err != nil {
			t.Fatal(err)
		}
		defer sub.Close()
		subs[name] = sub
	}
	// dst's q holds 0..1, the snapshot's q window is 6..13: a gap, so q is
	// replaced; p is the same ring, paused since: continued in place.
	data := snapshotOf(t, src)
	if err := dst.Restore(io.NopCloser(bytes.NewReader(data))); err != nil {
		t.Fatal(err)
	}
	sameRings(t, src, dst, "q", "p", "re")
	tail := func(name string, n int) string {
		t.Helper()
		evs, err := followN(subs[name], n, 5*time.Second)
		var ee *engine.EndError
		out := ""
		for _, e := range evs {
			out += fmt.Sprintf("%d:%s ", e.Sequence, e.Payload)
		}
		if errors.As(err, &ee) {
			out += "end:" + string(ee.Reason)
		} else if err != nil {
			out += "err:" + err.Error()
		}
		return out
	}
	if got := tail("q", 100); got != "0:1 1:2 end:replaced" {
		t.Errorf("q's tail: %s", got)
	}
	if got := tail("gone", 100); got != "end:deleted" {
		t.Errorf("gone's tail: %s", got)
	}
	if got := tail("re", 100); got != "0:old end:replaced" {
		t.Errorf("re's tail: %s", got)
	}
	// p continued in place: its tail is still open, with its event.
	if got := tail("p", 1); got != "0:x " {
		t.Errorf("p's tail: %q", got)
	}
}

// TestFSMRestoreContinuesInPlace: a replica whose rings the snapshot
// extends gets the events it lacked into the same rings, and its live
// tails see them at their sequences, without ending.
func TestFSMRestoreContinuesInPlace(t *testing.T) {
	src, dst := newTestFSM(t), newTestFSM(t)
	both := func(ts int64, cmds ...[]byte) {
		src.applyAt(t, ts, cmds...)
		dst.applyAt(t, ts, cmds...)
	}
	both(1, createCmd("q", 64, true), createCmd("c", 64, false))
	both(2, pubCmd("q", "k1", "1", "2"))
	src.applyAt(t, 3, pubCmd("q", "k2", "3"), pubCmd("q", "", "4"))
	src.applyAt(t, 4, appendSetState(nil, "c", engine.StateRunning))
	src.applyAt(t, 5, pubCmd("c", "", "c0"), appendSetState(nil, "q", engine.StatePaused))
	sub, err := dst.eng.Subscribe("q", engine.SubscribeOptions{From: 0})
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	csub, err := dst.eng.Subscribe("c", engine.SubscribeOptions{From: 0})
	if err != nil {
		t.Fatal(err)
	}
	defer csub.Close()
	if err := dst.Restore(io.NopCloser(bytes.NewReader(snapshotOf(t, src)))); err != nil {
		t.Fatal(err)
	}
	sameRings(t, src, dst, "q", "c")
	evs, err := followN(sub, 4, 5*time.Second)
	if err != nil || len(evs) != 4 || string(evs[3].Payload) != "4" || evs[3].Sequence != 3 {
		t.Fatalf("q's tail across the restore: %v %v", evs, err)
	}
	if evs, err := followN(csub, 1, 5*time.Second); err != nil || len(evs) != 1 || string(evs[0].Payload) != "c0" {
		t.Fatalf("c's tail across the restore: %v %v", evs, err)
	}
	// The keys came with the snapshot: a retry of k2 is a duplicate.
	dst.applyAt(t, 6, appendSetState(nil, "q", engine.StateRunning))
	if res := dst.applyAt(t, 7, pubCmd("q", "k2", "3")); !res[0].duplicate || res[0].first != 2 {
		t.Fatalf("retry of k2 after the restore: %+v", res[0])
	}
}

// followN reads up to n events from sub, waiting up to timeout, and
// returns them with the error that ended the tail, if it ended.
func followN(sub *engine.Subscription, n int, timeout time.Duration) ([]engine.Event, error) {
	var out []engine.Event
	var rec engine.Records
	deadline := time.Now().Add(timeout)
	for len(out) < n && time.Now().Before(deadline) {
		_, err := sub.Poll(&rec, n-len(out))
		for _, e := range rec.Events {
			e.Payload = append([]byte(nil), e.Payload...)
			out = append(out, e)
		}
		if err != nil {
			return out, err
		}
		if len(rec.Events) == 0 {
			select {
			case <-sub.Wait():
			case <-time.After(10 * time.Millisecond):
			}
		}
	}
	return out, nil
}

// TestRefusedBeforeProposing: on the leader, a publish the state machine
// would refuse on every node (unknown ring, a ring not running, an empty
// or oversize batch, an oversize event, a schema violation), and a state
// change or delete it would refuse, are refused before anything is
// proposed: no log entry, nothing in raft's log cache. (Finding 9:
// before, every refused publish cost a log entry fsynced on a majority.)
func TestRefusedBeforeProposing(t *testing.T) {
	c := newCluster(t, 1, true, nil)
	c.create(engine.DisruptorConfig{Name: "q", MaxEventSize: 16, BufferSize: 8})
	c.create(engine.DisruptorConfig{Name: "s", Schema: []byte(`{"type":"object"}`)})
	l := c.leader()
	ctx := context.Background()
	if _, err := l.node.SetState(ctx, "s", engine.StatePaused); err != nil {
		t.Fatal(err)
	}
	if _, err := l.node.SetState(ctx, "s", engine.StateRunning); err != nil {
		t.Fatal(err)
	}
	ev := func(p string) engine.Event { return engine.Event{Payload: []byte(p)} }
	c.create(engine.DisruptorConfig{Name: "idle"})
	if _, err := l.node.SetState(ctx, "idle", engine.StatePaused); err != nil {
		t.Fatal(err)
	}
	before := l.node.raft.LastIndex()
	for _, tc := range []struct {
		name   string
		ring   string
		events []engine.Event
		want   error
	}{
		{"unknown ring", "nope", []engine.Event{ev("1")}, engine.ErrNotFound},
		{"paused ring", "idle", []engine.Event{ev("1")}, engine.ErrNotRunning},
		{"event too large", "q", []engine.Event{ev(string(bytes.Repeat([]byte("x"), 100)))}, engine.ErrEventTooLarge},
		{"batch larger than the ring", "q", make([]engine.Event, 9), engine.ErrBatchTooLarge},
		{"schema violation", "s", []engine.Event{ev("1")}, engine.ErrSchemaViolation},
		{"empty metadata key", "q", []engine.Event{{Payload: []byte("1"), Metadata: []engine.Metadata{{}}}}, engine.ErrInvalidEvent},
	} {
		if _, err := l.node.Publish(ctx, tc.ring, &engine.Batch{Events: tc.events}); !errors.Is(err, tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, err, tc.want)
		}
	}
	if _, err := l.node.SetState(ctx, "q", engine.StateCreated); !errors.Is(err, engine.ErrInvalidTransition) {
		t.Errorf("q back to created: %v", err)
	}
	if _, err := l.node.SetState(ctx, "nope", engine.StatePaused); !errors.Is(err, engine.ErrNotFound) {
		t.Errorf("state of an unknown ring: %v", err)
	}
	if err := l.node.Delete(ctx, "nope"); !errors.Is(err, engine.ErrNotFound) {
		t.Errorf("delete of an unknown ring: %v", err)
	}
	if after := l.node.raft.LastIndex(); after != before {
		t.Errorf("refused changes appended %d log entries", after-before)
	}
}

// TestReadIndexWritesNothing: a consistent read's fence (ReadIndex)
// appends nothing to the log, however many readers there are at once,
// sees every write acknowledged before it, refuses on a follower, and
// honours its context. (Issue 14: before, each consistent read appended
// a barrier entry that a quorum fsynced.)
func TestReadIndexWritesNothing(t *testing.T) {
	c := newCluster(t, 3, true, nil)
	c.create(engine.DisruptorConfig{Name: "q"})
	ctx := context.Background()
	// On a loaded machine an election may come in the middle (a new
	// leader appends its no-op): a round that saw the term change is
	// measured again.
	for attempt := 1; ; attempt++ {
		if _, err := c.publish(nil, "q", &engine.Batch{Events: []engine.Event{{Payload: []byte("1")}}}); err != nil {
			t.Fatal(err)
		}
		l := c.waitLeader(10 * time.Second)
		term := l.node.raft.CurrentTerm()
		wrote := l.node.AppliedIndex()
		before := l.node.raft.LastIndex()
		var wg sync.WaitGroup
		var reads, failed atomic.Int64
		for range 50 {
			wg.Go(func() {
				for range 4 {
					idx, err := l.node.ReadIndex(ctx)
					if err != nil {
						failed.Add(1)
						if !errors.Is(err, ErrNotLeader) && !errors.Is(err, ErrNoQuorum) {
							t.Error(err)
						}
						return
					}
					if idx < wrote {
						t.Errorf("a read index %d below an acknowledged write at %d", idx, wrote)
					}
					reads.Add(1)
				}
			})
		}
		wg.Wait()
		after := l.node.raft.LastIndex()
		if l.node.raft.CurrentTerm() != term || failed.Load() > 0 {
			if attempt == 3 {
				t.Fatalf("an election in each of %d rounds", attempt)
			}
			t.Logf("round %d: an election meanwhile; again", attempt)
			continue
		}
		if after != before {
			t.Errorf("%d consistent reads appended %d log entries", reads.Load(), after-before)
		}
		for _, tn := range c.live() {
			if tn != l {
				if _, err := tn.node.ReadIndex(ctx); !errors.Is(err, ErrNotLeader) && !errors.Is(err, ErrNoQuorum) {
					t.Errorf("ReadIndex on follower %s: %v", tn.id, err)
				}
			}
		}
		cctx, cancel := context.WithCancel(ctx)
		cancel()
		if _, err := l.node.ReadIndex(cctx); !errors.Is(err, context.Canceled) {
			t.Errorf("ReadIndex with a cancelled context: %v", err)
		}
		return
	}
}

// TestCloseWithStalledStateMachine: Node.Close returns within its bound
// when the state machine is stalled on a local condition and every
// in-flight slot is taken, and every proposal gets an answer. (Finding 5:
// before, Close waited for ever on the batcher, which waited for a slot.)
func TestCloseWithStalledStateMachine(t *testing.T) {
	ec := testEngineConfig()
	ec.MaxDisruptors = 1
	eng, err := engine.New(ec)
	if err != nil {
		t.Fatal(err)
	}
	defer eng.Close(context.Background())
	_, tr := raft.NewInmemTransport("")
	cfg := testConfig("n1", t.TempDir())
	cfg.MaxInflight, cfg.QueueSize = 1, 4
	cfg.Bootstrap = []Server{{ID: "n1", Address: string(tr.LocalAddr())}}
	n, err := New(cfg, eng, WithTransport(tr))
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "a leader", n.IsLeader)
	// A local disruptor takes the engine's only place: the create of a
	// replicated one stalls the state machine, and the creates behind it
	// fill the in-flight slot and the queue.
	if _, err := eng.Create(engine.DisruptorConfig{Name: "l"}, true); err != nil {
		t.Fatal(err)
	}
	errs := make(chan error, 8)
	for i := range 8 {
		go func() {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			_, err := n.Create(ctx, engine.DisruptorConfig{Name: fmt.Sprintf("x%d", i)}, true)
			errs <- err
		}()
	}
	waitFor(t, 10*time.Second, "the state machine to stall", n.fsm.stalled.Load)
	time.Sleep(200 * time.Millisecond) // the creates behind it queue
	start := time.Now()
	done := make(chan error, 1)
	go func() { done <- n.Close() }()
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		t.Fatal("Node.Close did not return within 20 s with the state machine stalled and the in-flight slots full")
	}
	t.Logf("Close took %v", time.Since(start).Round(time.Millisecond))
	for range 8 {
		select {
		case err := <-errs:
			if err == nil || !(errors.Is(err, ErrClosed) || errors.Is(err, ErrOutcomeUnknown)) {
				t.Errorf("a create answered %v after Close", err)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("a create got no answer")
		}
	}
}

// TestRestartAppliesCommittedLog: a node restarted alone (no leader to
// hear from) applies the log it knows to be committed before New
// returns, so its replicated rings are there with their events, its
// applied index is not 0, and it says it has not caught up; once the
// others are back and a leader reaches it, it has. (Findings 12 and 15:
// before, a restarted node applied nothing but its last snapshot until
// the leader reached it, answering 404 for the rings created since, with
// an applied index of 0.)
func TestRestartAppliesCommittedLog(t *testing.T) {
	c := newCluster(t, 3, true, nil)
	c.create(engine.DisruptorConfig{Name: "q"})
	for i := range 20 {
		if _, err := c.publish(nil, "q", &engine.Batch{Events: []engine.Event{{Payload: fmt.Appendf(nil, "%d", i)}}}); err != nil {
			t.Fatal(err)
		}
	}
	want := c.waitSame("q", 10*time.Second)
	time.Sleep(3 * appliedSaveInterval) // the applied index is saved
	for _, tn := range c.live() {
		c.kill(tn)
	}
	tn := c.nodes[1]
	c.start(tn, false)
	<-tn.node.fsm.ready // the replay, on its own goroutine, is over
	if got := events(t, tn, "q"); len(got) != len(want) {
		t.Fatalf("restarted alone, %s holds %d events of q, want %d", tn.id, len(got), len(want))
	}
	if st := tn.node.Status(); st.AppliedIndex == 0 || st.CaughtUp || st.LeaderID != "" {
		t.Fatalf("restarted alone: %+v", st)
	}
	for _, o := range c.nodes {
		if o != tn {
			c.start(o, false)
		}
	}
	c.waitLeader(20 * time.Second)
	waitFor(t, 10*time.Second, tn.id+" to catch up", tn.node.CaughtUp)
}

// TestAppliedIndexIsTheEngines: the applied index a node reports (its
// reads' X-Raft-Applied-Index) is what its engine reflects, not raft's
// count of entries handed to the state machine: while the state machine
// is held up on an entry, the index stays below it, and a wait for it
// waits.
func TestAppliedIndexIsTheEngines(t *testing.T) {
	c := newCluster(t, 1, true, nil)
	c.create(engine.DisruptorConfig{Name: "q"})
	l := c.leader()
	fs := newFaults()
	fs.set("publish", 1<<30)
	l.node.fsm.setFault(fs.hook)
	done := make(chan error, 1)
	go func() {
		_, err := l.node.Publish(context.Background(), "q", &engine.Batch{Events: []engine.Event{{Payload: []byte("1")}}})
		done <- err
	}()
	waitFor(t, 10*time.Second, "the state machine to stall", l.node.fsm.stalled.Load)
	waitFor(t, 10*time.Second, "raft to hand the entry over", func() bool { return l.node.raft.AppliedIndex() > l.node.AppliedIndex() })
	handed := l.node.raft.AppliedIndex()
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	err := l.node.WaitApplied(ctx, handed)
	cancel()
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("waiting for an entry the engine has not applied: %v", err)
	}
	fs.set("publish", 0)
	if err := l.node.WaitApplied(context.Background(), handed); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if info, _ := l.eng.Info("q"); info.Latest != 0 {
		t.Fatalf("latest %d", info.Latest)
	}
}

// TestCatchingUp: a node that joins behind the others learns the commit
// index from the leader and says it is catching up until it has applied
// that far (readiness follows CatchingUp); a node alone after a restart,
// with no leader to learn from, is not catching up (nothing to catch up
// to), though it has not caught up either.
func TestCatchingUp(t *testing.T) {
	c := newCluster(t, 3, true, nil)
	c.create(engine.DisruptorConfig{Name: "q"})
	for i := range 20 {
		if _, err := c.publish(nil, "q", &engine.Batch{Events: []engine.Event{{Payload: fmt.Appendf(nil, "%d", i)}}}); err != nil {
			t.Fatal(err)
		}
	}
	l := c.waitLeader(10 * time.Second)
	tn := &tnode{i: 3, id: "n4", dir: t.TempDir(), addr: "n4"}
	c.mu.Lock()
	c.nodes = append(c.nodes, tn)
	c.mu.Unlock()
	c.start(tn, false)
	if tn.node.CatchingUp() || tn.node.CaughtUp() {
		t.Fatalf("a node no leader reached yet: catching up %v, caught up %v", tn.node.CatchingUp(), tn.node.CaughtUp())
	}
	fs := newFaults()
	fs.set("create", 1<<30) // the ring q cannot be created here for now
	tn.node.fsm.setFault(fs.hook)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := l.node.AddNonvoter(ctx, tn.id, tn.addr); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "n4 to learn the commit index and stall", func() bool { return tn.node.CatchingUp() && tn.node.fsm.stalled.Load() })
	if tn.node.CaughtUp() || tn.node.Status().CaughtUp {
		t.Fatal("n4 says it caught up while its state machine is held up")
	}
	fs.set("create", 0)
	waitFor(t, 10*time.Second, "n4 to catch up", tn.node.CaughtUp)
	if tn.node.CatchingUp() {
		t.Fatal("n4 caught up and is still catching up")
	}
	if got := events(t, tn, "q"); len(got) != 20 {
		t.Fatalf("n4 holds %d events", len(got))
	}
}
