package disruptor

import (
	"context"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestShutdownDrains: with a slow handler, Shutdown returns only after
// every published event was handled.
func TestShutdownDrains(t *testing.T) {
	const n = 2000
	d, err := NewBuilder(newTestEvent).BufferSize(1024).BlockingWaitStrategy().Build()
	if err != nil {
		t.Fatal(err)
	}
	var handled atomic.Int64
	d.HandleEventsWith(EventHandlerFunc[testEvent](func(*testEvent, int64, bool) error {
		if handled.Load()%100 == 0 {
			time.Sleep(time.Millisecond)
		}
		handled.Add(1)
		return nil
	}))
	if err := d.Start(); err != nil {
		t.Fatal(err)
	}
	publishFrom(d, 0, n)
	shutdown(t, d)
	if got := handled.Load(); got != n {
		t.Fatalf("Shutdown returned after %d of %d events", got, n)
	}
	if err := d.PublishEvent(func(*testEvent, int64) {}); !errors.Is(err, ErrShutdown) {
		t.Errorf("PublishEvent after Shutdown = %v, want ErrShutdown", err)
	}
	if err := d.Start(); !errors.Is(err, ErrShutdown) {
		t.Errorf("Start after Shutdown = %v, want ErrShutdown", err)
	}
}

// TestShutdownContextExpires: a handler that never finishes; Shutdown
// gives up when ctx ends, returns its error, and leaves no goroutine.
func TestShutdownContextExpires(t *testing.T) {
	d, err := NewBuilder(newTestEvent).BufferSize(8).BlockingWaitStrategy().Build()
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
	publishFrom(d, 0, 3)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	done := make(chan error)
	go func() { done <- d.Shutdown(ctx) }()
	time.Sleep(100 * time.Millisecond) // Shutdown is now waiting for the handler
	close(release)
	if err := <-done; !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Shutdown = %v, want DeadlineExceeded", err)
	}
}

func TestStartTwiceAndLateHandlers(t *testing.T) {
	d, err := NewBuilder(newTestEvent).BufferSize(8).Build()
	if err != nil {
		t.Fatal(err)
	}
	d.HandleEventsWith(&stageWriter{set: func(*testEvent) {}})
	if err := d.Start(); err != nil {
		t.Fatal(err)
	}
	if err := d.Start(); !errors.Is(err, ErrAlreadyStarted) {
		t.Errorf("second Start = %v, want ErrAlreadyStarted", err)
	}
	g := d.HandleEventsWith(&stageWriter{set: func(*testEvent) {}})
	if !errors.Is(g.Err(), ErrAlreadyStarted) || !errors.Is(d.Err(), ErrAlreadyStarted) {
		t.Errorf("adding a handler after Start: group %v, disruptor %v, want ErrAlreadyStarted", g.Err(), d.Err())
	}
	d.Halt()
}

func TestAfterUnknownHandler(t *testing.T) {
	d, err := NewBuilder(newTestEvent).BufferSize(8).Build()
	if err != nil {
		t.Fatal(err)
	}
	d.After(&stageWriter{}).Then(&stageWriter{})
	err = d.Start()
	if err == nil || !strings.Contains(err.Error(), "was not added") {
		t.Fatalf("Start = %v, want an error naming the unknown handler", err)
	}
	d.Halt()
}

func TestHaltWithoutStart(t *testing.T) {
	d, err := NewBuilder(newTestEvent).BufferSize(8).Build()
	if err != nil {
		t.Fatal(err)
	}
	d.HandleEventsWith(&stageWriter{set: func(*testEvent) {}})
	d.Halt()
	if err := d.Shutdown(context.Background()); err != nil {
		t.Fatalf("Shutdown after Halt = %v", err)
	}
}

