package replication

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/hashicorp/raft"

	"github.com/badbatch/badbatch/engine"
)

// The state machine is tested here without Raft: entries are encoded as
// the leader would, and applied in order.

// testFSM is an FSM on its own engine.
type testFSM struct {
	*fsm
	eng   *engine.Engine
	index uint64
}

func newTestFSM(t *testing.T) *testFSM {
	t.Helper()
	eng := newTestEngine(t)
	t.Cleanup(func() { _ = eng.Close(context.Background()) })
	return &testFSM{fsm: newFSM(context.Background(), eng, discardLogger), eng: eng}
}

// applyAt applies one entry of the given commands stamped at Unix ns ts.
func (f *testFSM) applyAt(t *testing.T, ts int64, cmds ...[]byte) []result {
	t.Helper()
	data := appendEntryHeader(nil, ts, len(cmds))
	for _, c := range cmds {
		data = append(data, c...)
	}
	f.index = max(f.index, f.applied.Load()) + 1 // after a restore, past the snapshot's index
	out := f.Apply(&raft.Log{Index: f.index, Type: raft.LogCommand, Data: data})
	res, ok := out.([]result)
	if !ok {
		t.Fatalf("Apply returned %v", out)
	}
	return res
}

func createCmd(name string, bufferSize int, start bool) []byte {
	cfg := resolved(engine.DisruptorConfig{Name: name, BufferSize: bufferSize})
	return appendCreate(nil, ringSpec{Config: cfg, DedupWindow: time.Minute, DedupMax: 1000}, start)
}

// resolved is cfg as a leader with the test engine's configuration would
// record it.
func resolved(cfg engine.DisruptorConfig) engine.DisruptorConfig {
	r, err := testEngineConfig().Resolve(cfg)
	if err != nil {
		panic(err)
	}
	return r
}

func pubCmd(name, key string, payloads ...string) []byte {
	var evs []engine.Event
	for _, p := range payloads {
		evs = append(evs, engine.Event{Payload: []byte(p)})
	}
	return appendPublish(nil, name, key, evs)
}

// readAll returns every event f's engine holds of name, as strings.
func readAll(t *testing.T, eng *engine.Engine, name string) []string {
	t.Helper()
	info, err := eng.Info(name)
	if err != nil {
		t.Fatal(err)
	}
	var rec engine.Records
	if info.Latest < info.Oldest { // an empty window
		return nil
	}
	if _, err := eng.Read(name, info.Oldest, int(info.Latest-info.Oldest+1), &rec); err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range rec.Events {
		out = append(out, fmt.Sprintf("%d@%d:%s:%v:%v", e.Sequence, e.Time.UnixNano(), e.Payload, e.Binary, e.Metadata))
	}
	return out
}

// resultString renders results for comparison.
func resultString(rs []result) string {
	var b bytes.Buffer
	for _, r := range rs {
		fmt.Fprintf(&b, "[%d+%d dup=%v err=%v]", r.first, r.count, r.duplicate, r.err)
	}
	return b.String()
}

