package disruptor

// Regression tests from a concurrency review of the core. Each names the
// defect it guards against: a lost Halt, a multi-producer ring wedged by a
// panicking translator, Shutdown racing publishes, Halt and itself, panics
// in OnBatch and OnBatchStart, NextN validation, and consumers spinning on
// a claimed-but-unpublished slot. TestReviewHaltRacingRunIsNotLost hunts a
// narrow race, so it would catch a regression on most runs, not all.

import (
	"context"
	"errors"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// rvWaitUntil polls cond for up to d.
func rvWaitUntil(d time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		if cond() {
			return true
		}
		time.Sleep(100 * time.Microsecond)
	}
	return cond()
}

// TestReviewHaltRacingRunIsNotLost: processorCore.begin does
// CAS(idle→running) and then ClearAlert. A Halt that lands between the two
// (state=halted, alerted=true) has its alert wiped by ClearAlert; the
// processor then parks in WaitFor with alerted=false and never looks at
// the state again, so Run never returns and Disruptor.Halt/Shutdown hang
// in wg.Wait. LMAX re-checks `running == RUNNING` after clearAlert.
func TestReviewHaltRacingRunIsNotLost(t *testing.T) {
	trials := int(scale(50000, 10000))
	par := max(1, runtime.GOMAXPROCS(0)/2) // one spinning halter and one processor per pair of Ps
	var lost, ran atomic.Int64
	var wg sync.WaitGroup
	for w := 0; w < par; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ring, err := NewRingBuffer(newTestEvent, 8, SingleProducer, NewBlockingWaitStrategy())
			if err != nil {
				t.Error(err)
				return
			}
			h := EventHandlerFunc[testEvent](func(*testEvent, int64, bool) error { return nil })
			for i := 0; i < trials/par && lost.Load() == 0; i++ {
				ran.Add(1)
				p := NewBatchEventProcessor(ring, ring.NewBarrier(), h)
				done := make(chan error, 1)
				go func() { done <- p.Run() }()
				for !p.IsRunning() {
				}
				p.Halt()
				select {
				case <-done:
				case <-time.After(time.Second): // nothing is published: a live processor returns at once
					if p.barrier.IsAlerted() {
						t.Errorf("Run did not return within 1s of Halt though its barrier is alerted")
					}
					lost.Add(1)
					p.Halt() // release it so the goroutine does not leak
					<-done
				}
			}
		}()
	}
	wg.Wait()
	if n := lost.Load(); n > 0 {
		t.Fatalf("Halt lost in a Run/Halt race (after %d trials): Run kept waiting after Halt, its alert cleared by begin's ClearAlert", ran.Load())
	}
}

// TestReviewTranslatorPanicWedgesMultiProducerRing: PublishEvent claims a
// slot, runs the translator, then publishes, with no defer. A translator
// that panics (and a caller that recovers, as net/http does) leaves the
// claimed sequence unpublished forever: with a multi-producer sequencer
// every consumer stops at that gap, every later event is invisible, and
// producers eventually block forever. LMAX publishes in a finally block.
func TestReviewTranslatorPanicWedgesMultiProducerRing(t *testing.T) {
	d, err := NewBuilder(newTestEvent).BufferSize(8).MultiProducer().BlockingWaitStrategy().Build()
	if err != nil {
		t.Fatal(err)
	}
	var handled atomic.Int64
	d.HandleEventsWith(EventHandlerFunc[testEvent](func(*testEvent, int64, bool) error {
		handled.Add(1)
		return nil
	}))
	if err := d.Start(); err != nil {
		t.Fatal(err)
	}
	defer d.Halt()
	func() {
		defer func() { _ = recover() }()
		_ = d.PublishEvent(func(*testEvent, int64) { panic("bad input") })
	}()
	if err := d.PublishEvent(func(e *testEvent, _ int64) { e.value = 42 }); err != nil {
		t.Fatal(err)
	}
	if !rvWaitUntil(time.Second, func() bool { return handled.Load() >= 1 }) {
		t.Fatalf("after one translator panic no later event is ever handled (handled=%d): the claimed slot was never published", handled.Load())
	}
}

