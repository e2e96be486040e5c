package journal

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/badbatch/badbatch/disruptor"
)

// order is a ring event of the tests: a producer fills it in place.
type order struct {
	id   int64
	qty  int64
	head Head // set on the first event of a producer batch
}

func encodeOrder(ev *Event, o *order, _ int64) Head {
	ev.Payload = binary.LittleEndian.AppendUint64(ev.Payload, uint64(o.id))
	ev.Payload = binary.LittleEndian.AppendUint64(ev.Payload, uint64(o.qty))
	return o.head
}

func decodeOrder(p []byte) (id, qty int64) {
	return int64(binary.LittleEndian.Uint64(p)), int64(binary.LittleEndian.Uint64(p[8:]))
}

// publishBatch claims n slots, fills them and publishes them together,
// as one producer batch (keyed when key is set). It returns the range.
func publishBatch(ring *disruptor.RingBuffer[order], n int, key string) (lo, hi int64) {
	hi = ring.NextN(n)
	lo = hi - int64(n) + 1
	for s := lo; s <= hi; s++ {
		*ring.Get(s) = order{id: s, qty: s * 10}
	}
	ring.Get(lo).head = Head{Count: n, Key: key, Hash: uint64(lo)}
	ring.PublishRange(lo, hi)
	return lo, hi
}

func TestJournallerLMAX(t *testing.T) {
	for _, mode := range []SyncMode{SyncAlways, SyncInterval} {
		t.Run(mode.String(), func(t *testing.T) {
			e := newEnv(t)
			o := smallOptions()
			o.Sync = mode
			j := e.create("orders", 0, o)
			d, err := disruptor.NewBuilder(func() order { return order{} }).BufferSize(64).MultiProducer().Build()
			if err != nil {
				t.Fatal(err)
			}
			jr, err := NewJournaller(j, d.RingBuffer(), encodeOrder)
			if err != nil {
				t.Fatal(err)
			}
			var seen atomic.Int64
			var early atomic.Int64
			logic := disruptor.EventHandlerFunc[order](func(e *order, seq int64, _ bool) error {
				if seq > jr.Journaled() {
					early.Add(1) // the business logic ran before the journal
				}
				seen.Add(1)
				return nil
			})
			d.HandleEventsWith(jr).Then(logic)
			if err := d.Start(); err != nil {
				t.Fatal(err)
			}
			type acked struct {
				lo, hi int64
				key    string
			}
			const producers, batches = 4, 200
			var mu sync.Mutex
			var acks []acked
			var wg sync.WaitGroup
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			for p := range producers {
				wg.Go(func() {
					for i := range batches {
						n := 1 + (p*7+i)%20
						key := ""
						if i%3 == 0 {
							key = fmt.Sprintf("p%d-%d", p, i)
						}
						lo, hi := publishBatch(d.RingBuffer(), n, key)
						if _, err := jr.WaitFor(ctx, hi); err != nil {
							t.Error(err)
							return
						}
						if j.Latest() < hi {
							t.Errorf("acknowledged %d with the journal at %d", hi, j.Latest())
						}
						mu.Lock()
						acks = append(acks, acked{lo, hi, key})
						mu.Unlock()
					}
				})
			}
			wg.Wait()
			if err := d.Shutdown(ctx); err != nil {
				t.Fatal(err)
			}
			if early.Load() != 0 {
				t.Fatalf("the business logic saw %d events before they were journaled", early.Load())
			}
			last := d.RingBuffer().Cursor()
			if seen.Load() != last+1 || jr.Journaled() != last {
				t.Fatalf("logic saw %d events, journaled up to %d, cursor %d", seen.Load(), jr.Journaled(), last)
			}
			e.reopen()
			j = e.open("orders", o)
			got := readAll(t, j, 0)
			starts := map[int64]Batch{}
			next := int64(0)
			for _, b := range got {
				starts[b.First] = b
				for i, ev := range b.Events {
					seq := b.First + int64(i)
					if id, qty := decodeOrder(ev.Payload); seq != next || id != seq || qty != seq*10 {
						t.Fatalf("event %d (want %d) holds order %d qty %d", seq, next, id, qty)
					}
					next++
				}
			}
			if next != last+1 {
				t.Fatalf("journal holds %d events, published %d", next, last+1)
			}
			for _, a := range acks {
				if a.key == "" {
					continue
				}
				b, ok := starts[a.lo]
				if !ok || b.Key != a.key || b.Hash != uint64(a.lo) || b.Last() != a.hi {
					t.Fatalf("keyed batch %d..%d %q: record %+v", a.lo, a.hi, a.key, b.First)
				}
			}
		})
	}
}

