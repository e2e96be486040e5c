package cluster

import (
	"errors"
	"fmt"

	"github.com/badbatch/badbatch/internal/errwalk"
)

// Sentinel errors. Match them with [errors.Is]; the typed errors below wrap
// them and carry the details. Each is documented with the calls that return
// it.
var (
	// ErrInvalidConfig is returned by [New], [NewForwarder],
	// [Config.Validate] and [ForwardConfig.Validate] for bad settings; the
	// [*ConfigError]s joined with it name each problem by its config key.
	ErrInvalidConfig = errors.New("cluster: invalid configuration")

	// ErrMetaTooLarge is returned by [Node.SetDisruptors], [Node.SetTags], [Node.SetTag],
	// [Node.SetNodeState] and [New] when the node's encoded metadata would
	// not fit memberlist's limit ([MetaMaxSize] bytes); a [*MetaSizeError]
	// carries the sizes. The previous metadata stays in force.
	ErrMetaTooLarge = errors.New("cluster: node metadata too large")

	// ErrInvalidMeta is returned by [DecodeMeta] for bytes that are not
	// valid node metadata, and by the Set methods of [Node] for values that
	// cannot be encoded (an invalid disruptor name, a bad API scheme).
	ErrInvalidMeta = errors.New("cluster: invalid node metadata")

	// ErrAlreadyStarted is returned by [Node.Start] when called twice.
	ErrAlreadyStarted = errors.New("cluster: node already started")

	// ErrNotStarted is returned by [Node.Join] and the key methods
	// ([Node.InstallKey], ...) before [Node.Start].
	ErrNotStarted = errors.New("cluster: node not started")

	// ErrClosed is returned by [Node.Start], [Node.Join] and the key methods
	// after [Node.Leave] or [Node.Shutdown].
	ErrClosed = errors.New("cluster: node shut down")

	// ErrNoSeeds is returned by [Node.Join] when none of the given addresses
	// could be reached (a [*JoinError] lists why for each).
	ErrNoSeeds = errors.New("cluster: no seed node reachable")

	// ErrNoOwner is passed to the [ForwardConfig.ErrorHandler] (404) and
	// returned by [Forwarder.Target] when no alive, ready member other than
	// the local node advertises the disruptor.
	ErrNoOwner = errors.New("cluster: no alive node hosts the disruptor")

	// ErrCircuitOpen is passed to the [ForwardConfig.ErrorHandler] (503) and
	// returned by [Forwarder.Target] when every owner's circuit breaker is
	// open: they failed recently and are given time to recover.
	ErrCircuitOpen = errors.New("cluster: circuit breaker open for every owner")

	// ErrPeerUnavailable is passed to the [ForwardConfig.ErrorHandler]
	// (502, or 504 for a timeout) when the owner could not be reached or
	// answered 502, 503 or 504, and no retry succeeded.
	ErrPeerUnavailable = errors.New("cluster: owner node unavailable")

	// ErrForwardLoop is passed to the [ForwardConfig.ErrorHandler] (508)
	// for a request that another node already forwarded (it carries
	// [HeaderForwardedBy]): a request is forwarded at most once.
	ErrForwardLoop = errors.New("cluster: request already forwarded")

	// ErrInsecurePeer is passed to the [ForwardConfig.ErrorHandler] (502)
	// when the only owners left to try serve plain HTTP and the request,
	// which came over TLS, carries credentials (Authorization or
	// X-API-Key): a client's credentials never leave a TLS connection for
	// a clear-text one. Nothing was sent.
	ErrInsecurePeer = errors.New("cluster: the owner serves plain HTTP and the request came over TLS with credentials")
)

// ConfigError reports one invalid setting of a [Config] or
// [ForwardConfig]. Validation joins every ConfigError it finds, together
// with [ErrInvalidConfig].
type ConfigError struct {
	Field  string // the setting as the config file spells it, e.g. "probe_timeout_ms"
	Value  any    // the offending value ("(redacted)" for keys)
	Reason string // what was expected
}

func (e *ConfigError) Error() string {
	return fmt.Sprintf("cluster: invalid %s %v: %s", e.Field, e.Value, e.Reason)
}

// ConfigErrors unwraps err into the [*ConfigError]s it joins.
func ConfigErrors(err error) []*ConfigError { return errwalk.All[*ConfigError](err) }

// configErrors collects ConfigErrors.
type configErrors []error

func (c *configErrors) add(field string, value any, reason string) {
	*c = append(*c, &ConfigError{Field: field, Value: value, Reason: reason})
}

// err joins the collected errors with ErrInvalidConfig, or returns nil.
func (c configErrors) err() error {
	if len(c) == 0 {
		return nil
	}
	return errors.Join(append([]error{ErrInvalidConfig}, c...)...)
}

// MetaSizeError reports node metadata over memberlist's limit. It wraps
// [ErrMetaTooLarge].
type MetaSizeError struct {
	Size       int // the encoded size, in bytes
	Limit      int // the limit, [MetaMaxSize]
	Disruptors int // how many disruptor names it carried
}

func (e *MetaSizeError) Error() string {
	return fmt.Sprintf("cluster: node metadata is %d bytes, over memberlist's limit of %d "+
		"(%d disruptor names: use fewer or shorter names, or fewer tags)", e.Size, e.Limit, e.Disruptors)
}

func (e *MetaSizeError) Unwrap() error { return ErrMetaTooLarge }

// JoinError reports a join in which no address could be reached. It wraps
// [ErrNoSeeds] and the per-address failures.
type JoinError struct {
	Addrs []string // the addresses tried
	Err   error    // why, joined over the addresses
}

func (e *JoinError) Error() string {
	return fmt.Sprintf("cluster: could not join any of %v: %v", e.Addrs, e.Err)
}

func (e *JoinError) Unwrap() []error { return []error{ErrNoSeeds, e.Err} }
