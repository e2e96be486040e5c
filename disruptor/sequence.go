package disruptor

import (
	"math"
	"sync/atomic"
	"unsafe"
)

// InitialSequenceValue is the value of a new [Sequence]: nothing has been
// claimed, published or processed yet.
const InitialSequenceValue int64 = -1

// cacheLinePad is the padding put on each side of a hot atomic. It is two
// 64-byte cache lines because amd64 and arm64 cores prefetch lines in
// adjacent pairs, so one line of padding still lets two cores fight over a
// pair.
const cacheLinePad = 128

// Sequence is a sequence number padded to its own pair of cache lines so that
// the goroutines updating different sequences never share a line (no false
// sharing).
//
// Its memory layout is 256 bytes: 128 bytes of padding, the 8-byte value,
// then 120 bytes of padding.
//
// Loads and stores go through sync/atomic, whose operations are sequentially
// consistent: a [Sequence.Set] is a release (every write made before it is
// visible to a goroutine whose [Sequence.Get] observes the new value) and a
// Get is an acquire. That is what lets a producer publish plain writes to an
// event by storing a sequence. (The library's own hot paths also store
// with release semantics only, where nothing needs more; see the package
// documentation's memory model.)
//
// A Sequence must not be copied after first use. Its zero value holds 0, not
// [InitialSequenceValue]; use [NewSequence] to get one that starts at -1.
type Sequence struct {
	_     [cacheLinePad]byte
	value atomic.Int64
	_     [cacheLinePad - 8]byte
}

// NewSequence returns a Sequence holding initial.
func NewSequence(initial int64) *Sequence {
	s := new(Sequence)
	s.value.Store(initial)
	return s
}

// Get returns the value with acquire semantics.
func (s *Sequence) Get() int64 { return s.value.Load() }

// Set stores v with release semantics.
func (s *Sequence) Set(v int64) { s.value.Store(v) }

// setRelease stores v with release semantics only, cheaper than Set on
// amd64 (see storeRelease). It is for stores that no load of the same
// goroutine must be ordered after: a consumer's own sequence, and the
// cursor of a producer whose consumers never park.
func (s *Sequence) setRelease(v int64) { storeRelease((*int64)(unsafe.Pointer(&s.value)), v) }

// CompareAndSet sets the value to next if it is old, and reports whether it
// did.
func (s *Sequence) CompareAndSet(old, next int64) bool {
	return s.value.CompareAndSwap(old, next)
}

// Add atomically adds delta and returns the new value.
func (s *Sequence) Add(delta int64) int64 { return s.value.Add(delta) }

// minimumSequence returns the smallest value among seqs, or min if it is
// smaller than all of them (or seqs is empty).
func minimumSequence(seqs []*Sequence, min int64) int64 {
	for _, s := range seqs {
		if v := s.Get(); v < min {
			min = v
		}
	}
	return min
}

// sequenceGroup is a set of sequences that can be changed while producers
// read it: readers load the current slice without locking, writers replace
// it (copy on write) under a compare-and-swap.
type sequenceGroup struct {
	p atomic.Pointer[[]*Sequence]
}

func (g *sequenceGroup) load() []*Sequence {
	if p := g.p.Load(); p != nil {
		return *p
	}
	return nil
}

// add appends seqs, first setting each to the value init returns, so that a
// consumer added to a running ring starts at the current cursor instead of
// gating the producer at a stale position.
func (g *sequenceGroup) add(init func() int64, seqs ...*Sequence) {
	for {
		old := g.p.Load()
		var cur []*Sequence
		if old != nil {
			cur = *old
		}
		next := make([]*Sequence, 0, len(cur)+len(seqs))
		next = append(next, cur...)
		v := init()
		for _, s := range seqs {
			s.Set(v)
			next = append(next, s)
		}
		if g.p.CompareAndSwap(old, &next) {
			// The producer may have moved on between init and the swap
			// while it could not see the new members: catch them up.
			v = init()
			for _, s := range seqs {
				s.Set(v)
			}
			return
		}
	}
}

// remove deletes every occurrence of s and reports whether there was one.
func (g *sequenceGroup) remove(s *Sequence) bool {
	for {
		old := g.p.Load()
		if old == nil {
			return false
		}
		next := make([]*Sequence, 0, len(*old))
		for _, x := range *old {
			if x != s {
				next = append(next, x)
			}
		}
		if len(next) == len(*old) {
			return false
		}
		if g.p.CompareAndSwap(old, &next) {
			return true
		}
	}
}

// minimum returns the smallest sequence in the group, or fallback when the
// group is empty or all of its members are ahead of it.
func (g *sequenceGroup) minimum(fallback int64) int64 {
	return minimumSequence(g.load(), fallback)
}

// maxSequence is the largest sequence; a consumer that never waits is
// modelled as being at it.
const maxSequence = math.MaxInt64
