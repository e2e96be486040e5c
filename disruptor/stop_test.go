package disruptor

// Tests of what happens to producers, consumers and handlers when a
// Disruptor stops: blocked claims are released, consumers of a
// multi-producer ring park behind a waiting producer, Halt stops at the
// batch in hand, worker pools restart without losing claims, and handlers
// added after Start say that they will never run.

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// stopWait is how long the tests wait for something that must happen
// promptly; generous, for a loaded machine under -race.
const stopWait = 20 * time.Second

// gate is a handler that blocks on its first event until opened, and can
// fail that event instead: it holds the ring full.
type gate struct {
	open    chan struct{}
	entered chan struct{} // closed when the first event arrives
	fail    error         // returned for the first event, if set
	once    sync.Once
	handled atomic.Int64
}

func newGate() *gate { return &gate{open: make(chan struct{}), entered: make(chan struct{})} }

func (g *gate) OnEvent(_ *testEvent, seq int64, _ bool) error {
	first := false
	g.once.Do(func() { first = true; close(g.entered) })
	if first {
		<-g.open
		if g.fail != nil {
			return g.fail
		}
	}
	g.handled.Add(1)
	return nil
}

// publisher is one way of publishing that may block on a full ring.
type publisher struct {
	name string
	// raw is set for RingBuffer.Next, which has no error to return.
	raw     bool
	publish func(d *Disruptor[testEvent]) error
}

var publishers = []publisher{
	{name: "Disruptor.PublishEvent", publish: func(d *Disruptor[testEvent]) error {
		return d.PublishEvent(func(e *testEvent, _ int64) { e.value = 1 })
	}},
	{name: "Disruptor.PublishEvents", publish: func(d *Disruptor[testEvent]) error {
		return d.PublishEvents(func(e *testEvent, _ int64) { e.value = 1 }, func(e *testEvent, _ int64) { e.value = 2 })
	}},
	{name: "RingBuffer.PublishEventCtx", publish: func(d *Disruptor[testEvent]) error {
		return d.RingBuffer().PublishEventCtx(context.Background(), func(e *testEvent, _ int64) { e.value = 1 })
	}},
	{name: "RingBuffer.NextNCtx", publish: func(d *Disruptor[testEvent]) error {
		r := d.RingBuffer()
		hi, err := r.NextNCtx(context.Background(), 2)
		if err == nil {
			r.PublishRange(hi-1, hi)
		}
		return err
	}},
	{name: "RingBuffer.Next", raw: true, publish: func(d *Disruptor[testEvent]) error {
		r := d.RingBuffer()
		r.Publish(r.Next())
		return nil
	}},
}

