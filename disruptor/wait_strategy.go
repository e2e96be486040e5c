package disruptor

import (
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"time"
)

// WaitStrategy is how a consumer waits for a sequence to become available.
//
// WaitFor is called by one consumer goroutine per barrier, and by many
// consumers of the same ring concurrently. It returns the highest sequence
// available (which may be below seq after a spurious wake-up), or the
// barrier's [SequenceBarrier.CheckAlert] error, or ErrTimeout.
//
// SignalAllWhenBlocking is called by producers after each publish, and by
// [SequenceBarrier.Alert]; it must wake every consumer parked in WaitFor.
// Strategies that never park make it a no-op, and producers then skip it.
type WaitStrategy interface {
	WaitFor(seq int64, b *SequenceBarrier) (int64, error)
	SignalAllWhenBlocking()
}

// spinning is implemented by strategies that never park a goroutine, so
// producers need not call SignalAllWhenBlocking.
type spinning interface{ spinOnly() }

func isSpinning(ws WaitStrategy) bool {
	_, ok := ws.(spinning)
	return ok
}

// parking is implemented by the blocking strategies: parked returns a
// word that is non-zero whenever a consumer may be parked, so that a
// producer can skip SignalAllWhenBlocking's call when it is zero. A
// consumer makes it non-zero before its last look at the producers, which
// publish before they read it.
type parking interface{ parked() *atomic.Int32 }

// fencingForProducers is implemented by the parking strategies whose
// parking consumers run heavyFence where it works, so that producers may
// publish with release stores (see asymmetricFence): BlockingWaitStrategy,
// and PhasedBackoffWaitStrategy over it.
type fencingForProducers interface{ fencesForProducers() bool }

func fencesForProducers(ws WaitStrategy) bool {
	f, ok := ws.(fencingForProducers)
	return ok && f.fencesForProducers()
}

// parkedWord is ws's parked word, or nil when it has none (the producer
// then always signals).
func parkedWord(ws WaitStrategy) *atomic.Int32 {
	if p, ok := ws.(parking); ok {
		return p.parked()
	}
	return nil
}

// The config names of the wait strategies, as accepted by
// [ParseWaitStrategy].
const (
	BusySpinName        = "busy_spin"
	YieldingName        = "yielding"
	SleepingName        = "sleeping"
	BlockingName        = "blocking"
	LiteBlockingName    = "lite_blocking"
	TimeoutBlockingName = "timeout_blocking"
	PhasedBackoffName   = "phased_backoff"
)

// WaitStrategyNames lists the names ParseWaitStrategy accepts.
var WaitStrategyNames = []string{BusySpinName, YieldingName, SleepingName, BlockingName,
	LiteBlockingName, TimeoutBlockingName, PhasedBackoffName}

// ParseWaitStrategy returns a new wait strategy by config name, with that
// strategy's defaults. Names are case-insensitive and "-" may stand for "_"
// (so "busy-spin" is "busy_spin").
func ParseWaitStrategy(name string) (WaitStrategy, error) {
	switch normalizeName(name) {
	case BusySpinName, "busyspin":
		return NewBusySpinWaitStrategy(), nil
	case YieldingName:
		return NewYieldingWaitStrategy(), nil
	case SleepingName:
		return NewSleepingWaitStrategy(), nil
	case BlockingName:
		return NewBlockingWaitStrategy(), nil
	case LiteBlockingName:
		return NewLiteBlockingWaitStrategy(), nil
	case TimeoutBlockingName:
		return NewTimeoutBlockingWaitStrategy(DefaultWaitTimeout), nil
	case PhasedBackoffName:
		return NewPhasedBackoffWaitStrategy(DefaultSpinTimeout, DefaultYieldTimeout, NewLiteBlockingWaitStrategy()), nil
	}
	return nil, &ConfigError{Setting: "WaitStrategy", Value: name,
		Reason: fmt.Sprintf("want one of %v", WaitStrategyNames)}
}

