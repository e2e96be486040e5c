package engine

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/badbatch/badbatch/journal"
)

// journaledEngine returns an engine whose journals are in dir (opened
// here, closed when the test ends) and a function that closes both, as a
// server's shutdown does.
func journaledEngine(t *testing.T, dir string) (*Engine, func()) {
	t.Helper()
	return journaledEngineFS(t, dir, nil, nil)
}

func jevents(from, n int) []Event {
	evs := make([]Event, n)
	for i := range evs {
		evs[i] = Event{Payload: fmt.Appendf(nil, `{"i":%d}`, from+i)}
		if i%2 == 1 {
			evs[i].Metadata = []Metadata{{Key: "k", Value: fmt.Sprint(from + i)}}
		}
	}
	return evs
}

func checkRead(t *testing.T, e *Engine, name string, from, to int) {
	t.Helper()
	var rec Records
	next := int64(from)
	for next <= int64(to) {
		w, err := e.Read(name, next, 3, &rec)
		if err != nil {
			t.Fatalf("Read(%d): %v", next, err)
		}
		if len(rec.Events) == 0 {
			t.Fatalf("Read(%d): nothing, window %+v", next, w)
		}
		for _, ev := range rec.Events {
			if want := fmt.Sprintf(`{"i":%d}`, next); ev.Sequence != next || string(ev.Payload) != want {
				t.Fatalf("event %d: %d %s, want %s", next, ev.Sequence, ev.Payload, want)
			}
			if next%2 == 1 && (len(ev.Metadata) != 1 || ev.Metadata[0].Value != fmt.Sprint(next)) && from == 0 {
				// batches start at even sequences here, so odd ones carry metadata
				t.Fatalf("event %d metadata %v", next, ev.Metadata)
			}
			next++
		}
		if w.Next != next {
			t.Fatalf("window next %d, want %d", w.Next, next)
		}
	}
}

