package disruptor

import (
	"errors"
	"sync/atomic"
	"testing"
	"unsafe"
)

func TestSequenceLayout(t *testing.T) {
	var s Sequence
	if got := unsafe.Sizeof(s); got != 2*cacheLinePad-8+8 {
		t.Errorf("Sequence is %d bytes, want %d", got, 2*cacheLinePad)
	}
	if off := unsafe.Offsetof(s.value); off != cacheLinePad {
		t.Errorf("value at offset %d, want %d (a full pad before it)", off, cacheLinePad)
	}
	if NewSequence(InitialSequenceValue).Get() != -1 {
		t.Error("NewSequence(InitialSequenceValue) is not -1")
	}
	s.Set(5)
	if !s.CompareAndSet(5, 7) || s.CompareAndSet(5, 9) || s.Get() != 7 || s.Add(3) != 10 {
		t.Error("Sequence arithmetic is wrong")
	}
}

func TestNewRingBufferConfigErrors(t *testing.T) {
	tests := []struct {
		name     string
		factory  EventFactory[int]
		size     int
		producer ProducerType
		ws       WaitStrategy
		settings []string
	}{
		{"not a power of 2", newInt, 1000, SingleProducer, NewBusySpinWaitStrategy(), []string{"BufferSize"}},
		{"zero", newInt, 0, MultiProducer, NewBusySpinWaitStrategy(), []string{"BufferSize"}},
		{"negative", newInt, -8, SingleProducer, NewBusySpinWaitStrategy(), []string{"BufferSize"}},
		{"too big", newInt, MaxBufferSize << 1, SingleProducer, NewBusySpinWaitStrategy(), []string{"BufferSize"}},
		{"nil factory", nil, 8, SingleProducer, NewBusySpinWaitStrategy(), []string{"EventFactory"}},
		{"nil strategy", newInt, 8, MultiProducer, nil, []string{"WaitStrategy"}},
		{"bad producer", newInt, 8, ProducerType(7), NewBusySpinWaitStrategy(), []string{"ProducerType"}},
		{"everything", nil, 3, SingleProducer, nil, []string{"EventFactory", "BufferSize", "WaitStrategy"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := NewRingBuffer(tt.factory, tt.size, tt.producer, tt.ws)
			if err == nil {
				t.Fatal("no error")
			}
			got := configSettings(err)
			if len(got) != len(tt.settings) {
				t.Fatalf("errors for %v, want %v (%v)", got, tt.settings, err)
			}
			for i := range got {
				if got[i] != tt.settings[i] {
					t.Errorf("errors for %v, want %v", got, tt.settings)
				}
			}
		})
	}
}

// configSettings lists the settings named by the ConfigErrors in err.
func configSettings(err error) []string {
	var out []string
	var walk func(error)
	walk = func(err error) {
		var ce *ConfigError
		if u, ok := err.(interface{ Unwrap() []error }); ok {
			for _, e := range u.Unwrap() {
				walk(e)
			}
		} else if errors.As(err, &ce) {
			out = append(out, ce.Setting)
		}
	}
	walk(err)
	return out
}

func newInt() int { return 0 }

func TestRingPreallocates(t *testing.T) {
	var made atomic.Int32
	ring, err := NewRingBuffer(func() *testEvent { made.Add(1); return &testEvent{} }, 16, SingleProducer, NewBusySpinWaitStrategy())
	if err != nil {
		t.Fatal(err)
	}
	if made.Load() != 16 {
		t.Fatalf("factory called %d times, want 16", made.Load())
	}
	first := *ring.Get(0)
	if *ring.Get(16) != first || *ring.Get(32) != first {
		t.Error("sequences one lap apart do not share a slot")
	}
}

