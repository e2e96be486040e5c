// Package dedup is the idempotency window that the engine (for local
// disruptors) and the replicated state machine (for replicated ones)
// share: it remembers each idempotency key with a fingerprint of the
// batch it came with and the sequences that batch got, for a span of
// time after the batch was published.
//
// # The promise
//
// A key is never forgotten before its span ends. Memory is bounded by a
// maximum number of keys; when that many are remembered, the window is
// full and the caller refuses new keys (the engine's
// ErrDedupWindowFull) until the oldest expires, rather than forgetting
// one early and publishing its retry twice.
//
// # Determinism
//
// A [Window] is a plain data structure driven by the caller's clock: the
// same calls with the same times leave the same keys, which is what lets
// every replica of a replicated disruptor keep the same table. It is not
// safe for concurrent use; the caller serialises calls.
package dedup

import "time"

// Entry is one idempotency key remembered. A Window owns the entries
// added to it: the caller must not change one after [Window.Add].
type Entry struct {
	Key   string
	Hash  uint64 // fingerprint of the batch (engine.BatchHash)
	Count int    // events in the batch
	First int64  // sequence of the batch's first event
	At    int64  // Unix ns at which the batch was published
}

// Window remembers idempotency keys for a span after their time, and at
// most a maximum number of them. The zero value is not usable; call
// [New].
type Window struct {
	span int64 // ns
	max  int
	keys map[string]*Entry
	// fifo holds the entries in the order they were added, from head on,
	// which is also the order they expire in: Add never lets At go back.
	fifo   []*Entry
	head   int
	latest int64 // the greatest At added
}

// New returns an empty window of the given span, holding at most max
// keys.
func New(span time.Duration, max int) *Window {
	return &Window{span: int64(span), max: max, keys: make(map[string]*Entry)}
}

// Span is how long a key is remembered.
func (w *Window) Span() time.Duration { return time.Duration(w.span) }

// Max is the most keys the window holds.
func (w *Window) Max() int { return w.max }

// Expire forgets the keys whose span ended at or before now.
func (w *Window) Expire(now int64) {
	for w.head < len(w.fifo) && now >= w.fifo[w.head].At+w.span {
		w.pop()
	}
}

// Lookup forgets the keys that expired by now and returns key's entry, or
// nil.
func (w *Window) Lookup(key string, now int64) *Entry {
	w.Expire(now)
	return w.keys[key]
}

// Full reports whether, after forgetting the keys expired by now, the
// window has no room for one more key besides reserved keys the caller is
// about to add. When it is full, retryAt (Unix ns) is when the oldest key
// expires and makes room.
func (w *Window) Full(now int64, reserved int) (full bool, retryAt int64) {
	w.Expire(now)
	if len(w.keys)+reserved < w.max {
		return false, 0
	}
	if w.head < len(w.fifo) {
		return true, w.fifo[w.head].At + w.span
	}
	return true, now + w.span // every place is reserved
}

// Add remembers e; the caller checked [Window.Full] first, and that
// e.Key is not remembered ([Window.Lookup]). Add forgets nothing to make
// room. An e.At before the latest time added is raised to it, so that
// keys expire in the order they were added (a key is then remembered a
// little longer, never shorter).
func (w *Window) Add(e *Entry) {
	if e.At < w.latest {
		e.At = w.latest
	}
	w.latest = e.At
	w.keys[e.Key] = e
	w.fifo = append(w.fifo, e)
}

// Len is the number of keys remembered.
func (w *Window) Len() int { return len(w.keys) }

// Entries returns the keys remembered, oldest first. The slice is the
// window's: read it before the next call.
func (w *Window) Entries() []*Entry { return w.fifo[w.head:] }

func (w *Window) pop() {
	e := w.fifo[w.head]
	w.fifo[w.head] = nil
	w.head++
	if w.keys[e.Key] == e {
		delete(w.keys, e.Key)
	}
	if w.head > 64 && w.head*2 > len(w.fifo) {
		n := copy(w.fifo, w.fifo[w.head:])
		clear(w.fifo[n:])
		w.fifo = w.fifo[:n]
		w.head = 0
	}
}