// Defaults used by ParseWaitStrategy.
const (
	DefaultWaitTimeout  = time.Millisecond       // timeout_blocking
	DefaultSpinTimeout  = 100 * time.Microsecond // phased_backoff spinning
	DefaultYieldTimeout = time.Millisecond       // phased_backoff yielding
	DefaultSleep        = 100 * time.Microsecond // sleeping
	defaultSleepRetries = 200
	spinsBeforeYield    = 100
	spinsBeforePark     = 256 // the blocking strategies' looks before they park
)

// BusySpinWaitStrategy spins on the sequence: the lowest latency, one core
// busy per waiting consumer. Use it only with at least as many cores as
// busy goroutines. As a safety valve for oversubscribed machines it yields
// the processor once every 4096 empty checks.
type BusySpinWaitStrategy struct{}

// NewBusySpinWaitStrategy returns a BusySpinWaitStrategy.
func NewBusySpinWaitStrategy() *BusySpinWaitStrategy { return &BusySpinWaitStrategy{} }

// WaitFor spins until seq is available.
func (*BusySpinWaitStrategy) WaitFor(seq int64, b *SequenceBarrier) (int64, error) {
	for i := 1; ; i++ {
		if avail := b.Dependent(); avail >= seq {
			return avail, nil
		}
		if err := b.CheckAlert(); err != nil {
			return InitialSequenceValue, err
		}
		if i&4095 == 0 {
			runtime.Gosched()
		}
	}
}

// SignalAllWhenBlocking does nothing: nobody parks.
func (*BusySpinWaitStrategy) SignalAllWhenBlocking() {}
func (*BusySpinWaitStrategy) spinOnly()              {}
func (*BusySpinWaitStrategy) String() string         { return BusySpinName }

// YieldingWaitStrategy spins briefly, then calls runtime.Gosched between
// checks: low latency, and it lets other goroutines run when there are more
// of them than cores.
type YieldingWaitStrategy struct{}

// NewYieldingWaitStrategy returns a YieldingWaitStrategy.
func NewYieldingWaitStrategy() *YieldingWaitStrategy { return &YieldingWaitStrategy{} }

// WaitFor spins, then yields, until seq is available.
func (*YieldingWaitStrategy) WaitFor(seq int64, b *SequenceBarrier) (int64, error) {
	for i := 0; ; i++ {
		if avail := b.Dependent(); avail >= seq {
			return avail, nil
		}
		if err := b.CheckAlert(); err != nil {
			return InitialSequenceValue, err
		}
		if i >= spinsBeforeYield {
			runtime.Gosched()
		}
	}
}

// SignalAllWhenBlocking does nothing: nobody parks.
func (*YieldingWaitStrategy) SignalAllWhenBlocking() {}
func (*YieldingWaitStrategy) spinOnly()              {}
func (*YieldingWaitStrategy) String() string         { return YieldingName }

// SleepingWaitStrategy spins, then yields, then sleeps between checks:
// little CPU when idle, at the cost of latency after a quiet spell.
// Producers never signal it.
type SleepingWaitStrategy struct {
	retries int
	sleep   time.Duration
}

// NewSleepingWaitStrategy returns a SleepingWaitStrategy that sleeps
// DefaultSleep after 200 empty checks.
func NewSleepingWaitStrategy() *SleepingWaitStrategy {
	return NewSleepingWaitStrategyWith(defaultSleepRetries, DefaultSleep)
}

// NewSleepingWaitStrategyWith returns a SleepingWaitStrategy that spins for
// the first half of retries checks, yields for the second half, then sleeps
// for sleep between checks.
func NewSleepingWaitStrategyWith(retries int, sleep time.Duration) *SleepingWaitStrategy {
	return &SleepingWaitStrategy{retries: retries, sleep: sleep}
}

// WaitFor spins, yields, then sleeps until seq is available (with many
// producers: published, not only claimed).
func (s *SleepingWaitStrategy) WaitFor(seq int64, b *SequenceBarrier) (int64, error) {
	for i := 0; ; i++ {
		if avail, ok := b.ready(seq); ok {
			return avail, nil
		}
		if err := b.CheckAlert(); err != nil {
			return InitialSequenceValue, err
		}
		switch {
		case i < s.retries/2:
		case i < s.retries:
			runtime.Gosched()
		default:
			time.Sleep(s.sleep)
		}
	}
}