// TestReviewShutdownMissesInFlightPublish: Disruptor.PublishEvent checks
// the state, then claims, translates and publishes. With a single producer
// the claim is invisible to Shutdown's drain (the cursor moves only at
// Publish), so Shutdown sees no backlog, halts the processors and returns
// nil while an accepted PublishEvent is still in flight; that event is
// then published, PublishEvent returns nil, and no one ever handles it.
// (With a full ring the late producer blocks in Next forever instead.)
func TestReviewShutdownMissesInFlightPublish(t *testing.T) {
	d, err := NewBuilder(newTestEvent).BufferSize(8).SingleProducer().BlockingWaitStrategy().Build()
	if err != nil {
		t.Fatal(err)
	}
	var handled atomic.Int64
	d.HandleEventsWith(EventHandlerFunc[testEvent](func(*testEvent, int64, bool) error {
		handled.Add(1)
		return nil
	}))
	if err := d.Start(); err != nil {
		t.Fatal(err)
	}
	entered, release := make(chan struct{}), make(chan struct{})
	published := make(chan error, 1)
	go func() {
		published <- d.PublishEvent(func(e *testEvent, _ int64) {
			close(entered)
			<-release
			e.value = 1
		})
	}()
	<-entered
	shut := make(chan error, 1)
	go func() { shut <- d.Shutdown(context.Background()) }()
	var shutEarly bool
	select {
	case <-shut:
		shutEarly = true
	case <-time.After(200 * time.Millisecond):
	}
	close(release)
	pubErr := <-published
	if !shutEarly {
		<-shut
	}
	if shutEarly {
		t.Errorf("Shutdown returned while an accepted PublishEvent was still in flight")
	}
	if pubErr == nil && handled.Load() != 1 {
		t.Errorf("PublishEvent returned nil but its event was handled %d times after Shutdown", handled.Load())
	}
}

// rvPanickyBatch is a BatchHandler that panics once, on sequence poison,
// and counts how often each sequence was delivered.
type rvPanickyBatch struct {
	poison   int64
	panicked bool
	seen     map[int64]int
}

func (h *rvPanickyBatch) OnEvent(*testEvent, int64, bool) error { return nil }
func (h *rvPanickyBatch) OnBatch(events []testEvent, first int64, _ bool) error {
	for i := range events {
		seq := first + int64(i)
		h.seen[seq]++
		if seq == h.poison && !h.panicked {
			h.panicked = true
			panic("poison")
		}
	}
	return nil
}

// TestReviewBatchHandlerPanicRedelivers: handleBatch's recover treats a
// panic in OnBatch as a failure of p.current (the slice's first sequence)
// only: it stores sequence=lo and resumes at lo+1, so lo+1..poison, which
// the handler already handled before panicking, are delivered again. An
// error return from OnBatch instead skips the whole slice; the two paths
// disagree, and the panic path handles events twice.
func TestReviewBatchHandlerPanicRedelivers(t *testing.T) {
	ring, err := NewRingBuffer(newTestEvent, 16, SingleProducer, NewBlockingWaitStrategy())
	if err != nil {
		t.Fatal(err)
	}
	h := &rvPanickyBatch{poison: 3, seen: map[int64]int{}}
	p := NewBatchEventProcessor(ring, ring.NewBarrier(), h)
	p.SetExceptionHandler(IgnoreExceptionHandler[testEvent]{})
	ring.AddGatingSequences(p.Sequence())
	for i := 0; i < 8; i++ { // one batch 0..7
		ring.Publish(ring.Next())
	}
	done := make(chan error, 1)
	go func() { done <- p.Run() }()
	if !rvWaitUntil(5*time.Second, func() bool { return p.Sequence().Get() >= 7 }) {
		t.Error("processor did not reach sequence 7")
	}
	p.Halt()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	for seq := int64(0); seq < 8; seq++ {
		if n := h.seen[seq]; n > 1 {
			t.Errorf("sequence %d delivered %d times after a panic at %d", seq, n, h.poison)
		}
	}
}

