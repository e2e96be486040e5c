package engine

import (
	"errors"
	"fmt"
	"time"

	"github.com/badbatch/badbatch/internal/errwalk"
)

// Sentinel errors. Match them with [errors.Is]; the typed errors below wrap
// them and carry the details. Each is documented with the calls that return
// it, and [Code] gives the stable API code of each.
var (
	// ErrNotFound is returned by every call naming a disruptor that does not
	// exist (or was deleted).
	ErrNotFound = errors.New("engine: disruptor not found")

	// ErrExists is returned by [Engine.Create] when the name is taken.
	ErrExists = errors.New("engine: disruptor already exists")

	// ErrInvalidConfig is returned by [Engine.Create] and [New] for bad
	// settings; the [*ConfigError]s joined with it name each problem.
	ErrInvalidConfig = errors.New("engine: invalid configuration")

	// ErrInvalidSchema is returned by [Engine.Create] when the JSON Schema
	// does not compile.
	ErrInvalidSchema = errors.New("engine: invalid JSON schema")

	// ErrLimitReached is returned by [Engine.Create] when the engine already
	// hosts [Config.MaxDisruptors] disruptors.
	ErrLimitReached = errors.New("engine: disruptor limit reached")

	// ErrInvalidTransition is returned by [Engine.SetState] for a move the
	// lifecycle does not allow (see [State]); a [*TransitionError] carries
	// both states.
	ErrInvalidTransition = errors.New("engine: invalid state transition")

	// ErrNotRunning is returned by [Engine.Publish] when the disruptor is
	// not in the running state (created, paused or stopped).
	ErrNotRunning = errors.New("engine: disruptor is not running")

	// ErrRingFull is returned by [Engine.Publish] when the ring had no room
	// for the batch: at once under [OverflowReject], or after the publish
	// timeout under [OverflowBlock]. Nothing of the batch was published.
	ErrRingFull = errors.New("engine: ring buffer full")

	// ErrEmptyBatch is returned by [Engine.Publish] for a batch of no
	// events.
	ErrEmptyBatch = errors.New("engine: empty batch")

	// ErrBatchTooLarge is returned by [Engine.Publish] for a batch of more
	// events than [Config.MaxBatchEvents] or than the ring has slots.
	ErrBatchTooLarge = errors.New("engine: batch too large")

	// ErrEventTooLarge is returned by [Engine.Publish] when an event's
	// payload plus metadata exceeds the disruptor's maximum event size; an
	// [*EventError] names the event.
	ErrEventTooLarge = errors.New("engine: event too large")

	// ErrInvalidEvent is returned by [Engine.Publish] for an event whose
	// metadata breaks the rules (empty or oversize key, too many entries);
	// an [*EventError] names the event.
	ErrInvalidEvent = errors.New("engine: invalid event")

	// ErrSchemaViolation is returned by [Engine.Publish] when an event does
	// not match the disruptor's JSON Schema; a [*SchemaError] names the
	// event and the failing location. Nothing of the batch was published.
	ErrSchemaViolation = errors.New("engine: event violates the schema")

	// ErrKeyReused is returned by [Engine.Publish] when an idempotency key
	// seen within the dedup window comes back with a different batch.
	ErrKeyReused = errors.New("engine: idempotency key reused with a different batch")

	// ErrDedupWindowFull is returned by [Engine.Publish] for a batch with a
	// new idempotency key when the disruptor already remembers
	// [Config.DedupMaxKeys] keys, none of them older than the dedup
	// window: remembering one more would mean forgetting a key inside the
	// window, and publishing its retry twice. A [*DedupFullError] says
	// when the oldest key expires. Publishes without a key, and retries
	// of keys remembered, go on.
	ErrDedupWindowFull = errors.New("engine: idempotency window full")

	// ErrReplicated is returned by [Engine.Publish], [Engine.SetState] and
	// [Engine.Delete] for a disruptor another component owns (a replicated
	// one, created with [Engine.CreateOwned]): it changes only through the
	// [Writer] that [Engine.Writer] returns for it, which orders the change
	// through the owner's log.
	ErrReplicated = errors.New("engine: the disruptor is replicated; change it through its writer")

	// ErrEvicted is returned by [Engine.Read], [Engine.Get] and
	// [Engine.Subscribe] for a sequence the ring has already overwritten,
	// or one before the disruptor's [DisruptorConfig.FirstSequence]; an
	// [*EvictedError] carries the oldest sequence still available.
	ErrEvicted = errors.New("engine: sequence evicted from the ring")

	// ErrSequenceNotFound is returned by [Engine.Get] for a sequence not
	// published yet, and by [Engine.Subscribe] for a start beyond the next
	// sequence to be published.
	ErrSequenceNotFound = errors.New("engine: sequence not published")

	// ErrInvalidSequence is returned for a negative sequence or limit.
	ErrInvalidSequence = errors.New("engine: invalid sequence")

	// ErrTooManySubscribers is returned by [Engine.Subscribe] when the
	// disruptor already has [Config.MaxSubscribers] live subscribers.
	ErrTooManySubscribers = errors.New("engine: too many subscribers")

	// ErrLagged is returned by [Subscription.Poll] under [LagDisconnect]
	// when the subscriber fell more than a ring behind: the events it had
	// not read were overwritten. A [*LaggedError] names the last sequence
	// delivered.
	ErrLagged = errors.New("engine: subscriber lagged behind the ring")

	// ErrEnded is returned by [Subscription.Poll] once every event of a
	// stopped disruptor was delivered, or when the disruptor was deleted or
	// the engine closed; an [*EndError] says which.
	ErrEnded = errors.New("engine: subscription ended")

	// ErrClosed is returned by every call after [Engine.Close].
	ErrClosed = errors.New("engine: closed")

	// ErrJournalUnavailable is returned by a publish, state change or
	// purge of a journaled disruptor whose journal could not be written:
	// nothing of the publish was written or published. It wraps the
	// journal's error. After a failed fsync the journal refuses writes
	// with it until the engine is restarted ([Engine.Recover] then opens
	// what the journal holds).
	ErrJournalUnavailable = errors.New("engine: journal unavailable")
	// ErrJournalFull is ErrJournalUnavailable for a full disk (the
	// journal's error wraps ENOSPC). It wraps ErrJournalUnavailable.
	ErrJournalFull = fmt.Errorf("%w: no space left on the device", ErrJournalUnavailable)
	// ErrOutcomeUnknown is returned by a publish to a journaled disruptor
	// with sync "always" whose events were written and published but
	// whose fsync failed: they may or may not survive a power loss.
	ErrOutcomeUnknown = errors.New("engine: outcome unknown: the journal's fsync failed")
	// ErrNotJournaled is returned by [Engine.Purge] for a disruptor that
	// has no journal.
	ErrNotJournaled = errors.New("engine: the disruptor has no journal")
)

