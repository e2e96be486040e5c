package disruptor

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync/atomic"
	"time"
	"unsafe"
)

// ErrInvalidClaim is returned by [RingBuffer.TryNextN] (and the sequencers'
// TryNextN) for a claim of fewer than one slot or more slots than the ring
// has. [RingBuffer.NextN] panics with it, as make does with a negative size.
var ErrInvalidClaim = errors.New("disruptor: claim size out of range")

// ProducerType selects the sequencer a ring buffer uses.
type ProducerType int

const (
	// SingleProducer is for rings published to by one goroutine at a time.
	// It needs no atomic read-modify-write to claim and is the fastest.
	SingleProducer ProducerType = iota
	// MultiProducer is for rings published to by many goroutines at once.
	MultiProducer
)

func (p ProducerType) String() string {
	switch p {
	case SingleProducer:
		return "single"
	case MultiProducer:
		return "multi"
	}
	return fmt.Sprintf("ProducerType(%d)", int(p))
}

// ParseProducerType maps "single" and "multi" (any case) to a ProducerType.
func ParseProducerType(s string) (ProducerType, error) {
	switch normalizeName(s) {
	case "single", "single_producer":
		return SingleProducer, nil
	case "multi", "multi_producer", "multiple":
		return MultiProducer, nil
	}
	return 0, &ConfigError{Setting: "ProducerType", Value: s, Reason: `want "single" or "multi"`}
}

// Sequencer claims slots of a ring for producers and tells consumers which
// of them are published. [SingleProducerSequencer] and
// [MultiProducerSequencer] implement it; a [RingBuffer] wraps one, and most
// code uses the ring's methods of the same names instead.
type Sequencer interface {
	// BufferSize is the number of slots in the ring.
	BufferSize() int
	// Cursor is the highest sequence claimed (multi-producer) or published
	// (single producer).
	Cursor() int64
	// Next claims the next slot, waiting for consumers to free it.
	Next() int64
	// NextN claims n slots and returns the highest; the claim is
	// [hi-n+1, hi]. It panics with ErrInvalidClaim unless 1 <= n <= BufferSize.
	NextN(n int) int64
	// TryNext claims the next slot or returns ErrInsufficientCapacity.
	TryNext() (int64, error)
	// TryNextN claims n slots or returns ErrInsufficientCapacity.
	TryNextN(n int) (int64, error)
	// Publish makes the slot at seq visible to consumers.
	Publish(seq int64)
	// PublishRange makes the slots lo..hi visible to consumers.
	PublishRange(lo, hi int64)
	// IsAvailable reports whether seq has been published.
	IsAvailable(seq int64) bool
	// HighestPublishedSequence returns the highest sequence in
	// [lo, available] such that every sequence from lo to it is published,
	// or lo-1 when lo is not.
	HighestPublishedSequence(lo, available int64) int64
	// RemainingCapacity is the number of slots free for claiming.
	RemainingCapacity() int64
	// HasAvailableCapacity reports whether n slots could be claimed now.
	HasAvailableCapacity(n int) bool
	// AddGatingSequences makes the producer wait for seqs before reusing
	// slots. Each is first set to the cursor.
	AddGatingSequences(seqs ...*Sequence)
	// RemoveGatingSequence stops seq from gating the producer.
	RemoveGatingSequence(seq *Sequence) bool
	// MinimumSequence is the lowest gating sequence, or the cursor if
	// there are none.
	MinimumSequence() int64
	// NewBarrier returns a barrier for a consumer that must stay behind
	// the cursor and every one of deps.
	NewBarrier(deps ...*Sequence) *SequenceBarrier
}

