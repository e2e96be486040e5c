package bytering

import (
	"time"

	"github.com/badbatch/badbatch/disruptor"
)

// Poller is a consumer that its caller polls, copying events out (the
// disruptor's EventPoller). It sees every event published after Start.
// One goroutine at a time polls it. Producers wait for it like for any
// consumer: a poller that is not polled stops the ring once it is a ring
// behind, until it is closed.
type Poller struct {
	r       *Ring
	p       *disruptor.EventPoller[slot]
	barrier *disruptor.SequenceBarrier  // to wait for events, with the ring's wait strategy
	take    disruptor.PollHandler[slot] // p.copyOut, bound once: no closure per Poll

	// The Poll in progress.
	out   []byte
	lens  []uint32
	n     int
	first int64
}

// NewPoller adds a poller. It returns ErrStarted after Start.
func (r *Ring) NewPoller() (*Poller, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.state.Load() != declaring {
		return nil, ErrStarted
	}
	p := &Poller{r: r, p: r.rb.NewPoller(), barrier: r.rb.NewBarrier()}
	p.take = p.copyOut
	r.pollers = append(r.pollers, p)
	return p, nil
}

// Poll copies up to len(lens) events out, in order: event k into
// out[k*EventSize:] (its first lens[k] bytes; the rest of its stride
// holds whatever the slot held), its length into lens[k]. It returns the sequence of the
// first event copied and how many. out must hold len(lens)*EventSize bytes
// (ErrInvalid otherwise).
//
// With nothing to copy, Poll waits up to timeout for an event (a negative
// timeout waits for ever, zero not at all) with the ring's wait strategy,
// and returns n == 0 when none came. Once the ring is shut down and the
// poller has every event published, Poll returns ErrShutdown; once it is
// freed, ErrHandle.
func (p *Poller) Poll(out []byte, lens []uint32, timeout time.Duration) (first int64, n int, err error) {
	if len(lens) == 0 || len(out) < len(lens)*p.r.size {
		return 0, 0, ErrInvalid
	}
	p.r.polling.Add(1)
	defer p.r.polling.Add(-1)
	p.out, p.lens = out, lens
	defer func() { p.out, p.lens = nil, nil }()
	var deadline time.Time
	if timeout > 0 {
		deadline = time.Now().Add(timeout)
	}
	for {
		if p.r.freed.Load() {
			return 0, 0, ErrHandle
		}
		closed := p.r.state.Load() == closed
		p.n = 0
		if _, err := p.p.Poll(p.take); err != nil {
			return 0, 0, errorf(CodeInternal, "poll: %v", err)
		}
		if p.n > 0 {
			return p.first, p.n, nil
		}
		if closed {
			// Nothing left: once closed, every claim was published
			// (or abandoned by Halt), and this poll saw them all.
			return 0, 0, ErrShutdown
		}
		if timeout == 0 {
			return 0, 0, nil
		}
		wait := time.Duration(-1)
		if timeout > 0 {
			wait = time.Until(deadline)
			if wait <= 0 {
				return 0, 0, nil
			}
		}
		p.wait(wait)
	}
}

// copyOut is the PollHandler: it counts the events, and at the last one
// (the caller's buffer full, or the last available) copies them all out
// in one or two runs of whole slots (two when they wrap around the
// ring's end), before Poll moves the poller's sequence past them.
func (p *Poller) copyOut(_ *slot, seq int64, last bool) (bool, error) {
	if p.n == 0 {
		p.first = seq
	}
	p.n++
	more := p.n < len(p.lens)
	if more && !last {
		return true, nil
	}
	r := p.r
	i := r.index(p.first)
	head := min(p.n, r.slots-i)
	copy(p.out[:head*r.size], r.data[i*r.size:(i+head)*r.size])
	copy(p.lens[:head], r.lens[i:i+head])
	if rest := p.n - head; rest > 0 {
		copy(p.out[head*r.size:p.n*r.size], r.data[:rest*r.size])
		copy(p.lens[head:p.n], r.lens[:rest])
	}
	return more, nil
}

// wait blocks until the next event may be available, d passes (d < 0: no
// limit), or the ring is shut down; it may return early, and Poll then
// looks again. A timer alerts the barrier at the deadline, Shutdown and
// Halt alert it too; an alert that lands after the wait ended only makes
// the next wait return at once.
func (p *Poller) wait(d time.Duration) {
	var t *time.Timer
	if d >= 0 {
		t = time.AfterFunc(d, p.barrier.Alert)
	}
	_, _ = p.barrier.WaitFor(p.p.Sequence().Get() + 1)
	if t != nil {
		t.Stop()
	}
	p.barrier.ClearAlert()
}

// Close removes the poller from the ring's gating sequences: producers no
// longer wait for it. Do not poll it afterwards.
func (p *Poller) Close() {
	p.r.rb.RemoveGatingSequence(p.p.Sequence())
}
