package disruptor

import (
	"errors"
	"sync"
	"testing"

	"pgregory.net/rapid"
)

// refRing is the reference model: a mutex and slices, no cleverness. It
// knows what has been claimed, published and consumed, and the value
// written for each sequence from the first on.
type refRing struct {
	mu        sync.Mutex
	size      int64
	first     int64   // the ring's first sequence
	claimed   int64   // highest sequence claimed
	consumed  int64   // highest sequence consumed
	values    []int64 // value written for each sequence, from first
	published []bool  // from first
	pending   []int64 // claimed, not yet published, in claim order
}

func (m *refRing) claim(n int64) (int64, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.claimed+n-m.consumed > m.size {
		return 0, false
	}
	for range n {
		m.claimed++
		m.values = append(m.values, 0)
		m.published = append(m.published, false)
		m.pending = append(m.pending, m.claimed)
	}
	return m.claimed, true
}

func (m *refRing) publish(i int, value int64) int64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	seq := m.pending[i]
	m.pending = append(m.pending[:i], m.pending[i+1:]...)
	m.values[seq-m.first] = value
	m.published[seq-m.first] = true
	return seq
}

// available is the highest sequence a consumer may read: the end of the
// run of published sequences after the last consumed one.
func (m *refRing) available() int64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	s := m.consumed
	for s+1 <= m.claimed && m.published[s+1-m.first] {
		s++
	}
	return s
}

// ringMachine drives a real RingBuffer and the model side by side.
type ringMachine struct {
	ring     *RingBuffer[int64]
	producer ProducerType
	consumer *Sequence
	barrier  *SequenceBarrier
	model    *refRing
}

func (r *ringMachine) Claim(t *rapid.T) {
	n := rapid.IntRange(1, int(r.model.size)).Draw(t, "n")
	hi, err := r.ring.TryNextN(n)
	wantHi, ok := r.model.claim(int64(n))
	if ok != (err == nil) {
		t.Fatalf("TryNextN(%d) = %d, %v; model says ok=%v", n, hi, err, ok)
	}
	if err != nil && !errors.Is(err, ErrInsufficientCapacity) {
		t.Fatalf("TryNextN(%d) error %v", n, err)
	}
	if ok && hi != wantHi {
		t.Fatalf("TryNextN(%d) = %d, model %d", n, hi, wantHi)
	}
}

func (r *ringMachine) Publish(t *rapid.T) {
	if len(r.model.pending) == 0 {
		t.Skip("nothing claimed")
	}
	i := 0 // a single producer publishes in claim order
	if r.producer == MultiProducer {
		i = rapid.IntRange(0, len(r.model.pending)-1).Draw(t, "which")
	}
	value := rapid.Int64().Draw(t, "value")
	seq := r.model.publish(i, value)
	*r.ring.Get(seq) = value
	r.ring.Publish(seq)
}

func (r *ringMachine) Consume(t *rapid.T) {
	next := r.consumer.Get() + 1
	want := r.model.available()
	if want < next {
		t.Skip("nothing to consume") // WaitFor would spin
	}
	got, err := r.barrier.WaitFor(next)
	if err != nil || got != want {
		t.Fatalf("WaitFor(%d) = %d, %v; model says %d", next, got, err, want)
	}
	upto := rapid.Int64Range(next, got).Draw(t, "upto")
	for s := next; s <= upto; s++ {
		if v := *r.ring.Get(s); v != r.model.values[s-r.model.first] {
			t.Fatalf("slot %d holds %d, model %d", s, v, r.model.values[s-r.model.first])
		}
	}
	r.consumer.Set(upto)
	r.model.mu.Lock()
	r.model.consumed = upto
	r.model.mu.Unlock()
}

func (r *ringMachine) Check(t *rapid.T) {
	r.model.mu.Lock()
	defer r.model.mu.Unlock()
	if r.producer == SingleProducer {
		// A single producer's cursor is what it published.
		return
	}
	if got, want := r.ring.RemainingCapacity(), r.model.size-(r.model.claimed-r.model.consumed); got != want {
		t.Fatalf("RemainingCapacity = %d, model %d", got, want)
	}
	if r.ring.Cursor() != r.model.claimed {
		t.Fatalf("cursor %d, model claimed %d", r.ring.Cursor(), r.model.claimed)
	}
}

// TestRingAgainstModel drives claims, publishes (out of order for many
// producers) and consumption against the reference model, on rings that
// start at 0 or at another first sequence (NewRingBufferAt).
func TestRingAgainstModel(t *testing.T) {
	for _, pt := range []ProducerType{SingleProducer, MultiProducer} {
		t.Run(pt.String(), func(t *testing.T) {
			rapid.Check(t, func(t *rapid.T) {
				size := 1 << rapid.IntRange(0, 4).Draw(t, "log2size")
				first := rapid.OneOf(
					rapid.Just(int64(0)),
					rapid.Int64Range(1, 100),
					rapid.Int64Range(1<<32-20, 1<<32+20),
					rapid.Int64Range(MaxFirstSequence-100, MaxFirstSequence),
				).Draw(t, "first")
				ring, err := NewRingBufferAt(func() int64 { return 0 }, size, pt, NewBusySpinWaitStrategy(), first)
				if err != nil {
					t.Fatal(err)
				}
				m := &ringMachine{
					ring:     ring,
					producer: pt,
					consumer: NewSequence(InitialSequenceValue),
					model:    &refRing{size: int64(size), first: first, claimed: first - 1, consumed: first - 1},
				}
				ring.AddGatingSequences(m.consumer) // sets it to first-1
				m.barrier = ring.NewBarrier()
				t.Repeat(rapid.StateMachineActions(m))
			})
		})
	}
}
