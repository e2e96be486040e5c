package disruptor

import (
	"runtime"
	"sync/atomic"
)

// SequenceBarrier is what a consumer waits on: the producer's cursor and
// the sequences of the consumers it depends on (for graphs such as
// pipelines and diamonds). Get one from [RingBuffer.NewBarrier].
//
// One consumer goroutine calls WaitFor; Alert, ClearAlert and IsAlerted may
// be called from any goroutine.
type SequenceBarrier struct {
	core *sequencerCore
	mp   *MultiProducerSequencer // nil for a single producer
	deps []*Sequence             // empty: depend on the cursor only
	// gaps is set when the cursor this barrier follows counts claims, not
	// publishes: many producers and no dependencies (a dependency's
	// sequence only ever passes published events).
	gaps bool
	// alerted is set to stop WaitFor; written rarely, read in wait loops.
	alerted atomic.Bool
}

func newSequenceBarrier(core *sequencerCore, mp *MultiProducerSequencer, deps []*Sequence) *SequenceBarrier {
	return &SequenceBarrier{core: core, mp: mp, deps: append([]*Sequence(nil), deps...), gaps: mp != nil && len(deps) == 0}
}

// WaitFor waits until seq is available to this consumer and returns the
// highest sequence available, which may be well past seq: the consumer then
// handles the whole batch. It can return less than seq when the wait
// strategy returns early (a spurious wake-up); callers wait again.
//
// It returns [ErrAlerted] once the barrier is alerted, and [ErrTimeout]
// when a [TimeoutBlockingWaitStrategy] gives up.
func (b *SequenceBarrier) WaitFor(seq int64) (int64, error) {
	if b.alerted.Load() {
		return InitialSequenceValue, ErrAlerted
	}
	avail := b.Dependent()
	if avail < seq || b.gaps && !b.mp.IsAvailable(seq) { // slow path: ask the wait strategy
		var err error
		if avail, err = b.core.ws.WaitFor(seq, b); err != nil {
			return avail, err
		}
		if avail < seq {
			return avail, nil
		}
	}
	if b.mp != nil {
		return b.highestPublished(seq, avail), nil
	}
	return avail, nil
}

// highestPublished is WaitFor's last step with many producers, whose
// cursor counts claims: the highest sequence from seq up to avail published
// with every one before it. seq itself may still be in the hands of a
// producer between its claim and its publish; WaitFor then spins on it for
// a while, and if it is still missing yields the processor (that producer
// may be waiting for it) and returns less than seq, so that the caller
// waits again.
func (b *SequenceBarrier) highestPublished(seq, avail int64) int64 {
	for i := 0; !b.mp.IsAvailable(seq); i++ {
		if i == spinsBeforeYield {
			runtime.Gosched()
			return seq - 1
		}
	}
	return b.mp.HighestPublishedSequence(seq, avail)
}

// Cursor is the producer's cursor: the highest sequence published (single
// producer) or claimed (multi-producer).
func (b *SequenceBarrier) Cursor() int64 { return b.core.cursor.Get() }

// IsPublished reports whether seq has been published: the cursor has
// reached it (single producer), or its slot is marked published for seq's
// lap of the ring (multi-producer, where the cursor counts claims and a
// producer may still be filling a claimed slot). It looks at the producers
// only, not at the dependencies. Blocking wait strategies park until it
// holds, because that is what a publish signals.
func (b *SequenceBarrier) IsPublished(seq int64) bool {
	if b.mp != nil {
		return b.mp.IsAvailable(seq)
	}
	return b.core.cursor.Get() >= seq
}

// Dependent is the highest sequence this consumer may reach: the lowest of
// the sequences it depends on, or the cursor when it depends on none.
func (b *SequenceBarrier) Dependent() int64 {
	if len(b.deps) == 0 {
		return b.core.cursor.Get()
	}
	return minimumSequence(b.deps, maxSequence)
}

// ready returns Dependent and whether seq can be handled now: the
// dependencies have reached it and, with many producers and no
// dependencies, it is published, not only claimed.
func (b *SequenceBarrier) ready(seq int64) (int64, bool) {
	avail := b.Dependent()
	return avail, avail >= seq && (!b.gaps || b.mp.IsAvailable(seq))
}

// Alert makes the current and every later WaitFor return ErrAlerted, and
// wakes a consumer parked in a blocking wait strategy.
func (b *SequenceBarrier) Alert() {
	b.alerted.Store(true)
	b.core.ws.SignalAllWhenBlocking()
}

// ClearAlert undoes Alert.
func (b *SequenceBarrier) ClearAlert() { b.alerted.Store(false) }

// IsAlerted reports whether Alert was called since the last ClearAlert.
func (b *SequenceBarrier) IsAlerted() bool { return b.alerted.Load() }

// CheckAlert returns ErrAlerted if the barrier is alerted. Wait strategies
// call it in their loops.
func (b *SequenceBarrier) CheckAlert() error {
	if b.alerted.Load() {
		return ErrAlerted
	}
	return nil
}