// sequencerCore is what both sequencers share. Its fields are set at
// construction and only read afterwards, except the cursor and the gating
// group, which is copy-on-write.
//
// The cursor is held in place rather than behind a pointer, so that
// publishing and waiting reach it without a second load; being a
// [Sequence], it brings its own padding, which keeps the read-only fields
// before it and the gating group after it off its cache lines.
type sequencerCore struct {
	bufferSize  int64
	ws          WaitStrategy
	needsSignal bool // ws parks goroutines, so publishes must wake them
	// parked is ws's parked word (see parking), or nil: a publish calls
	// SignalAllWhenBlocking only while it is non-zero.
	parked *atomic.Int32
	// asym is set when the parking consumers pay for the fence between a
	// publish and the look at parked (see asymmetricFence): then a single
	// producer publishes with a release store.
	asym   bool
	cursor Sequence // published (single) or claimed (multi) high mark
	gating sequenceGroup
	// stopErr is set (once, never cleared) when the ring's consumers
	// stop for good: a claim that would wait for room returns it
	// instead (see stop). Read only on the slow paths.
	stopErr atomic.Pointer[error]
	// released is set once every consumer of the ring has exited: a
	// claim without an error result ([RingBuffer.Next]) then stops
	// waiting for room nobody will free, and its slot is never read.
	released atomic.Bool
}

// stop makes every claim that waits for room, now or later, return err
// (the first err given wins). The Disruptor calls it when it halts its
// processors or one of them halts by itself.
func (c *sequencerCore) stop(err error) { c.stopErr.CompareAndSwap(nil, &err) }

// release records that no consumer will ever read the ring again, so
// that waiting claims proceed.
func (c *sequencerCore) release() { c.released.Store(true) }

// waitErr is why a claim must stop waiting for room: the ring's stop
// error, or ctx's.
func (c *sequencerCore) waitErr(ctx context.Context) error {
	if p := c.stopErr.Load(); p != nil {
		return *p
	}
	return ctx.Err()
}

// init validates the settings and puts the cursor just before first, as if
// every sequence before first had been published already.
func (c *sequencerCore) init(bufferSize int, ws WaitStrategy, first int64) error {
	var errs configErrors
	validateBufferSize(&errs, bufferSize)
	validateFirstSequence(&errs, first)
	if ws == nil {
		errs.add("WaitStrategy", nil, "must not be nil")
	}
	if err := errs.err(); err != nil {
		return err
	}
	c.bufferSize = int64(bufferSize)
	c.ws = ws
	c.needsSignal = !isSpinning(ws)
	c.parked = parkedWord(ws)
	c.asym = c.parked != nil && fencesForProducers(ws) && asymmetricFence()
	c.cursor.Set(first - 1)
	return nil
}

// MaxBufferSize is the largest ring the library accepts: 2^30 slots.
const MaxBufferSize = 1 << 30

// MaxFirstSequence is the largest [Config.FirstSequence]: 2^62, which
// leaves a ring started there 2^62 sequences before its arithmetic would
// overflow.
const MaxFirstSequence = 1 << 62

func validateFirstSequence(errs *configErrors, first int64) {
	if first < 0 || first > MaxFirstSequence {
		errs.add("FirstSequence", first, "must be from 0 to %d", int64(MaxFirstSequence))
	}
}

func validateBufferSize(errs *configErrors, size int) {
	switch {
	case size < 1:
		errs.add("BufferSize", size, "must be at least 1")
	case size > MaxBufferSize:
		errs.add("BufferSize", size, "must be at most %d", MaxBufferSize)
	case size&(size-1) != 0:
		errs.add("BufferSize", size, "must be a power of 2")
	}
}

func (c *sequencerCore) BufferSize() int { return int(c.bufferSize) }

func (c *sequencerCore) Cursor() int64 { return c.cursor.Get() }

func (c *sequencerCore) AddGatingSequences(seqs ...*Sequence) {
	c.gating.add(c.cursor.Get, seqs...)
}

func (c *sequencerCore) RemoveGatingSequence(seq *Sequence) bool {
	return c.gating.remove(seq)
}

func (c *sequencerCore) MinimumSequence() int64 {
	return c.gating.minimum(c.cursor.Get())
}

func (c *sequencerCore) signal() {
	if c.needsSignal && (c.parked == nil || c.parked.Load() != 0) {
		c.ws.SignalAllWhenBlocking()
	}
}

