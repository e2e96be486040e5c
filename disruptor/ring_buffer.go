package disruptor

import (
	"context"
	"math"
)

// EventFactory makes the events a ring preallocates. It is called once per
// slot, when the ring is made, and never again: producers then update the
// slots in place.
type EventFactory[T any] func() T

// RingBuffer is a fixed ring of preallocated events of type T, coordinated
// by a [Sequencer]. Producers claim a slot ([RingBuffer.Next]), write the
// event in place ([RingBuffer.Get]) and publish it ([RingBuffer.Publish]);
// consumers wait on a [SequenceBarrier] and read the events in place.
//
// Ownership: between Next and Publish the claimed slot belongs to the
// producer; after Publish it belongs to the consumers until every gating
// sequence has passed it, after which the ring lends it to a producer
// again. Do not keep a pointer from Get beyond that.
//
// The claiming and publishing methods follow the sequencer's rules: with
// [SingleProducer] they must be called from one goroutine at a time.
type RingBuffer[T any] struct {
	_ [cacheLinePad]byte
	// Read-only after construction.
	mask    int64
	entries []T
	// first is the sequence of the first event published: the cursor and
	// every consumer start at first-1.
	first int64
	// sp is the single-producer sequencer, which Next, NextN, Publish and
	// PublishRange use directly on their fast paths; for a multi-producer
	// ring it is noFastPath. It is never nil, so those methods need no nil
	// check and stay small enough to inline into the producer's loop.
	sp        *SingleProducerSequencer
	sequencer Sequencer
	// claims is sequencer's context-taking claim, and core what both
	// sequencers share (for the Disruptor to stop and release the ring).
	claims interface {
		NextNCtx(ctx context.Context, n int) (int64, error)
	}
	core *sequencerCore
	_    [cacheLinePad]byte
}

// noFastPath is the sp of every multi-producer ring: a sequencer that is
// never used to claim or publish, whose claim limit is below any claim and
// which asks for a signal on every publish, so that the ring's fast paths
// always fail and pass the call to the real sequencer. It is only read.
var noFastPath = &SingleProducerSequencer{
	claimLimit:    math.MinInt64,
	sequencerCore: sequencerCore{needsSignal: true},
}

// NewRingBuffer returns a ring of bufferSize events (a power of 2 up to
// [MaxBufferSize]) made by factory, with a sequencer for producer and
// consumers waiting with ws. It returns a [*ConfigError] (joined, one per
// problem) for a bad size, a nil factory or a nil strategy.
func NewRingBuffer[T any](factory EventFactory[T], bufferSize int, producer ProducerType, ws WaitStrategy) (*RingBuffer[T], error) {
	return NewRingBufferAt(factory, bufferSize, producer, ws, 0)
}

// NewRingBufferAt is [NewRingBuffer] for a ring whose first event is
// published at sequence first, from 0 to [MaxFirstSequence], rather than
// at 0: the ring behaves as if every sequence before first had been
// published and consumed already. Its cursor starts at first-1, and so do
// the sequences of the processors, worker pools and pollers made for it
// and of every gating sequence added before the first publish; no consumer
// is handed a sequence below first. [Config.FirstSequence] does the same
// for a [Disruptor]. A bad first is reported as a [*ConfigError] for
// FirstSequence.
//
// This is how a ring restored from a snapshot or a log resumes its
// numbering without publishing (and its consumers handling) the sequences
// before it.
func NewRingBufferAt[T any](factory EventFactory[T], bufferSize int, producer ProducerType, ws WaitStrategy, first int64) (*RingBuffer[T], error) {
	var errs configErrors
	if factory == nil {
		errs.add("EventFactory", nil, "must not be nil")
	}
	var (
		seq Sequencer
		sp  = noFastPath
		err error
	)
	var mp *MultiProducerSequencer
	switch producer {
	case SingleProducer:
		sp, err = newSingleProducerSequencer(bufferSize, ws, first)
		seq = sp
	case MultiProducer:
		mp, err = newMultiProducerSequencer(bufferSize, ws, first)
		seq = mp
	default:
		errs.add("ProducerType", producer, `want "single" or "multi"`)
		validateFirstSequence(&errs, first)
	}
	if err != nil {
		errs = append(errs, err)
	}
	if err := errs.err(); err != nil {
		return nil, err
	}
	r := &RingBuffer[T]{
		mask:      int64(bufferSize - 1),
		entries:   make([]T, bufferSize),
		first:     first,
		sp:        sp,
		sequencer: seq,
	}
	if mp != nil {
		r.claims, r.core = mp, &mp.sequencerCore
	} else {
		r.claims, r.core = sp, &sp.sequencerCore
	}
	for i := range r.entries {
		r.entries[i] = factory()
	}
	return r, nil
}

// Get returns the event in the slot for seq. The caller must own the slot:
// a producer between claim and publish, or a consumer whose barrier has
// returned a sequence at or past seq.
func (r *RingBuffer[T]) Get(seq int64) *T { return &r.entries[seq&r.mask] }

// BufferSize is the number of slots.
func (r *RingBuffer[T]) BufferSize() int { return len(r.entries) }

// FirstSequence is the sequence of the ring's first event: 0 unless the
// ring was made with [NewRingBufferAt] or [Config.FirstSequence]. No
// sequence below it is ever published.
func (r *RingBuffer[T]) FirstSequence() int64 { return r.first }

// Sequencer returns the ring's sequencer.
func (r *RingBuffer[T]) Sequencer() Sequencer { return r.sequencer }

// Cursor is the highest sequence published (single producer) or claimed
// (multi-producer).
func (r *RingBuffer[T]) Cursor() int64 { return r.sequencer.Cursor() }

