package journal

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/badbatch/badbatch/disruptor"
)

// EncodeFunc fills ev with the journal form of the ring event e at seq.
// ev is reused from event to event: its Payload and Metadata slices keep
// their memory (lengths reset to 0) so that an encoder may append into
// them without allocating, or it may point them at e's own buffers, which
// the journaller copies before the ring can reuse the slot.
//
// The Head it returns says whether e starts a producer's batch; see
// [Head].
type EncodeFunc[T any] func(ev *Event, e *T, seq int64) Head

// Head describes the producer batch that a ring event starts. The zero
// Head means the event starts none: it belongs to the batch before it.
type Head struct {
	// Count is how many events the batch has, this one included; 0 when
	// this event starts no batch. The journaller writes a batch's events
	// in one record, so that a crash keeps the whole batch or none of it,
	// even when the ring hands them over in two parts; the producer must
	// publish them together (one claim, one PublishRange).
	Count int
	// Key and Hash are the batch's idempotency key and fingerprint, kept
	// with the record for recovery.
	Key  string
	Hash uint64
	// Time is the batch's time in Unix nanoseconds; 0 means the time it is
	// journaled.
	Time int64
}

// Journaller is the LMAX journaller: a [disruptor.EventHandler] that
// writes every event of a ring to a [Journal], one write per batch the
// processor hands it, so that the business logic that runs after it
// (d.HandleEventsWith(journaller).Then(logic)) only ever sees journaled
// events:
//
//	jr, err := journal.NewJournaller(j, d.RingBuffer(), encode)
//	d.HandleEventsWith(jr).Then(logic)
//
// With SyncAlways the processor's batch is fsynced before the logic sees
// it, and the events that arrive during the fsync make the next batch: the
// fsync is shared the way the BatchEventProcessor shares a wake-up. A
// producer that must not acknowledge before its events are durable waits
// with [Journaller.WaitFor] for its last sequence.
//
// The journaller must be its journal's only writer while it runs. A
// failed write is fatal, as in LMAX: OnBatch returns the error (the
// default exception handler halts the processor, and the logic after it
// stops there), every later call returns it, and WaitFor returns it to
// the producers waiting.
type Journaller[T any] struct {
	j      *Journal
	ring   *disruptor.RingBuffer[T]
	encode EncodeFunc[T]

	// written only on the processor's goroutine
	events    []Event
	batches   []Batch
	starts    []int // where each batch's events start in events
	encoded   int64 // last sequence encoded (it may run ahead of the processor's batch)
	remaining int   // events of the current producer batch still to come
	keyed     bool  // the current record carries a key
	pending   int   // payload bytes encoded and not yet written

	journaled atomic.Int64 // last sequence appended, at the journal's durability point
	failed    atomic.Bool
	mu        sync.Mutex
	notify    chan struct{} // closed when journaled moves or the journaller fails; nil when nobody waits
	err       error
}

// maxPending bounds the bytes the journaller encodes before it writes, so
// that a ring-sized backlog of large events is written in parts (at
// producer batch boundaries).
const maxPending = 1 << 20

// readAheadWait bounds how long the journaller waits for the rest of a
// producer batch that the ring has not made available yet.
const readAheadWait = 5 * time.Second

var (
	_ disruptor.EventHandler[int] = (*Journaller[int])(nil)
	_ disruptor.BatchHandler[int] = (*Journaller[int])(nil)
)

// NewJournaller returns a journaller writing the events of ring to j,
// encoded by encode. The ring must continue j's numbering: its first
// sequence is j.Next() (use [disruptor.Config.FirstSequence] when
// reopening a journal), or it returns [ErrSequence].
func NewJournaller[T any](j *Journal, ring *disruptor.RingBuffer[T], encode EncodeFunc[T]) (*Journaller[T], error) {
	if j == nil || ring == nil || encode == nil {
		return nil, errors.New("journal: NewJournaller needs a journal, a ring and an encoder")
	}
	next := j.Next()
	if c := ring.Cursor(); c+1 != next {
		return nil, fmt.Errorf("%w: the ring's next sequence is %d, the journal's %d; start the ring at the journal's next sequence", ErrSequence, c+1, next)
	}
	jr := &Journaller[T]{j: j, ring: ring, encode: encode, encoded: next - 1}
	jr.journaled.Store(next - 1)
	return jr, nil
}

// Journaled returns the last sequence journaled: written, or with
// SyncAlways fsynced.
func (jr *Journaller[T]) Journaled() int64 { return jr.journaled.Load() }

// Err returns the write failure that stopped the journaller, or nil.
func (jr *Journaller[T]) Err() error {
	jr.mu.Lock()
	defer jr.mu.Unlock()
	return jr.err
}

// WaitFor blocks until every sequence up to seq is journaled and returns
// the last sequence journaled; or returns the journaller's failure, or
// ctx's error.
func (jr *Journaller[T]) WaitFor(ctx context.Context, seq int64) (int64, error) {
	for {
		if l := jr.journaled.Load(); l >= seq {
			return l, nil
		}
		jr.mu.Lock()
		if jr.err != nil {
			jr.mu.Unlock()
			return jr.journaled.Load(), jr.err
		}
		if l := jr.journaled.Load(); l >= seq {
			jr.mu.Unlock()
			return l, nil
		}
		if jr.notify == nil {
			jr.notify = make(chan struct{})
		}
		ch := jr.notify
		jr.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return jr.journaled.Load(), ctx.Err()
		}
	}
}

