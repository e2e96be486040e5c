package disruptor

import (
	"log/slog"
)

// Config is what a [Disruptor] is made from. Start from [DefaultConfig]; the
// zero value is not valid (its BufferSize is 0).
type Config struct {
	// BufferSize is the number of slots in the ring: a power of 2 from 1 to
	// MaxBufferSize.
	BufferSize int
	// ProducerType is SingleProducer when one goroutine at a time
	// publishes, MultiProducer otherwise.
	ProducerType ProducerType
	// WaitStrategy is how consumers wait for events. Nil means a new
	// BlockingWaitStrategy. A strategy belongs to one ring: do not share
	// one instance between disruptors.
	WaitStrategy WaitStrategy
	// Logger receives handler failures from the default exception
	// handler. Nil means silent.
	Logger *slog.Logger
	// FirstSequence is the sequence of the first event published, from 0
	// to MaxFirstSequence; 0 by default. The ring starts as if every
	// sequence before it had been published and handled: the cursor and
	// every consumer start at FirstSequence-1, and no consumer is handed
	// a sequence below it (see [NewRingBufferAt]).
	FirstSequence int64
}

// DefaultConfig returns LMAX's defaults with a 1024-slot ring: many
// producers, blocking consumers.
func DefaultConfig() Config {
	return Config{
		BufferSize:   1024,
		ProducerType: MultiProducer,
	}
}

// Validate returns every problem with c at once, as [*ConfigError]s joined
// with errors.Join, or nil.
func (c Config) Validate() error {
	var errs configErrors
	validateBufferSize(&errs, c.BufferSize)
	if c.ProducerType != SingleProducer && c.ProducerType != MultiProducer {
		errs.add("ProducerType", c.ProducerType, `want "single" or "multi"`)
	}
	validateFirstSequence(&errs, c.FirstSequence)
	return errs.err()
}