// TestBlockedProducerReleasedOnStop: a producer blocked on a full ring is
// released once the Disruptor stops, whichever way it stops. Calls that
// can return an error return ErrShutdown (Halt, or a Shutdown that gave
// up) or an error wrapping ErrHalted and the *HaltedError (the consumer
// halted by itself), and publish nothing; RingBuffer.Next returns its
// claim once every processor has exited.
func TestBlockedProducerReleasedOnStop(t *testing.T) {
	errBoom := errors.New("boom")
	stops := []struct {
		name string
		// stop stops d while g holds the ring full and returns a
		// function that finishes the stop once g is open.
		stop    func(t *testing.T, d *Disruptor[testEvent], g *gate) (finish func())
		want    error // what the error-returning calls return
		halted  bool  // the error wraps a *HaltedError too
		failing bool  // the gate fails its event
	}{
		{name: "Halt", want: ErrShutdown, stop: func(t *testing.T, d *Disruptor[testEvent], g *gate) func() {
			done := make(chan struct{})
			go func() { d.Halt(); close(done) }()
			return func() { <-done }
		}},
		{name: "ShutdownExpired", want: ErrShutdown, stop: func(t *testing.T, d *Disruptor[testEvent], g *gate) func() {
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
			defer cancel()
			if err := d.Shutdown(ctx); !errors.Is(err, context.DeadlineExceeded) {
				t.Errorf("Shutdown = %v, want DeadlineExceeded", err)
			}
			return func() { <-d.exited }
		}},
		{name: "ConsumerHalted", want: ErrHalted, halted: true, failing: true, stop: func(t *testing.T, d *Disruptor[testEvent], g *gate) func() {
			close(g.open) // the gate fails its event: the processor halts itself
			return func() {}
		}},
	}
	for _, pt := range []ProducerType{SingleProducer, MultiProducer} {
		for _, st := range stops {
			for _, pub := range publishers {
				t.Run(fmt.Sprintf("%s/%s/%s", pt, st.name, pub.name), func(t *testing.T) {
					d, err := New(newTestEvent, Config{BufferSize: 4, ProducerType: pt, WaitStrategy: NewBlockingWaitStrategy()})
					if err != nil {
						t.Fatal(err)
					}
					g := newGate()
					if st.failing {
						g.fail = errBoom
					}
					d.HandleEventsWith(g)
					if err := d.Start(); err != nil {
						t.Fatal(err)
					}
					publishFrom(d, 0, 4) // the gate holds event 0: the ring is full
					<-g.entered
					cursor := d.RingBuffer().Cursor()

					returned := make(chan error, 1)
					go func() { returned <- pub.publish(d) }()
					select {
					case err := <-returned:
						t.Fatalf("%s returned %v on a full ring", pub.name, err)
					case <-time.After(20 * time.Millisecond): // it is waiting, as it should
					}

					finish := st.stop(t, d, g)
					if pub.raw {
						// Next can only return its claim, once nobody is
						// left to read the slot.
						if !st.failing {
							close(g.open)
						}
						finish()
						select {
						case <-returned:
						case <-time.After(stopWait):
							t.Fatalf("%s still blocked %v after the processors exited", pub.name, stopWait)
						}
						return
					}
					select {
					case err := <-returned:
						if !errors.Is(err, st.want) {
							t.Errorf("%s = %v, want %v", pub.name, err, st.want)
						}
						var he *HaltedError
						if st.halted && (!errors.As(err, &he) || !errors.Is(err, errBoom)) {
							t.Errorf("%s = %v, want it to wrap the *HaltedError", pub.name, err)
						}
					case <-time.After(stopWait):
						t.Fatalf("%s still blocked %v after the disruptor stopped", pub.name, stopWait)
					}
					if !st.failing {
						close(g.open)
					}
					finish()
					if c := d.RingBuffer().Cursor(); c != cursor {
						t.Errorf("cursor moved from %d to %d: a failed claim claimed", cursor, c)
					}
					d.Halt()
				})
			}
		}
	}
}

// TestNextCtxGivesUp: a context-taking claim on a full ring returns the
// context's error and claims nothing; with many producers it leaves no
// gap, so what is published afterwards reaches the consumer.
func TestNextCtxGivesUp(t *testing.T) {
	for _, pt := range []ProducerType{SingleProducer, MultiProducer} {
		t.Run(pt.String(), func(t *testing.T) {
			d, err := New(newTestEvent, Config{BufferSize: 4, ProducerType: pt, WaitStrategy: NewBlockingWaitStrategy()})
			if err != nil {
				t.Fatal(err)
			}
			g := newGate()
			d.HandleEventsWith(g)
			if err := d.Start(); err != nil {
				t.Fatal(err)
			}
			defer d.Halt()
			publishFrom(d, 0, 4)
			<-g.entered
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
			defer cancel()
			ring := d.RingBuffer()
			if _, err := ring.NextCtx(ctx); !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("NextCtx on a full ring = %v, want DeadlineExceeded", err)
			}
			if err := d.PublishEventCtx(ctx, func(*testEvent, int64) {}); !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("PublishEventCtx on a full ring = %v, want DeadlineExceeded", err)
			}
			if _, err := ring.NextNCtx(context.Background(), 5); !errors.Is(err, ErrInvalidClaim) {
				t.Errorf("NextNCtx(5) on a ring of 4 = %v, want ErrInvalidClaim", err)
			}
			if c := ring.Cursor(); c != 3 {
				t.Fatalf("cursor %d after the claims gave up, want 3", c)
			}
			close(g.open)
			if err := d.PublishEventCtx(context.Background(), func(e *testEvent, _ int64) { e.value = 4 }); err != nil {
				t.Fatal(err)
			}
			if !rvWaitUntil(stopWait, func() bool { return g.handled.Load() == 5 }) {
				t.Fatalf("consumer handled %d events, want 5: a given-up claim left a gap", g.handled.Load())
			}
		})
	}
}