// TestPanicReachesExceptionHandler: a panicking handler's panic arrives as
// a *PanicError with the event and sequence; with the ignore policy the
// processor goes on with the rest.
func TestPanicReachesExceptionHandler(t *testing.T) {
	d, err := NewBuilder(newTestEvent).BufferSize(64).SingleProducer().Build()
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var got []int64
	d.SetDefaultExceptionHandler(ExceptionHandlerFunc[testEvent](func(err error, seq int64, e *testEvent) error {
		var pe *PanicError
		if !errors.As(err, &pe) || pe.Value != "boom" || len(pe.Stack) == 0 {
			t.Errorf("exception handler got %v, want a *PanicError(boom) with a stack", err)
		}
		if e == nil || e.value != seq {
			t.Errorf("exception handler got event %+v for sequence %d", e, seq)
		}
		mu.Lock()
		got = append(got, seq)
		mu.Unlock()
		return nil
	}))
	var handled int64
	d.HandleEventsWith(EventHandlerFunc[testEvent](func(e *testEvent, seq int64, _ bool) error {
		if seq%10 == 3 {
			panic("boom")
		}
		handled++
		return nil
	}))
	if err := d.Start(); err != nil {
		t.Fatal(err)
	}
	for range 100 {
		d.RingBuffer().PublishEvent(func(e *testEvent, seq int64) { e.value = seq })
	}
	shutdown(t, d)
	if len(got) != 10 || handled != 90 {
		t.Errorf("panics reported at %v (want 10), %d events handled (want 90)", got, handled)
	}
}

// TestErrorIgnored: IgnoreExceptionHandler carries on after an error.
func TestErrorIgnored(t *testing.T) {
	d, err := NewBuilder(newTestEvent).BufferSize(64).ExceptionHandler(IgnoreExceptionHandler[testEvent]{}).Build()
	if err != nil {
		t.Fatal(err)
	}
	var handled int64
	d.HandleEventsWith(EventHandlerFunc[testEvent](func(e *testEvent, seq int64, _ bool) error {
		handled++
		if seq%2 == 0 {
			return errors.New("even")
		}
		return nil
	}))
	if err := d.Start(); err != nil {
		t.Fatal(err)
	}
	publishFrom(d, 0, 100)
	shutdown(t, d)
	if handled != 100 {
		t.Errorf("handled %d, want 100", handled)
	}
}

// TestFatalHaltsCleanly: the default (fatal) exception handler halts the
// failing processor; Shutdown then returns promptly with a *HaltedError
// naming the sequence, instead of waiting for a drain that cannot happen,
// and no goroutine is left behind.
func TestFatalHaltsCleanly(t *testing.T) {
	for _, name := range []string{"batch", "worker"} {
		t.Run(name, func(t *testing.T) {
			d, err := NewBuilder(newTestEvent).BufferSize(64).MultiProducer().BlockingWaitStrategy().Build()
			if err != nil {
				t.Fatal(err)
			}
			errBoom := errors.New("boom")
			var shutdowns atomic.Int32
			h := &hooked{onEvent: func(e *testEvent, seq int64) error {
				if seq == 5 {
					return errBoom
				}
				return nil
			}, shutdowns: &shutdowns}
			if name == "batch" {
				d.HandleEventsWith(h)
			} else {
				d.HandleEventsWithWorkerPool(WorkHandlerFunc[testEvent](func(e *testEvent, seq int64) error {
					return h.onEvent(e, seq)
				}))
			}
			if err := d.Start(); err != nil {
				t.Fatal(err)
			}
			publishFrom(d, 0, 20)
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			err = d.Shutdown(ctx)
			var he *HaltedError
			if !errors.As(err, &he) || he.Sequence != 5 || !errors.Is(err, errBoom) {
				t.Fatalf("Shutdown = %v, want a *HaltedError at 5 wrapping boom", err)
			}
			if ctx.Err() != nil {
				t.Fatal("Shutdown waited for the context instead of seeing the halt")
			}
			if name == "batch" && shutdowns.Load() != 1 {
				t.Errorf("OnShutdown ran %d times, want 1", shutdowns.Load())
			}
		})
	}
}

// hooked is a handler with every optional interface.
type hooked struct {
	onEvent   func(e *testEvent, seq int64) error
	starts    int
	shutdowns *atomic.Int32
	batches   []int64
	timeouts  []int64
	seq       *Sequence
}

