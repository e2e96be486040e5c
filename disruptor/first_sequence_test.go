package disruptor

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
)

func TestFirstSequenceConfigErrors(t *testing.T) {
	for _, first := range []int64{-1, -1 << 40, MaxFirstSequence + 1} {
		t.Run(fmt.Sprint(first), func(t *testing.T) {
			cfg := DefaultConfig()
			cfg.FirstSequence = first
			if got := configSettings(cfg.Validate()); len(got) != 1 || got[0] != "FirstSequence" {
				t.Errorf("Validate: errors for %v, want [FirstSequence]", got)
			}
			if _, err := New(newTestEvent, cfg); !isFirstSequenceError(err) {
				t.Errorf("New: %v", err)
			}
			if _, err := NewBuilder(newTestEvent).FirstSequence(first).Build(); !isFirstSequenceError(err) {
				t.Errorf("Build: %v", err)
			}
			for _, pt := range []ProducerType{SingleProducer, MultiProducer, ProducerType(7)} {
				_, err := NewRingBufferAt(newInt, 8, pt, NewBusySpinWaitStrategy(), first)
				if !isFirstSequenceError(err) {
					t.Errorf("NewRingBufferAt(%v): %v", pt, err)
				}
			}
		})
	}
	for _, first := range []int64{0, 1, MaxFirstSequence} {
		cfg := DefaultConfig()
		cfg.FirstSequence = first
		if err := cfg.Validate(); err != nil {
			t.Errorf("FirstSequence %d: %v", first, err)
		}
	}
}

func isFirstSequenceError(err error) bool {
	for _, s := range configSettings(err) {
		if s == "FirstSequence" {
			return true
		}
	}
	return false
}

// firstSequences are the starts the tests try on a ring of size: the
// default, below one lap, a multiple of the size, more than a lap and not
// a multiple of it, and the largest.
func firstSequences(size int64) []int64 {
	return []int64{0, 5, 3 * size, 40*size + 7, MaxFirstSequence}
}

// TestFirstSequenceSequencer: a ring started at first claims first, has a
// whole ring free, and reports nothing from first on available until it is
// published.
func TestFirstSequenceSequencer(t *testing.T) {
	for _, pt := range []ProducerType{SingleProducer, MultiProducer} {
		for _, size := range []int{1, 8} {
			// For a ring of one slot, a lap is a sequence: 2^32-1 is where a
			// lap truncated to 32 bits reads -1, the flag of a fresh slot.
			firsts := append(firstSequences(int64(size)), 1<<32-1, 1<<32)
			for _, first := range firsts {
				t.Run(fmt.Sprintf("%v/%d/%d", pt, size, first), func(t *testing.T) {
					ring, err := NewRingBufferAt(newInt, size, pt, NewBusySpinWaitStrategy(), first)
					if err != nil {
						t.Fatal(err)
					}
					if ring.FirstSequence() != first || ring.Cursor() != first-1 {
						t.Fatalf("FirstSequence %d, cursor %d; want %d, %d", ring.FirstSequence(), ring.Cursor(), first, first-1)
					}
					consumer := NewSequence(InitialSequenceValue)
					ring.AddGatingSequences(consumer)
					if consumer.Get() != first-1 || ring.MinimumGatingSequence() != first-1 {
						t.Fatalf("gating sequence set to %d, minimum %d; want %d", consumer.Get(), ring.MinimumGatingSequence(), first-1)
					}
					if got := ring.RemainingCapacity(); got != int64(size) {
						t.Fatalf("RemainingCapacity = %d, want %d", got, size)
					}
					for s := first; s < first+int64(size); s++ {
						if ring.IsAvailable(s) {
							t.Fatalf("sequence %d available before any publish", s)
						}
					}
					barrier := ring.NewBarrier()
					if d := barrier.Dependent(); d != first-1 {
						t.Fatalf("barrier lets through up to %d before any publish", d)
					}
					hi, err := ring.TryNextN(size)
					if err != nil || hi != first+int64(size)-1 {
						t.Fatalf("TryNextN(%d) = %d, %v; want %d", size, hi, err, first+int64(size)-1)
					}
					if _, err := ring.TryNext(); !errors.Is(err, ErrInsufficientCapacity) {
						t.Fatalf("TryNext on a full ring = %v", err)
					}
					ring.PublishRange(first, hi)
					for s := first; s <= hi; s++ {
						if !ring.IsAvailable(s) {
							t.Fatalf("sequence %d not available after its publish", s)
						}
					}
					if got, err := barrier.WaitFor(first); err != nil || got != hi {
						t.Fatalf("WaitFor(%d) = %d, %v; want %d", first, got, err, hi)
					}
					consumer.Set(hi)
					if s := ring.Next(); s != hi+1 {
						t.Fatalf("Next after a lap = %d, want %d", s, hi+1)
					}
					if ring.IsAvailable(hi + 1) {
						t.Fatalf("sequence %d available before its publish", hi+1)
					}
				})
			}
		}
	}
}

