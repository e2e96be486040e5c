package replication

import (
	"github.com/badbatch/badbatch/engine"
)

// dedupEntry is an idempotency key the FSM remembers: the batch it came
// with and the sequences that batch got.
type dedupEntry struct {
	key   string
	hash  uint64 // batchHash of the batch
	count int    // events in the batch
	first int64  // first sequence
	at    int64  // Unix ns of the entry that published it (leader's clock)
}

// dedupTable remembers the idempotency keys of one replicated disruptor
// for a window of log time, and at most max of them (the oldest go
// first). It is a plain data structure driven by the entries' times, so
// every replica applying the same entries keeps exactly the same keys;
// the FSM serialises calls.
type dedupTable struct {
	window int64 // ns
	max    int
	keys   map[string]*dedupEntry
	// fifo holds the entries in the order they were added, from head on;
	// expiry pops from the front.
	fifo []*dedupEntry
	head int
}

func newDedupTable(window int64, max int) *dedupTable {
	return &dedupTable{window: window, max: max, keys: make(map[string]*dedupEntry)}
}

// lookup forgets the keys that expired by now and returns key's entry, or
// nil.
func (t *dedupTable) lookup(key string, now int64) *dedupEntry {
	for t.head < len(t.fifo) && now >= t.fifo[t.head].at+t.window {
		t.pop()
	}
	return t.keys[key]
}

// add remembers e, forgetting the oldest keys beyond max.
func (t *dedupTable) add(e *dedupEntry) {
	t.keys[e.key] = e
	t.fifo = append(t.fifo, e)
	for len(t.keys) > t.max {
		t.pop()
	}
}

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

// entries returns the live entries, oldest first.
func (t *dedupTable) entries() []*dedupEntry { return t.fifo[t.head:] }

// FNV-1a, 64 bits.
const (
	fnvOffset = 14695981039346656037
	fnvPrime  = 1099511628211
)

func fnvBytes(h uint64, p []byte) uint64 {
	for _, c := range p {
		h ^= uint64(c)
		h *= fnvPrime
	}
	return h
}

func fnvString(h uint64, s string) uint64 {
	for i := 0; i < len(s); i++ {
		h ^= uint64(s[i])
		h *= fnvPrime
	}
	return h
}

func fnvInt(h uint64, v int) uint64 {
	for range 8 {
		h ^= uint64(v & 0xff)
		h *= fnvPrime
		v >>= 8
	}
	return h
}

// batchHash fingerprints a batch's events (payload, binary flag,
// metadata) so a key reused with a different batch is told apart from a
// retry. It is part of the replicated state: every version must compute
// the same value for the same events.
func batchHash(events []engine.Event) uint64 {
	h := uint64(fnvOffset)
	for i := range events {
		e := &events[i]
		if e.Binary {
			h = fnvInt(h, 1)
		} else {
			h = fnvInt(h, 0)
		}
		h = fnvInt(h, len(e.Payload))
		h = fnvBytes(h, e.Payload)
		h = fnvInt(h, len(e.Metadata))
		for _, m := range e.Metadata {
			h = fnvInt(h, len(m.Key))
			h = fnvString(h, m.Key)
			h = fnvInt(h, len(m.Value))
			h = fnvString(h, m.Value)
		}
	}
	return h
}
