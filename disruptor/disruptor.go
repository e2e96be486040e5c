package disruptor

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"sync"
	"sync/atomic"
	"time"
)

// Disruptor wires a [RingBuffer] to a graph of consumers and runs them: the
// LMAX DSL. Declare the graph with [Disruptor.HandleEventsWith],
// [EventHandlerGroup.Then] and [Disruptor.After], call [Disruptor.Start],
// publish, and end with [Disruptor.Shutdown] (drain, then stop) or
// [Disruptor.Halt] (stop now).
//
// Declaring the graph is not safe for concurrent use and must end before
// Start; mistakes in it (a nil handler, an unknown handler in After) are
// kept and returned by Start. A handler added after Start is never run:
// the group returned says so ([EventHandlerGroup.Err], an error wrapping
// [ErrAlreadyStarted]), and so does [Disruptor.Err]. The publishing
// methods and Shutdown may be called from any goroutine, following the
// ring's producer type.
type Disruptor[T any] struct {
	ring      *RingBuffer[T]
	consumers []*consumerInfo[T]
	defaultEH ExceptionHandler[T]
	err       error // first mistake made declaring the graph

	state    atomic.Int32 // lifecycle: declaring, started, stopping
	wg       sync.WaitGroup
	mu       sync.Mutex
	failures []error // *HaltedError of processors that halted by themselves
	late     error   // the first handler added after Start
	failed   atomic.Bool

	inflight atomic.Int64  // publishing calls past the state check
	halting  atomic.Bool   // processors are being halted: stop draining
	exited   chan struct{} // closed once every processor goroutine has exited
}

const (
	declaring int32 = iota
	started
	stopping
)

// consumerInfo is one processor of the graph.
type consumerInfo[T any] struct {
	processor  EventProcessor
	handler    any // the user's handler, for After; nil for workers
	endOfChain bool
}

// New returns a Disruptor over a ring made from cfg, with events made by
// factory. It returns the joined [*ConfigError]s of cfg.
func New[T any](factory EventFactory[T], cfg Config) (*Disruptor[T], error) {
	err := cfg.Validate()
	if factory == nil {
		err = errors.Join(err, &ConfigError{Setting: "EventFactory", Value: nil, Reason: "must not be nil"})
	}
	if err != nil {
		return nil, err
	}
	ws := cfg.WaitStrategy
	if ws == nil {
		ws = NewBlockingWaitStrategy()
	}
	ring, err := NewRingBufferAt(factory, cfg.BufferSize, cfg.ProducerType, ws, cfg.FirstSequence)
	if err != nil {
		return nil, err
	}
	return &Disruptor[T]{ring: ring, defaultEH: FatalExceptionHandler[T]{Logger: cfg.Logger}, exited: make(chan struct{})}, nil
}

// RingBuffer returns the ring, for publishing with its full API.
func (d *Disruptor[T]) RingBuffer() *RingBuffer[T] { return d.ring }

// SetDefaultExceptionHandler sets the exception handler of the processors
// added after this call. The default is a [FatalExceptionHandler].
func (d *Disruptor[T]) SetDefaultExceptionHandler(eh ExceptionHandler[T]) {
	if eh != nil {
		d.defaultEH = eh
	}
}

// HandleEventsWith adds one [BatchEventProcessor] per handler, each
// following the producer directly. Every handler sees every event.
func (d *Disruptor[T]) HandleEventsWith(handlers ...EventHandler[T]) *EventHandlerGroup[T] {
	return d.createEventProcessors(nil, handlers)
}

// HandleEventsWithWorkerPool adds a [WorkerPool] following the producer:
// each event goes to exactly one of handlers.
func (d *Disruptor[T]) HandleEventsWithWorkerPool(handlers ...WorkHandler[T]) *EventHandlerGroup[T] {
	return d.createWorkerPool(nil, handlers)
}

// After returns the group of the processors of handlers, already added, so
// that the next stage can follow them: d.After(a, b).Then(c) makes c wait
// for both a and b.
func (d *Disruptor[T]) After(handlers ...EventHandler[T]) *EventHandlerGroup[T] {
	g := &EventHandlerGroup[T]{d: d}
	for _, h := range handlers {
		c := d.find(h)
		if c == nil {
			d.setErr(fmt.Errorf("disruptor: After: handler %T was not added to this disruptor", h))
			continue
		}
		g.consumers = append(g.consumers, c)
	}
	return g
}

