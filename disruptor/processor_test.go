package disruptor

import (
	"errors"
	"testing"
)

// TestPacing: a processor pauses after a small batch only when more
// events are already waiting, for a bounded number of pauses, and stops
// pausing once a batch of its pace has formed; rings too small to pace
// never do.
func TestPacing(t *testing.T) {
	ring, err := NewRingBuffer(newTestEvent, 1024, SingleProducer, NewBusySpinWaitStrategy())
	if err != nil {
		t.Fatal(err)
	}
	p := NewBatchEventProcessor(ring, ring.NewBarrier(), &sumHandler{})
	ring.AddGatingSequences(p.Sequence())
	if p.pace != maxPace {
		t.Fatalf("pace %d on a ring of 1024, want %d", p.pace, maxPace)
	}
	pauses := func(next int64) int {
		// Each pause advances the generator by paceSpins steps: count
		// them on a copy of its state.
		before := p.spin
		p.form(next)
		n, x := 0, before
		for x != p.spin && n <= pacePauses {
			for range paceSpins {
				x = x*6364136223846793005 + 1442695040888963407
			}
			n++
		}
		return n
	}
	if n := pauses(0); n != 0 {
		t.Errorf("nothing published: %d pauses, want none (an idle or request-reply consumer must not wait)", n)
	}
	for range 3 {
		ring.Publish(ring.Next())
	}
	if n := pauses(0); n != pacePauses {
		t.Errorf("3 events waiting and no more coming: %d pauses, want the bound, %d", n, pacePauses)
	}
	for range maxPace {
		ring.Publish(ring.Next())
	}
	if n := pauses(0); n != 1 {
		t.Errorf("a full pace waiting: %d pauses, want 1 (the first look sees it)", n)
	}
	small, err := NewRingBuffer(newTestEvent, 8, SingleProducer, NewBusySpinWaitStrategy())
	if err != nil {
		t.Fatal(err)
	}
	if q := NewBatchEventProcessor(small, small.NewBarrier(), &sumHandler{}); q.pace != 0 {
		t.Errorf("pace %d on a ring of 8, want 0 (off)", q.pace)
	}
}

// TestStatsCountBatches: Stats counts every event once and every batch a
// wait returned, across a handler's error and a restart of the
// processor.
func TestStatsCountBatches(t *testing.T) {
	ring, err := NewRingBuffer(newTestEvent, 64, SingleProducer, NewBlockingWaitStrategy())
	if err != nil {
		t.Fatal(err)
	}
	errBoom := errors.New("boom")
	p := NewBatchEventProcessor(ring, ring.NewBarrier(), EventHandlerFunc[testEvent](func(_ *testEvent, seq int64, _ bool) error {
		if seq == 12 {
			return errBoom // halts: the fatal exception handler is the default
		}
		return nil
	}))
	ring.AddGatingSequences(p.Sequence())
	for range 20 {
		ring.Publish(ring.Next())
	}
	if err := p.Run(); !errors.Is(err, errBoom) {
		t.Fatalf("Run = %v, want the handler's error", err)
	}
	// One batch (0..19) that stopped at 12: 12 events handled before it.
	if st := p.Stats(); st.Events != 12 || st.Batches != 0 {
		t.Errorf("after the halt: %+v, want 12 events in no completed batch", st)
	}
	p.SetExceptionHandler(IgnoreExceptionHandler[testEvent]{})
	done := make(chan error, 1)
	go func() { done <- p.Run() }()
	if !rvWaitUntil(stopWait, func() bool { return p.Sequence().Get() == 19 }) {
		t.Fatal("the restarted processor did not finish the batch")
	}
	p.Halt()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if st := p.Stats(); st.Events != 20 || st.Batches != 1 {
		t.Errorf("after the restart: %+v, want 20 events (12 + 8, event 12 again) in 1 batch", st)
	}
}