// TestCaughtUpConsumerParksBehindWaitingProducer: with many producers the
// cursor counts claims, so a producer that has claimed a slot and waits
// for a slow consumer to free it moves the cursor past a fast consumer
// that has handled everything. A fast consumer with a blocking strategy
// must park there, not spin a core: its process uses about as much CPU as
// with one producer (whose cursor moves only at publish).
func TestCaughtUpConsumerParksBehindWaitingProducer(t *testing.T) {
	const window = 300 * time.Millisecond
	for _, ws := range []string{BlockingName, LiteBlockingName, TimeoutBlockingName, PhasedBackoffName, SleepingName} {
		t.Run(ws, func(t *testing.T) {
			idle := func(pt ProducerType) time.Duration {
				d, err := New(newTestEvent, Config{BufferSize: 8, ProducerType: pt, WaitStrategy: mustParse(t, ws)})
				if err != nil {
					t.Fatal(err)
				}
				// fast handles everything but waits at event 7 until the
				// producer has claimed event 8, so that it reaches its
				// wait with the claim already in the cursor.
				fast := newOrderChecker(t, 1)
				hold, held := make(chan struct{}), make(chan struct{})
				holding := EventHandlerFunc[testEvent](func(e *testEvent, seq int64, end bool) error {
					if seq == 7 {
						close(held)
						<-hold
					}
					return fast.OnEvent(e, seq, end)
				})
				slow := newGate()
				fastSeq := d.HandleEventsWith(holding, slow).Sequences()[0]
				if err := d.Start(); err != nil {
					t.Fatal(err)
				}
				publishFrom(d, 0, 8) // fills the ring: slow holds event 0
				<-slow.entered
				<-held
				ring := d.RingBuffer()
				waiting := make(chan struct{})
				go func() { // claims event 8 and waits for slow to free its slot
					defer close(waiting)
					seq := ring.Next()
					ring.Get(seq).producer, ring.Get(seq).value = 0, 8
					ring.Publish(seq)
				}()
				if pt == MultiProducer && !rvWaitUntil(stopWait, func() bool { return ring.Cursor() == 8 }) {
					t.Fatal("the producer did not claim")
				}
				time.Sleep(10 * time.Millisecond) // the single producer's claim does not show: give it time to wait
				close(hold)
				if !rvWaitUntil(stopWait, func() bool { return fastSeq.Get() == 7 }) {
					t.Fatal("the fast consumer did not catch up")
				}
				time.Sleep(20 * time.Millisecond) // let the consumer and producer settle into their waits
				start := processCPU(t)
				time.Sleep(window) // what is measured: CPU over this window, not time
				used := processCPU(t) - start
				close(slow.open)
				<-waiting
				shutdown(t, d)
				fast.check(t, 1, 9)
				return used
			}
			single, multi := idle(SingleProducer), idle(MultiProducer)
			t.Logf("CPU over %v with a producer waiting: single producer %v, multi-producer %v", window, single, multi)
			// The producer's own backoff costs a little in both; a floor
			// keeps a quiet single-producer run from making the bound
			// tighter than the clock's resolution.
			if multi > 2*max(single, 10*time.Millisecond) {
				t.Errorf("multi-producer ring used %v of CPU in %v, single producer %v: the caught-up consumer spins instead of parking", multi, window, single)
			}
		})
	}
}

// TestHaltStopsAtBatchInHand: Halt lets the processor finish the batch it
// holds (LMAX's "next clean break") and handle nothing after it.
func TestHaltStopsAtBatchInHand(t *testing.T) {
	ring, err := NewRingBuffer(newTestEvent, 64, SingleProducer, NewBlockingWaitStrategy())
	if err != nil {
		t.Fatal(err)
	}
	g := newGate()
	p := NewBatchEventProcessor(ring, ring.NewBarrier(), &batchSizes{EventHandler: g})
	ring.AddGatingSequences(p.Sequence())
	for range 40 {
		ring.Publish(ring.Next())
	}
	done := make(chan error, 1)
	go func() { done <- p.Run() }()
	<-g.entered // its first batch is the 40 events published
	for range 10 {
		ring.Publish(ring.Next())
	}
	p.Halt()
	close(g.open)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if n, s := g.handled.Load(), p.Sequence().Get(); n != 40 || s != 39 {
		t.Fatalf("after Halt the processor handled %d events and is at %d; want the batch in hand, 40, and 39", n, s)
	}
}

// batchSizes wraps a handler to count batch starts.
type batchSizes struct {
	EventHandler[testEvent]
	sizes []int64
}

func (b *batchSizes) OnBatchStart(n int64) { b.sizes = append(b.sizes, n) }