func (c *sequencerCore) checkClaim(n int) error {
	if n < 1 || int64(n) > c.bufferSize {
		return fmt.Errorf("%w: %d not in [1, %d]", ErrInvalidClaim, n, c.bufferSize)
	}
	return nil
}

// producerBackoff is how a producer waits for consumers to free slots: spin
// briefly, then yield the processor, then sleep, so that a producer stuck
// behind a slow consumer does not burn a core forever. The yielding phase
// is short (about 200 yields): with more producers than cores, waiting
// producers that keep yielding to one another hold the processors the
// consumer needs to free their slots (MPSC/P3 in the benchmarks ran about
// a quarter slower with 1000 yields before sleeping).
type producerBackoff int

func (b *producerBackoff) wait() {
	*b++
	switch {
	case *b < 64:
	case *b < 256:
		runtime.Gosched()
	default:
		time.Sleep(50 * time.Microsecond)
	}
}

// SingleProducerSequencer claims slots for exactly one producing goroutine
// at a time. Claiming is plain arithmetic on producer-owned fields; only
// publishing stores an atomic.
//
// Claiming, publishing and the capacity queries (Next, NextN, NextCtx,
// NextNCtx, TryNext, TryNextN, Publish, PublishRange, RemainingCapacity,
// HasAvailableCapacity) must be called from the producing goroutine (or
// with a happens-before edge between successive producers). The other
// methods may be called from any goroutine: AddGatingSequences and
// RemoveGatingSequence in particular are safe while the producer runs,
// which is how a consumer joins or leaves a running ring. The gating
// sequences are a copy-on-write list; one added starts at the cursor,
// never behind the slowest existing one, so the producer's cached claim
// limit stays safe, and removing one only ever raises the minimum.
//
// Its memory layout: 128 bytes of padding, the two producer-owned fields
// (16 bytes), 112 bytes of padding, then the sequencerCore, whose cursor is
// padded on both sides by [Sequence] itself.
type SingleProducerSequencer struct {
	_ [cacheLinePad]byte
	// nextValue is the last sequence claimed. Producer-owned.
	nextValue int64
	// claimLimit is the highest sequence the producer may claim without
	// looking at the consumers again: the minimum gating sequence seen by
	// the last look, plus the buffer size. Since that minimum never passes
	// nextValue, a claim under the limit is also never larger than the
	// ring. Producer-owned.
	claimLimit int64
	_          [cacheLinePad - 16]byte
	sequencerCore
}

var _ Sequencer = (*SingleProducerSequencer)(nil)

// NewSingleProducerSequencer returns a sequencer for a ring of bufferSize
// slots (a power of 2) whose consumers wait with ws. Its first sequence is
// 0; [NewRingBufferAt] makes a ring whose sequencer starts elsewhere.
func NewSingleProducerSequencer(bufferSize int, ws WaitStrategy) (*SingleProducerSequencer, error) {
	return newSingleProducerSequencer(bufferSize, ws, 0)
}

// newSingleProducerSequencer returns a sequencer whose first claim is
// first: everything before it counts as claimed, published and consumed,
// so the first claim limit is a whole ring past it.
func newSingleProducerSequencer(bufferSize int, ws WaitStrategy, first int64) (*SingleProducerSequencer, error) {
	s := &SingleProducerSequencer{nextValue: first - 1}
	if err := s.init(bufferSize, ws, first); err != nil {
		return nil, err
	}
	s.claimLimit = s.nextValue + s.bufferSize
	return s, nil
}

// Next claims the next slot.
func (s *SingleProducerSequencer) Next() int64 { return s.NextN(1) }

// NextN claims n slots and returns the highest.
func (s *SingleProducerSequencer) NextN(n int) int64 {
	// fast path: the claim stays under the limit seen last time.
	if next := s.nextValue + int64(n); next <= s.claimLimit && n > 0 {
		s.nextValue = next
		return next
	}
	return s.nextSlow(n)
}