// Next claims the next slot and returns its sequence, waiting (spinning,
// then yielding, then sleeping) while the ring is full. It has no way to
// give up: producers that must not block use [RingBuffer.TryNext], and
// those that must be able to stop waiting use [RingBuffer.NextCtx].
//
// Once the ring's [Disruptor] has stopped and every one of its
// processors has exited (after [Disruptor.Halt] or [Disruptor.Shutdown],
// or when its only consumers halted by themselves), a waiting Next
// returns its claim instead of waiting for room that will never be
// freed; nothing will read that slot. The Disruptor's own publishing
// methods report that case as an error.
func (r *RingBuffer[T]) Next() int64 {
	// fast path, small enough to inline: a single producer's claim under
	// the limit it saw last (see SingleProducerSequencer.NextN). The
	// repeated r.sp is loaded once; a local would cost the inliner more.
	if r.sp.nextValue < r.sp.claimLimit {
		r.sp.nextValue++
		return r.sp.nextValue
	}
	return r.sequencer.Next()
}

// NextN claims n slots and returns the highest sequence; the claim is
// hi-n+1 .. hi. It panics with [ErrInvalidClaim] unless 1 <= n <= BufferSize.
// It waits for room as [RingBuffer.Next] does.
func (r *RingBuffer[T]) NextN(n int) int64 {
	// fast path: as in Next.
	if n > 0 && r.sp.nextValue+int64(n) <= r.sp.claimLimit {
		r.sp.nextValue += int64(n)
		return r.sp.nextValue
	}
	return r.sequencer.NextN(n)
}

// NextCtx claims the next slot like [RingBuffer.Next], but stops waiting
// for room when ctx ends, returning ctx's error, or when the ring's
// [Disruptor] stops its consumers for good, returning [ErrShutdown] (after
// Halt, or a Shutdown that gave up draining) or an error wrapping
// [ErrHalted] (a processor halted by itself, so the ring can never
// drain). Nothing is claimed when it returns an error, so the caller
// publishes nothing.
//
// With [MultiProducer] it claims with a compare-and-swap once the slot is
// free, rather than Next's atomic add before waiting, so that a claim it
// gives up leaves no gap for the consumers to wait on.
func (r *RingBuffer[T]) NextCtx(ctx context.Context) (int64, error) {
	return r.claims.NextNCtx(ctx, 1)
}

// NextNCtx is [RingBuffer.NextN] with NextCtx's way of giving up; a bad n
// is an [ErrInvalidClaim] error rather than a panic.
func (r *RingBuffer[T]) NextNCtx(ctx context.Context, n int) (int64, error) {
	return r.claims.NextNCtx(ctx, n)
}

// TryNext claims the next slot, or returns [ErrInsufficientCapacity] at once
// when the ring is full.
func (r *RingBuffer[T]) TryNext() (int64, error) { return r.TryNextN(1) }

// TryNextN claims n slots and returns the highest sequence, or returns
// [ErrInsufficientCapacity] at once, or [ErrInvalidClaim] for a bad n.
func (r *RingBuffer[T]) TryNextN(n int) (int64, error) {
	return r.sequencer.TryNextN(n)
}

// Publish hands the slot at seq to the consumers.
func (r *RingBuffer[T]) Publish(seq int64) {
	// A single producer whose consumers never park needs only a release
	// store: that fast path is the else branch.
	if r.sp.needsSignal {
		r.sequencer.Publish(seq)
	} else {
		r.sp.cursor.setRelease(seq)
	}
}

// PublishRange hands the slots lo..hi to the consumers.
func (r *RingBuffer[T]) PublishRange(lo, hi int64) {
	// As in Publish; one producer publishes in order, so storing hi
	// publishes the whole range.
	if r.sp.needsSignal {
		r.sequencer.PublishRange(lo, hi)
	} else {
		r.sp.cursor.setRelease(hi)
	}
}

// IsAvailable reports whether seq is published.
func (r *RingBuffer[T]) IsAvailable(seq int64) bool { return r.sequencer.IsAvailable(seq) }

// RemainingCapacity is the number of slots a producer could claim now.
// With [SingleProducer] it reads the producer's own claim counter, so only
// the producing goroutine may call it; other goroutines (a metrics
// scraper, say) compute the fill from [RingBuffer.Cursor] and the
// consumers' sequences instead.
func (r *RingBuffer[T]) RemainingCapacity() int64 { return r.sequencer.RemainingCapacity() }

// HasAvailableCapacity reports whether n slots could be claimed now. With
// [SingleProducer] only the producing goroutine may call it, as with
// RemainingCapacity.
func (r *RingBuffer[T]) HasAvailableCapacity(n int) bool {
	return r.sequencer.HasAvailableCapacity(n)
}

// AddGatingSequences makes producers wait for seqs before reusing a slot.
// Each sequence is first set to the cursor, so a consumer added to a
// running ring starts with the next event published. It and
// RemoveGatingSequence may be called from any goroutine while producers
// run, with either producer type.
func (r *RingBuffer[T]) AddGatingSequences(seqs ...*Sequence) {
	r.sequencer.AddGatingSequences(seqs...)
}

// RemoveGatingSequence stops seq from gating producers, and reports
// whether it did.
func (r *RingBuffer[T]) RemoveGatingSequence(seq *Sequence) bool {
	return r.sequencer.RemoveGatingSequence(seq)
}

// MinimumGatingSequence is the lowest gating sequence, or the cursor.
func (r *RingBuffer[T]) MinimumGatingSequence() int64 { return r.sequencer.MinimumSequence() }

// NewBarrier returns a barrier for a consumer that follows the producer
// and every consumer whose sequence is in deps.
func (r *RingBuffer[T]) NewBarrier(deps ...*Sequence) *SequenceBarrier {
	return r.sequencer.NewBarrier(deps...)
}