// The stable codes of the engine's errors, as the REST API reports them.
const (
	CodeNotFound           = "DISRUPTOR_NOT_FOUND"
	CodeExists             = "DISRUPTOR_EXISTS"
	CodeValidation         = "VALIDATION_FAILED"
	CodeInvalidSchema      = "INVALID_SCHEMA"
	CodeLimitReached       = "DISRUPTOR_LIMIT_REACHED"
	CodeInvalidTransition  = "INVALID_STATE_TRANSITION"
	CodeNotRunning         = "DISRUPTOR_NOT_RUNNING"
	CodeRingFull           = "RING_FULL"
	CodeBatchTooLarge      = "BATCH_TOO_LARGE"
	CodeEventTooLarge      = "EVENT_TOO_LARGE"
	CodeSchemaViolation    = "SCHEMA_VIOLATION"
	CodeKeyReused          = "IDEMPOTENCY_KEY_REUSED"
	CodeDedupWindowFull    = "DEDUP_WINDOW_FULL"
	CodeEvicted            = "SEQUENCE_EVICTED"
	CodeSequenceNotFound   = "SEQUENCE_NOT_FOUND"
	CodeInvalidParameter   = "INVALID_PARAMETER"
	CodeTooManySubscribers = "TOO_MANY_SUBSCRIBERS"
	CodeLagged             = "SUBSCRIBER_LAGGED"
	CodeShuttingDown       = "SHUTTING_DOWN"
	CodeInternal           = "INTERNAL"
	CodeSubscriptionEnded  = "STREAM_ENDED"
	CodeJournalUnavailable = "JOURNAL_UNAVAILABLE"
	CodeJournalFull        = "JOURNAL_FULL"
	CodeOutcomeUnknown     = "OUTCOME_UNKNOWN"
	CodeNotJournaled       = "NOT_JOURNALED"
)