func TestTryNextFillsThenRefuses(t *testing.T) {
	for _, pt := range []ProducerType{SingleProducer, MultiProducer} {
		t.Run(pt.String(), func(t *testing.T) {
			ring, err := NewRingBuffer(newInt, 8, pt, NewBusySpinWaitStrategy())
			if err != nil {
				t.Fatal(err)
			}
			consumer := NewSequence(InitialSequenceValue)
			ring.AddGatingSequences(consumer)
			if got := ring.RemainingCapacity(); got != 8 {
				t.Fatalf("RemainingCapacity = %d, want 8", got)
			}
			hi, err := ring.TryNextN(5)
			if err != nil || hi != 4 {
				t.Fatalf("TryNextN(5) = %d, %v", hi, err)
			}
			ring.PublishRange(0, 4)
			if ring.HasAvailableCapacity(4) || !ring.HasAvailableCapacity(3) {
				t.Error("HasAvailableCapacity wrong with 3 slots free")
			}
			if _, err := ring.TryNextN(4); !errors.Is(err, ErrInsufficientCapacity) {
				t.Errorf("TryNextN(4) with 3 free = %v, want ErrInsufficientCapacity", err)
			}
			for range 3 {
				if _, err := ring.TryNext(); err != nil {
					t.Fatal(err)
				}
			}
			if _, err := ring.TryNext(); !errors.Is(err, ErrInsufficientCapacity) {
				t.Errorf("TryNext on a full ring = %v", err)
			}
			if got := ring.RemainingCapacity(); got != 0 {
				t.Errorf("RemainingCapacity full = %d", got)
			}
			consumer.Set(2) // consumer done with 0..2
			if s, err := ring.TryNextN(3); err != nil || s != 10 {
				t.Errorf("after release TryNextN(3) = %d, %v; want 10", s, err)
			}
			for _, n := range []int{0, -1, 9} {
				if _, err := ring.TryNextN(n); !errors.Is(err, ErrInvalidClaim) {
					t.Errorf("TryNextN(%d) = %v, want ErrInvalidClaim", n, err)
				}
			}
			func() {
				defer func() {
					if r := recover(); r == nil || !errors.Is(r.(error), ErrInvalidClaim) {
						t.Errorf("NextN(9) on a ring of 8: recovered %v", r)
					}
				}()
				ring.NextN(9)
			}()
		})
	}
}

// TestMultiProducerOutOfOrderPublish: a later claim published first stays
// invisible until the earlier one is published.
func TestMultiProducerOutOfOrderPublish(t *testing.T) {
	ring, err := NewRingBuffer(newInt, 8, MultiProducer, NewBusySpinWaitStrategy())
	if err != nil {
		t.Fatal(err)
	}
	b := ring.NewBarrier()
	s1, s2 := ring.Next(), ring.Next()
	ring.Publish(s2)
	if ring.IsAvailable(s1) || !ring.IsAvailable(s2) {
		t.Fatal("availability flags wrong")
	}
	if got := ring.Sequencer().HighestPublishedSequence(0, ring.Cursor()); got != -1 {
		t.Fatalf("HighestPublishedSequence with a gap at 0 = %d, want -1", got)
	}
	ring.Publish(s1)
	if got, err := b.WaitFor(0); err != nil || got != 1 {
		t.Fatalf("WaitFor(0) after both published = %d, %v; want 1", got, err)
	}
}

func TestGatingAddRemoveAtRunTime(t *testing.T) {
	ring, err := NewRingBuffer(newInt, 4, SingleProducer, NewBusySpinWaitStrategy())
	if err != nil {
		t.Fatal(err)
	}
	for range 6 {
		ring.Publish(ring.Next()) // nothing gates: free running
	}
	late := NewSequence(InitialSequenceValue)
	ring.AddGatingSequences(late)
	if late.Get() != 5 {
		t.Errorf("a gating sequence added at run time starts at %d, want the cursor 5", late.Get())
	}
	if got := ring.RemainingCapacity(); got != 4 {
		t.Errorf("RemainingCapacity = %d, want 4", got)
	}
	for range 4 {
		ring.Publish(ring.Next())
	}
	if _, err := ring.TryNext(); !errors.Is(err, ErrInsufficientCapacity) {
		t.Errorf("TryNext past the new consumer = %v", err)
	}
	if !ring.RemoveGatingSequence(late) || ring.RemoveGatingSequence(late) {
		t.Error("RemoveGatingSequence should succeed once")
	}
	if _, err := ring.TryNext(); err != nil {
		t.Errorf("TryNext after removing the consumer = %v", err)
	}
}