// Two state machines applying the same entries end up with the same
// results, catalog and rings: the property replication rests on.
func TestFSMDeterministic(t *testing.T) {
	steps := []struct {
		name string
		cmds [][]byte
		want string // results
	}{
		{"create", [][]byte{createCmd("a", 16, true), createCmd("b", 16, false)}, "[0+0 dup=false err=<nil>][0+0 dup=false err=<nil>]"},
		{"create twice", [][]byte{createCmd("a", 16, true)}, `[0+0 dup=false err=engine: disruptor already exists: "a"]`},
		{"publish", [][]byte{pubCmd("a", "", "1", "2"), pubCmd("a", "k1", "3")}, "[0+2 dup=false err=<nil>][2+1 dup=false err=<nil>]"},
		{"retry", [][]byte{pubCmd("a", "k1", "3")}, "[2+1 dup=true err=<nil>]"},
		{"key reused", [][]byte{pubCmd("a", "k1", "other")}, `[0+0 dup=false err=engine: idempotency key reused with a different batch: key "k1"]`},
		{"not running", [][]byte{pubCmd("b", "", "x")}, `[0+0 dup=false err=engine: disruptor "b" is created, not running]`},
		{"unknown", [][]byte{pubCmd("zz", "", "x")}, `[0+0 dup=false err=engine: disruptor not found: "zz" is not a replicated disruptor]`},
		{"pause", [][]byte{appendSetState(nil, "a", engine.StatePaused), pubCmd("a", "", "4")}, `[0+0 dup=false err=<nil>][0+0 dup=false err=engine: disruptor "a" is paused, not running]`},
		{"bad transition", [][]byte{appendSetState(nil, "a", engine.StateCreated)}, `[0+0 dup=false err=engine: disruptor "a" cannot go from paused to created]`},
		{"resume, batch of both", [][]byte{appendSetState(nil, "a", engine.StateRunning), pubCmd("a", "k2", "5"), pubCmd("a", "k2", "5"), pubCmd("a", "", "6")}, "[0+0 dup=false err=<nil>][3+1 dup=false err=<nil>][3+1 dup=true err=<nil>][4+1 dup=false err=<nil>]"},
		{"delete and re-create", [][]byte{appendDelete(nil, "a"), pubCmd("a", "k1", "3"), createCmd("a", 16, true), pubCmd("a", "k1", "3")}, `[0+0 dup=false err=<nil>][0+0 dup=false err=engine: disruptor not found: "a" is not a replicated disruptor][0+0 dup=false err=<nil>][0+1 dup=false err=<nil>]`},
	}
	f1, f2 := newTestFSM(t), newTestFSM(t)
	for i, s := range steps {
		ts := int64(i+1) * int64(time.Second)
		r1, r2 := f1.applyAt(t, ts, s.cmds...), f2.applyAt(t, ts, s.cmds...)
		got := resultString(r1)
		if got != resultString(r2) {
			t.Fatalf("%s: replicas disagree:\n%s\n%s", s.name, got, resultString(r2))
		}
		if got != s.want {
			t.Errorf("%s:\n got %s\nwant %s", s.name, got, s.want)
		}
	}
	if diff := cmp.Diff(f1.catalog(), f2.catalog()); diff != "" {
		t.Fatalf("catalogs differ: %s", diff)
	}
	for _, name := range []string{"a", "b"} {
		if diff := cmp.Diff(readAll(t, f1.eng, name), readAll(t, f2.eng, name)); diff != "" {
			t.Fatalf("%s differs: %s", name, diff)
		}
	}
	if got := readAll(t, f1.eng, "a"); len(got) != 1 || got[0] != "0@11000000000:3:false:[]" {
		t.Fatalf("a after re-creation: %v", got)
	}
}