var codes = []struct {
	err  error
	code string
}{
	{ErrNotFound, CodeNotFound},
	{ErrExists, CodeExists},
	{ErrInvalidConfig, CodeValidation},
	{ErrInvalidSchema, CodeInvalidSchema},
	{ErrLimitReached, CodeLimitReached},
	{ErrInvalidTransition, CodeInvalidTransition},
	{ErrNotRunning, CodeNotRunning},
	{ErrRingFull, CodeRingFull},
	{ErrEmptyBatch, CodeValidation},
	{ErrBatchTooLarge, CodeBatchTooLarge},
	{ErrEventTooLarge, CodeEventTooLarge},
	{ErrInvalidEvent, CodeValidation},
	{ErrSchemaViolation, CodeSchemaViolation},
	{ErrKeyReused, CodeKeyReused},
	{ErrDedupWindowFull, CodeDedupWindowFull},
	{ErrEvicted, CodeEvicted},
	{ErrSequenceNotFound, CodeSequenceNotFound},
	{ErrInvalidSequence, CodeInvalidParameter},
	{ErrTooManySubscribers, CodeTooManySubscribers},
	{ErrLagged, CodeLagged},
	{ErrEnded, CodeSubscriptionEnded},
	{ErrClosed, CodeShuttingDown},
	{ErrJournalFull, CodeJournalFull}, // before ErrJournalUnavailable, which it wraps
	{ErrJournalUnavailable, CodeJournalUnavailable},
	{ErrOutcomeUnknown, CodeOutcomeUnknown},
	{ErrNotJournaled, CodeNotJournaled},
}

// Code returns the stable API code of an engine error (see the Code
// constants), or [CodeInternal] for an error the engine does not know.
func Code(err error) string {
	for _, c := range codes {
		if errors.Is(err, c.err) {
			return c.code
		}
	}
	return CodeInternal
}

// ConfigError reports one invalid setting of a [Config] or
// [DisruptorConfig]. Validation joins every ConfigError it finds, together
// with [ErrInvalidConfig].
type ConfigError struct {
	Field  string // the setting, as the API spells it, e.g. "buffer_size"
	Value  any    // the offending value
	Reason string // what was expected
}

func (e *ConfigError) Error() string {
	return fmt.Sprintf("engine: invalid %s %v: %s", e.Field, e.Value, e.Reason)
}

// ConfigErrors unwraps err into the [*ConfigError]s it joins.
func ConfigErrors(err error) []*ConfigError { return errwalk.All[*ConfigError](err) }

// configErrors collects [*ConfigError]s.
type configErrors []error

func (c *configErrors) add(field string, value any, reason string) {
	*c = append(*c, &ConfigError{Field: field, Value: value, Reason: reason})
}

func (c configErrors) err() error {
	if len(c) == 0 {
		return nil
	}
	return errors.Join(append([]error{ErrInvalidConfig}, c...)...)
}

// TransitionError is an [ErrInvalidTransition] with its states.
type TransitionError struct {
	Disruptor string
	From, To  State
}

func (e *TransitionError) Error() string {
	return fmt.Sprintf("engine: disruptor %q cannot go from %s to %s", e.Disruptor, e.From, e.To)
}

// Unwrap returns [ErrInvalidTransition].
func (e *TransitionError) Unwrap() error { return ErrInvalidTransition }

// StateError is an [ErrNotRunning] with the state the disruptor is in.
type StateError struct {
	Disruptor string
	State     State
}

func (e *StateError) Error() string {
	return fmt.Sprintf("engine: disruptor %q is %s, not running", e.Disruptor, e.State)
}

// Unwrap returns [ErrNotRunning].
func (e *StateError) Unwrap() error { return ErrNotRunning }

// EventError names the event of a batch that broke a rule; it wraps
// [ErrEventTooLarge] or [ErrInvalidEvent].
type EventError struct {
	Index  int    // the event's position in the batch
	Size   int    // its size in bytes (payload and metadata)
	Limit  int    // the limit it broke, when there is one
	Reason string // what is wrong
	Err    error  // the sentinel
}

func (e *EventError) Error() string {
	return fmt.Sprintf("engine: event %d: %s", e.Index, e.Reason)
}

// Unwrap returns the sentinel.
func (e *EventError) Unwrap() error { return e.Err }

// BatchError is an [ErrBatchTooLarge] or [ErrEmptyBatch] with the sizes.
type BatchError struct {
	Count, Limit int
	Err          error
}

func (e *BatchError) Error() string {
	if e.Err == ErrEmptyBatch {
		return "engine: empty batch"
	}
	return fmt.Sprintf("engine: batch of %d events is over the limit of %d", e.Count, e.Limit)
}

// Unwrap returns the sentinel.
func (e *BatchError) Unwrap() error { return e.Err }

// SchemaError is an [ErrSchemaViolation]: event Index failed the schema at
// Path (a JSON pointer into the payload, "" for the whole payload).
type SchemaError struct {
	Index   int
	Path    string
	Message string
}

func (e *SchemaError) Error() string {
	return fmt.Sprintf("engine: event %d violates the schema at %q: %s", e.Index, e.Path, e.Message)
}