// SignalAllWhenBlocking does nothing: sleepers wake up by themselves.
func (*SleepingWaitStrategy) SignalAllWhenBlocking() {}
func (*SleepingWaitStrategy) spinOnly()              {}
func (*SleepingWaitStrategy) String() string         { return SleepingName }

// waitDependents is the second phase of the blocking strategies: the
// cursor has reached seq, and the consumers this one depends on are about
// to. Spin, then yield, then sleep briefly, in case one of them is slow.
func waitDependents(seq int64, b *SequenceBarrier) (int64, error) {
	for i := 0; ; i++ {
		if avail := b.Dependent(); avail >= seq {
			return avail, nil
		}
		if err := b.CheckAlert(); err != nil {
			return InitialSequenceValue, err
		}
		switch {
		case i < spinsBeforeYield:
		case i < 10*spinsBeforeYield:
			runtime.Gosched()
		default:
			time.Sleep(10 * time.Microsecond)
		}
	}
}

// BlockingWaitStrategy parks waiting consumers on a condition variable
// that publishes signal: the least CPU, the highest latency. It is the
// [Disruptor]'s default.
//
// A consumer that finds nothing looks again for about a microsecond (256
// looks), since an answer often comes sooner than it could park and be
// woken, then raises a flag (under the lock, before its last look at the
// producers) and parks; the first publish that finds the flag raised
// lowers it and wakes the parked consumers, and later publishes find it
// lowered and skip the lock. So a producer pays one load per publish while
// its consumers are busy, and one lock per time a consumer parks, not one
// per publish while a woken consumer is getting back on a core. (LMAX's
// BlockingWaitStrategy locks on every publish; its
// LiteBlockingWaitStrategy raises a flag like this one. Both of ours do
// now, so the two differ only in name.)
//
// On Linux on amd64 (outside the race detector) a parking consumer also
// runs membarrier(2), which lets producers publish with a plain release
// store instead of a fenced one: the consumer pays, once per park (a
// system call, and an interrupt of every CPU then running a thread of the
// process), for the fence a producer would otherwise pay on every publish
// (a few nanoseconds). That suits streams that keep their consumers busy;
// where consumers park after nearly every event (many quiet rings, one
// request at a time), [LiteBlockingWaitStrategy], which keeps the
// producer's fence and parks without the system call, costs less.
type BlockingWaitStrategy struct {
	mu   sync.Mutex
	cond sync.Cond
	// signalNeeded is set to 1 by a consumer before it rechecks the
	// producers and parks; a producer that swaps it back to 0 must
	// broadcast.
	signalNeeded atomic.Int32
}

// NewBlockingWaitStrategy returns a BlockingWaitStrategy.
func NewBlockingWaitStrategy() *BlockingWaitStrategy {
	s := &BlockingWaitStrategy{}
	s.cond.L = &s.mu
	return s
}

// WaitFor parks until seq is published, then waits for the dependencies.
func (s *BlockingWaitStrategy) WaitFor(seq int64, b *SequenceBarrier) (int64, error) {
	if err := parkUntilPublished(&s.mu, &s.cond, &s.signalNeeded, seq, b); err != nil {
		return InitialSequenceValue, err
	}
	return waitDependents(seq, b)
}

// SignalAllWhenBlocking wakes the parked consumers, if any asked.
func (s *BlockingWaitStrategy) SignalAllWhenBlocking() { wakeParked(&s.mu, &s.cond, &s.signalNeeded) }

func (s *BlockingWaitStrategy) parked() *atomic.Int32  { return &s.signalNeeded }
func (*BlockingWaitStrategy) fencesForProducers() bool { return true }

func (*BlockingWaitStrategy) String() string { return BlockingName }