// Keys are remembered for the whole window in log time. When DedupMax
// keys are inside it, a new key is refused with DEDUP_WINDOW_FULL (on
// every replica alike, since the table is replicated state) rather than
// forgetting one early; retries of the keys held still answer, and
// publishes without a key go on. (Issue 12, finding 11: the old table
// evicted the oldest key, so its retry was published again inside the
// window.)
func TestFSMDedupWindow(t *testing.T) {
	f := newTestFSM(t)
	spec := ringSpec{Config: resolved(engine.DisruptorConfig{Name: "d"}), DedupWindow: time.Second, DedupMax: 2}
	f.applyAt(t, 0, appendCreate(nil, spec, true))
	sec := int64(time.Second)
	check := func(ts int64, key, want string) {
		t.Helper()
		if got := resultString(f.applyAt(t, ts, pubCmd("d", key, "x"))); got != want {
			t.Fatalf("%s at %v: %s, want %s", key, time.Duration(ts), got, want)
		}
	}
	full := func(retry time.Duration) string {
		return fmt.Sprintf("[0+0 dup=false err=%v]", &engine.DedupFullError{Disruptor: "d", Keys: 2, RetryAfter: retry})
	}
	check(0, "a", "[0+1 dup=false err=<nil>]")
	check(sec/2, "a", "[0+1 dup=true err=<nil>]")
	check(sec, "a", "[1+1 dup=false err=<nil>]") // expired: the window counts from the first publish
	check(sec, "b", "[2+1 dup=false err=<nil>]")
	check(sec+1, "c", full(time.Second-1)) // a and b are inside the window
	check(sec+2, "a", "[1+1 dup=true err=<nil>]")
	check(sec+3, "", "[3+1 dup=false err=<nil>]")
	check(2*sec, "c", "[4+1 dup=false err=<nil>]") // a and b expired
	check(2*sec, "b", "[5+1 dup=false err=<nil>]")
	res := f.applyAt(t, 2*sec+1, pubCmd("d", "x", "x"))
	if !errors.Is(res[0].err, engine.ErrDedupWindowFull) || engine.Code(res[0].err) != engine.CodeDedupWindowFull {
		t.Fatalf("full window: %v", res[0].err)
	}
}

// Log time never goes back, whatever the clocks of successive leaders.
func TestFSMTimeNeverGoesBack(t *testing.T) {
	f := newTestFSM(t)
	f.applyAt(t, 100, createCmd("t", 16, true))
	f.applyAt(t, 5000, pubCmd("t", "", "a"))
	f.applyAt(t, 4000, pubCmd("t", "", "b")) // a new leader's clock is behind
	got := readAll(t, f.eng, "t")
	want := []string{"0@5000:a:false:[]", "1@5000:b:false:[]"}
	if !slices.Equal(got, want) {
		t.Fatalf("got %v, want %v", got, want)
	}
}

// bufferSink is a raft.SnapshotSink into memory.
type bufferSink struct {
	bytes.Buffer
	closed, cancelled bool
}

func (s *bufferSink) ID() string    { return "test" }
func (s *bufferSink) Close() error  { s.closed = true; return nil }
func (s *bufferSink) Cancel() error { s.cancelled = true; return nil }

func snapshotOf(t *testing.T, f *testFSM) []byte {
	t.Helper()
	snap, err := f.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	defer snap.Release()
	var sink bufferSink
	if err := snap.Persist(&sink); err != nil || !sink.closed {
		t.Fatalf("Persist: %v, closed %v", err, sink.closed)
	}
	return sink.Bytes()
}