// nextSlow is NextN's slow path: check n, then reread the consumers until
// the slot the claim wraps onto has been processed.
func (s *SingleProducerSequencer) nextSlow(n int) int64 {
	if err := s.checkClaim(n); err != nil {
		panic(err)
	}
	next := s.nextValue + int64(n)
	var b producerBackoff
	for !s.refreshLimit(next) && !s.released.Load() {
		b.wait()
	}
	s.nextValue = next
	return next
}

// NextCtx claims the next slot like Next, but gives up waiting for room
// when ctx ends (returning ctx's error) or the ring's consumers have
// stopped for good (returning [ErrShutdown], or an error wrapping
// [ErrHalted]). Nothing is claimed when it returns an error.
func (s *SingleProducerSequencer) NextCtx(ctx context.Context) (int64, error) {
	return s.NextNCtx(ctx, 1)
}

// NextNCtx is NextN with NextCtx's way of giving up. A bad n is an
// [ErrInvalidClaim] error.
func (s *SingleProducerSequencer) NextNCtx(ctx context.Context, n int) (int64, error) {
	// fast path: as in NextN.
	if next := s.nextValue + int64(n); next <= s.claimLimit && n > 0 {
		s.nextValue = next
		return next, nil
	}
	if err := s.checkClaim(n); err != nil {
		return 0, err
	}
	next := s.nextValue + int64(n)
	var b producerBackoff
	for {
		// Stopped first: room freed by a halting consumer's last batch
		// must not be claimed, since nothing will handle it.
		if err := s.waitErr(ctx); err != nil {
			return 0, err
		}
		if s.refreshLimit(next) {
			break
		}
		b.wait()
	}
	s.nextValue = next
	return next, nil
}

// refreshLimit rereads the consumers' sequences into claimLimit and reports
// whether a claim up to next now fits.
func (s *SingleProducerSequencer) refreshLimit(next int64) bool {
	s.claimLimit = s.gating.minimum(s.nextValue) + s.bufferSize
	return next <= s.claimLimit
}

// TryNext claims the next slot, or returns ErrInsufficientCapacity.
func (s *SingleProducerSequencer) TryNext() (int64, error) { return s.TryNextN(1) }

// TryNextN claims n slots and returns the highest, or returns
// ErrInsufficientCapacity (ring full) or ErrInvalidClaim (n out of range).
func (s *SingleProducerSequencer) TryNextN(n int) (int64, error) {
	if err := s.checkClaim(n); err != nil {
		return 0, err
	}
	if !s.HasAvailableCapacity(n) {
		return 0, ErrInsufficientCapacity
	}
	s.nextValue += int64(n)
	return s.nextValue, nil
}

// HasAvailableCapacity reports whether n slots could be claimed now.
func (s *SingleProducerSequencer) HasAvailableCapacity(n int) bool {
	next := s.nextValue + int64(n)
	return next <= s.claimLimit || s.refreshLimit(next)
}

// RemainingCapacity is the number of slots free for claiming.
func (s *SingleProducerSequencer) RemainingCapacity() int64 {
	consumed := s.gating.minimum(s.nextValue)
	return s.bufferSize - (s.nextValue - consumed)
}

// Publish makes seq, and every sequence before it, visible to consumers.
func (s *SingleProducerSequencer) Publish(seq int64) {
	if s.asym { // a release store; parking consumers fence for us
		s.cursor.setRelease(seq)
		if s.parked.Load() != 0 {
			s.ws.SignalAllWhenBlocking()
		}
		return
	}
	s.cursor.Set(seq)
	s.signal()
}

// PublishRange publishes lo..hi; with one producer that is publishing hi.
func (s *SingleProducerSequencer) PublishRange(lo, hi int64) { s.Publish(hi) }

// IsAvailable reports whether seq has been published and not yet
// overwritten by a later lap of the ring.
func (s *SingleProducerSequencer) IsAvailable(seq int64) bool {
	cur := s.cursor.Get()
	return seq <= cur && seq > cur-s.bufferSize
}

// HighestPublishedSequence returns available: a single producer publishes in
// order.
func (s *SingleProducerSequencer) HighestPublishedSequence(lo, available int64) int64 {
	return available
}