// parkUntilPublished is the parking protocol of the blocking strategies:
// look at the producers for a moment (about a microsecond: a reply often
// comes sooner than a consumer could park and be woken), then, with mu
// held, raise signalNeeded, look again, and wait on cond until seq is
// published or the barrier is alerted.
func parkUntilPublished(mu *sync.Mutex, cond *sync.Cond, signalNeeded *atomic.Int32, seq int64, b *SequenceBarrier) error {
	x := uint64(seq)
	for range spinsBeforePark {
		if b.IsPublished(seq) {
			return nil
		}
		for range 8 { // a pause between looks that touches nothing shared
			x = x*6364136223846793005 + 1442695040888963407
		}
	}
	if x == 0 { // keeps the pause from being optimised away; never true in practice
		runtime.Gosched()
	}
	mu.Lock()
	defer mu.Unlock()
	for {
		// Announce the wait before the last look at the producers: a
		// producer that publishes after that look sees the flag.
		signalNeeded.Store(1)
		if b.core.asym {
			heavyFence() // the producer's release store is visible now, or it sees the flag
		}
		if b.IsPublished(seq) {
			return nil
		}
		if err := b.CheckAlert(); err != nil {
			return err
		}
		cond.Wait()
	}
}

// wakeParked is the producers' side of parkUntilPublished.
func wakeParked(mu *sync.Mutex, cond *sync.Cond, signalNeeded *atomic.Int32) {
	if signalNeeded.Load() != 0 && signalNeeded.Swap(0) != 0 {
		mu.Lock()
		cond.Broadcast()
		mu.Unlock()
	}
}

// LiteBlockingWaitStrategy is a blocking strategy whose consumers raise a
// flag before they park, and whose producers take the lock only when they
// find the flag raised (LMAX's LiteBlockingWaitStrategy). It parks like
// [BlockingWaitStrategy] but never asks the kernel to fence for the
// producers: each publish keeps its own fence, and a park costs no system
// call beyond the park itself.
type LiteBlockingWaitStrategy struct {
	mu   sync.Mutex
	cond sync.Cond
	// signalNeeded is set to 1 by a consumer before it rechecks the
	// producers and parks; a producer that swaps it back to 0 must
	// broadcast.
	signalNeeded atomic.Int32
}

// NewLiteBlockingWaitStrategy returns a LiteBlockingWaitStrategy.
func NewLiteBlockingWaitStrategy() *LiteBlockingWaitStrategy {
	s := &LiteBlockingWaitStrategy{}
	s.cond.L = &s.mu
	return s
}

// WaitFor parks until seq is published, then waits for the dependencies.
func (s *LiteBlockingWaitStrategy) WaitFor(seq int64, b *SequenceBarrier) (int64, error) {
	if err := parkUntilPublished(&s.mu, &s.cond, &s.signalNeeded, seq, b); err != nil {
		return InitialSequenceValue, err
	}
	return waitDependents(seq, b)
}

// SignalAllWhenBlocking wakes the parked consumers, if any asked.
func (s *LiteBlockingWaitStrategy) SignalAllWhenBlocking() {
	wakeParked(&s.mu, &s.cond, &s.signalNeeded)
}

func (s *LiteBlockingWaitStrategy) parked() *atomic.Int32 { return &s.signalNeeded }

func (*LiteBlockingWaitStrategy) String() string { return LiteBlockingName }

// TimeoutBlockingWaitStrategy is a LiteBlockingWaitStrategy that gives up
// after a timeout: WaitFor returns ErrTimeout, and a [BatchEventProcessor]
// then calls its handler's [TimeoutHandler.OnTimeout], which suits handlers
// that flush or heartbeat when idle.
type TimeoutBlockingWaitStrategy struct {
	LiteBlockingWaitStrategy
	timeout time.Duration
	timers  sync.Pool // of *time.Timer that broadcast on expiry
}

// NewTimeoutBlockingWaitStrategy returns a strategy that waits at most
// timeout for each WaitFor.
func NewTimeoutBlockingWaitStrategy(timeout time.Duration) *TimeoutBlockingWaitStrategy {
	s := &TimeoutBlockingWaitStrategy{timeout: timeout}
	s.cond.L = &s.mu
	s.timers.New = func() any {
		t := time.AfterFunc(time.Hour, s.wakeAll)
		t.Stop()
		return t
	}
	return s
}