// TestJournaledRecover: a journaled disruptor comes back from its
// journal with its settings, state, events (beyond the ring too),
// numbering and idempotency keys.
func TestJournaledRecover(t *testing.T) {
	dir := t.TempDir()
	e, stop := journaledEngine(t, dir)
	info, err := e.Create(DisruptorConfig{Name: "j", BufferSize: 4, Durability: DurabilityJournal, Sync: "always"}, true)
	if err != nil {
		t.Fatal(err)
	}
	if info.Journal == nil || info.Sync != "always" {
		t.Fatalf("info %+v", info)
	}
	ctx := context.Background()
	for i := range 5 {
		b := &Batch{Events: jevents(i*2, 2), IdempotencyKey: fmt.Sprintf("k%d", i)}
		if first, err := e.Publish(ctx, "j", b); err != nil || first != int64(i*2) {
			t.Fatalf("publish %d: %d, %v", i, first, err)
		}
	}
	checkRead(t, e, "j", 0, 9) // 0..5 from the journal, 6..9 from the ring
	if _, err := e.SetState(ctx, "j", StatePaused); err != nil {
		t.Fatal(err)
	}
	stop()

	e, _ = journaledEngine(t, dir)
	info, err = e.Recover("j", RecoverOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if info.State != StatePaused || info.Latest != 9 || info.Oldest != 0 || info.BufferSize != 4 || info.Sync != "always" || info.Published != 10 {
		t.Fatalf("recovered: %+v", info)
	}
	checkRead(t, e, "j", 0, 9)
	if _, err := e.SetState(ctx, "j", StateRunning); err != nil {
		t.Fatal(err)
	}
	b := &Batch{Events: jevents(2, 2), IdempotencyKey: "k1"}
	if first, err := e.Publish(ctx, "j", b); err != nil || first != 2 || !b.Duplicate {
		t.Fatalf("retry of k1: %d %v duplicate=%v", first, err, b.Duplicate)
	}
	if first, err := e.Publish(ctx, "j", &Batch{Events: jevents(10, 3)}); err != nil || first != 10 {
		t.Fatalf("publish after recovery: %d, %v", first, err)
	}
	checkRead(t, e, "j", 0, 12)

	// a subscription from 0 catches up from the journal
	sub, err := e.Subscribe("j", SubscribeOptions{From: 0})
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	var rec Records
	got := 0
	for got < 13 {
		if _, err := sub.Poll(&rec, 5); err != nil {
			t.Fatalf("poll after %d: %v", got, err)
		}
		for _, ev := range rec.Events {
			if ev.Sequence != int64(got) {
				t.Fatalf("subscription: %d, want %d", ev.Sequence, got)
			}
			got++
		}
		if len(rec.Events) == 0 {
			<-sub.Wait()
		}
	}
}

// TestJournaledPurge: a purge makes what is below it evicted, even where
// the ring still holds it, and may not pass the next sequence.
func TestJournaledPurge(t *testing.T) {
	e, _ := journaledEngine(t, t.TempDir())
	if _, err := e.Create(DisruptorConfig{Name: "p", BufferSize: 16, Durability: DurabilityJournal}, true); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, err := e.Publish(ctx, "p", &Batch{Events: jevents(0, 8)}); err != nil {
		t.Fatal(err)
	}
	w, err := e.Writer("p")
	if err != nil {
		t.Fatal(err)
	}
	r := w.(*Ring)
	if _, err := r.Purge(9); !errors.Is(err, ErrInvalidSequence) {
		t.Errorf("purge past the next sequence: %v", err)
	}
	info, err := r.Purge(5)
	if err != nil || info.Oldest != 5 {
		t.Fatalf("purge: %+v %v", info, err)
	}
	var rec Records
	var ev *EvictedError
	if _, err := e.Read("p", 4, 10, &rec); !errors.As(err, &ev) || ev.Oldest != 5 {
		t.Errorf("read below the purge: %v", err)
	}
	checkRead(t, e, "p", 5, 7)
	if _, err := e.Create(DisruptorConfig{Name: "m"}, true); err != nil {
		t.Fatal(err)
	}
	w, _ = e.Writer("m")
	if _, err := w.(*Ring).Purge(0); !errors.Is(err, ErrNotJournaled) {
		t.Errorf("purge of a memory disruptor: %v", err)
	}
}

// TestJournaledNeedsDir: without a data directory a journaled disruptor
// is a config error naming durability; an owned one is never journaled.
func TestJournaledNeedsDir(t *testing.T) {
	e, err := New(DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close(context.Background())
	_, err = e.Create(DisruptorConfig{Name: "j", Durability: DurabilityJournal}, true)
	if ces := ConfigErrors(err); len(ces) != 1 || ces[0].Field != "durability" {
		t.Errorf("journaled without a directory: %v", err)
	}
	for _, c := range []DisruptorConfig{
		{Name: "a", Sync: "always"},
		{Name: "b", Durability: DurabilityJournal, Sync: "often"},
		{Name: "c", Durability: DurabilityJournal, Retention: journal.Retention{MaxEvents: -1}},
	} {
		if err := e.Config().ValidateDisruptor(c); !errors.Is(err, ErrInvalidConfig) {
			t.Errorf("%+v: %v", c, err)
		}
	}
}

// TestJournaledPublishAllocs: a publish to a journaled disruptor does
// not allocate once its buffers (the journal's, the ring's slots') have
// grown.
func TestJournaledPublishAllocs(t *testing.T) {
	e, _ := journaledEngine(t, t.TempDir())
	if _, err := e.Create(DisruptorConfig{Name: "a", BufferSize: 256, Durability: DurabilityJournal, Sync: "never"}, true); err != nil {
		t.Fatal(err)
	}
	w, _ := e.Writer("a")
	ctx := context.Background()
	b := &Batch{Events: jevents(0, 100)}
	for range 10 { // more than a lap: every slot's buffers have grown
		if _, err := w.Publish(ctx, b); err != nil {
			t.Fatal(err)
		}
	}
	allocs := testing.AllocsPerRun(20, func() {
		if _, err := w.Publish(ctx, b); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Errorf("%.1f allocations per publish of 100 events, want 0", allocs)
	}
}
