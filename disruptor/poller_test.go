package disruptor

import (
	"errors"
	"testing"
)

func TestPoller(t *testing.T) {
	ring, err := NewRingBuffer(newTestEvent, 8, MultiProducer, NewBusySpinWaitStrategy())
	if err != nil {
		t.Fatal(err)
	}
	p := ring.NewPoller()
	var seen []int64
	collect := func(e *testEvent, seq int64, _ bool) (bool, error) {
		seen = append(seen, e.value)
		return true, nil
	}
	if st, err := p.Poll(collect); st != PollIdle || err != nil {
		t.Fatalf("empty ring: %v, %v; want idle", st, err)
	}
	s1 := ring.Next()
	if st, _ := p.Poll(collect); st != PollGating {
		t.Fatalf("claimed, unpublished: %v; want gating", st)
	}
	ring.Get(s1).value = 10
	ring.Publish(s1)
	for _, v := range []int64{11, 12, 13} {
		PublishEvent1(ring, fillValue, v)
	}
	// Stop after two events: the rest stays for the next poll.
	n := 0
	st, err := p.Poll(func(e *testEvent, seq int64, _ bool) (bool, error) {
		seen = append(seen, e.value)
		n++
		return n < 2, nil
	})
	if st != PollProcessing || err != nil || p.Sequence().Get() != 1 {
		t.Fatalf("poll = %v, %v, sequence %d", st, err, p.Sequence().Get())
	}
	// An error stops before the failing event counts as processed.
	errStop := errors.New("stop")
	if _, err := p.Poll(func(e *testEvent, seq int64, _ bool) (bool, error) {
		if seq == 3 {
			return false, errStop
		}
		seen = append(seen, e.value)
		return true, nil
	}); !errors.Is(err, errStop) || p.Sequence().Get() != 2 {
		t.Fatalf("poll error = %v, sequence %d; want stop at 2", err, p.Sequence().Get())
	}
	if _, err := p.Poll(collect); err != nil {
		t.Fatal(err)
	}
	want := []int64{10, 11, 12, 13}
	if len(seen) != len(want) {
		t.Fatalf("polled %v, want %v", seen, want)
	}
	for i := range want {
		if seen[i] != want[i] {
			t.Fatalf("polled %v, want %v", seen, want)
		}
	}
	// The poller gates the producer: 8 slots, 4 consumed, so 8 more fit
	// only after it polls.
	for i := range 8 {
		if err := TryPublishEvent1(ring, fillValue, int64(i)); err != nil {
			t.Fatalf("publish %d: %v", i, err)
		}
	}
	if err := TryPublishEvent1(ring, fillValue, 99); !errors.Is(err, ErrInsufficientCapacity) {
		t.Fatalf("publish past the poller = %v", err)
	}
}

// TestPollerFollowsDependency: a poller that follows a consumer sees only
// what that consumer has finished.
func TestPollerFollowsDependency(t *testing.T) {
	ring, err := NewRingBuffer(newTestEvent, 8, SingleProducer, NewBusySpinWaitStrategy())
	if err != nil {
		t.Fatal(err)
	}
	upstream := NewSequence(InitialSequenceValue)
	ring.AddGatingSequences(upstream)
	p := ring.NewPoller(upstream)
	for i := range 4 {
		PublishEvent1(ring, fillValue, int64(i))
	}
	if st, _ := p.Poll(func(*testEvent, int64, bool) (bool, error) { return true, nil }); st != PollGating {
		t.Fatalf("upstream at -1: %v, want gating", st)
	}
	upstream.Set(1)
	var got []int64
	p.Poll(func(e *testEvent, seq int64, _ bool) (bool, error) { got = append(got, seq); return true, nil })
	if len(got) != 2 || got[1] != 1 {
		t.Fatalf("polled %v, want [0 1]", got)
	}
}
