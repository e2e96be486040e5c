package disruptor

import (
	"errors"
	"fmt"
	"runtime"
	"runtime/debug"
	"sync/atomic"
)

// EventProcessor is a consumer of a ring that runs on its own goroutine:
// [BatchEventProcessor] and the workers of a [WorkerPool]. Run is called
// once, on the goroutine that will process events; Halt, Sequence and
// IsRunning may be called from any goroutine.
type EventProcessor interface {
	// Run processes events until Halt, and returns nil then, or a
	// [*HaltedError] when the exception handler halted it.
	Run() error
	// Halt asks Run to return at the next clean break, as LMAX's halt
	// does: once the batch in hand (the events its last wait returned) is
	// handled. It does not wait for Run to return.
	Halt()
	// Sequence is the last sequence this processor has finished with.
	Sequence() *Sequence
	// IsRunning reports whether Run is processing events.
	IsRunning() bool
}

// ErrAlreadyRunning is returned by Run when the processor is running on
// another goroutine.
var ErrAlreadyRunning = errors.New("disruptor: processor already running")

const (
	stateIdle int32 = iota
	stateHalted
	stateRunning
)

// processorCore is the lifecycle shared by the event processors: the
// idle → running → idle state machine, start and shutdown hooks, CPU
// pinning and failure reporting.
type processorCore[T any] struct {
	state      atomic.Int32
	barrier    *SequenceBarrier
	exceptions ExceptionHandler[T]
	hooks      any // the user's handler, for the optional lifecycle interfaces
	name       string
	cpus       []int
}

func newProcessorCore[T any](barrier *SequenceBarrier, hooks any) processorCore[T] {
	return processorCore[T]{
		barrier:    barrier,
		exceptions: FatalExceptionHandler[T]{},
		hooks:      hooks,
		name:       fmt.Sprintf("%T", hooks),
	}
}

// SetExceptionHandler replaces the default [FatalExceptionHandler]. Call it
// before Run.
func (c *processorCore[T]) SetExceptionHandler(eh ExceptionHandler[T]) {
	if eh != nil {
		c.exceptions = eh
	}
}

// SetCPUAffinity pins the processor's goroutine to its own OS thread bound
// to cpus (Linux; elsewhere the goroutine is only locked to its thread).
// Call it before Run. The thread is not returned to the Go runtime after
// Run, so its affinity never leaks into other goroutines.
func (c *processorCore[T]) SetCPUAffinity(cpus ...int) { c.cpus = append([]int(nil), cpus...) }

// Halt asks the processor to stop once it has handled the batch in hand
// (see [EventProcessor]); a processor waiting for events stops at once.
func (c *processorCore[T]) Halt() {
	c.state.Store(stateHalted)
	c.barrier.Alert()
}

// IsRunning reports whether the processor is processing events.
func (c *processorCore[T]) IsRunning() bool { return c.state.Load() == stateRunning }

// begin moves idle → running and runs the start hooks. It returns false
// (with nil) when Halt came first: then the processor only runs its start
// and shutdown hooks, as LMAX does.
func (c *processorCore[T]) begin() (bool, error) {
	if !c.state.CompareAndSwap(stateIdle, stateRunning) {
		if c.state.Load() == stateRunning {
			return false, ErrAlreadyRunning
		}
		c.notifyStart()
		c.notifyShutdown()
		c.state.Store(stateIdle)
		return false, nil
	}
	c.barrier.ClearAlert()
	// A Halt between the CAS and ClearAlert had its alert wiped: look at
	// the state again (LMAX does the same after clearAlert).
	if c.state.Load() != stateRunning {
		c.notifyStart()
		c.notifyShutdown()
		c.state.Store(stateIdle)
		return false, nil
	}
	if len(c.cpus) > 0 {
		runtime.LockOSThread() // never unlocked: the thread exits with the goroutine
		if err := setAffinity(c.cpus); err != nil {
			c.exceptions.HandleOnStartException(fmt.Errorf("disruptor: pinning %s to CPUs %v: %w", c.name, c.cpus, err))
		}
	}
	c.notifyStart()
	return true, nil
}

