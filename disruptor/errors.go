package disruptor

import (
	"errors"
	"fmt"
	"strings"
)

// Sentinel errors. Match them with [errors.Is]; the calls that return each
// one say so in their documentation.
var (
	// ErrInsufficientCapacity is returned by the Try variants of claiming
	// and publishing ([RingBuffer.TryNext], [RingBuffer.TryPublishEvent],
	// ...) when the ring has no room for the claim right now. Nothing was
	// claimed; the caller may retry.
	ErrInsufficientCapacity = errors.New("disruptor: insufficient capacity")

	// ErrTimeout is returned by [SequenceBarrier.WaitFor] when a
	// [TimeoutBlockingWaitStrategy] gave up waiting. Event processors turn it
	// into a call of the handler's [TimeoutHandler.OnTimeout].
	ErrTimeout = errors.New("disruptor: timeout waiting for sequence")

	// ErrAlerted is returned by [SequenceBarrier.WaitFor] after
	// [SequenceBarrier.Alert]: the consumer is being halted.
	ErrAlerted = errors.New("disruptor: sequence barrier alerted")

	// ErrShutdown is returned by the [Disruptor]'s publishing methods and by
	// [Disruptor.Start] once [Disruptor.Shutdown] or [Disruptor.Halt] has
	// been called, and by the context-taking claims of its ring
	// ([RingBuffer.NextCtx], [RingBuffer.PublishEventCtx], ...) that were
	// waiting for room when the Disruptor halted its processors.
	ErrShutdown = errors.New("disruptor: shut down")

	// ErrHalted is wrapped, with the processor's [*HaltedError], in the
	// error of a publishing method of the [Disruptor] or a
	// context-taking claim of its ring that was waiting for room when a
	// processor halted by itself (its [ExceptionHandler] said so): the
	// ring can no longer drain, so the claim gives up. Nothing was
	// published.
	ErrHalted = errors.New("disruptor: a consumer halted")

	// ErrAlreadyStarted is returned by [Disruptor.Start] when called twice,
	// and recorded when handlers are added after the start.
	ErrAlreadyStarted = errors.New("disruptor: already started")
)

// ConfigError reports one invalid setting. Validation collects every
// ConfigError it finds and joins them with [errors.Join], so use [errors.As]
// to find the first, or unwrap the join to list them all.
type ConfigError struct {
	Setting string // the setting's name, e.g. "BufferSize"
	Value   any    // the offending value
	Reason  string // what was expected
}

func (e *ConfigError) Error() string {
	return fmt.Sprintf("disruptor: invalid %s %v: %s", e.Setting, e.Value, e.Reason)
}

// PanicError carries a panic recovered from an event handler to the
// [ExceptionHandler].
type PanicError struct {
	Value any    // what was passed to panic
	Stack []byte // the handler goroutine's stack at the panic
}

func (e *PanicError) Error() string {
	return fmt.Sprintf("disruptor: handler panicked: %v", e.Value)
}

// Unwrap returns the panic value when it is an error.
func (e *PanicError) Unwrap() error {
	err, _ := e.Value.(error)
	return err
}

// HaltedError reports that an event processor stopped because its
// [ExceptionHandler] asked it to. [Disruptor.Shutdown] returns it, joined
// with any others, instead of waiting for events that will never be
// handled.
type HaltedError struct {
	Processor string // the processor's name
	Sequence  int64  // the sequence being handled when it halted
	Err       error  // what the exception handler returned
}

func (e *HaltedError) Error() string {
	return fmt.Sprintf("disruptor: processor %s halted at sequence %d: %v", e.Processor, e.Sequence, e.Err)
}

func (e *HaltedError) Unwrap() error { return e.Err }

// configErrors collects ConfigErrors.
type configErrors []error

func (c *configErrors) add(setting string, value any, reason string, args ...any) {
	*c = append(*c, &ConfigError{Setting: setting, Value: value, Reason: fmt.Sprintf(reason, args...)})
}

func (c configErrors) err() error { return errors.Join(c...) }

// normalizeName folds a configuration name: "Busy-Spin" and "busy_spin" are
// the same.
func normalizeName(s string) string {
	return strings.ReplaceAll(strings.ToLower(strings.TrimSpace(s)), "-", "_")
}