func (h *hooked) OnEvent(e *testEvent, seq int64, _ bool) error {
	if h.onEvent != nil {
		return h.onEvent(e, seq)
	}
	return nil
}
func (h *hooked) OnStart() error { h.starts++; return nil }
func (h *hooked) OnShutdown() error {
	if h.shutdowns != nil {
		h.shutdowns.Add(1)
	}
	return nil
}
func (h *hooked) OnBatchStart(n int64)            { h.batches = append(h.batches, n) }
func (h *hooked) OnTimeout(seq int64) error       { h.timeouts = append(h.timeouts, seq); return nil }
func (h *hooked) SetSequenceCallback(s *Sequence) { h.seq = s }

// TestLifecycleHooks: start, shutdown, batch start (sizes add up to the
// events) and the sequence callback.
func TestLifecycleHooks(t *testing.T) {
	d, err := NewBuilder(newTestEvent).BufferSize(64).SingleProducer().Build()
	if err != nil {
		t.Fatal(err)
	}
	var shutdowns atomic.Int32
	h := &hooked{shutdowns: &shutdowns}
	g := d.HandleEventsWith(h)
	if h.seq != g.Sequences()[0] {
		t.Fatal("SetSequenceCallback did not receive the processor's sequence")
	}
	if err := d.Start(); err != nil {
		t.Fatal(err)
	}
	publishFrom(d, 0, 1000)
	shutdown(t, d)
	var total int64
	for _, n := range h.batches {
		if n < 1 {
			t.Errorf("batch of %d", n)
		}
		total += n
	}
	if h.starts != 1 || shutdowns.Load() != 1 || total != 1000 {
		t.Errorf("starts=%d shutdowns=%d batch sizes add to %d; want 1, 1, 1000", h.starts, shutdowns.Load(), total)
	}
}

// TestTimeoutCallback: with a TimeoutBlockingWaitStrategy, an idle
// processor calls OnTimeout with the last processed sequence.
func TestTimeoutCallback(t *testing.T) {
	d, err := NewBuilder(newTestEvent).BufferSize(8).TimeoutBlockingWaitStrategy(5 * time.Millisecond).Build()
	if err != nil {
		t.Fatal(err)
	}
	var shutdowns atomic.Int32
	h := &hooked{shutdowns: &shutdowns}
	d.HandleEventsWith(h)
	if err := d.Start(); err != nil {
		t.Fatal(err)
	}
	publishFrom(d, 0, 3)
	time.Sleep(60 * time.Millisecond)
	shutdown(t, d)
	if len(h.timeouts) < 2 {
		t.Fatalf("OnTimeout called %d times in 60ms with a 5ms timeout", len(h.timeouts))
	}
	if last := h.timeouts[len(h.timeouts)-1]; last != 2 {
		t.Errorf("last OnTimeout sequence = %d, want 2", last)
	}
}

// TestEarlyRelease: a handler that sets its sequence callback lets the
// producer reuse slots before the batch ends.
func TestEarlyRelease(t *testing.T) {
	ring, err := NewRingBuffer(newTestEvent, 4, SingleProducer, NewYieldingWaitStrategy())
	if err != nil {
		t.Fatal(err)
	}
	reached := make(chan struct{})
	h := &hooked{}
	h.onEvent = func(e *testEvent, seq int64) error {
		h.seq.Set(seq) // done with it
		if seq == 3 {
			close(reached)
			// Block until the producer could claim 4 more slots, which it
			// can only do because this handler released them early.
			for ring.Cursor() < 7 {
				time.Sleep(time.Millisecond)
			}
		}
		return nil
	}
	p := NewBatchEventProcessor(ring, ring.NewBarrier(), h)
	ring.AddGatingSequences(p.Sequence())
	done := make(chan error)
	go func() { done <- p.Run() }()
	for i := range 4 {
		ring.PublishEvent(func(e *testEvent, _ int64) { e.value = int64(i) })
	}
	<-reached
	for range 4 {
		ring.PublishEvent(func(*testEvent, int64) {})
	}
	p.Halt()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}