func (d *Disruptor[T]) find(h any) *consumerInfo[T] {
	if h == nil || !reflect.TypeOf(h).Comparable() {
		return nil
	}
	for _, c := range d.consumers {
		if c.handler != nil && reflect.TypeOf(c.handler).Comparable() && c.handler == h {
			return c
		}
	}
	return nil
}

func (d *Disruptor[T]) setErr(err error) {
	if d.err == nil {
		d.err = err
	}
}

// checkDeclaring records, in g and d, an error when the graph is changed
// after Start.
func (d *Disruptor[T]) checkDeclaring(g *EventHandlerGroup[T]) bool {
	if d.state.Load() == declaring {
		return true
	}
	g.err = fmt.Errorf("%w: consumers must be added before Start; these are never run", ErrAlreadyStarted)
	d.mu.Lock()
	if d.late == nil {
		d.late = g.err
	}
	d.mu.Unlock()
	return false
}

func (d *Disruptor[T]) createEventProcessors(deps []*consumerInfo[T], handlers []EventHandler[T]) *EventHandlerGroup[T] {
	g := &EventHandlerGroup[T]{d: d}
	if !d.checkDeclaring(g) {
		return g
	}
	depSeqs := sequencesOf(deps)
	var seqs []*Sequence
	for _, h := range handlers {
		if h == nil {
			d.setErr(errors.New("disruptor: nil event handler"))
			continue
		}
		p := NewBatchEventProcessor(d.ring, d.ring.NewBarrier(depSeqs...), h)
		p.SetExceptionHandler(d.defaultEH)
		c := &consumerInfo[T]{processor: p, handler: h, endOfChain: true}
		d.consumers = append(d.consumers, c)
		g.consumers = append(g.consumers, c)
		seqs = append(seqs, p.Sequence())
	}
	d.chain(deps, seqs)
	return g
}

func (d *Disruptor[T]) createWorkerPool(deps []*consumerInfo[T], handlers []WorkHandler[T]) *EventHandlerGroup[T] {
	g := &EventHandlerGroup[T]{d: d}
	if !d.checkDeclaring(g) {
		return g
	}
	if len(handlers) == 0 {
		d.setErr(errors.New("disruptor: a worker pool needs at least one handler"))
		return g
	}
	pool := NewWorkerPool(d.ring, d.ring.NewBarrier(sequencesOf(deps)...), handlers...)
	pool.SetExceptionHandler(d.defaultEH)
	for _, w := range pool.Workers() {
		c := &consumerInfo[T]{processor: w, endOfChain: true}
		d.consumers = append(d.consumers, c)
		g.consumers = append(g.consumers, c)
	}
	// The work sequence gates too: it is ahead of every worker, but the
	// producer must not lap a claim.
	d.chain(deps, pool.Sequences())
	return g
}

// chain makes the new sequences gate the producer in place of the ones they
// follow: only the ends of the graph need to hold the producer back.
func (d *Disruptor[T]) chain(deps []*consumerInfo[T], seqs []*Sequence) {
	d.ring.AddGatingSequences(seqs...)
	for _, c := range deps {
		c.endOfChain = false
		d.ring.RemoveGatingSequence(c.processor.Sequence())
	}
}

func sequencesOf[T any](cs []*consumerInfo[T]) []*Sequence {
	seqs := make([]*Sequence, len(cs))
	for i, c := range cs {
		seqs[i] = c.processor.Sequence()
	}
	return seqs
}

// Start starts one goroutine per processor. It returns the first mistake
// made declaring the graph (nothing is started then), [ErrAlreadyStarted]
// on a second call, or [ErrShutdown] after Shutdown or Halt.
func (d *Disruptor[T]) Start() error {
	if d.err != nil {
		return d.err
	}
	if !d.state.CompareAndSwap(declaring, started) {
		if d.state.Load() == started {
			return ErrAlreadyStarted
		}
		return ErrShutdown
	}
	for _, c := range d.consumers {
		d.wg.Add(1)
		go d.run(c.processor)
	}
	go func() {
		d.wg.Wait()
		d.ring.core.release() // no consumer is left to free a slot, or read one
		close(d.exited)
	}()
	return nil
}

func (d *Disruptor[T]) run(p EventProcessor) {
	defer d.wg.Done()
	if err := p.Run(); err != nil {
		d.mu.Lock()
		d.failures = append(d.failures, err)
		d.mu.Unlock()
		d.failed.Store(true)
		// The ring cannot drain past this processor: producers waiting
		// for room give up.
		d.ring.core.stop(fmt.Errorf("%w: %w", ErrHalted, err))
	}
}