// NewBarrier returns a barrier behind the cursor and deps.
func (s *SingleProducerSequencer) NewBarrier(deps ...*Sequence) *SequenceBarrier {
	return newSequenceBarrier(&s.sequencerCore, nil, deps)
}

// MultiProducerSequencer claims slots for any number of concurrent
// producers. A claim is one atomic add on the cursor; since producers
// finish out of order, each slot has an availability flag holding the lap
// of the ring it was last published in.
type MultiProducerSequencer struct {
	sequencerCore
	// gatingCache is the minimum gating sequence seen by some producer;
	// shared, so it is a padded Sequence of its own.
	gatingCache *Sequence
	// available[i] is the lap (seq >> indexShift) of the last publish of
	// slot i; before the first, the lap before the ring's first sequence
	// (-1 for a ring starting at 0).
	available  []atomic.Int32
	indexMask  int64
	indexShift uint
}

var _ Sequencer = (*MultiProducerSequencer)(nil)

// NewMultiProducerSequencer returns a sequencer for a ring of bufferSize
// slots (a power of 2) whose consumers wait with ws. Its first sequence is
// 0; [NewRingBufferAt] makes a ring whose sequencer starts elsewhere.
func NewMultiProducerSequencer(bufferSize int, ws WaitStrategy) (*MultiProducerSequencer, error) {
	return newMultiProducerSequencer(bufferSize, ws, 0)
}

// newMultiProducerSequencer returns a sequencer whose first claim is
// first. Each slot's availability flag holds the lap of the sequence
// before first that last used the slot, as if the ring had been published
// up to first-1: no sequence from first on is available until published.
func newMultiProducerSequencer(bufferSize int, ws WaitStrategy, first int64) (*MultiProducerSequencer, error) {
	m := &MultiProducerSequencer{gatingCache: NewSequence(first - 1)}
	if err := m.init(bufferSize, ws, first); err != nil {
		return nil, err
	}
	m.available = make([]atomic.Int32, bufferSize)
	m.indexMask = int64(bufferSize - 1)
	m.indexShift = log2(bufferSize)
	base := first - m.bufferSize // the lap before first: base .. first-1
	for i := range m.available {
		prev := base + (int64(i)-base)&m.indexMask // the one of them in slot i
		m.available[i].Store(int32(prev >> m.indexShift))
	}
	return m, nil
}

func log2(n int) uint {
	var r uint
	for n > 1 {
		n >>= 1
		r++
	}
	return r
}

// Next claims the next slot.
func (m *MultiProducerSequencer) Next() int64 { return m.NextN(1) }

// NextN claims n slots and returns the highest. The claim is a single
// atomic add, so producers never retry against each other; each then waits,
// on its own, for the consumers to free its slots.
func (m *MultiProducerSequencer) NextN(n int) int64 {
	if n < 1 || int64(n) > m.bufferSize {
		panic(m.checkClaim(n))
	}
	next := m.cursor.Add(int64(n))
	current := next - int64(n)
	wrap := next - m.bufferSize
	// fast path: behind the consumers some producer saw last.
	if cached := m.gatingCache.Get(); wrap > cached || cached > current {
		m.waitForCapacity(current, wrap)
	}
	return next
}

func (m *MultiProducerSequencer) waitForCapacity(current, wrap int64) {
	var b producerBackoff
	for {
		min := m.gating.minimum(current)
		if wrap <= min {
			m.gatingCache.Set(min)
			return
		}
		if m.released.Load() {
			return // nobody will free the slot, or read it
		}
		b.wait()
	}
}

// NextCtx claims the next slot like Next, but gives up waiting for room
// when ctx ends (returning ctx's error) or the ring's consumers have
// stopped for good (returning [ErrShutdown], or an error wrapping
// [ErrHalted]). Nothing is claimed when it returns an error.
func (m *MultiProducerSequencer) NextCtx(ctx context.Context) (int64, error) {
	return m.NextNCtx(ctx, 1)
}