// A snapshot restored into a fresh engine rebuilds every ring at the same
// sequences (wrapped rings too, and rings with a schema), their states
// and keys, and the two state machines go on identically.
func TestFSMSnapshotRestore(t *testing.T) {
	src := newTestFSM(t)
	schema := resolved(engine.DisruptorConfig{Name: "typed", BufferSize: 8, Schema: []byte(`{"type":"object"}`)})
	ts := int64(time.Hour)
	src.applyAt(t, ts, createCmd("wrapped", 16, true), createCmd("empty", 16, false), createCmd("paused", 16, true),
		appendCreate(nil, ringSpec{Config: schema, DedupWindow: time.Minute, DedupMax: 100}, true))
	for i := range 30 {
		ts += int64(time.Millisecond)
		src.applyAt(t, ts,
			pubCmd("wrapped", fmt.Sprintf("k%d", i), fmt.Sprintf(`"w%d"`, i), fmt.Sprintf(`"w%d'"`, i)),
			appendPublish(nil, "typed", "", []engine.Event{{Payload: fmt.Appendf(nil, `{"i":%d}`, i), Metadata: []engine.Metadata{{Key: "m", Value: "v"}}}}))
	}
	src.applyAt(t, ts, pubCmd("paused", "", "p"), appendSetState(nil, "paused", engine.StatePaused))
	data := snapshotOf(t, src)

	dst := newTestFSM(t)
	dst.applyAt(t, 1, createCmd("gone", 16, true)) // replaced by the restore
	if err := dst.Restore(io.NopCloser(bytes.NewReader(data))); err != nil {
		t.Fatal(err)
	}
	if _, err := dst.eng.Info("gone"); !errors.Is(err, engine.ErrNotFound) {
		t.Fatalf("a ring not in the snapshot survived the restore: %v", err)
	}
	if diff := cmp.Diff(src.catalog(), dst.catalog()); diff != "" {
		t.Fatalf("catalogs differ: %s", diff)
	}
	sameRings(t, src, dst, "wrapped", "empty", "paused", "typed")
	if info, _ := dst.eng.Info("wrapped"); info.Oldest != 44 {
		t.Fatalf("wrapped: oldest %d, want 44 (60 events in 16 slots)", info.Oldest)
	}
	checkRestoredWindows(t, data, dst.eng)
	// Both go on identically: keys kept, sequences continued, time kept.
	more := [][]byte{pubCmd("wrapped", "k29", `"w29"`, `"w29'"`), pubCmd("wrapped", "k5", `"w5"`, `"w5'"`),
		pubCmd("wrapped", "", "new"), appendSetState(nil, "paused", engine.StateRunning), pubCmd("paused", "", "q")}
	r1, r2 := src.applyAt(t, 0, more...), dst.applyAt(t, 0, more...)
	if resultString(r1) != resultString(r2) {
		t.Fatalf("after the restore the replicas disagree:\n%s\n%s", resultString(r1), resultString(r2))
	}
	if want := "[58+2 dup=true err=<nil>][10+2 dup=true err=<nil>][60+1 dup=false err=<nil>][0+0 dup=false err=<nil>][1+1 dup=false err=<nil>]"; resultString(r1) != want {
		t.Fatalf("got %s, want %s", resultString(r1), want)
	}
	for _, name := range []string{"wrapped", "paused"} {
		if diff := cmp.Diff(readAll(t, src.eng, name), readAll(t, dst.eng, name)); diff != "" {
			t.Fatalf("%s differs: %s", name, diff)
		}
	}
	// Snapshots of equal states are equal bytes.
	if !bytes.Equal(snapshotOf(t, src), snapshotOf(t, dst)) {
		t.Fatal("snapshots of the two replicas differ")
	}
}

// checkRestoredWindows checks that each ring of the snapshot data restored
// into eng starts at the snapshot's window: Oldest is the window's first
// sequence, and every sequence below it reads as evicted (no placeholder,
// no empty slot).
func checkRestoredWindows(t *testing.T, data []byte, eng *engine.Engine) {
	t.Helper()
	s, err := decodeSnapshot(data)
	if err != nil {
		t.Fatal(err)
	}
	var rec engine.Records
	for _, sr := range s.rings {
		name := sr.spec.Config.Name
		start := sr.next - int64(len(sr.events))
		info, err := eng.Info(name)
		if err != nil {
			t.Fatal(err)
		}
		if info.Oldest != start || info.Latest != sr.next-1 {
			t.Errorf("%s: restored window %d..%d, the snapshot's is %d..%d", name, info.Oldest, info.Latest, start, sr.next-1)
		}
		for _, below := range []int64{0, start / 2, start - 1} {
			if below < 0 || below >= start {
				continue
			}
			var ev *engine.EvictedError
			if _, err := eng.Read(name, below, 10, &rec); !errors.As(err, &ev) || ev.Oldest != start || len(rec.Events) != 0 {
				t.Errorf("%s: read from %d below the window: %d events, %v; want evicted, oldest %d", name, below, len(rec.Events), err, start)
			}
			if _, err := eng.Get(name, below, &rec); !errors.Is(err, engine.ErrEvicted) {
				t.Errorf("%s: get %d below the window: %v; want evicted", name, below, err)
			}
		}
	}
}