// stopUnstarted stops a Disruptor that was never started: there is
// nothing to drain and no processor to halt.
func (d *Disruptor[T]) stopUnstarted() {
	d.halting.Store(true)
	d.ring.core.stop(ErrShutdown)
	d.ring.core.release()
	close(d.exited)
}

// Shutdown stops accepting events through the Disruptor's publishing
// methods, waits until every event published so far has been handled by
// every consumer, then halts the processors and waits for their goroutines
// to exit. It returns nil when all is drained and stopped.
//
// If a processor halted by itself (its exception handler said so), the
// events it holds back can never drain: Shutdown stops waiting, halts the
// others and returns the [*HaltedError]s. If ctx ends first, Shutdown
// halts the processors without draining and returns ctx's error.
func (d *Disruptor[T]) Shutdown(ctx context.Context) error {
	if d.state.Swap(stopping) == declaring {
		d.stopUnstarted()
		return d.failure()
	}
	err := d.drain(ctx)
	d.haltAll()
	select {
	case <-d.exited:
	case <-ctx.Done():
		if err == nil {
			err = fmt.Errorf("disruptor: shutdown before the processors stopped: %w", ctx.Err())
		}
	}
	return errors.Join(err, d.failure())
}

// drain waits until no consumer is behind the cursor, a processor halted
// by itself, or ctx ends.
func (d *Disruptor[T]) drain(ctx context.Context) error {
	wait := time.Microsecond
	for (d.inflight.Load() > 0 || d.hasBacklog()) && !d.failed.Load() && !d.halting.Load() {
		select {
		case <-ctx.Done():
			return fmt.Errorf("disruptor: shutdown before draining: %w", ctx.Err())
		case <-time.After(wait):
		}
		wait = min(2*wait, time.Millisecond)
	}
	return nil
}

func (d *Disruptor[T]) hasBacklog() bool {
	cursor := d.ring.Cursor()
	for _, c := range d.consumers {
		if c.endOfChain && c.processor.Sequence().Get() < cursor {
			return true
		}
	}
	return false
}

// Halt stops every processor without draining, and waits for their
// goroutines to exit. Like LMAX's, a processor stops at the next clean
// break: once it has handled the batch in hand (the events its last wait
// returned; with a [BatchHandler], the slices of that batch). Publishing
// calls waiting for room return [ErrShutdown].
func (d *Disruptor[T]) Halt() {
	if d.state.Swap(stopping) == declaring {
		d.stopUnstarted()
		return
	}
	d.haltAll()
	<-d.exited
}

func (d *Disruptor[T]) haltAll() {
	d.halting.Store(true) // ends every other Shutdown's drain: nothing more will be handled
	d.ring.core.stop(ErrShutdown)
	for _, c := range d.consumers {
		c.processor.Halt()
	}
}

func (d *Disruptor[T]) failure() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	return errors.Join(d.failures...)
}

// Err returns the [*HaltedError]s of processors that have halted by
// themselves so far, and the error of the first handler added after
// Start (wrapping [ErrAlreadyStarted]), or nil.
func (d *Disruptor[T]) Err() error {
	d.mu.Lock()
	late := d.late
	d.mu.Unlock()
	return errors.Join(late, d.failure())
}

// enter admits a publishing call unless stopping; Shutdown's drain waits
// for every admitted call to call exit.
func (d *Disruptor[T]) enter() error {
	d.inflight.Add(1)
	if d.state.Load() == stopping {
		d.inflight.Add(-1)
		return ErrShutdown
	}
	return nil
}

func (d *Disruptor[T]) exit() { d.inflight.Add(-1) }

// PublishEvent publishes one event filled by translate, waiting while the
// ring is full. It returns [ErrShutdown] after Shutdown or Halt, also when
// it was waiting for room then, and an error wrapping [ErrHalted] (and the
// processor's [*HaltedError]) when it was waiting for room that a
// processor halted by itself will never free. Nothing is published when
// it returns an error.
func (d *Disruptor[T]) PublishEvent(translate EventTranslator[T]) error {
	return d.PublishEventCtx(context.Background(), translate)
}

// PublishEventCtx is PublishEvent that also stops waiting for room when
// ctx ends, and then returns ctx's error (see [RingBuffer.NextCtx]).
func (d *Disruptor[T]) PublishEventCtx(ctx context.Context, translate EventTranslator[T]) error {
	if err := d.enter(); err != nil {
		return err
	}
	defer d.exit()
	return d.ring.PublishEventCtx(ctx, translate)
}

// TryPublishEvent publishes one event, or returns [ErrInsufficientCapacity]
// when the ring is full, or [ErrShutdown].
func (d *Disruptor[T]) TryPublishEvent(translate EventTranslator[T]) error {
	if err := d.enter(); err != nil {
		return err
	}
	defer d.exit()
	return d.ring.TryPublishEvent(translate)
}

