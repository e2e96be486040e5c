package disruptor

import (
	"log/slog"
)

// EventHandler handles the events of a ring, in sequence order, on the
// goroutine of the [BatchEventProcessor] that owns it: calls are never
// concurrent. endOfBatch is true for the last event the processor had
// available, a good moment to flush. The event may be read and updated in
// place (later stages see the update) but must not be kept after return.
//
// A non-nil error goes to the processor's [ExceptionHandler].
//
// A handler may implement any of [BatchHandler], [StartHandler],
// [ShutdownHandler], [BatchStartHandler], [TimeoutHandler] and
// [SequenceReportingHandler] as well.
type EventHandler[T any] interface {
	OnEvent(event *T, sequence int64, endOfBatch bool) error
}

// EventHandlerFunc adapts a function to [EventHandler]. Func values cannot
// be compared, so a handler given as an EventHandlerFunc cannot be named in
// [Disruptor.After]; use the returned [EventHandlerGroup] instead.
type EventHandlerFunc[T any] func(event *T, sequence int64, endOfBatch bool) error

// OnEvent calls f.
func (f EventHandlerFunc[T]) OnEvent(event *T, sequence int64, endOfBatch bool) error {
	return f(event, sequence, endOfBatch)
}

// BatchHandler is an optional fast path for an [EventHandler]: when the
// handler implements it, the processor calls OnBatch once per contiguous run
// of available events instead of OnEvent once per event. events is a slice
// of the ring itself (no copy), holding sequences first, first+1, ...; a
// batch that wraps around the end of the ring arrives as two calls. The
// slice must not be kept after return. An error is reported to the
// [ExceptionHandler] as the error of sequence first.
type BatchHandler[T any] interface {
	OnBatch(events []T, first int64, endOfBatch bool) error
}

// StartHandler is called once on the processor's goroutine before the first
// event.
type StartHandler interface{ OnStart() error }

// ShutdownHandler is called once on the processor's goroutine after the
// last event, when the processor halts.
type ShutdownHandler interface{ OnShutdown() error }

// BatchStartHandler is called before each batch with the number of events
// in it.
type BatchStartHandler interface{ OnBatchStart(batchSize int64) }

// TimeoutHandler is called when the wait strategy times out
// ([TimeoutBlockingWaitStrategy]), with the last sequence processed.
type TimeoutHandler interface{ OnTimeout(sequence int64) error }

// SequenceReportingHandler receives the processor's sequence before the
// processor starts. A handler that finishes with events early (say, after
// handing them to a batch writer) may Set it to release their slots to the
// producer before its batch ends.
type SequenceReportingHandler interface{ SetSequenceCallback(seq *Sequence) }

// WorkHandler handles the events given to one worker of a [WorkerPool]:
// each event goes to exactly one of the pool's handlers. Calls to one
// handler are never concurrent; different handlers run concurrently.
type WorkHandler[T any] interface {
	OnEvent(event *T, sequence int64) error
}

// WorkHandlerFunc adapts a function to [WorkHandler].
type WorkHandlerFunc[T any] func(event *T, sequence int64) error

// OnEvent calls f.
func (f WorkHandlerFunc[T]) OnEvent(event *T, sequence int64) error { return f(event, sequence) }

// ExceptionHandler decides what a processor does when a handler fails: an
// error returned from it, or a panic (as a [*PanicError]). It is called on
// the failing processor's goroutine.
//
// HandleEventException returns nil to go on with the next event (the
// failed one counts as processed) or an error to halt the processor; that
// error, wrapped in a [*HaltedError], is then returned by
// [BatchEventProcessor.Run] and [Disruptor.Shutdown].
type ExceptionHandler[T any] interface {
	HandleEventException(err error, sequence int64, event *T) error
	HandleOnStartException(err error)
	HandleOnShutdownException(err error)
}

// FatalExceptionHandler logs the failure at error level (when Logger is
// set) and halts the processor. It is the default, as in LMAX.
type FatalExceptionHandler[T any] struct{ Logger *slog.Logger }

// HandleEventException logs err and returns it, halting the processor.
func (h FatalExceptionHandler[T]) HandleEventException(err error, sequence int64, event *T) error {
	if h.Logger != nil {
		h.Logger.Error("disruptor: event handler failed; halting", "sequence", sequence, "err", err)
	}
	return err
}

// HandleOnStartException logs err.
func (h FatalExceptionHandler[T]) HandleOnStartException(err error) {
	if h.Logger != nil {
		h.Logger.Error("disruptor: handler start failed", "err", err)
	}
}

// HandleOnShutdownException logs err.
func (h FatalExceptionHandler[T]) HandleOnShutdownException(err error) {
	if h.Logger != nil {
		h.Logger.Error("disruptor: handler shutdown failed", "err", err)
	}
}

// IgnoreExceptionHandler logs the failure at warn level (when Logger is set)
// and carries on with the next event.
type IgnoreExceptionHandler[T any] struct{ Logger *slog.Logger }

// HandleEventException logs err and returns nil.
func (h IgnoreExceptionHandler[T]) HandleEventException(err error, sequence int64, event *T) error {
	if h.Logger != nil {
		h.Logger.Warn("disruptor: event handler failed; skipping event", "sequence", sequence, "err", err)
	}
	return nil
}

// HandleOnStartException logs err.
func (h IgnoreExceptionHandler[T]) HandleOnStartException(err error) {
	if h.Logger != nil {
		h.Logger.Warn("disruptor: handler start failed", "err", err)
	}
}

// HandleOnShutdownException logs err.
func (h IgnoreExceptionHandler[T]) HandleOnShutdownException(err error) {
	if h.Logger != nil {
		h.Logger.Warn("disruptor: handler shutdown failed", "err", err)
	}
}

// ExceptionHandlerFunc adapts a function to [ExceptionHandler]. Start and
// shutdown failures are passed to it with sequence -1 and a nil event.
type ExceptionHandlerFunc[T any] func(err error, sequence int64, event *T) error

// HandleEventException calls f.
func (f ExceptionHandlerFunc[T]) HandleEventException(err error, sequence int64, event *T) error {
	return f(err, sequence, event)
}

// HandleOnStartException calls f with sequence -1.
func (f ExceptionHandlerFunc[T]) HandleOnStartException(err error) {
	_ = f(err, InitialSequenceValue, nil)
}

// HandleOnShutdownException calls f with sequence -1.
func (f ExceptionHandlerFunc[T]) HandleOnShutdownException(err error) {
	_ = f(err, InitialSequenceValue, nil)
}

var (
	_ ExceptionHandler[int] = FatalExceptionHandler[int]{}
	_ ExceptionHandler[int] = IgnoreExceptionHandler[int]{}
	_ ExceptionHandler[int] = ExceptionHandlerFunc[int](nil)
)