// A ring far along (one that has published ten million events, which a
// ring recreated at that sequence stands for here) restores from its
// window alone: the restored ring starts at the window, counts what the
// original counts, and took a handful of publishes, not one per event it
// ever held. A ring whose window is empty past 0 restores too, and the
// two replicas' snapshots stay equal.
func TestFSMRestoreFarRing(t *testing.T) {
	const far = 10_000_000
	src := newTestFSM(t)
	ts := int64(time.Hour)
	src.applyAt(t, ts, createCmd("far", 16, true), createCmd("idle", 16, true))
	for _, name := range []string{"far", "idle"} {
		info, err := src.eng.Info(name)
		if err != nil {
			t.Fatal(err)
		}
		r := src.rings[name]
		if err := r.local.Delete(context.Background()); err != nil {
			t.Fatal(err)
		}
		cfg := r.spec.Config
		cfg.FirstSequence = far
		if r.local, err = src.eng.CreateOwned(cfg, src.owner(name, r.created)); err != nil {
			t.Fatal(err)
		}
		if _, err := r.local.SetState(context.Background(), info.State); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 10 {
		ts += int64(time.Millisecond)
		src.applyAt(t, ts, pubCmd("far", fmt.Sprintf("k%d", i), fmt.Sprintf(`"a%d"`, i), fmt.Sprintf(`"b%d"`, i)))
	}
	data := snapshotOf(t, src)

	dst := newTestFSM(t)
	if err := dst.Restore(io.NopCloser(bytes.NewReader(data))); err != nil {
		t.Fatal(err)
	}
	checkRestoredWindows(t, data, dst.eng)
	sameRings(t, src, dst, "far", "idle")
	if info, _ := dst.eng.Info("far"); info.Oldest != far+4 || info.Latest != far+19 {
		t.Fatalf("far: window %d..%d, want %d..%d", info.Oldest, info.Latest, far+4, far+19)
	}
	if info, _ := dst.eng.Info("idle"); info.Oldest != far || info.Latest != far-1 {
		t.Fatalf("idle: window %d..%d, want the empty window at %d", info.Oldest, info.Latest, far)
	}
	// The window's 16 events, one publish per original batch (of the same
	// time), at most: nothing was published for the sequences before it.
	if m, _ := dst.eng.Metrics("far"); m.Batches > 16 {
		t.Fatalf("the restore published %d batches for a window of 16 events", m.Batches)
	}
	if !bytes.Equal(snapshotOf(t, src), snapshotOf(t, dst)) {
		t.Fatal("snapshots of the two replicas differ")
	}
	more := [][]byte{pubCmd("far", "k3", `"a3"`, `"b3"`), pubCmd("far", "", "c"), pubCmd("idle", "", "d")}
	r1, r2 := src.applyAt(t, 0, more...), dst.applyAt(t, 0, more...)
	want := fmt.Sprintf("[%d+2 dup=true err=<nil>][%d+1 dup=false err=<nil>][%d+1 dup=false err=<nil>]", far+6, far+20, far)
	if resultString(r1) != want || resultString(r2) != want {
		t.Fatalf("after the restore:\n%s\n%s\nwant %s", resultString(r1), resultString(r2), want)
	}
}

// A local disruptor holding a replicated one's name stalls the state
// machine (it may not skip the entry) until it is gone.
func TestFSMStallsOnLocalConflict(t *testing.T) {
	f := newTestFSM(t)
	if _, err := f.eng.Create(engine.DisruptorConfig{Name: "x"}, true); err != nil {
		t.Fatal(err)
	}
	done := make(chan []result)
	go func() { done <- f.applyAt(t, 1, createCmd("x", 16, true), pubCmd("x", "", "1")) }()
	waitFor(t, 5*time.Second, "the FSM to report itself stalled", f.stalled.Load)
	select {
	case <-done:
		t.Fatal("the entry was applied over a local disruptor")
	default:
	}
	if _, ok := f.lookup("x"); ok {
		t.Fatal("the catalog claims the local x while the create waits for it to go")
	}
	if err := f.eng.Delete(context.Background(), "x"); err != nil {
		t.Fatal(err)
	}
	select {
	case res := <-done:
		if got := resultString(res); got != "[0+0 dup=false err=<nil>][0+1 dup=false err=<nil>]" {
			t.Fatalf("got %s", got)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("still stalled after the conflict was removed")
	}
	if f.stalled.Load() {
		t.Fatal("still reported stalled")
	}
}

// An entry that does not decode is refused without touching the state.
func TestFSMCorruptEntry(t *testing.T) {
	f := newTestFSM(t)
	out := f.Apply(&raft.Log{Index: 1, Type: raft.LogCommand, Data: []byte{entryVersion, 0, 5, 1}})
	if err, ok := out.(error); !ok || !errors.Is(err, ErrCorrupt) {
		t.Fatalf("got %v, want ErrCorrupt", out)
	}
	if err := f.Restore(io.NopCloser(bytes.NewReader([]byte("nope")))); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("Restore: %v, want ErrCorrupt", err)
	}
}

// TestFSMRingsHaveOneDoor: while the FSM creates and deletes a
// replicated ring over and over, a server that resolves the name the way
// the API does (engine.Writer, then publish) and one that publishes to the
// engine directly never put an event into the replicated ring: the ring
// is owned from the moment it exists, so the writer resolved is the Node's
// and the engine's own publish is refused. The old FSM recorded the ring
// in the catalog and then created it, and a server checked the catalog
// and then published, with nothing holding the two together (issue 12,
// finding 1).
func TestFSMRingsHaveOneDoor(t *testing.T) {
	f := newTestFSM(t)
	stop := make(chan struct{})
	done := make(chan int)
	go func() {
		local := 0
		b := engine.Batch{Events: []engine.Event{{Payload: []byte("local")}}}
		for {
			select {
			case <-stop:
				done <- local
				return
			default:
			}
			if w, err := f.eng.Writer("r"); err == nil {
				if _, err := w.Publish(context.Background(), &b); err == nil {
					local++
				}
			}
			if _, err := f.eng.Publish(context.Background(), "r", &b); err == nil {
				local++
			} else if !errors.Is(err, engine.ErrNotFound) && !errors.Is(err, engine.ErrReplicated) {
				t.Errorf("direct publish: %v", err)
			}
		}
	}()
	rounds := 300
	if testing.Short() {
		rounds = 50
	}
	for i := range rounds {
		if res := f.applyAt(t, int64(2*i+1), createCmd("r", 8, true)); res[0].err != nil {
			t.Fatalf("create %d: %v", i, res[0].err)
		}
		if res := f.applyAt(t, int64(2*i+2), appendDelete(nil, "r")); res[0].err != nil {
			t.Fatalf("delete %d: %v", i, res[0].err)
		}
	}
	close(stop)
	if n := <-done; n > 0 {
		t.Errorf("%d publishes reached a replicated ring without the log", n)
	}
}

// sameRings fails unless dst, restored from a snapshot of src, holds the
// same events, window, count and state in each named ring.
func sameRings(t *testing.T, src, dst *testFSM, names ...string) {
	t.Helper()
	for _, name := range names {
		if diff := cmp.Diff(readAll(t, src.eng, name), readAll(t, dst.eng, name)); diff != "" {
			t.Fatalf("%s differs after the restore: %s", name, diff)
		}
		a, _ := src.eng.Info(name)
		b, _ := dst.eng.Info(name)
		if a.Oldest != b.Oldest || a.Latest != b.Latest || a.Published != b.Published || a.State != b.State {
			t.Fatalf("%s: restored %+v, want %+v", name, b, a)
		}
	}
}