// PublishEvents publishes a batch in one claim, waiting while the ring is
// full. It returns [ErrInvalidClaim] for a batch larger than the ring, and
// the errors of [Disruptor.PublishEvent]; it publishes the whole batch or
// nothing.
func (d *Disruptor[T]) PublishEvents(translators ...EventTranslator[T]) error {
	return d.PublishEventsCtx(context.Background(), translators...)
}

// PublishEventsCtx is PublishEvents that also stops waiting for room when
// ctx ends, and then returns ctx's error.
func (d *Disruptor[T]) PublishEventsCtx(ctx context.Context, translators ...EventTranslator[T]) error {
	if err := d.enter(); err != nil {
		return err
	}
	defer d.exit()
	if len(translators) > d.ring.BufferSize() {
		return fmt.Errorf("%w: batch of %d into a ring of %d", ErrInvalidClaim, len(translators), d.ring.BufferSize())
	}
	return d.ring.PublishEventsCtx(ctx, translators...)
}

// TryPublishEvents publishes a whole batch or nothing, returning
// [ErrInsufficientCapacity] when it does not fit now, or [ErrShutdown].
func (d *Disruptor[T]) TryPublishEvents(translators ...EventTranslator[T]) error {
	if err := d.enter(); err != nil {
		return err
	}
	defer d.exit()
	return d.ring.TryPublishEvents(translators...)
}

// EventHandlerGroup is a set of processors of a Disruptor's graph, to be
// followed by the next stage.
type EventHandlerGroup[T any] struct {
	d         *Disruptor[T]
	consumers []*consumerInfo[T]
	err       error // why this group's handlers will never run
}

// Err returns nil, or why the group's handlers will never run: they were
// added after [Disruptor.Start] (an error wrapping [ErrAlreadyStarted]).
// Groups made from this one with Then or And carry the error on.
func (g *EventHandlerGroup[T]) Err() error { return g.err }

// Then adds one processor per handler, each following every processor of
// the group: a pipeline stage.
func (g *EventHandlerGroup[T]) Then(handlers ...EventHandler[T]) *EventHandlerGroup[T] {
	return g.carry(g.d.createEventProcessors(g.consumers, handlers))
}

// carry passes g's error on to next.
func (g *EventHandlerGroup[T]) carry(next *EventHandlerGroup[T]) *EventHandlerGroup[T] {
	if next.err == nil {
		next.err = g.err
	}
	return next
}

// HandleEventsWith is Then, under LMAX's other name.
func (g *EventHandlerGroup[T]) HandleEventsWith(handlers ...EventHandler[T]) *EventHandlerGroup[T] {
	return g.Then(handlers...)
}

// ThenHandleEventsWithWorkerPool adds a worker pool following the group.
func (g *EventHandlerGroup[T]) ThenHandleEventsWithWorkerPool(handlers ...WorkHandler[T]) *EventHandlerGroup[T] {
	return g.carry(g.d.createWorkerPool(g.consumers, handlers))
}

// And returns a group of this group's processors and other's.
func (g *EventHandlerGroup[T]) And(other *EventHandlerGroup[T]) *EventHandlerGroup[T] {
	cs := append(append([]*consumerInfo[T](nil), g.consumers...), other.consumers...)
	return g.carry(&EventHandlerGroup[T]{d: g.d, consumers: cs, err: other.err})
}

// Sequences returns the sequences of the group's processors, to build a
// [SequenceBarrier] or an [EventPoller] that follows them.
func (g *EventHandlerGroup[T]) Sequences() []*Sequence { return sequencesOf(g.consumers) }

// Processors returns the group's processors.
func (g *EventHandlerGroup[T]) Processors() []EventProcessor {
	ps := make([]EventProcessor, len(g.consumers))
	for i, c := range g.consumers {
		ps[i] = c.processor
	}
	return ps
}

// PinCPUs pins the group's processors to cpus, round-robin: processor i
// runs on its own OS thread bound to cpus[i%len(cpus)]. See
// [Topology] to choose them.
func (g *EventHandlerGroup[T]) PinCPUs(cpus ...int) *EventHandlerGroup[T] {
	if len(cpus) == 0 {
		return g
	}
	for i, c := range g.consumers {
		if p, ok := c.processor.(interface{ SetCPUAffinity(...int) }); ok {
			p.SetCPUAffinity(cpus[i%len(cpus)])
		}
	}
	return g
}
