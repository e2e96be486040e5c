package engine

import "errors"

// LagPolicy is what happens to a live subscriber that falls more than a
// ring behind, so that the events it has not read yet are overwritten.
// Publishers never wait for subscribers, so a slow one cannot slow them
// down or hold others back; it is the one that loses.
type LagPolicy uint8

// The lag policies. The zero value is LagDisconnect.
const (
	// LagDisconnect ends the subscription with a [*LaggedError] naming the
	// last sequence delivered, so the client can resume from the next one
	// (and learn from the 410 whether it is still there).
	LagDisconnect LagPolicy = iota
	// LagSkip jumps to the oldest event still in the ring and reports the
	// sequences skipped as a [Gap].
	LagSkip
)

// String returns the policy's API name: "disconnect" or "skip".
func (p LagPolicy) String() string {
	if p == LagSkip {
		return "skip"
	}
	return "disconnect"
}

// Gap is a run of sequences a [LagSkip] subscription skipped; Count is 0
// when nothing was skipped.
type Gap struct {
	From, To int64
	Count    int64
}

// Subscription follows a disruptor live: it reads the events the fan-out
// consumer has passed, from a start sequence on, in order, each once. It
// is a reader of the ring, not a consumer: it holds no gating sequence, so
// publishers never wait for it.
//
// A Subscription is used by one goroutine. The pattern is:
//
//	for {
//		gap, err := sub.Poll(&rec, 256)
//		// ... send gap and rec.Events; stop on err
//		if len(rec.Events) == 0 && gap.Count == 0 {
//			select { case <-sub.Wait(): case <-ctx.Done(): ... }
//		}
//	}
type Subscription struct {
	h      *hosted
	next   int64 // the next sequence to deliver
	policy LagPolicy
	closed bool
	// jcur is where a journaled disruptor's catch-up from its journal is.
	jcur journalCursor
}

// Next is the sequence the subscription delivers next.
func (s *Subscription) Next() int64 { return s.next }

// Poll copies up to limit events available to the subscriber into rec
// (which it resets) without waiting. Under [LagSkip] a Gap may come
// before them. It returns a [*LaggedError] when, under [LagDisconnect],
// the next event was overwritten, and an [*EndError] once nothing more
// will come: the disruptor stopped and everything was delivered, or it was
// deleted, or the engine closed; or it was replaced by another copy
// ([EndReplaced]) and the events it held were delivered.
func (s *Subscription) Poll(rec *Records, limit int) (Gap, error) {
	rec.Reset()
	var gap Gap
	if s.closed {
		return gap, &EndError{Reason: EndShutdown, LastDelivered: s.next - 1}
	}
	h := s.h
	switch h.ended.Load() {
	case endDeleted:
		return gap, &EndError{Reason: EndDeleted, LastDelivered: s.next - 1}
	case endShutdown:
		return gap, &EndError{Reason: EndShutdown, LastDelivered: s.next - 1}
	}
	for {
		avail := h.delivered.Load()
		if s.next > avail {
			if st := h.State(); st == StateStopped || st == StateDeleted {
				if h.delivered.Load() < s.next { // stopped means drained: nothing more comes
					why := EndStopped
					if h.ended.Load() == endReplaced {
						why = EndReplaced
					}
					return gap, &EndError{Reason: why, LastDelivered: s.next - 1}
				}
				continue
			}
			return gap, nil
		}
		// A journaled disruptor serves nothing below its journal's oldest
		// (a purge, retention), even what its ring still holds, as reads do.
		if h.j == nil || s.next >= h.floor() {
			next, evicted := h.copyRange(rec, s.next, min(avail, s.next+int64(limit)-1))
			if next > s.next || !evicted {
				if s.jcur.r != nil {
					s.jcur.close() // caught up with the ring: no file held open
				}
				s.next = next
				return gap, nil
			}
			if h.j != nil {
				// below the ring: catch up from the journal
				next, err := h.readJournal(rec, s.next, avail, limit, &s.jcur)
				if err == nil {
					s.next = next
					return gap, nil
				}
				var ev *EvictedError
				if !errors.As(err, &ev) {
					return gap, err
				}
			}
		}
		oldest := max(h.floor(), s.next+1)
		if s.policy != LagSkip {
			return gap, &LaggedError{LastDelivered: s.next - 1, Oldest: oldest}
		}
		if gap.Count == 0 {
			gap.From = s.next
		}
		gap.To = oldest - 1
		gap.Count = gap.To - gap.From + 1
		s.next = oldest
	}
}

// Wait returns a channel that is closed when Poll may have something new:
// events, or the end. It is already closed if Poll has something now.
func (s *Subscription) Wait() <-chan struct{} {
	c := s.h.notify.Wait()
	if s.ready() {
		return closedChan
	}
	return c
}

func (s *Subscription) ready() bool {
	h := s.h
	if s.closed || h.ended.Load() != endNone || h.delivered.Load() >= s.next {
		return true
	}
	st := h.State()
	return st == StateStopped || st == StateDeleted
}

// Close ends the subscription and frees its place. It may be called more
// than once.
func (s *Subscription) Close() {
	if !s.closed {
		s.closed = true
		s.jcur.close()
		s.h.subscribers.Add(-1)
	}
}

var closedChan = func() chan struct{} {
	c := make(chan struct{})
	close(c)
	return c
}()
