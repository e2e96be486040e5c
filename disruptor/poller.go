package disruptor

// PollState is what [EventPoller.Poll] found.
type PollState int

const (
	// PollProcessing means events were handed to the handler.
	PollProcessing PollState = iota
	// PollGating means events are published but a dependency has not
	// finished with them yet.
	PollGating
	// PollIdle means nothing new is published.
	PollIdle
)

func (s PollState) String() string {
	switch s {
	case PollProcessing:
		return "processing"
	case PollGating:
		return "gating"
	case PollIdle:
		return "idle"
	}
	return "PollState(?)"
}

// PollHandler handles one polled event; it returns false to stop the poll
// after this event, or an error, which stops the poll before counting this
// event as processed.
type PollHandler[T any] func(event *T, sequence int64, endOfBatch bool) (more bool, err error)

// EventPoller is a pull-based consumer, for callers that own their loop
// (an event loop, a test, a network writer that polls when the socket is
// writable). It is not safe for concurrent use: one goroutine polls.
type EventPoller[T any] struct {
	ring     *RingBuffer[T]
	sequence *Sequence
	barrier  *SequenceBarrier // for its view of the cursor and dependencies
}

// NewPoller returns a poller that follows the producer and every consumer
// in deps. Its sequence is added to the ring's gating sequences: producers
// wait for it, so a poller that stops polling stops the ring. Remove it
// with [RingBuffer.RemoveGatingSequence] when done.
func (r *RingBuffer[T]) NewPoller(deps ...*Sequence) *EventPoller[T] {
	p := &EventPoller[T]{
		ring:     r,
		sequence: NewSequence(r.first - 1),
		barrier:  r.NewBarrier(deps...),
	}
	r.AddGatingSequences(p.sequence)
	return p
}

// Sequence is the last sequence the poller has processed.
func (p *EventPoller[T]) Sequence() *Sequence { return p.sequence }

// Poll hands every available event to h, in order, until h returns false
// or an error, and reports what it found. It never waits.
func (p *EventPoller[T]) Poll(h PollHandler[T]) (PollState, error) {
	current := p.sequence.Get()
	next := current + 1
	avail := p.ring.sequencer.HighestPublishedSequence(next, p.barrier.Dependent())
	if next > avail {
		if p.ring.Cursor() >= next {
			return PollGating, nil
		}
		return PollIdle, nil
	}
	processed := current
	defer func() { p.sequence.Set(processed) }()
	for seq := next; seq <= avail; seq++ {
		more, err := h(p.ring.Get(seq), seq, seq == avail)
		if err != nil {
			return PollProcessing, err
		}
		processed = seq
		if !more {
			break
		}
	}
	return PollProcessing, nil
}
