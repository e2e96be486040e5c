package disruptor

import (
	"sync/atomic"
	"testing"
)

// stageWriter writes a field into each event, as a pipeline or diamond
// stage would.
type stageWriter struct {
	set func(e *testEvent)
}

func (s *stageWriter) OnEvent(e *testEvent, _ int64, _ bool) error {
	s.set(e)
	return nil
}

// TestDiamond: A and B both run before C. C checks, for every sequence,
// that A's and B's sequences have reached it and that both wrote their
// part of the event.
func TestDiamond(t *testing.T) {
	n := scale(1_000_000, 100_000)
	d, err := NewBuilder(newTestEvent).BufferSize(256).SingleProducer().YieldingWaitStrategy().Build()
	if err != nil {
		t.Fatal(err)
	}
	a := &stageWriter{set: func(e *testEvent) { e.a = e.value + 1 }}
	b := &stageWriter{set: func(e *testEvent) { e.b = e.value + 2 }}
	ab := d.HandleEventsWith(a, b)
	seqA, seqB := ab.Sequences()[0], ab.Sequences()[1]
	var seen, early, missing int64
	c := EventHandlerFunc[testEvent](func(e *testEvent, seq int64, _ bool) error {
		if seqA.Get() < seq || seqB.Get() < seq {
			early++
		}
		if e.a != e.value+1 || e.b != e.value+2 {
			missing++
		}
		seen++
		return nil
	})
	d.After(a, b).Then(c)
	if err := d.Start(); err != nil {
		t.Fatal(err)
	}
	publishFrom(d, 0, n)
	shutdown(t, d)
	if seen != n {
		t.Errorf("C saw %d events, want %d", seen, n)
	}
	if early != 0 {
		t.Errorf("C saw %d events before A and B had processed them", early)
	}
	if missing != 0 {
		t.Errorf("C saw %d events without A's or B's write", missing)
	}
}

// TestPipeline: 1 → A → B → C; each stage sees what the previous wrote.
func TestPipeline(t *testing.T) {
	n := scale(1_000_000, 100_000)
	d, err := NewBuilder(newTestEvent).BufferSize(128).MultiProducer().BlockingWaitStrategy().Build()
	if err != nil {
		t.Fatal(err)
	}
	var badB, badC, seenC int64
	a := &stageWriter{set: func(e *testEvent) { e.a = e.value * 3 }}
	b := EventHandlerFunc[testEvent](func(e *testEvent, _ int64, _ bool) error {
		if e.a != e.value*3 {
			badB++
		}
		e.b = e.a + 1
		return nil
	})
	c := EventHandlerFunc[testEvent](func(e *testEvent, _ int64, _ bool) error {
		if e.b != e.value*3+1 {
			badC++
		}
		seenC++
		return nil
	})
	d.HandleEventsWith(a).Then(b).Then(c)
	if err := d.Start(); err != nil {
		t.Fatal(err)
	}
	publishFrom(d, 0, n)
	shutdown(t, d)
	if badB != 0 || badC != 0 {
		t.Errorf("stages saw stale data: B %d, C %d", badB, badC)
	}
	if seenC != n {
		t.Errorf("last stage saw %d, want %d", seenC, n)
	}
}

// TestGatingOnlyEndsOfChain: after wiring A → B, only B gates the
// producer, yet the producer never laps A (B is behind A).
func TestGatingOnlyEndsOfChain(t *testing.T) {
	d, err := NewBuilder(newTestEvent).BufferSize(8).SingleProducer().Build()
	if err != nil {
		t.Fatal(err)
	}
	a := &stageWriter{set: func(*testEvent) {}}
	g := d.HandleEventsWith(a)
	g2 := g.Then(&stageWriter{set: func(*testEvent) {}})
	gating := d.RingBuffer().sequencer.(*SingleProducerSequencer).gating.load()
	if len(gating) != 1 || gating[0] != g2.Sequences()[0] {
		t.Fatalf("gating sequences = %v, want only the last stage's", gating)
	}
	if err := d.Start(); err != nil {
		t.Fatal(err)
	}
	shutdown(t, d)
}

// TestWorkerPoolExactlyOnce: 4 workers share a stream; every event is
// handled by exactly one of them, and all of them get work.
func TestWorkerPoolExactlyOnce(t *testing.T) {
	n := scale(1_000_000, 100_000)
	const workers = 4
	handled := make([]atomic.Int32, n)
	var perWorker [workers]int64
	hs := make([]WorkHandler[testEvent], workers)
	for w := range workers {
		hs[w] = WorkHandlerFunc[testEvent](func(e *testEvent, _ int64) error {
			handled[e.value].Add(1)
			perWorker[w]++
			return nil
		})
	}
	d, err := NewBuilder(newTestEvent).BufferSize(1024).MultiProducer().YieldingWaitStrategy().Build()
	if err != nil {
		t.Fatal(err)
	}
	var after int64
	d.HandleEventsWithWorkerPool(hs...).Then(EventHandlerFunc[testEvent](func(e *testEvent, _ int64, _ bool) error {
		if handled[e.value].Load() != 1 {
			t.Errorf("stage after the pool saw event %d before the pool handled it", e.value)
		}
		after++
		return nil
	}))
	if err := d.Start(); err != nil {
		t.Fatal(err)
	}
	publishFrom(d, 0, n)
	shutdown(t, d)
	lost, dup := countOnce(handled)
	if dup != 0 || lost != 0 {
		t.Errorf("%d events handled twice or more, %d never", dup, lost)
	}
	var total int64
	for w, c := range perWorker {
		total += c
		if c == 0 {
			t.Logf("worker %d handled nothing (possible on a busy machine)", w)
		}
	}
	if total != n || after != n {
		t.Errorf("workers handled %d, the next stage %d, want %d", total, after, n)
	}
}

// TestWrapAroundNeverOverwrites: a tiny ring and a slow consumer. The
// consumer checks each event still holds what was published for its
// sequence, so any overwrite of an unconsumed slot shows.
func TestWrapAroundNeverOverwrites(t *testing.T) {
	n := scale(200_000, 20_000)
	for _, pt := range []ProducerType{SingleProducer, MultiProducer} {
		t.Run(pt.String(), func(t *testing.T) {
			d, err := New(newTestEvent, Config{BufferSize: 4, ProducerType: pt, WaitStrategy: NewYieldingWaitStrategy()})
			if err != nil {
				t.Fatal(err)
			}
			var bad, seen int64
			ring := d.RingBuffer()
			d.HandleEventsWith(EventHandlerFunc[testEvent](func(e *testEvent, seq int64, _ bool) error {
				if e.value != seq {
					bad++
				}
				if c := ring.Cursor(); c-seq > 4 {
					t.Errorf("producer claimed %d while %d is unconsumed in a ring of 4", c, seq)
				}
				if seq%1024 == 0 {
					for range 100 { // be slow now and then
						_ = ring.Cursor()
					}
				}
				seen++
				return nil
			}))
			if err := d.Start(); err != nil {
				t.Fatal(err)
			}
			for range n {
				ring.PublishEvent(func(e *testEvent, seq int64) { e.value = seq })
			}
			shutdown(t, d)
			if bad != 0 || seen != n {
				t.Errorf("saw %d events (want %d), %d overwritten before being consumed", seen, n, bad)
			}
		})
	}
}

// countOnce counts the events of a handled-count table handled never
// (lost) and more than once (dup).
func countOnce(handled []atomic.Int32) (lost, dup int) {
	for i := range handled {
		switch handled[i].Load() {
		case 0:
			lost++
		case 1:
		default:
			dup++
		}
	}
	return lost, dup
}