func (c *processorCore[T]) end() {
	c.notifyShutdown()
	c.state.Store(stateIdle)
}

// running reports whether Run should go on after the barrier was alerted.
func (c *processorCore[T]) running() bool { return c.state.Load() == stateRunning }

func (c *processorCore[T]) notifyStart() {
	if h, ok := c.hooks.(StartHandler); ok {
		if err := callHook(h.OnStart); err != nil {
			c.exceptions.HandleOnStartException(err)
		}
	}
}

func (c *processorCore[T]) notifyShutdown() {
	if h, ok := c.hooks.(ShutdownHandler); ok {
		if err := callHook(h.OnShutdown); err != nil {
			c.exceptions.HandleOnShutdownException(err)
		}
	}
}

// notifyTimeout tells a TimeoutHandler that the wait timed out; a failure
// is handled like an event's.
func (c *processorCore[T]) notifyTimeout(seq int64) error {
	h, ok := c.hooks.(TimeoutHandler)
	if !ok {
		return nil
	}
	if err := callHook(func() error { return h.OnTimeout(seq) }); err != nil {
		return c.fail(err, seq, nil)
	}
	return nil
}

// fail passes a handler failure to the exception handler and returns a
// *HaltedError if it says to halt.
func (c *processorCore[T]) fail(err error, seq int64, event *T) error {
	if halt := c.exceptions.HandleEventException(err, seq, event); halt != nil {
		return &HaltedError{Processor: c.name, Sequence: seq, Err: halt}
	}
	return nil
}

// waitError sorts the errors of SequenceBarrier.WaitFor: it returns
// (true, nil) to stop quietly, (false, nil) to wait again, and an error to
// halt.
func (c *processorCore[T]) waitError(err error, seq *Sequence) (bool, error) {
	switch {
	case errors.Is(err, ErrAlerted):
		return !c.running(), nil
	case errors.Is(err, ErrTimeout):
		return false, c.notifyTimeout(seq.Get())
	default: // a custom wait strategy failed
		return false, c.fail(err, seq.Get()+1, nil)
	}
}

// callHook runs a lifecycle hook, turning a panic into a *PanicError.
func callHook(f func() error) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = &PanicError{Value: r, Stack: debug.Stack()}
		}
	}()
	return f()
}

// BatchEventProcessor runs one [EventHandler] over a ring on one goroutine.
// It takes everything available at each wait as one batch, and releases
// the batch's slots to the producer (by storing its sequence) at the end
// of the batch and, handling event by event, every eighth of the ring
// within a long one, so that a producer waiting for room goes on while the
// processor works through a backlog.
//
// # Pacing
//
// A consumer that is faster than its producer would otherwise fall into
// lockstep with it: every wait finds one or two events, and every event
// pays the batch's fixed costs and moves the cursor's and the slot's cache
// lines between the two cores while the producer is writing them. So when
// a batch was small (under a quarter of the ring, at most 256 events) and
// more events are already waiting after it, the processor pauses
// briefly, without reading anything the producer writes, and looks again,
// until a batch of that size has formed or about a microsecond has passed;
// then it takes whatever is there. A consumer that finds nothing more
// after a batch (it is idle, or answering one event at a time, as in a
// request and reply) goes straight back to its wait strategy, so pacing
// adds no latency there.
type BatchEventProcessor[T any] struct {
	// sequence is read by producers and downstream consumers; it is padded
	// by Sequence itself.
	sequence Sequence
	ring     *RingBuffer[T]
	handler  EventHandler[T]
	batch    BatchHandler[T]   // handler's fast path, if it has one
	starts   BatchStartHandler // handler's batch-start hook, if any
	// releaseMask is one less than the release interval within a batch
	// (an eighth of the ring, a power of 2): sequence is stored after each
	// event whose sequence has all these bits set.
	releaseMask int64
	// pace is the batch that pacing waits to form (see above); 0 turns
	// pacing off (rings under 16 slots).
	pace int64
	// current is the sequence being handled, and currentEnd the end of the
	// slice a BatchHandler is handling, for panic recovery; handling is set
	// while the handler has the batch (a panic then is the handler's).
	// events and batches are the running counts behind stats. All are
	// written and read only on the processor's goroutine.
	current, currentEnd int64
	handling            bool
	events, batches     int64
	// spin keeps the pause loop's arithmetic from being optimised away.
	spin uint64
	// stats is what Stats reports: written by the processor's goroutine
	// every few batches and when Run returns, read by anyone.
	stats struct{ events, batches atomic.Int64 }
	processorCore[T]
}

