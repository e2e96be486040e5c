package disruptor

import (
	"log/slog"
	"time"
)

// Builder assembles a [Disruptor] step by step; each step returns the
// builder, and Build validates the whole and returns every problem at once:
//
//	d, err := disruptor.NewBuilder[Event](newEvent).
//		BufferSize(1024).
//		SingleProducer().
//		BlockingWaitStrategy().
//		Build()
type Builder[T any] struct {
	factory EventFactory[T]
	cfg     Config
	eh      ExceptionHandler[T]
	errs    configErrors
}

// NewBuilder starts from [DefaultConfig] with factory making the events.
func NewBuilder[T any](factory EventFactory[T]) *Builder[T] {
	return &Builder[T]{factory: factory, cfg: DefaultConfig()}
}

// BufferSize sets the number of slots (a power of 2).
func (b *Builder[T]) BufferSize(n int) *Builder[T] { b.cfg.BufferSize = n; return b }

// SingleProducer declares that one goroutine at a time publishes.
func (b *Builder[T]) SingleProducer() *Builder[T] { b.cfg.ProducerType = SingleProducer; return b }

// MultiProducer declares that many goroutines publish concurrently.
func (b *Builder[T]) MultiProducer() *Builder[T] { b.cfg.ProducerType = MultiProducer; return b }

// ProducerType sets the producer type.
func (b *Builder[T]) ProducerType(p ProducerType) *Builder[T] { b.cfg.ProducerType = p; return b }

// WaitStrategy sets the consumers' wait strategy.
func (b *Builder[T]) WaitStrategy(ws WaitStrategy) *Builder[T] { b.cfg.WaitStrategy = ws; return b }

// WaitStrategyName sets the wait strategy by its config name (see
// [ParseWaitStrategy]); a bad name is reported by Build.
func (b *Builder[T]) WaitStrategyName(name string) *Builder[T] {
	ws, err := ParseWaitStrategy(name)
	if err != nil {
		b.errs = append(b.errs, err)
		return b
	}
	return b.WaitStrategy(ws)
}

// BusySpinWaitStrategy selects a [BusySpinWaitStrategy].
func (b *Builder[T]) BusySpinWaitStrategy() *Builder[T] {
	return b.WaitStrategy(NewBusySpinWaitStrategy())
}

// YieldingWaitStrategy selects a [YieldingWaitStrategy].
func (b *Builder[T]) YieldingWaitStrategy() *Builder[T] {
	return b.WaitStrategy(NewYieldingWaitStrategy())
}

// SleepingWaitStrategy selects a [SleepingWaitStrategy].
func (b *Builder[T]) SleepingWaitStrategy() *Builder[T] {
	return b.WaitStrategy(NewSleepingWaitStrategy())
}

// BlockingWaitStrategy selects a [BlockingWaitStrategy].
func (b *Builder[T]) BlockingWaitStrategy() *Builder[T] {
	return b.WaitStrategy(NewBlockingWaitStrategy())
}

// LiteBlockingWaitStrategy selects a [LiteBlockingWaitStrategy].
func (b *Builder[T]) LiteBlockingWaitStrategy() *Builder[T] {
	return b.WaitStrategy(NewLiteBlockingWaitStrategy())
}

// TimeoutBlockingWaitStrategy selects a [TimeoutBlockingWaitStrategy].
func (b *Builder[T]) TimeoutBlockingWaitStrategy(timeout time.Duration) *Builder[T] {
	if timeout <= 0 {
		b.errs.add("WaitTimeout", timeout, "must be positive")
		return b
	}
	return b.WaitStrategy(NewTimeoutBlockingWaitStrategy(timeout))
}

// PhasedBackoffWaitStrategy selects a [PhasedBackoffWaitStrategy].
func (b *Builder[T]) PhasedBackoffWaitStrategy(spin, yield time.Duration, fallback WaitStrategy) *Builder[T] {
	if fallback == nil {
		b.errs.add("FallbackWaitStrategy", nil, "must not be nil")
		return b
	}
	return b.WaitStrategy(NewPhasedBackoffWaitStrategy(spin, yield, fallback))
}

// FirstSequence sets the sequence of the first event published (see
// [Config.FirstSequence]).
func (b *Builder[T]) FirstSequence(n int64) *Builder[T] { b.cfg.FirstSequence = n; return b }

// Logger sets the logger of the default exception handler.
func (b *Builder[T]) Logger(l *slog.Logger) *Builder[T] { b.cfg.Logger = l; return b }

// ExceptionHandler sets the exception handler of every processor added
// later (see [Disruptor.SetDefaultExceptionHandler]).
func (b *Builder[T]) ExceptionHandler(eh ExceptionHandler[T]) *Builder[T] { b.eh = eh; return b }

// Build validates the settings and returns the Disruptor, or every problem
// found, joined.
func (b *Builder[T]) Build() (*Disruptor[T], error) {
	d, err := New(b.factory, b.cfg)
	if err = joinErrs(b.errs, err); err != nil {
		return nil, err
	}
	if b.eh != nil {
		d.SetDefaultExceptionHandler(b.eh)
	}
	return d, nil
}

func joinErrs(errs configErrors, err error) error {
	if err != nil {
		errs = append(errs, err)
	}
	return errs.err()
}