func TestPublishHelpers(t *testing.T) {
	ring, err := NewRingBuffer(newTestEvent, 16, SingleProducer, NewBusySpinWaitStrategy())
	if err != nil {
		t.Fatal(err)
	}
	set := func(e *testEvent, seq int64, v int64) { e.value = v }
	PublishEvent1(ring, set, 10)
	PublishEvent2(ring, func(e *testEvent, _ int64, p int, v int64) { e.producer, e.value = p, v }, 2, 11)
	PublishEvent3(ring, func(e *testEvent, _ int64, p int, v, a int64) { e.producer, e.value, e.a = p, v, a }, 3, 12, 99)
	if err := TryPublishEvent1(ring, set, 13); err != nil {
		t.Fatal(err)
	}
	if err := TryPublishEvent2(ring, func(e *testEvent, _ int64, _ int, v int64) { e.value = v }, 0, 14); err != nil {
		t.Fatal(err)
	}
	if err := TryPublishEvent3(ring, func(e *testEvent, _ int64, _ int, v, _ int64) { e.value = v }, 0, 15, 0); err != nil {
		t.Fatal(err)
	}
	PublishEvents1(ring, set, []int64{16, 17})
	if err := TryPublishEvents1(ring, set, []int64{18, 19}); err != nil {
		t.Fatal(err)
	}
	ring.PublishEvents(func(e *testEvent, _ int64) { e.value = 20 }, func(e *testEvent, _ int64) { e.value = 21 })
	if err := ring.TryPublishEvents(func(e *testEvent, _ int64) { e.value = 22 }); err != nil {
		t.Fatal(err)
	}
	if err := ring.TryPublishEvent(func(e *testEvent, _ int64) { e.value = 23 }); err != nil {
		t.Fatal(err)
	}
	if ring.Cursor() != 13 {
		t.Fatalf("cursor = %d, want 13", ring.Cursor())
	}
	for seq := range int64(14) {
		if got := ring.Get(seq).value; got != 10+seq {
			t.Errorf("slot %d = %d, want %d", seq, got, 10+seq)
		}
	}
	if e := ring.Get(2); e.producer != 3 || e.a != 99 {
		t.Errorf("PublishEvent3 wrote %+v", *e)
	}
	// A ring gated by a consumer at -1 refuses a batch that does not fit
	// whole, and publishes none of it.
	ring2, _ := NewRingBuffer(newTestEvent, 4, MultiProducer, NewBusySpinWaitStrategy())
	ring2.AddGatingSequences(NewSequence(InitialSequenceValue))
	if err := TryPublishEvents1(ring2, set, []int64{1, 2, 3, 4, 5}); !errors.Is(err, ErrInvalidClaim) {
		t.Errorf("batch of 5 into 4 = %v, want ErrInvalidClaim", err)
	}
	PublishEvents1(ring2, set, []int64{1, 2, 3})
	if err := TryPublishEvents1(ring2, set, []int64{4, 5}); !errors.Is(err, ErrInsufficientCapacity) {
		t.Errorf("batch of 2 with 1 free = %v, want ErrInsufficientCapacity", err)
	}
	if ring2.Cursor() != 2 {
		t.Errorf("a refused batch moved the cursor to %d", ring2.Cursor())
	}
}

func TestParseNames(t *testing.T) {
	for _, name := range append(WaitStrategyNames, "Busy-Spin", "LITE-BLOCKING", " yielding ") {
		ws, err := ParseWaitStrategy(name)
		if err != nil {
			t.Errorf("ParseWaitStrategy(%q) = %v", name, err)
			continue
		}
		if got := ws.(interface{ String() string }).String(); got != normalizeName(name) {
			t.Errorf("ParseWaitStrategy(%q) gave %s", name, got)
		}
	}
	var ce *ConfigError
	if _, err := ParseWaitStrategy("spinny"); !errors.As(err, &ce) || ce.Setting != "WaitStrategy" {
		t.Errorf("ParseWaitStrategy(spinny) = %v, want a ConfigError naming WaitStrategy", err)
	}
	for in, want := range map[string]ProducerType{"single": SingleProducer, "Multi": MultiProducer} {
		if got, err := ParseProducerType(in); err != nil || got != want {
			t.Errorf("ParseProducerType(%q) = %v, %v", in, got, err)
		}
	}
	if _, err := ParseProducerType("both"); !errors.As(err, &ce) {
		t.Errorf("ParseProducerType(both) = %v", err)
	}
}

func TestBuilderReportsEveryProblem(t *testing.T) {
	_, err := NewBuilder[int](nil).BufferSize(100).WaitStrategyName("nope").TimeoutBlockingWaitStrategy(0).Build()
	got := configSettings(err)
	want := map[string]bool{"WaitStrategy": true, "WaitTimeout": true, "BufferSize": true, "EventFactory": true}
	if len(got) != len(want) {
		t.Fatalf("Build errors name %v, want %v: %v", got, want, err)
	}
	for _, s := range got {
		if !want[s] {
			t.Errorf("unexpected error for %s", s)
		}
	}
	if err := (Config{}).Validate(); err == nil {
		t.Error("zero Config validated")
	}
	if err := DefaultConfig().Validate(); err != nil {
		t.Errorf("DefaultConfig invalid: %v", err)
	}
}