// TestReviewShutdownHangsAfterConcurrentHalt: Shutdown(ctx) drains until
// no end-of-chain consumer is behind the cursor or one failed. A Halt
// issued while Shutdown drains (the "second Ctrl-C" pattern) stops the
// processors without a failure, so the backlog can never clear and a
// Shutdown with a context that has no deadline never returns.
func TestReviewShutdownHangsAfterConcurrentHalt(t *testing.T) {
	d, err := NewBuilder(newTestEvent).BufferSize(8).SingleProducer().BlockingWaitStrategy().Build()
	if err != nil {
		t.Fatal(err)
	}
	entered, release := make(chan struct{}), make(chan struct{})
	var once sync.Once
	d.HandleEventsWith(EventHandlerFunc[testEvent](func(_ *testEvent, seq int64, _ bool) error {
		if seq == 0 {
			once.Do(func() { close(entered) })
			<-release
		}
		return nil
	}))
	if err := d.Start(); err != nil {
		t.Fatal(err)
	}
	publishFrom(d, 0, 1)
	<-entered
	publishFrom(d, 0, 3) // backlog behind the stuck event
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	shut := make(chan error, 1)
	go func() { shut <- d.Shutdown(ctx) }()
	time.Sleep(20 * time.Millisecond)
	halted := make(chan struct{})
	go func() { d.Halt(); close(halted) }()
	time.Sleep(20 * time.Millisecond)
	close(release)
	<-halted
	select {
	case <-shut:
	case <-time.After(2 * time.Second):
		cancel()
		<-shut
		t.Fatal("Shutdown(context.Background()) never returns once Halt stopped the processors during its drain")
	}
}

// TestReviewSecondShutdownReturnsBeforeStopped: Shutdown's
// state.Swap(stopping) makes every later (or concurrent) Shutdown return
// at once, while the first is still draining and the processors still run.
func TestReviewSecondShutdownReturnsBeforeStopped(t *testing.T) {
	d, err := NewBuilder(newTestEvent).BufferSize(8).SingleProducer().BlockingWaitStrategy().Build()
	if err != nil {
		t.Fatal(err)
	}
	entered, release := make(chan struct{}), make(chan struct{})
	var once sync.Once
	var handled atomic.Int64
	d.HandleEventsWith(EventHandlerFunc[testEvent](func(*testEvent, int64, bool) error {
		once.Do(func() { close(entered) })
		<-release
		handled.Add(1)
		return nil
	}))
	if err := d.Start(); err != nil {
		t.Fatal(err)
	}
	publishFrom(d, 0, 1)
	<-entered
	publishFrom(d, 0, 1) // a second batch, still to come
	first := make(chan error, 1)
	go func() { first <- d.Shutdown(context.Background()) }()
	time.Sleep(20 * time.Millisecond)
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	err = d.Shutdown(ctx)
	got := handled.Load()
	close(release)
	if err == nil && got != 2 {
		t.Errorf("second Shutdown returned nil with %d of 2 events handled and the processor still running", got)
	}
	// Whatever the second call did, the first must still return.
	select {
	case <-first:
	case <-time.After(2 * time.Second):
		d.Halt()
		t.Fatal("first Shutdown(context.Background()) hangs after a second Shutdown halted the processors")
	}
}

// TestReviewShutdownHonoursContext: once ctx ends Shutdown halts the
// processors "without draining and returns ctx's error", but then waits
// for the processor goroutines without a bound: a handler stuck in I/O
// keeps Shutdown(ctx with a 50ms deadline) blocked indefinitely.
func TestReviewShutdownHonoursContext(t *testing.T) {
	d, err := NewBuilder(newTestEvent).BufferSize(8).SingleProducer().BlockingWaitStrategy().Build()
	if err != nil {
		t.Fatal(err)
	}
	release := make(chan struct{})
	d.HandleEventsWith(EventHandlerFunc[testEvent](func(*testEvent, int64, bool) error {
		<-release
		return nil
	}))
	if err := d.Start(); err != nil {
		t.Fatal(err)
	}
	publishFrom(d, 0, 1)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	shut := make(chan error, 1)
	go func() { shut <- d.Shutdown(ctx) }()
	select {
	case err := <-shut:
		close(release)
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Shutdown = %v, want DeadlineExceeded", err)
		}
		d.Halt() // wait for the processor goroutine to exit
	case <-time.After(time.Second):
		close(release)
		<-shut
		t.Fatal("Shutdown ignored its 50ms deadline while a handler was stuck")
	}
}

// TestReviewSingleProducerNextNValidates: NextN documents a panic with
// ErrInvalidClaim unless 1 <= n <= BufferSize; the single-producer fast
// path checks n only on the slow path, so NextN(0) returns the last
// claimed (possibly published and being read) sequence and NextN(-3)
// rewinds the claim counter. The multi-producer sequencer panics.
func TestReviewSingleProducerNextNValidates(t *testing.T) {
	for _, pt := range []ProducerType{SingleProducer, MultiProducer} {
		for _, n := range []int{0, -3} {
			ring, err := NewRingBuffer(newInt, 8, pt, NewBusySpinWaitStrategy())
			if err != nil {
				t.Fatal(err)
			}
			ring.Publish(ring.Next())
			func() {
				defer func() {
					r := recover()
					if err, _ := r.(error); !errors.Is(err, ErrInvalidClaim) {
						t.Errorf("%v: NextN(%d) recovered %v, want a panic with ErrInvalidClaim", pt, n, r)
					}
				}()
				got := ring.NextN(n)
				t.Errorf("%v: NextN(%d) returned %d instead of panicking", pt, n, got)
			}()
		}
	}
}

