package replication

import (
	"errors"
	"fmt"

	"github.com/hashicorp/raft"

	"github.com/badbatch/badbatch/internal/errwalk"
)

// Sentinel errors. Match them with [errors.Is]; the typed errors below wrap
// them and carry the details. Each is documented with the calls that
// return it; the API maps them to its error codes (api/errors.go).
var (
	// ErrInvalidConfig is returned by [New] and [Config.Validate] for bad
	// settings; the [*ConfigError]s joined with it name each problem by its
	// config key.
	ErrInvalidConfig = errors.New("replication: invalid configuration")

	// ErrNotLeader is returned by the calls that change replicated state
	// ([Node.Publish], [Node.Create], [Node.Delete], [Node.SetState],
	// [Node.AddVoter], [Node.AddNonvoter], [Node.RemoveServer],
	// [Node.Barrier]) on a node that is not the leader while another node
	// is known to be. A [*LeaderError] carries the leader's ID and Raft
	// address; nothing was proposed, so the call may be sent to the leader
	// as it is.
	ErrNotLeader = errors.New("replication: not the leader")

	// ErrNoQuorum is returned by the same calls as [ErrNotLeader] when no
	// leader is known: the node is on the minority side of a partition (a
	// leader cut off from the quorum steps down after its leader lease, a
	// follower gives up on its leader after the heartbeat timeout), or an
	// election is under way. It comes as a [*LeaderError] with no leader.
	// Nothing was proposed.
	ErrNoQuorum = errors.New("replication: no quorum")

	// ErrOutcomeUnknown is returned by [Node.Publish], [Node.Create],
	// [Node.Delete] and [Node.SetState] when the change was proposed but its
	// commit could not be confirmed: the leader lost its leadership, the
	// node closed, or ctx ended while waiting. It may or may not have been
	// committed. An [*OutcomeError] carries the cause; retrying a publish
	// with the same idempotency key is safe (the retry either publishes
	// the batch or returns the first publish's sequences).
	ErrOutcomeUnknown = errors.New("replication: outcome unknown")

	// ErrClosed is returned by every call after [Node.Close], and by calls
	// in flight when it was called (then wrapped in an [*OutcomeError] if
	// their change was already proposed).
	ErrClosed = errors.New("replication: node closed")

	// ErrCorrupt is returned when a log entry or snapshot cannot be
	// decoded. The FSM refuses to apply such an entry rather than guess:
	// it halts there (nothing later is applied, no snapshot is taken,
	// [Status.Stalled] is true and the error is logged) so that the
	// replica never differs from the others; a restart with a build that
	// reads the entry applies it and what follows.
	ErrCorrupt = errors.New("replication: corrupt log entry or snapshot")
)

// LeaderError is an [ErrNotLeader] or [ErrNoQuorum] with what this node
// knows of the leader. LeaderID and LeaderAddr (the leader's Raft address,
// not its API address) are empty when no leader is known.
type LeaderError struct {
	Err        error // ErrNotLeader or ErrNoQuorum
	LeaderID   string
	LeaderAddr string
}

func (e *LeaderError) Error() string {
	if e.LeaderID == "" {
		return e.Err.Error() + " (no leader known)"
	}
	return fmt.Sprintf("%v (leader %s at %s)", e.Err, e.LeaderID, e.LeaderAddr)
}

// Unwrap returns the sentinel.
func (e *LeaderError) Unwrap() error { return e.Err }

// OutcomeError is an [ErrOutcomeUnknown]: a change was proposed and Cause
// (raft's leadership-lost error, [ErrClosed], or ctx's error) kept this
// node from learning whether it was committed.
type OutcomeError struct {
	Cause error
}

func (e *OutcomeError) Error() string {
	return fmt.Sprintf("%v: %v; retry with the same idempotency key", ErrOutcomeUnknown, e.Cause)
}

// Unwrap returns [ErrOutcomeUnknown] and the cause, so errors.Is matches
// both (context.DeadlineExceeded, for instance).
func (e *OutcomeError) Unwrap() []error { return []error{ErrOutcomeUnknown, e.Cause} }

// ConfigError reports one invalid setting of a [Config]. Validation joins
// every ConfigError it finds, together with [ErrInvalidConfig].
type ConfigError struct {
	Field  string // the setting as the config file spells it, e.g. "heartbeat_timeout"
	Value  any    // the offending value
	Reason string // what was expected
}

func (e *ConfigError) Error() string {
	return fmt.Sprintf("replication: invalid %s %v: %s", e.Field, e.Value, e.Reason)
}

// ConfigErrors unwraps err into the [*ConfigError]s it joins.
func ConfigErrors(err error) []*ConfigError { return errwalk.All[*ConfigError](err) }

// configErrors collects problems for Validate.
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

// proposalError turns the error of a proposal's raft future into this
// package's: raft refusals that mean nothing was appended become a
// [*LeaderError]; everything else leaves the outcome unknown.
func (n *Node) proposalError(err error) error {
	switch {
	case errors.Is(err, raft.ErrNotLeader), errors.Is(err, raft.ErrLeadershipTransferInProgress):
		return n.leaderError()
	case errors.Is(err, raft.ErrRaftShutdown):
		return &OutcomeError{Cause: ErrClosed}
	default:
		return &OutcomeError{Cause: err}
	}
}
