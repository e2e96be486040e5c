// Package notify wakes goroutines waiting for something to change: the
// engine's live subscribers waiting for events, the replication node's
// readers waiting for its state machine to apply an index.
package notify

import (
	"sync"
	"sync/atomic"
)

// Notifier wakes the goroutines waiting on it. A waiter takes a channel
// with [Notifier.Wait], checks its condition again, then selects on the
// channel, which the next [Notifier.Broadcast] closes; so a change made
// between the check and the select is not missed. A Broadcast when nobody
// waits costs one atomic load.
//
// The zero value is ready to use; a Notifier must not be copied after
// first use. Its methods may be called concurrently.
type Notifier struct {
	waiting atomic.Bool
	mu      sync.Mutex
	ch      chan struct{} // closed by the next broadcast; nil when nobody waits
}

// Wait returns a channel closed by the next broadcast. Check the
// condition again after calling it, then select on the channel.
func (n *Notifier) Wait() <-chan struct{} {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.ch == nil {
		n.ch = make(chan struct{})
	}
	n.waiting.Store(true)
	return n.ch
}

// Broadcast wakes every goroutine waiting.
func (n *Notifier) Broadcast() {
	if !n.waiting.Load() {
		return // fast path
	}
	n.broadcast()
}

func (n *Notifier) broadcast() {
	n.mu.Lock()
	if n.ch != nil {
		close(n.ch)
		n.ch = nil
	}
	n.waiting.Store(false)
	n.mu.Unlock()
}