// ProcessorStats counts what a [BatchEventProcessor] has handled since it
// was made: Events is the number of events, Batches the number of waits
// that returned events (each a batch, whatever the handler type), so
// Events/Batches is the average batch, or events per wake-up.
type ProcessorStats struct {
	Events, Batches int64
}

// Stats returns the processor's counts. While Run runs they may lag by a
// few dozen batches; once it has returned they are exact.
func (p *BatchEventProcessor[T]) Stats() ProcessorStats {
	return ProcessorStats{Events: p.stats.events.Load(), Batches: p.stats.batches.Load()}
}

var _ EventProcessor = (*BatchEventProcessor[int])(nil)

// NewBatchEventProcessor returns a processor that feeds h the events of
// ring that barrier lets through. Its sequence starts just before the
// ring's first sequence ([RingBuffer.FirstSequence]; -1 by default); add
// it to the ring's gating sequences ([RingBuffer.AddGatingSequences])
// before publishing, or the producer will not wait for it.
func NewBatchEventProcessor[T any](ring *RingBuffer[T], barrier *SequenceBarrier, h EventHandler[T]) *BatchEventProcessor[T] {
	p := &BatchEventProcessor[T]{
		ring:          ring,
		handler:       h,
		releaseMask:   max(int64(ring.BufferSize())/8, 1) - 1,
		processorCore: newProcessorCore[T](barrier, h),
	}
	if size := int64(ring.BufferSize()); size >= 16 {
		p.pace = min(size/4, maxPace)
	}
	p.sequence.Set(ring.first - 1)
	p.batch, _ = h.(BatchHandler[T])
	p.starts, _ = h.(BatchStartHandler)
	if r, ok := h.(SequenceReportingHandler); ok {
		r.SetSequenceCallback(&p.sequence)
	}
	return p
}

// Sequence is the last sequence this processor has finished with.
func (p *BatchEventProcessor[T]) Sequence() *Sequence { return &p.sequence }

// Run processes events until Halt. It returns nil after Halt,
// [ErrAlreadyRunning] if it is running elsewhere, and a [*HaltedError] when
// the exception handler halts it.
func (p *BatchEventProcessor[T]) Run() error {
	ok, err := p.begin()
	if !ok {
		return err
	}
	defer p.end()
	return p.processEvents()
}

// Pacing (see BatchEventProcessor): the largest batch waited for, and how
// many pauses of paceSpins rounds of arithmetic (about 60 ns each) a
// batch waits at most.
const (
	maxPace    = 256
	pacePauses = 16
	paceSpins  = 64
)

func (p *BatchEventProcessor[T]) processEvents() error {
	// Counted by the loop and flushed to p.stats now and then; a
	// restarted processor goes on from its last counts.
	p.events, p.batches = p.stats.events.Load(), p.stats.batches.Load()
	defer p.flushStats()
	for {
		// A handler's panic ends processBatches, which recovers it; the
		// next call goes on after the event (or slice) that panicked.
		if done, err := p.processBatches(); done {
			return err
		}
	}
}

