package engine

import "time"

// dedupStatus is what dedupTable.begin found for a key.
type dedupStatus uint8

const (
	dedupNew       dedupStatus = iota // the key is the caller's: publish, then complete or abort
	dedupDuplicate                    // published before: answer with the entry's sequences
	dedupPending                      // being published now: wait on the entry's done, then retry
	dedupMismatch                     // published before with a different batch
)

// dedupEntry is one idempotency key: in flight while pending, then the
// sequences its batch got.
type dedupEntry struct {
	key     string
	hash    uint32 // batchHash of the batch
	count   int    // events in the batch
	first   int64  // first sequence, once complete
	at      time.Time
	pending bool
	done    chan struct{} // closed when the publish holding the key ends
}

// sequences returns the sequences the entry's batch got.
func (e *dedupEntry) sequences() []int64 {
	seqs := make([]int64, e.count)
	for i := range seqs {
		seqs[i] = e.first + int64(i)
	}
	return seqs
}

// dedupTable remembers idempotency keys for a window of time, and at most
// max of them (the oldest are forgotten first). It is a plain data
// structure: the caller passes the time in and serialises calls (the
// hosted disruptor holds a mutex).
type dedupTable struct {
	window time.Duration
	max    int
	keys   map[string]*dedupEntry
	// fifo holds completed entries in completion order from head on, so
	// expiry pops from the front. An entry may have been replaced in keys
	// since (after an abort and a new publish); expiry checks.
	fifo []*dedupEntry
	head int
}

func newDedupTable(window time.Duration, max int) *dedupTable {
	return &dedupTable{window: window, max: max, keys: make(map[string]*dedupEntry)}
}

// begin looks key up at time now. For dedupNew the returned entry is the
// caller's, to complete or abort.
func (t *dedupTable) begin(key string, hash uint32, count int, now time.Time) (*dedupEntry, dedupStatus) {
	t.expire(now)
	if e, ok := t.keys[key]; ok {
		switch {
		case e.pending:
			return e, dedupPending
		case e.hash != hash || e.count != count:
			return e, dedupMismatch
		default:
			return e, dedupDuplicate
		}
	}
	e := &dedupEntry{key: key, hash: hash, count: count, pending: true, done: make(chan struct{})}
	t.keys[key] = e
	return e, dedupNew
}

// complete records that e's batch was published from first on.
func (t *dedupTable) complete(e *dedupEntry, first int64, now time.Time) {
	e.first, e.at, e.pending = first, now, false
	close(e.done)
	t.fifo = append(t.fifo, e)
	for len(t.keys) > t.max && t.head < len(t.fifo) {
		t.pop()
	}
}

// abort forgets e: its publish failed, so a retry must publish.
func (t *dedupTable) abort(e *dedupEntry) {
	if t.keys[e.key] == e {
		delete(t.keys, e.key)
	}
	close(e.done)
}

// expire forgets the keys completed a window or more before now.
func (t *dedupTable) expire(now time.Time) {
	for t.head < len(t.fifo) && !now.Before(t.fifo[t.head].at.Add(t.window)) {
		t.pop()
	}
}

// pop forgets the oldest completed entry.
func (t *dedupTable) pop() {
	e := t.fifo[t.head]
	t.fifo[t.head] = nil
	t.head++
	if t.keys[e.key] == e {
		delete(t.keys, e.key)
	}
	if t.head > 64 && t.head*2 > len(t.fifo) {
		n := copy(t.fifo, t.fifo[t.head:])
		clear(t.fifo[n:])
		t.fifo = t.fifo[:n]
		t.head = 0
	}
}

// len is the number of keys remembered, in flight included.
func (t *dedupTable) len() int { return len(t.keys) }
