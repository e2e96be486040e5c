package replication

import (
	"context"
	"sync/atomic"
	"time"

	"github.com/hashicorp/raft"
)

// A proposal is one caller's command on its way into the log. Its state
// moves queued → taken (by the batcher) or queued → cancelled (by a caller
// whose ctx ended first), then taken → done once answered; whoever wins a
// move owns the next step, so a cancelled proposal is never proposed and
// a taken one is answered exactly once.
type proposal struct {
	cmd    []byte // the encoded command
	events int    // events it carries, for the entry size limit
	start  time.Time
	state  atomic.Uint32
	done   chan struct{} // closed once res and err are set
	res    result
	err    error
}

const (
	proposalQueued uint32 = iota
	proposalTaken
	proposalCancelled
	proposalDone
)

// finish answers a taken proposal. It does nothing to one already
// answered.
func (p *proposal) finish(res result, err error) {
	if !p.state.CompareAndSwap(proposalTaken, proposalDone) {
		return
	}
	p.res, p.err = res, err
	close(p.done)
}

// inflight is a log entry the leader proposed, with the proposals it
// carries, in order.
type inflight struct {
	f     raft.ApplyFuture
	batch []*proposal
}

// propose queues cmd for the batcher and waits for its result: the
// command's own, or why it was not applied.
func (n *Node) propose(ctx context.Context, cmd []byte, events int) (result, error) {
	p := &proposal{cmd: cmd, events: events, start: time.Now(), done: make(chan struct{})}
	select {
	case n.queue <- p:
	case <-n.stop:
		return result{}, ErrClosed
	case <-ctx.Done():
		return result{}, ctx.Err()
	}
	select {
	case <-p.done:
	case <-ctx.Done():
		if p.state.CompareAndSwap(proposalQueued, proposalCancelled) {
			return result{}, ctx.Err() // never proposed
		}
		return result{}, &OutcomeError{Cause: ctx.Err()}
	case <-n.stop:
		if p.state.CompareAndSwap(proposalQueued, proposalCancelled) {
			return result{}, ErrClosed // never proposed
		}
		<-p.done // Close answers every proposal taken
	}
	if p.err != nil {
		return result{}, p.err
	}
	return p.res, p.res.err
}

// runBatcher is the leader's batching loop: it takes the first proposal
// queued, gathers the others queued behind it (waiting up to
// MaxBatchDelay for more) up to the entry limits, and proposes them as one
// log entry. While MaxInflight entries are in flight it waits, and the
// queue grows the next entry.
func (n *Node) runBatcher() {
	defer close(n.batcherDone)
	defer close(n.inflight)
	var timer *time.Timer
	if n.cfg.MaxBatchDelay > 0 {
		timer = time.NewTimer(time.Hour)
		timer.Stop()
	}
	for {
		var first *proposal
		select {
		case first = <-n.queue:
		case <-n.stop:
			n.failQueued()
			return
		}
		if !first.state.CompareAndSwap(proposalQueued, proposalTaken) {
			continue
		}
		batch := []*proposal{first}
		size, events := len(first.cmd), first.events
		if timer != nil {
			timer.Reset(n.cfg.MaxBatchDelay)
		}
	gather:
		for size < n.cfg.MaxBatchBytes && events < n.cfg.MaxBatchEvents {
			var p *proposal
			select {
			case p = <-n.queue:
			default:
				if timer == nil {
					break gather
				}
				select {
				case p = <-n.queue:
				case <-timer.C:
					break gather
				case <-n.stop:
					break gather
				}
			}
			if !p.state.CompareAndSwap(proposalQueued, proposalTaken) {
				continue
			}
			// The proposal that crosses a limit still joins, and ends the
			// entry.
			batch = append(batch, p)
			size += len(p.cmd)
			events += p.events
		}
		if timer != nil {
			timer.Stop()
		}
		n.submit(batch, size)
	}
}

// failQueued answers the proposals still queued when the node closes.
func (n *Node) failQueued() {
	for {
		select {
		case p := <-n.queue:
			if p.state.CompareAndSwap(proposalQueued, proposalTaken) {
				p.finish(result{}, ErrClosed)
			}
		default:
			return
		}
	}
}

// submit proposes batch as one log entry stamped with the leader's clock,
// and hands it to the completer.
func (n *Node) submit(batch []*proposal, size int) {
	if n.raft.State() != raft.Leader {
		err := n.leaderError()
		for _, p := range batch {
			p.finish(result{}, err)
		}
		return
	}
	data := appendEntryHeader(make([]byte, 0, size+32), time.Now().UnixNano(), len(batch))
	for _, p := range batch {
		data = append(data, p.cmd...)
	}
	e := &inflight{f: n.raft.Apply(data, 0), batch: batch}
	n.met.entry(len(batch))
	n.pendingMu.Lock()
	n.pending[e] = struct{}{}
	n.pendingMu.Unlock()
	select {
	case n.inflight <- e: // waits while MaxInflight entries are in flight
	case <-n.stop:
		// Closing: the entry stays pending, and Close answers its
		// proposals (OUTCOME_UNKNOWN: it was proposed) if raft does not.
	}
}

// runCompleter answers the proposals of each entry in flight, in log
// order, once raft says the entry was applied on this node (with the
// results the FSM returned) or failed.
func (n *Node) runCompleter() {
	defer close(n.completerDone)
	for e := range n.inflight {
		err := e.f.Error()
		var res []result
		if err == nil {
			switch v := e.f.Response().(type) {
			case []result:
				res = v
			case error: // an entry the FSM could not decode: applied nowhere
				err = v
			}
		} else {
			err = n.proposalError(err)
		}
		now := time.Now()
		for i, p := range e.batch {
			switch {
			case err != nil:
				p.finish(result{}, err)
			case i < len(res):
				n.met.committed(now.Sub(p.start))
				p.finish(res[i], nil)
			default:
				p.finish(result{}, ErrCorrupt)
			}
		}
		n.pendingMu.Lock()
		delete(n.pending, e)
		n.pendingMu.Unlock()
	}
}