// rvBatchStartPanics panics in OnBatchStart.
type rvBatchStartPanics struct{ handled atomic.Int64 }

func (h *rvBatchStartPanics) OnEvent(*testEvent, int64, bool) error { h.handled.Add(1); return nil }
func (h *rvBatchStartPanics) OnBatchStart(int64)                    { panic("batch start") }

// TestReviewOnBatchStartPanicIsRecovered: OnEvent, OnBatch and the
// lifecycle hooks are recovered and routed to the ExceptionHandler, but
// OnBatchStart is called outside handleBatch's recover: its panic escapes
// Run and, on the Disruptor's goroutine, kills the process. LMAX calls
// onBatchStart inside the try that routes to the exception handler.
func TestReviewOnBatchStartPanicIsRecovered(t *testing.T) {
	ring, err := NewRingBuffer(newTestEvent, 8, SingleProducer, NewBlockingWaitStrategy())
	if err != nil {
		t.Fatal(err)
	}
	h := &rvBatchStartPanics{}
	p := NewBatchEventProcessor(ring, ring.NewBarrier(), h)
	var reported atomic.Int64
	p.SetExceptionHandler(ExceptionHandlerFunc[testEvent](func(err error, _ int64, _ *testEvent) error {
		reported.Add(1)
		return nil
	}))
	ring.AddGatingSequences(p.Sequence())
	ring.Publish(ring.Next())
	stop := make(chan struct{})
	go func() {
		select {
		case <-stop:
		case <-time.After(200 * time.Millisecond):
		}
		p.Halt()
	}()
	var escaped any
	func() {
		defer func() { escaped = recover() }()
		_ = p.Run() // on this goroutine, so an escaping panic can be caught
	}()
	close(stop)
	if escaped != nil {
		t.Fatalf("panic in OnBatchStart escaped Run (it would crash the program): %v", escaped)
	}
	if reported.Load() == 0 {
		t.Error("panic in OnBatchStart was not reported to the ExceptionHandler")
	}
}

// TestReviewMultiProducerGapSpinsWithoutYielding: with a multi-producer
// ring the cursor is the claimed high mark, so a consumer whose next slot
// is claimed but not yet published skips the wait strategy entirely
// (SequenceBarrier.WaitFor's fast path), gets seq-1 from
// HighestPublishedSequence, and processEvents `continue`s: a tight loop
// with no yield. With GOMAXPROCS=1 (or as many spinning consumers as Ps)
// the producer that must publish cannot run until async preemption
// (~10ms), whatever the wait strategy, even BlockingWaitStrategy.
func TestReviewMultiProducerGapSpinsWithoutYielding(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	ring, err := NewRingBuffer(newTestEvent, 64, MultiProducer, NewBlockingWaitStrategy())
	if err != nil {
		t.Fatal(err)
	}
	p := NewBatchEventProcessor(ring, ring.NewBarrier(),
		EventHandlerFunc[testEvent](func(*testEvent, int64, bool) error { return nil }))
	ring.AddGatingSequences(p.Sequence())
	done := make(chan error, 1)
	go func() { done <- p.Run() }()
	defer func() { p.Halt(); <-done }()
	for !p.IsRunning() {
		runtime.Gosched()
	}
	const n = 40
	start := time.Now()
	for i := 0; i < n; i++ {
		ring.Publish(ring.Next()) // wakes the consumer; with one P it is runnable, not running
		seq := ring.Next()        // a claim the consumer will find unpublished
		runtime.Gosched()         // the producer is descheduled between claim and publish
		ring.Publish(seq)
		for p.Sequence().Get() < seq {
			runtime.Gosched()
		}
	}
	if el := time.Since(start); el > 200*time.Millisecond {
		t.Errorf("%d claim/publish round trips took %v on one P: the consumer spins on the unpublished gap without yielding", n, el)
	}
}