func (s *TimeoutBlockingWaitStrategy) wakeAll() {
	s.mu.Lock()
	s.cond.Broadcast()
	s.mu.Unlock()
}

// Timeout is how long WaitFor waits.
func (s *TimeoutBlockingWaitStrategy) Timeout() time.Duration { return s.timeout }

// WaitFor parks until seq is published or the timeout passes.
func (s *TimeoutBlockingWaitStrategy) WaitFor(seq int64, b *SequenceBarrier) (int64, error) {
	if !b.IsPublished(seq) {
		deadline := time.Now().Add(s.timeout)
		t := s.timers.Get().(*time.Timer)
		t.Reset(s.timeout)
		s.mu.Lock()
		var err error
		for {
			s.signalNeeded.Store(1)
			if b.core.asym {
				heavyFence()
			}
			if b.IsPublished(seq) {
				break
			}
			if err = b.CheckAlert(); err != nil {
				break
			}
			if !time.Now().Before(deadline) {
				err = ErrTimeout
				break
			}
			s.cond.Wait()
		}
		s.mu.Unlock()
		t.Stop()
		s.timers.Put(t)
		if err != nil {
			return InitialSequenceValue, err
		}
	}
	return waitDependents(seq, b)
}

func (*TimeoutBlockingWaitStrategy) String() string { return TimeoutBlockingName }

// PhasedBackoffWaitStrategy spins for spinTimeout, yields until
// yieldTimeout, then falls back to another strategy (usually a blocking
// one): low latency under load, little CPU when idle.
type PhasedBackoffWaitStrategy struct {
	spinTimeout  time.Duration
	yieldTimeout time.Duration
	fallback     WaitStrategy
}

// NewPhasedBackoffWaitStrategy returns a PhasedBackoffWaitStrategy; spin
// and yield are measured from the start of each WaitFor.
func NewPhasedBackoffWaitStrategy(spin, yield time.Duration, fallback WaitStrategy) *PhasedBackoffWaitStrategy {
	return &PhasedBackoffWaitStrategy{spinTimeout: spin, yieldTimeout: yield, fallback: fallback}
}

// WaitFor spins, yields, then defers to the fallback strategy.
func (s *PhasedBackoffWaitStrategy) WaitFor(seq int64, b *SequenceBarrier) (int64, error) {
	var start time.Time
	yielding := false
	for i := 1; ; i++ {
		if avail, ok := b.ready(seq); ok {
			return avail, nil
		}
		if err := b.CheckAlert(); err != nil {
			return InitialSequenceValue, err
		}
		if yielding {
			runtime.Gosched()
		}
		if i%256 != 0 { // read the clock now and then, not on every check
			continue
		}
		now := time.Now()
		if start.IsZero() {
			start = now
			continue
		}
		elapsed := now.Sub(start)
		if elapsed > s.yieldTimeout {
			return s.fallback.WaitFor(seq, b)
		}
		yielding = elapsed > s.spinTimeout
	}
}

// SignalAllWhenBlocking signals the fallback strategy.
func (s *PhasedBackoffWaitStrategy) SignalAllWhenBlocking() { s.fallback.SignalAllWhenBlocking() }

func (s *PhasedBackoffWaitStrategy) parked() *atomic.Int32 { return parkedWord(s.fallback) }
func (s *PhasedBackoffWaitStrategy) fencesForProducers() bool {
	return fencesForProducers(s.fallback)
}

func (*PhasedBackoffWaitStrategy) String() string { return PhasedBackoffName }

var (
	_ WaitStrategy = (*BusySpinWaitStrategy)(nil)
	_ WaitStrategy = (*YieldingWaitStrategy)(nil)
	_ WaitStrategy = (*SleepingWaitStrategy)(nil)
	_ WaitStrategy = (*BlockingWaitStrategy)(nil)
	_ WaitStrategy = (*LiteBlockingWaitStrategy)(nil)
	_ WaitStrategy = (*TimeoutBlockingWaitStrategy)(nil)
	_ WaitStrategy = (*PhasedBackoffWaitStrategy)(nil)
)