// Unwrap returns [ErrSchemaViolation].
func (e *SchemaError) Unwrap() error { return ErrSchemaViolation }

// EvictedError is an [ErrEvicted]: Sequence is no longer in the ring, whose
// oldest event is Oldest.
type EvictedError struct {
	Sequence int64
	Oldest   int64
}

func (e *EvictedError) Error() string {
	return fmt.Sprintf("engine: sequence %d was evicted; the oldest available is %d", e.Sequence, e.Oldest)
}

// Unwrap returns [ErrEvicted].
func (e *EvictedError) Unwrap() error { return ErrEvicted }

// NotPublishedError is an [ErrSequenceNotFound]: Sequence is past Latest,
// the last sequence published (when none is, the one before the
// disruptor's first sequence: -1 by default).
type NotPublishedError struct {
	Sequence int64
	Latest   int64
}

func (e *NotPublishedError) Error() string {
	return fmt.Sprintf("engine: sequence %d is not published; the latest is %d", e.Sequence, e.Latest)
}

// Unwrap returns [ErrSequenceNotFound].
func (e *NotPublishedError) Unwrap() error { return ErrSequenceNotFound }

// RingFullError is an [ErrRingFull] after waiting Waited.
type RingFullError struct {
	Disruptor string
	Waited    time.Duration
}

func (e *RingFullError) Error() string {
	if e.Waited == 0 {
		return fmt.Sprintf("engine: ring of %q is full", e.Disruptor)
	}
	return fmt.Sprintf("engine: ring of %q still full after %v", e.Disruptor, e.Waited)
}

// Unwrap returns [ErrRingFull].
func (e *RingFullError) Unwrap() error { return ErrRingFull }

// DedupFullError is an [ErrDedupWindowFull]: the disruptor remembers
// Keys idempotency keys, its maximum, and the oldest expires in
// RetryAfter.
type DedupFullError struct {
	Disruptor  string
	Keys       int
	RetryAfter time.Duration
}

func (e *DedupFullError) Error() string {
	return fmt.Sprintf("engine: %q remembers its maximum of %d idempotency keys within the window; a new key fits in %v",
		e.Disruptor, e.Keys, e.RetryAfter.Round(time.Millisecond))
}

// Unwrap returns [ErrDedupWindowFull].
func (e *DedupFullError) Unwrap() error { return ErrDedupWindowFull }

// IsInvalidBatch reports whether err says that a batch itself breaks the
// disruptor's rules: it is empty or too large, an event is too large or
// invalid, or a payload violates the schema ([*BatchError],
// [*EventError], [*SchemaError]). Such a refusal depends only on the
// batch, the disruptor's configuration and the engine's limits, so every
// engine with the same limits refuses the same batch the same way; the
// replicated state machine relies on that.
func IsInvalidBatch(err error) bool {
	var (
		be *BatchError
		ee *EventError
		se *SchemaError
	)
	return errors.As(err, &be) || errors.As(err, &ee) || errors.As(err, &se)
}

// LaggedError is an [ErrLagged]: the subscriber had delivered every event up
// to LastDelivered (the one before its start for none) when the ring
// overwrote the next one;
// Oldest is the oldest sequence still available.
type LaggedError struct {
	LastDelivered int64
	Oldest        int64
}

func (e *LaggedError) Error() string {
	return fmt.Sprintf("engine: subscriber lagged: last delivered %d, oldest available %d", e.LastDelivered, e.Oldest)
}

// Unwrap returns [ErrLagged].
func (e *LaggedError) Unwrap() error { return ErrLagged }

// EndReason says why a subscription ended.
type EndReason string

// The reasons a subscription ends.
const (
	EndStopped  EndReason = "stopped"  // the disruptor stopped and every event was delivered
	EndDeleted  EndReason = "deleted"  // the disruptor was deleted
	EndShutdown EndReason = "shutdown" // the engine closed
	// EndReplaced: the node replaced its copy of a replicated disruptor
	// with the leader's (a snapshot install that the copy could not
	// continue from); resume after the last sequence delivered, here or
	// on any node.
	EndReplaced EndReason = "replaced"
)

// EndError is an [ErrEnded]: the subscription ended for Reason after
// delivering every event up to LastDelivered.
type EndError struct {
	Reason        EndReason
	LastDelivered int64
}

func (e *EndError) Error() string {
	return fmt.Sprintf("engine: subscription ended (%s) after sequence %d", e.Reason, e.LastDelivered)
}

// Unwrap returns [ErrEnded].
func (e *EndError) Unwrap() error { return ErrEnded }
