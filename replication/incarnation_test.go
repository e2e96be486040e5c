package replication

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/badbatch/badbatch/engine"
)

// A change made for one ring of a name never lands in the next ring of
// that name: a publish, state change or delete guarded with the ring it
// was made for (the index of its create entry) is refused, on every
// replica alike, once the name was deleted and created again, and an
// unguarded one (Node.Publish by name) goes to whichever ring has the
// name.
func TestFSMGuardedCommands(t *testing.T) {
	f1, f2 := newTestFSM(t), newTestFSM(t)
	var r1, r2 []result
	step := func(ts int64, cmds ...[]byte) []result {
		r1, r2 = f1.applyAt(t, ts, cmds...), f2.applyAt(t, ts, cmds...)
		if resultString(r1) != resultString(r2) {
			t.Fatalf("replicas disagree:\n%s\n%s", resultString(r1), resultString(r2))
		}
		return r1
	}
	step(1, createCmd("q", 16, true)) // entry 1: the first q
	old := f1.index
	step(2, appendPublish(appendGuard(nil, old), "q", "", []engine.Event{{Payload: []byte(`"old"`)}}))
	step(3, appendDelete(nil, "q"), createCmd("q", 16, true)) // entry 3: the second q
	second := f1.index
	res := step(4,
		appendPublish(appendGuard(nil, old), "q", "", []engine.Event{{Payload: []byte(`"late"`)}}),
		appendSetState(appendGuard(nil, old), "q", engine.StatePaused),
		appendDelete(appendGuard(nil, old), "q"),
		appendPublish(nil, "q", "", []engine.Event{{Payload: []byte(`"by name"`)}}),
		appendPublish(appendGuard(nil, second), "q", "", []engine.Event{{Payload: []byte(`"new"`)}}),
	)
	for i, what := range []string{"publish", "state change", "delete"} {
		if !errors.Is(res[i].err, engine.ErrNotFound) {
			t.Errorf("%s for the deleted q: %v, want not found", what, res[i].err)
		}
	}
	for i := 3; i < 5; i++ {
		if res[i].err != nil {
			t.Fatalf("publish %d into the new q: %v", i, res[i].err)
		}
	}
	for _, f := range []*testFSM{f1, f2} {
		got := readAll(t, f.eng, "q")
		if len(got) != 2 || got[0] != `0@4:"by name":false:[]` || got[1] != `1@4:"new":false:[]` {
			t.Fatalf("the new q holds %v, want only the two publishes made for it", got)
		}
		if ri, ok := f.lookup("q"); !ok || ri.State != engine.StateRunning {
			t.Fatalf("the new q: %+v %v, want running", ri, ok)
		}
	}
}

// A publish resolved while a replicated disruptor existed, through the
// writer the engine gave for its name, is never acknowledged into
// another disruptor of that name created after it was deleted: the
// writer kept from before answers not found for a publish, a state
// change and a delete, while publishes racing with deletes and
// re-creates each land in the ring they were resolved to (or are
// refused), never in a later one.
func TestWriterKeepsItsRing(t *testing.T) {
	c := newCluster(t, 1, true, nil)
	l := c.leader()
	ctx := context.Background()
	c.create(engine.DisruptorConfig{Name: "q"})
	old, err := l.eng.Writer("q")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := old.Publish(ctx, &engine.Batch{Events: []engine.Event{{Payload: []byte(`"old"`)}}}); err != nil {
		t.Fatal(err)
	}
	if err := old.Delete(ctx); err != nil {
		t.Fatal(err)
	}
	c.create(engine.DisruptorConfig{Name: "q"})
	if _, err := old.Publish(ctx, &engine.Batch{Events: []engine.Event{{Payload: []byte(`"late"`)}}}); !errors.Is(err, engine.ErrNotFound) {
		t.Fatalf("publish through the deleted q's writer: %v, want not found", err)
	}
	if _, err := old.SetState(ctx, engine.StatePaused); !errors.Is(err, engine.ErrNotFound) {
		t.Fatalf("state change through the deleted q's writer: %v, want not found", err)
	}
	if err := old.Delete(ctx); !errors.Is(err, engine.ErrNotFound) {
		t.Fatalf("delete through the deleted q's writer: %v, want not found", err)
	}
	if info, err := l.eng.Info("q"); err != nil || info.Latest != -1 || info.State != engine.StateRunning {
		t.Fatalf("the new q: %+v %v, want running and empty", info, err)
	}

	// Publishers resolve the name for each publish, as the API does,
	// while the name is deleted and created again. Ring k exists from
	// its create until its delete, and gen is set to k after ring k is
	// created. A publisher tags its event with the gen it read before
	// and after resolving the name (the same both times): its writer is
	// then ring gen's or ring gen+1's, and an event tagged k found in
	// ring k+2 or later came through the writer of a deleted ring.
	var gen atomic.Int64
	gen.Store(2) // the ring made above is the second
	var acked atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				g0 := gen.Load()
				w, err := l.eng.Writer("q")
				if err != nil || gen.Load() != g0 {
					continue
				}
				p := fmt.Appendf(nil, `"%d/%d-%d"`, g0, g, i)
				if _, err := w.Publish(ctx, &engine.Batch{Events: []engine.Event{{Payload: p}}}); err == nil {
					acked.Add(1)
				}
			}
		})
	}
	leaks := 0
	for range 30 {
		time.Sleep(3 * time.Millisecond)
		cur := gen.Load()
		w, err := l.eng.Writer("q")
		if err != nil {
			t.Fatal(err)
		}
		var rec engine.Records
		if _, err := l.eng.Read("q", 0, 1<<14, &rec); err != nil {
			t.Fatal(err)
		}
		for _, e := range rec.Events {
			var eg, pg, pi int64
			if _, err := fmt.Sscanf(string(e.Payload), `"%d/%d-%d"`, &eg, &pg, &pi); err != nil {
				t.Fatalf("event %s: %v", e.Payload, err)
			}
			if eg < cur-1 {
				leaks++
				t.Errorf("event %s, published through ring %d or %d, is in ring %d", e.Payload, eg, eg+1, cur)
			}
		}
		if err := w.Delete(ctx); err != nil {
			t.Fatal(err)
		}
		c.create(engine.DisruptorConfig{Name: "q"})
		gen.Store(cur + 1)
	}
	close(stop)
	wg.Wait()
	t.Logf("%d publishes acknowledged across 30 deletes and re-creates; %d landed in a later ring", acked.Load(), leaks)
	if acked.Load() == 0 {
		t.Fatal("no publish was acknowledged: the test tested nothing")
	}
}