// seqChecker is a handler that expects the sequences from its first on,
// in order, each event holding its own sequence.
type seqChecker struct {
	next  int64 // the sequence expected next
	wrong int64
	first string // the first mistake
}

func newSeqChecker(first int64) *seqChecker { return &seqChecker{next: first} }

func (c *seqChecker) see(e *testEvent, seq int64) {
	if seq != c.next || e.value != seq {
		c.wrong++
		if c.first == "" {
			c.first = fmt.Sprintf("handed %d holding %d, expected %d", seq, e.value, c.next)
		}
	}
	c.next = seq + 1
}

func (c *seqChecker) OnEvent(e *testEvent, seq int64, _ bool) error {
	c.see(e, seq)
	return nil
}

func (c *seqChecker) check(t *testing.T, name string, end int64) {
	t.Helper()
	if c.wrong != 0 || c.next != end {
		t.Errorf("%s: %d wrong (first: %s), stopped before %d, want %d", name, c.wrong, c.first, c.next, end)
	}
}

// batchSeqChecker is a seqChecker taking slices of the ring.
type batchSeqChecker struct{ *seqChecker }

func (c batchSeqChecker) OnBatch(events []testEvent, first int64, _ bool) error {
	for i := range events {
		c.see(&events[i], first+int64(i))
	}
	return nil
}

func publishOwnSequence(e *testEvent, seq int64) { e.value = seq }

// TestFirstSequenceGraph: a ring started at first, published to by one
// producer or three, several laps past its capacity. A pipeline (an event
// handler, then a batch handler) sees exactly first .. first+n-1 in
// order, and a worker pool beside it handles each of them exactly once;
// no consumer is handed anything below first.
func TestFirstSequenceGraph(t *testing.T) {
	const size = 64
	n := scale(size*200+5, size*20+5)
	for _, pt := range []ProducerType{SingleProducer, MultiProducer} {
		for _, first := range firstSequences(size) {
			t.Run(fmt.Sprintf("%v/%d", pt, first), func(t *testing.T) {
				d, err := NewBuilder(newTestEvent).BufferSize(size).ProducerType(pt).
					YieldingWaitStrategy().FirstSequence(first).Build()
				if err != nil {
					t.Fatal(err)
				}
				a, b := newSeqChecker(first), newSeqChecker(first)
				d.HandleEventsWith(a).Then(batchSeqChecker{b})
				handled := make([]atomic.Int32, n)
				var outside atomic.Int64
				workers := make([]WorkHandler[testEvent], 3)
				for i := range workers {
					workers[i] = WorkHandlerFunc[testEvent](func(e *testEvent, seq int64) error {
						if seq < first || seq >= first+n || e.value != seq {
							outside.Add(1)
							return nil
						}
						handled[seq-first].Add(1)
						return nil
					})
				}
				pool := d.HandleEventsWithWorkerPool(workers...)
				for _, s := range pool.Sequences() {
					if s.Get() != first-1 {
						t.Fatalf("a worker's sequence starts at %d, want %d", s.Get(), first-1)
					}
				}
				if err := d.Start(); err != nil {
					t.Fatal(err)
				}
				ring := d.RingBuffer()
				if pt == SingleProducer {
					publishMixed(ring, n)
				} else {
					var wg sync.WaitGroup
					per := n / 3
					for i := range 3 {
						m := per
						if i == 0 {
							m = n - 2*per
						}
						wg.Go(func() { publishMixed(ring, m) })
					}
					wg.Wait()
				}
				shutdown(t, d)
				if c := ring.Cursor(); c != first+n-1 {
					t.Errorf("cursor %d, want %d", c, first+n-1)
				}
				a.check(t, "first stage", first+n)
				b.check(t, "second stage", first+n)
				lost, dup := countOnce(handled)
				if lost != 0 || dup != 0 || outside.Load() != 0 {
					t.Errorf("worker pool: %d lost, %d handled twice, %d outside %d..%d", lost, dup, outside.Load(), first, first+n-1)
				}
			})
		}
	}
}