// TestWorkerPoolRestartKeepsClaims: each idle worker has claimed the next
// sequence and waits for it; halting the pool and running the workers
// again must hand those sequences to their claimers, not drop them.
func TestWorkerPoolRestartKeepsClaims(t *testing.T) {
	ring, err := NewRingBuffer(newTestEvent, 64, SingleProducer, NewBlockingWaitStrategy())
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	seen := map[int64]int{}
	h := WorkHandlerFunc[testEvent](func(e *testEvent, _ int64) error {
		mu.Lock()
		seen[e.value]++
		mu.Unlock()
		return nil
	})
	pool := NewWorkerPool(ring, ring.NewBarrier(), h, h, h)
	ring.AddGatingSequences(pool.Sequences()...)
	run := func() *sync.WaitGroup {
		var wg sync.WaitGroup
		for _, w := range pool.Workers() {
			wg.Go(func() {
				if err := w.Run(); err != nil {
					t.Error(err)
				}
			})
		}
		return &wg
	}
	publish := func(lo, hi int64) {
		for v := lo; v < hi; v++ {
			PublishEvent1(ring, fillValue, v)
		}
	}
	count := func() int {
		mu.Lock()
		defer mu.Unlock()
		return len(seen)
	}
	for round := range int64(3) {
		wg := run()
		publish(round*20, round*20+20)
		if !rvWaitUntil(stopWait, func() bool { return count() == int(round*20+20) }) {
			t.Fatalf("round %d: %d distinct events handled, want %d", round, count(), round*20+20)
		}
		// Every worker has now claimed a sequence beyond the cursor.
		if !rvWaitUntil(stopWait, func() bool { return pool.workSequence.Get() == ring.Cursor()+3 }) {
			t.Fatalf("work sequence %d, want cursor %d + 3 claims", pool.workSequence.Get(), ring.Cursor())
		}
		pool.Halt()
		wg.Wait()
	}
	wg := run()
	defer func() { pool.Halt(); wg.Wait() }()
	publish(60, 70)
	if !rvWaitUntil(stopWait, func() bool { return count() == 70 }) {
		mu.Lock()
		defer mu.Unlock()
		var missing []int64
		for v := range int64(70) {
			if seen[v] == 0 {
				missing = append(missing, v)
			}
		}
		t.Fatalf("after restarts, events %v were never handled: the workers' claims were dropped", missing)
	}
	mu.Lock()
	defer mu.Unlock()
	for v, n := range seen {
		if n != 1 {
			t.Errorf("event %d handled %d times", v, n)
		}
	}
}

// TestLateHandlerReturnsError: a handler added after Start is never run,
// and the group, its followers and the Disruptor say so.
func TestLateHandlerReturnsError(t *testing.T) {
	d, err := NewBuilder(newTestEvent).BufferSize(8).Build()
	if err != nil {
		t.Fatal(err)
	}
	early := newOrderChecker(t, 1)
	if g := d.HandleEventsWith(early); g.Err() != nil {
		t.Fatalf("group before Start: %v", g.Err())
	}
	if err := d.Start(); err != nil {
		t.Fatal(err)
	}
	late := newGate()
	g := d.HandleEventsWith(late)
	if !errors.Is(g.Err(), ErrAlreadyStarted) {
		t.Errorf("group added after Start: Err() = %v, want ErrAlreadyStarted", g.Err())
	}
	if then := g.Then(EventHandlerFunc[testEvent](func(*testEvent, int64, bool) error { return nil })); !errors.Is(then.Err(), ErrAlreadyStarted) {
		t.Errorf("Then after a late group: Err() = %v, want ErrAlreadyStarted", then.Err())
	}
	if wp := d.HandleEventsWithWorkerPool(WorkHandlerFunc[testEvent](func(*testEvent, int64) error { return nil })); !errors.Is(wp.Err(), ErrAlreadyStarted) {
		t.Errorf("worker pool added after Start: Err() = %v, want ErrAlreadyStarted", wp.Err())
	}
	if !errors.Is(d.Err(), ErrAlreadyStarted) {
		t.Errorf("Disruptor.Err() = %v, want ErrAlreadyStarted", d.Err())
	}
	publishFrom(d, 0, 5)
	shutdown(t, d)
	early.check(t, 1, 5)
	select {
	case <-late.entered:
		t.Error("a handler added after Start was run")
	default:
	}
}
