package disruptor

import (
	"math"
	"runtime/debug"
)

// WorkerPool is a stage of N workers sharing one stream of events: each
// event is handled by exactly one worker, whichever claims it first (LMAX's
// WorkerPool). Use it for work that is independent per event and too slow
// for one goroutine; order between workers is not kept.
//
// The workers claim events through a shared work sequence with a
// compare-and-swap, so a pool costs more per event than a
// [BatchEventProcessor] and pays off only when handling dominates.
type WorkerPool[T any] struct {
	// workSequence is the last sequence claimed by any worker.
	workSequence Sequence
	workers      []*WorkProcessor[T]
}

// NewWorkerPool returns a pool with one worker per handler, consuming what
// barrier lets through. The work sequence and the workers' sequences start
// just before the ring's first sequence. Add [WorkerPool.Sequences] to the
// ring's gating sequences before publishing.
func NewWorkerPool[T any](ring *RingBuffer[T], barrier *SequenceBarrier, handlers ...WorkHandler[T]) *WorkerPool[T] {
	w := &WorkerPool[T]{}
	w.workSequence.Set(ring.first - 1)
	for _, h := range handlers {
		// Each worker gets its own barrier so halting one alerts only it.
		b := ring.NewBarrier(barrier.deps...)
		w.workers = append(w.workers, newWorkProcessor(ring, b, h, &w.workSequence))
	}
	return w
}

// Workers returns the pool's processors, one per handler, to run on
// goroutines of their own.
func (w *WorkerPool[T]) Workers() []*WorkProcessor[T] { return w.workers }

// Sequences returns the sequences that must gate producers: every
// worker's, and the work sequence.
func (w *WorkerPool[T]) Sequences() []*Sequence {
	seqs := make([]*Sequence, 0, len(w.workers)+1)
	for _, p := range w.workers {
		seqs = append(seqs, p.Sequence())
	}
	return append(seqs, &w.workSequence)
}

// SetExceptionHandler sets every worker's exception handler.
func (w *WorkerPool[T]) SetExceptionHandler(eh ExceptionHandler[T]) {
	for _, p := range w.workers {
		p.SetExceptionHandler(eh)
	}
}

// Halt halts every worker.
func (w *WorkerPool[T]) Halt() {
	for _, p := range w.workers {
		p.Halt()
	}
}

// WorkProcessor is one worker of a [WorkerPool]. A worker halted and run
// again resumes with the event it had claimed and not yet handled, so a
// pool can be halted and restarted without losing events.
type WorkProcessor[T any] struct {
	// sequence is one less than the sequence this worker has claimed:
	// everything before its claim may be reused, as far as it is concerned.
	sequence     Sequence
	ring         *RingBuffer[T]
	handler      WorkHandler[T]
	workSequence *Sequence
	// claimed is the sequence this worker claimed from the work sequence
	// and has not handled yet, when hasClaim is set. It outlives Run, so
	// that the next Run handles it: no other worker will. Only the
	// goroutine running Run touches them.
	claimed  int64
	hasClaim bool
	processorCore[T]
}

var _ EventProcessor = (*WorkProcessor[int])(nil)

func newWorkProcessor[T any](ring *RingBuffer[T], barrier *SequenceBarrier, h WorkHandler[T], work *Sequence) *WorkProcessor[T] {
	p := &WorkProcessor[T]{
		ring:          ring,
		handler:       h,
		workSequence:  work,
		processorCore: newProcessorCore[T](barrier, h),
	}
	p.sequence.Set(ring.first - 1)
	return p
}

// Sequence is one less than the sequence this worker has claimed.
func (p *WorkProcessor[T]) Sequence() *Sequence { return &p.sequence }

// Run claims and handles events until Halt. It returns nil after Halt and a
// [*HaltedError] when the exception handler halts it.
func (p *WorkProcessor[T]) Run() error {
	ok, err := p.begin()
	if !ok {
		return err
	}
	defer p.end()

	cachedAvail := int64(math.MinInt64)
	for {
		if !p.hasClaim {
			for { // claim the next event nobody has
				next := p.workSequence.Get() + 1
				// A release store is enough: the compare-and-swap after
				// it is a full fence, so the producer sees this worker
				// hold next-1 before any other sees the claim.
				p.sequence.setRelease(next - 1)
				if p.workSequence.CompareAndSet(next-1, next) {
					p.claimed, p.hasClaim = next, true
					break
				}
			}
		}
		next := p.claimed
		if cachedAvail >= next {
			p.hasClaim = false // handled, or given to the exception handler
			if err := p.handle(next); err != nil {
				return err
			}
			continue
		}
		avail, err := p.barrier.WaitFor(next)
		if err != nil {
			stop, err := p.waitError(err, &p.sequence)
			if stop || err != nil {
				return err
			}
			continue
		}
		cachedAvail = avail
	}
}

// handle runs the handler on one event, routing an error or a panic to the
// exception handler.
func (p *WorkProcessor[T]) handle(seq int64) (halt error) {
	event := p.ring.Get(seq)
	defer func() {
		if r := recover(); r != nil {
			halt = p.fail(&PanicError{Value: r, Stack: debug.Stack()}, seq, event)
		}
	}()
	if err := p.handler.OnEvent(event, seq); err != nil {
		return p.fail(err, seq, event)
	}
	return nil
}