// processBatches waits for batches and hands them to the handler until
// the processor halts (done, with Run's result) or a handler panics (not
// done: the panic went to the exception handler, which said go on). Its
// one deferred recover covers every batch it handles, so that no batch
// pays for setting one up.
func (p *BatchEventProcessor[T]) processBatches() (done bool, halt error) {
	defer func() {
		if !p.handling {
			return // not the handler's panic: let it go on up
		}
		r := recover()
		if r == nil {
			return // runtime.Goexit: nothing to report
		}
		p.handling = false
		seq := p.current
		if halt = p.fail(&PanicError{Value: r, Stack: debug.Stack()}, seq, p.ring.Get(seq)); halt != nil {
			p.sequence.Set(seq - 1)
			done = true
			return
		}
		end := seq
		if p.batch != nil {
			end = p.currentEnd // a slice fails as a whole, as on an error return
		}
		p.sequence.Set(end)
	}()
	next := p.sequence.Get() + 1
	for {
		avail, err := p.barrier.WaitFor(next)
		if err != nil {
			p.flushStats()
			stop, err := p.waitError(err, &p.sequence)
			if stop || err != nil {
				return true, err
			}
			continue
		}
		if avail < next {
			continue
		}
		first := next
		next, err = p.handleBatch(next, avail)
		p.events += next - first
		if err != nil {
			return true, err
		}
		if p.batches++; p.batches&63 == 0 {
			p.flushStats()
		}
		if next-first < p.pace {
			p.form(next)
		}
	}
}

// form waits, after a small batch, for the next one to grow (see
// BatchEventProcessor): if events are already waiting, it pauses and
// looks again until p.pace of them are there, for at most pacePauses
// pauses.
func (p *BatchEventProcessor[T]) form(next int64) {
	b := p.barrier
	if b.Dependent() < next {
		return // nothing more yet: idle, or one request at a time
	}
	want := next + p.pace - 1
	x := p.spin
	for range pacePauses {
		for range paceSpins { // a pause that touches nothing shared
			x = x*6364136223846793005 + 1442695040888963407
		}
		if b.Dependent() >= want {
			break
		}
	}
	p.spin = x
}

// flushStats publishes the loop's running counts.
func (p *BatchEventProcessor[T]) flushStats() {
	p.stats.events.Store(p.events)
	p.stats.batches.Store(p.batches)
}

// handleBatch hands next..avail to the handler and returns the next
// sequence to wait for. A panic stops the batch at the event that panicked
// (processBatches recovers it); the rest of the batch is handled after it.
func (p *BatchEventProcessor[T]) handleBatch(next, avail int64) (int64, error) {
	p.current, p.currentEnd, p.handling = next, next, true
	if p.starts != nil { // inside the recover, as LMAX's onBatchStart is inside its try
		p.starts.OnBatchStart(avail - next + 1)
	}
	if p.batch != nil {
		return p.handleSlices(next, avail)
	}
	ring, h, release := p.ring, p.handler, p.releaseMask
	for seq := next; seq <= avail; seq++ {
		p.current = seq
		event := ring.Get(seq)
		if err := h.OnEvent(event, seq, seq == avail); err != nil {
			if halt := p.fail(err, seq, event); halt != nil {
				p.handling = false
				p.sequence.Set(seq - 1)
				return seq, halt
			}
		}
		if seq&release == release && seq != avail {
			p.sequence.setRelease(seq) // a long batch: let the producer reuse what is done
		}
	}
	p.handling = false
	p.sequence.setRelease(avail)
	return avail + 1, nil
}

// handleSlices is handleBatch for a BatchHandler: one call per contiguous
// run of the ring.
func (p *BatchEventProcessor[T]) handleSlices(next, avail int64) (int64, error) {
	entries := p.ring.entries
	for lo := next; lo <= avail; {
		i := lo & p.ring.mask
		n := min(avail-lo+1, int64(len(entries))-i)
		p.current, p.currentEnd = lo, lo+n-1
		if err := p.batch.OnBatch(entries[i:i+n], lo, lo+n-1 == avail); err != nil {
			if halt := p.fail(err, lo, &entries[i]); halt != nil {
				p.handling = false
				p.sequence.Set(lo - 1)
				return lo, halt
			}
		}
		lo += n
	}
	p.handling = false
	p.sequence.setRelease(avail)
	return avail + 1, nil
}