func TestJournallerRingMustContinueJournal(t *testing.T) {
	e := newEnv(t)
	j := e.create("s", 0, DefaultOptions())
	if err := j.Append(makeBatch(0, 5)); err != nil {
		t.Fatal(err)
	}
	ring, _ := disruptor.NewRingBuffer(func() order { return order{} }, 8, disruptor.SingleProducer, disruptor.NewBlockingWaitStrategy())
	if _, err := NewJournaller(j, ring, encodeOrder); !errors.Is(err, ErrSequence) {
		t.Fatalf("NewJournaller over a ring at 0 for a journal at 5: %v, want ErrSequence", err)
	}
	ring, _ = disruptor.NewRingBufferAt(func() order { return order{} }, 8, disruptor.SingleProducer, disruptor.NewBlockingWaitStrategy(), 5)
	if _, err := NewJournaller(j, ring, encodeOrder); err != nil {
		t.Fatal(err)
	}
}

func TestJournallerFailureIsFatal(t *testing.T) {
	e := newEnv(t)
	o := DefaultOptions()
	o.Sync = SyncAlways
	j := e.create("s", 0, o)
	d, _ := disruptor.NewBuilder(func() order { return order{} }).BufferSize(16).SingleProducer().Build()
	jr, err := NewJournaller(j, d.RingBuffer(), encodeOrder)
	if err != nil {
		t.Fatal(err)
	}
	var logicSaw atomic.Int64
	d.HandleEventsWith(jr).Then(disruptor.EventHandlerFunc[order](func(_ *order, seq int64, _ bool) error {
		logicSaw.Store(seq + 1)
		return nil
	}))
	if err := d.Start(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, hi := publishBatch(d.RingBuffer(), 3, "")
	if _, err := jr.WaitFor(ctx, hi); err != nil {
		t.Fatal(err)
	}
	// The logic runs after the journaller: let it reach the journaled
	// events before the next write fails (a halt may stop it short).
	for logicSaw.Load() != 3 {
		if ctx.Err() != nil {
			t.Fatalf("the logic saw %d of the 3 journaled events", logicSaw.Load())
		}
		time.Sleep(time.Millisecond)
	}
	e.fs.setFailWrites(syscall.EIO)
	_, hi = publishBatch(d.RingBuffer(), 2, "k")
	_, err = jr.WaitFor(ctx, hi)
	if !errors.Is(err, ErrUnavailable) {
		t.Fatalf("WaitFor after a failed write = %v, want ErrUnavailable", err)
	}
	if err := d.Shutdown(ctx); err == nil {
		t.Fatal("Shutdown = nil: a failed journaller must halt its processor")
	}
	if logicSaw.Load() != 3 {
		t.Fatalf("the logic saw %d events, want the 3 journaled ones only (never one whose write failed)", logicSaw.Load())
	}
	if jr.Err() == nil || jr.Journaled() != 2 || j.Next() != 3 {
		t.Fatalf("Err %v, Journaled %d, journal Next %d", jr.Err(), jr.Journaled(), j.Next())
	}
}

// TestJournallerReadsAheadToCompleteABatch hands the journaller the first
// part of a producer batch as the end of the processor's batch (as a
// multi-producer ring can, while the producer is still marking its slots
// published): the journaller waits for the rest and writes the batch as
// one record, so that a crash keeps all of it or none.
func TestJournallerReadsAheadToCompleteABatch(t *testing.T) {
	e := newEnv(t)
	j := e.create("s", 0, DefaultOptions())
	ring, err := disruptor.NewRingBuffer(func() order { return order{} }, 16, disruptor.MultiProducer, disruptor.NewBlockingWaitStrategy())
	if err != nil {
		t.Fatal(err)
	}
	jr, err := NewJournaller(j, ring, encodeOrder)
	if err != nil {
		t.Fatal(err)
	}
	gate := disruptor.NewSequence(disruptor.InitialSequenceValue)
	ring.AddGatingSequences(gate)
	hi := ring.NextN(6)
	lo := hi - 5
	for s := lo; s <= hi; s++ {
		*ring.Get(s) = order{id: s, qty: s * 10}
	}
	ring.Get(lo).head = Head{Count: 6, Key: "batch-1"}
	for s := lo; s < lo+3; s++ {
		ring.Publish(s)
	}
	done := make(chan error, 1)
	go func() {
		part := []order{*ring.Get(lo), *ring.Get(lo + 1), *ring.Get(lo + 2)}
		done <- jr.OnBatch(part, lo, true)
	}()
	select {
	case err := <-done:
		t.Fatalf("OnBatch returned (%v) before the rest of the batch was published", err)
	case <-time.After(50 * time.Millisecond):
	}
	for s := lo + 3; s <= hi; s++ {
		ring.Publish(s)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if jr.Journaled() != hi {
		t.Fatalf("Journaled = %d, want %d", jr.Journaled(), hi)
	}
	// the processor then hands over the rest, which is already journaled
	if err := jr.OnBatch([]order{*ring.Get(lo + 3), *ring.Get(lo + 4), *ring.Get(hi)}, lo+3, true); err != nil {
		t.Fatal(err)
	}
	got := readAll(t, j, 0)
	if len(got) != 1 || got[0].First != lo || len(got[0].Events) != 6 || got[0].Key != "batch-1" {
		t.Fatalf("journal holds %d records (first %+v); want the 6 events in one keyed record", len(got), got)
	}
	if j.Next() != hi+1 {
		t.Fatalf("journal Next = %d, want %d", j.Next(), hi+1)
	}
}