// NextNCtx is NextN with NextCtx's way of giving up. Unlike NextN it
// claims with a compare-and-swap, and only once the slots are free, so
// that a claim given up leaves no gap that consumers would wait on. A bad
// n is an [ErrInvalidClaim] error.
func (m *MultiProducerSequencer) NextNCtx(ctx context.Context, n int) (int64, error) {
	if err := m.checkClaim(n); err != nil {
		return 0, err
	}
	var b producerBackoff
	for {
		current := m.cursor.Get()
		if m.hasCapacity(n, current) {
			if next := current + int64(n); m.cursor.CompareAndSet(current, next) {
				return next, nil
			}
			continue // another producer claimed first: look again at once
		}
		if err := m.waitErr(ctx); err != nil {
			return 0, err
		}
		b.wait()
		if err := m.waitErr(ctx); err != nil { // as for one producer: not room a halting consumer freed
			return 0, err
		}
	}
}

// TryNext claims the next slot, or returns ErrInsufficientCapacity.
func (m *MultiProducerSequencer) TryNext() (int64, error) { return m.TryNextN(1) }

// TryNextN claims n slots and returns the highest, or returns
// ErrInsufficientCapacity (ring full) or ErrInvalidClaim (n out of range).
func (m *MultiProducerSequencer) TryNextN(n int) (int64, error) {
	if err := m.checkClaim(n); err != nil {
		return 0, err
	}
	for {
		current := m.cursor.Get()
		if !m.hasCapacity(n, current) {
			return 0, ErrInsufficientCapacity
		}
		if next := current + int64(n); m.cursor.CompareAndSet(current, next) {
			return next, nil
		}
	}
}

// HasAvailableCapacity reports whether n slots could be claimed now.
func (m *MultiProducerSequencer) HasAvailableCapacity(n int) bool {
	return m.hasCapacity(n, m.cursor.Get())
}

func (m *MultiProducerSequencer) hasCapacity(n int, current int64) bool {
	wrap := current + int64(n) - m.bufferSize
	if cached := m.gatingCache.Get(); wrap > cached || cached > current {
		min := m.gating.minimum(current)
		m.gatingCache.Set(min)
		if wrap > min {
			return false
		}
	}
	return true
}

// RemainingCapacity is the number of slots free for claiming.
func (m *MultiProducerSequencer) RemainingCapacity() int64 {
	produced := m.cursor.Get()
	consumed := m.gating.minimum(produced)
	return m.bufferSize - (produced - consumed)
}

// Publish makes seq visible to consumers once every sequence before it is
// published too.
func (m *MultiProducerSequencer) Publish(seq int64) {
	m.PublishRange(seq, seq)
}

// PublishRange publishes lo..hi.
func (m *MultiProducerSequencer) PublishRange(lo, hi int64) {
	if !m.needsSignal || m.asym {
		// Release stores: nobody parks, or parking consumers fence for
		// us (see asymmetricFence).
		for s := lo; s <= hi; s++ {
			storeRelease32((*int32)(unsafe.Pointer(&m.available[s&m.indexMask])), int32(s>>m.indexShift))
		}
		if m.needsSignal && m.parked.Load() != 0 {
			m.ws.SignalAllWhenBlocking()
		}
		return
	}
	for s := lo; s <= hi; s++ {
		m.available[s&m.indexMask].Store(int32(s >> m.indexShift))
	}
	m.signal()
}

// IsAvailable reports whether seq has been published in its lap.
func (m *MultiProducerSequencer) IsAvailable(seq int64) bool {
	return m.available[seq&m.indexMask].Load() == int32(seq>>m.indexShift)
}

// HighestPublishedSequence scans the availability flags from lo and stops
// at the first gap.
func (m *MultiProducerSequencer) HighestPublishedSequence(lo, available int64) int64 {
	for s := lo; s <= available; s++ {
		if !m.IsAvailable(s) {
			return s - 1
		}
	}
	return available
}

// NewBarrier returns a barrier behind the published sequences and deps.
func (m *MultiProducerSequencer) NewBarrier(deps ...*Sequence) *SequenceBarrier {
	return newSequenceBarrier(&m.sequencerCore, m, deps)
}