// OnEvent journals one event; the processor calls it only for handlers
// without OnBatch, so it is here for [disruptor.EventHandler].
func (jr *Journaller[T]) OnEvent(e *T, seq int64, endOfBatch bool) error {
	if err := jr.check(); err != nil {
		return err
	}
	if seq > jr.encoded {
		jr.add(e, seq)
	}
	return jr.finish(endOfBatch)
}

// OnBatch journals a batch of the ring: one write (and with SyncAlways one
// fsync) per call that ends the processor's batch.
func (jr *Journaller[T]) OnBatch(events []T, first int64, endOfBatch bool) error {
	if err := jr.check(); err != nil {
		return err
	}
	for i := range events {
		if seq := first + int64(i); seq > jr.encoded { // else read ahead already
			jr.add(&events[i], seq)
		}
		if jr.pending >= maxPending && jr.remaining == 0 {
			if err := jr.flush(); err != nil {
				return err
			}
		}
	}
	return jr.finish(endOfBatch)
}

// OnShutdown writes anything still pending.
func (jr *Journaller[T]) OnShutdown() error {
	if jr.failed.Load() || len(jr.batches) == 0 {
		return nil
	}
	return jr.flush()
}

func (jr *Journaller[T]) check() error {
	if !jr.failed.Load() {
		return nil
	}
	return jr.Err()
}

// finish completes the producer batch in progress from the ring when the
// processor's batch ends inside it, then writes.
func (jr *Journaller[T]) finish(endOfBatch bool) error {
	if !endOfBatch {
		return nil
	}
	for jr.remaining > 0 {
		seq := jr.encoded + 1
		if err := jr.await(seq); err != nil {
			return jr.fail(err)
		}
		jr.add(jr.ring.Get(seq), seq)
	}
	return jr.flush()
}

// await waits until the producer publishes seq, which it claimed with the
// batch being journaled. The slot is safe to read then: the journaller's
// own sequence, still before it, keeps the producer from reusing it.
func (jr *Journaller[T]) await(seq int64) error {
	var deadline time.Time
	for i := 0; !jr.ring.IsAvailable(seq); i++ {
		switch {
		case i < 100:
		case i < 1000:
			runtime.Gosched()
		case deadline.IsZero():
			deadline = time.Now().Add(readAheadWait)
		case time.Now().After(deadline):
			return fmt.Errorf("journal: sequence %d, in a producer batch, was not published within %v: publish a batch's events together", seq, readAheadWait)
		default:
			time.Sleep(50 * time.Microsecond)
		}
	}
	return nil
}

// add encodes the ring event e at seq into the pending batches.
func (jr *Journaller[T]) add(e *T, seq int64) {
	k := len(jr.events)
	if k < cap(jr.events) {
		jr.events = jr.events[:k+1]
	} else {
		jr.events = append(jr.events, Event{})
	}
	ev := &jr.events[k]
	*ev = Event{Payload: ev.Payload[:0], Metadata: ev.Metadata[:0]}
	h := jr.encode(ev, e, seq)
	jr.encoded = seq
	jr.pending += len(ev.Payload)

	switch {
	case h.Count > 0:
		jr.remaining = h.Count - 1
		// a keyed batch is a record of its own; unkeyed batches share one
		if h.Key != "" || jr.keyed || len(jr.batches) == 0 {
			jr.startBatch(seq, k, h)
		}
		jr.keyed = h.Key != ""
	case jr.remaining > 0:
		jr.remaining--
	case len(jr.batches) == 0 || jr.keyed:
		jr.startBatch(seq, k, Head{})
		jr.keyed = false
	}
}

func (jr *Journaller[T]) startBatch(seq int64, at int, h Head) {
	jr.batches = append(jr.batches, Batch{First: seq, Time: h.Time, Key: h.Key, Hash: h.Hash})
	jr.starts = append(jr.starts, at)
}

// flush appends the pending batches and moves Journaled.
func (jr *Journaller[T]) flush() error {
	if len(jr.batches) == 0 {
		return nil
	}
	for i := range jr.batches {
		end := len(jr.events)
		if i+1 < len(jr.starts) {
			end = jr.starts[i+1]
		}
		jr.batches[i].Events = jr.events[jr.starts[i]:end]
	}
	err := jr.j.Append(jr.batches...)
	for i := range jr.batches {
		jr.batches[i] = Batch{}
	}
	jr.batches, jr.starts, jr.events, jr.pending = jr.batches[:0], jr.starts[:0], jr.events[:0], 0
	jr.keyed = false
	if err != nil {
		return jr.fail(err)
	}
	jr.mu.Lock()
	jr.journaled.Store(jr.encoded)
	if jr.notify != nil {
		close(jr.notify)
		jr.notify = nil
	}
	jr.mu.Unlock()
	return nil
}

func (jr *Journaller[T]) fail(err error) error {
	jr.mu.Lock()
	defer jr.mu.Unlock()
	if jr.err == nil {
		jr.err = fmt.Errorf("journal: journaller stopped at sequence %d: %w", jr.journaled.Load()+1, err)
		jr.failed.Store(true)
	}
	if jr.notify != nil {
		close(jr.notify)
		jr.notify = nil
	}
	return jr.err
}