// publishMixed publishes n events holding their sequences, alternating
// single claims and claims of three, so that claims straddle laps.
func publishMixed(ring *RingBuffer[testEvent], n int64) {
	three := []EventTranslator[testEvent]{publishOwnSequence, publishOwnSequence, publishOwnSequence}
	for left := n; left > 0; {
		if left >= 3 && left%2 == 0 {
			ring.PublishEvents(three...)
			left -= 3
			continue
		}
		ring.PublishEvent(publishOwnSequence)
		left--
	}
}

// TestFirstSequenceWrapAround: a ring of 4 started past many laps, not on
// a lap boundary, with a slow consumer: the producer never claims more
// than a ring ahead of it, and nothing is overwritten before it is read.
func TestFirstSequenceWrapAround(t *testing.T) {
	n := scale(100_000, 10_000)
	const first = 4*1000 + 3
	for _, pt := range []ProducerType{SingleProducer, MultiProducer} {
		t.Run(pt.String(), func(t *testing.T) {
			d, err := New(newTestEvent, Config{BufferSize: 4, ProducerType: pt, WaitStrategy: NewYieldingWaitStrategy(), FirstSequence: first})
			if err != nil {
				t.Fatal(err)
			}
			ring := d.RingBuffer()
			c := newSeqChecker(first)
			var ahead int64
			d.HandleEventsWith(EventHandlerFunc[testEvent](func(e *testEvent, seq int64, _ bool) error {
				c.see(e, seq)
				if cur := ring.Cursor(); cur-seq > 4 {
					ahead++
				}
				if seq%512 == 0 {
					for range 100 { // be slow now and then
						_ = ring.Cursor()
					}
				}
				return nil
			}))
			if err := d.Start(); err != nil {
				t.Fatal(err)
			}
			for range n {
				ring.PublishEvent(publishOwnSequence)
			}
			shutdown(t, d)
			c.check(t, "consumer", first+n)
			if ahead != 0 {
				t.Errorf("the producer claimed more than a ring ahead of the consumer %d times", ahead)
			}
		})
	}
}

// TestFirstSequencePoller: a poller of a ring started at first is idle
// until first is published, then polls from first.
func TestFirstSequencePoller(t *testing.T) {
	for _, pt := range []ProducerType{SingleProducer, MultiProducer} {
		t.Run(pt.String(), func(t *testing.T) {
			const first = 8*5 + 3
			ring, err := NewRingBufferAt(newTestEvent, 8, pt, NewBusySpinWaitStrategy(), first)
			if err != nil {
				t.Fatal(err)
			}
			p := ring.NewPoller()
			if p.Sequence().Get() != first-1 {
				t.Fatalf("poller sequence %d, want %d", p.Sequence().Get(), first-1)
			}
			c := newSeqChecker(first)
			poll := func(e *testEvent, seq int64, _ bool) (bool, error) {
				c.see(e, seq)
				return true, nil
			}
			if st, err := p.Poll(poll); st != PollIdle || err != nil {
				t.Fatalf("before any publish: %v, %v; want idle", st, err)
			}
			for range 3 { // laps, polled as they come
				for range 6 {
					ring.PublishEvent(publishOwnSequence)
				}
				if st, err := p.Poll(poll); st != PollProcessing || err != nil {
					t.Fatalf("poll = %v, %v", st, err)
				}
			}
			c.check(t, "poller", first+18)
		})
	}
}
