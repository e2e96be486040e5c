// Package disruptor is the LMAX Disruptor in Go: a bounded ring of
// preallocated events that producers and consumers share without locks,
// coordinated only by sequence numbers.
//
// # The model
//
// Producers claim slots of a [RingBuffer] from a [Sequencer], write events
// into them in place, and publish them by moving a cursor. Consumers each
// keep a [Sequence] (the last event they are done with) and wait on a
// [SequenceBarrier] for the cursor, or for the consumers they depend on, to
// pass it. A producer may reuse a slot only when every gating sequence has
// passed it, so nothing is overwritten before it is handled and nothing is
// allocated per event.
//
//	            claim (Next)          publish (cursor)
//	producer ──────────────▶ ┌───┬───┬───┬───┬───┬───┬───┬───┐
//	                         │ 0 │ 1 │ 2 │ 3 │ 4 │ 5 │ 6 │ 7 │  RingBuffer[T]
//	                         └───┴───┴───┴───┴───┴───┴───┴───┘
//	                               ▲           ▲
//	             consumer A's Sequence     consumer B's Sequence
//	                 (gating: the producer waits for the slowest)
//
// A consumer that waits for another is a graph edge: the DSL builds
// pipelines (A → B → C) and diamonds (A, B → C) by giving C a barrier on
// A's and B's sequences.
//
// # The pieces
//
//   - [Sequence]: a padded int64 on its own cache lines; -1 at first.
//   - [RingBuffer]: the events, indexed by sequence & mask; made by an
//     [EventFactory].
//   - [SingleProducerSequencer] and [MultiProducerSequencer]: claim
//     ([RingBuffer.Next], [RingBuffer.NextN], [RingBuffer.TryNext], and
//     [RingBuffer.NextCtx], [RingBuffer.NextNCtx], which give up when a
//     context ends or the Disruptor stops) and publish
//     ([RingBuffer.Publish], [RingBuffer.PublishRange]); the
//     multi-producer one claims with one atomic add and marks each published
//     slot in an availability buffer.
//   - [EventTranslator] and [PublishEvent1], [PublishEvent2],
//     [PublishEvent3], [PublishEvents1]: claim, fill and publish in one call;
//     [RingBuffer.PublishEventCtx] and [Disruptor.PublishEventCtx] with a
//     context.
//   - [SequenceBarrier]: [SequenceBarrier.WaitFor] returns the highest
//     sequence available, so consumers handle whole batches; Alert stops it.
//   - [WaitStrategy]: [BusySpinWaitStrategy], [YieldingWaitStrategy],
//     [SleepingWaitStrategy], [BlockingWaitStrategy],
//     [LiteBlockingWaitStrategy], [TimeoutBlockingWaitStrategy],
//     [PhasedBackoffWaitStrategy]; [ParseWaitStrategy] maps config names.
//   - [EventHandler] and its optional interfaces ([BatchHandler],
//     [StartHandler], [ShutdownHandler], [BatchStartHandler],
//     [TimeoutHandler], [SequenceReportingHandler]); a
//     [BatchEventProcessor] runs one on its own goroutine and counts its
//     events and batches ([BatchEventProcessor.Stats]).
//   - [WorkerPool]: N [WorkHandler]s on one stage, each event to one.
//   - [EventPoller]: pull-based consumption for a caller's own loop.
//   - [ExceptionHandler]: what happens when a handler returns an error or
//     panics ([FatalExceptionHandler] halts, [IgnoreExceptionHandler] goes
//     on).
//   - [Disruptor], [Builder], [Config]: the DSL that wires it all and runs
//     it; [Disruptor.Shutdown] drains before it stops.
//   - [Config.FirstSequence], [Builder.FirstSequence] and [NewRingBufferAt]:
//     a ring whose first event is published at a given sequence rather
//     than 0, as if everything before it had been published and handled
//     (a ring restored from a snapshot resumes its numbering this way).
//   - [Topology] and [BatchEventProcessor.SetCPUAffinity]: pin a hot
//     consumer to a core.
//
// # Memory model
//
// Every sequence is read with sync/atomic (an acquire) and written with
// release semantics: sync/atomic's sequentially consistent stores, or, on
// the hot paths on amd64 outside the race detector, a plain store, which
// x86 never reorders with the loads and stores before it. A producer's
// writes to an event happen before its Publish; a consumer's barrier
// observes the publish before it reads the event; the consumer's writes
// happen before it moves its sequence, which the next stage (or the
// producer reusing the slot) observes. Where a store must also be ordered
// before a later load (a publish, then the look at whether a consumer is
// parked), the producer uses the full fence, or, on Linux, the parking
// consumer runs membarrier(2) for it. Events are plain values: no field
// of T needs to be atomic.
//
// # Errors
//
// Claims that must not wait return [ErrInsufficientCapacity]; barriers
// return [ErrAlerted] when halted and [ErrTimeout] from a timeout strategy;
// a Disruptor returns [ErrShutdown] once stopping, also to the claims that
// were waiting for room then, and an error wrapping [ErrHalted] to the
// claims waiting for room that a processor halted by itself will never
// free. Bad settings are [*ConfigError]s, all of them at once. Handler
// failures reach the [ExceptionHandler] as the handler's error or a
// [*PanicError]; a processor it halts is reported as a [*HaltedError].
//
// # Stopping
//
// [Disruptor.Shutdown] drains, then halts; [Disruptor.Halt] halts at once.
// A processor halts at the next clean break, as LMAX's does: once the
// batch in hand is handled. Producers blocked on a full ring are released
// when the Disruptor halts its processors or one halts by itself: the
// Disruptor's publishing methods and the context-taking claims return an
// error and publish nothing, and [RingBuffer.Next], which cannot return an
// error, returns its claim once every processor has exited (nothing will
// read it).
//
// # Performance
//
// Publishing and consuming allocate nothing. A single producer claims with
// plain arithmetic and caches the slowest consumer's position, rereading it
// only when a claim would pass it; [RingBuffer.Next] and
// [RingBuffer.Publish] inline that fast path into the producer's loop, so a
// claim and publish with spinning consumers costs one atomic store.
// Consumers release their slots once per batch (and every eighth of the
// ring within a long batch, so a producer waiting for room is not held
// up by a backlog). Handlers that implement [BatchHandler] receive each
// batch as a slice of the ring, which removes the per-event call. A
// consumer that keeps up with its producer event by event paces itself
// (see [BatchEventProcessor]): it lets a batch form instead of taking one
// or two events at a time in lockstep with the producer, whose cache
// lines would then cross between the cores on every event. The blocking
// strategies take their lock on a publish only when a consumer is parked.
// With many producers, a consumer that reaches a slot claimed but not yet
// published spins briefly, then yields the processor to the producer that
// holds it; a blocking one parks until it is published.
//
// disruptor/*_bench_test.go measures all of this against Go channels and
// other queues; scripts/bench.sh runs it and writes docs/benchmarks.md.
package disruptor
