package client

import (
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/badbatch/badbatch/wire"
)

// Error is an error answered by the server: the API's error envelope
// ({"error": {"code", "message", "details"}}) with the response's status,
// request id and Retry-After.
//
// Match the stable code with [errors.Is] and a [Code] sentinel:
//
//	if errors.Is(err, client.ErrDisruptorNotFound) { ... }
//
// or take the whole error with [errors.As], into a *client.Error or into
// the envelope's *wire.Error (which is the server's *api.Error):
//
//	var e *client.Error
//	if errors.As(err, &e) { fmt.Println(e.Status, e.Code, e.Details) }
type Error struct {
	// Code is the stable error code (see [wire.Codes]); empty when the
	// response was not an error envelope (a proxy's 502 page, say).
	Code string
	// Message is the server's explanation, for people.
	Message string
	// Details carries the code's specifics (oldest_sequence, errors, ...).
	Details map[string]any
	// Status is the HTTP status of the response.
	Status int
	// RequestID is the response's X-Request-Id, to find the server's log
	// line.
	RequestID string
	// RetryAfter is the response's Retry-After, zero when absent.
	RetryAfter time.Duration
}

func (e *Error) Error() string {
	if e.Code == "" {
		return fmt.Sprintf("HTTP %d %s: %s", e.Status, http.StatusText(e.Status), e.Message)
	}
	return e.Code + ": " + e.Message
}

// Is reports whether target is the [Code] of e, or an *Error with the same
// code.
func (e *Error) Is(target error) bool {
	switch t := target.(type) {
	case Code:
		return e.Code != "" && string(t) == e.Code
	case *Error:
		return t.Code != "" && t.Code == e.Code
	}
	return false
}

// As lets [errors.As] fill a *wire.Error, the envelope's form of the
// envelope, from e.
func (e *Error) As(target any) bool {
	if p, ok := target.(**wire.Error); ok && e.Code != "" {
		*p = &wire.Error{Code: e.Code, Message: e.Message, Details: e.Details}
		return true
	}
	return false
}

// Code is an API error code used as a sentinel error: errors.Is(err, c)
// is true when err is an [*Error] with that code.
type Code string

func (c Code) Error() string { return "badbatch API error " + string(c) }

// The API's error codes as sentinels; a test checks that every code of
// [wire.Codes] has one. The calls that return each are listed beside it. A code
// without a sentinel here matches as Code("THE_CODE").
const (
	// ErrMalformedBody: a request body that does not decode. Every call
	// with a body; a client bug when it happens.
	ErrMalformedBody = Code(wire.CodeMalformedBody)
	// ErrInvalidEncoding: a corrupt gzip body.
	ErrInvalidEncoding = Code(wire.CodeInvalidEncoding)
	// ErrValidation: well-formed but invalid settings or events, from
	// [Client.CreateDisruptor], [Client.SetState] and the publish calls;
	// Details["errors"] lists each problem.
	ErrValidation = Code(wire.CodeValidation)
	// ErrInvalidParameter: a bad query parameter, sequence or
	// Idempotency-Key, from the list, replay, event and publish calls.
	ErrInvalidParameter = Code(wire.CodeInvalidParameter)
	// ErrInvalidSchema: [Client.CreateDisruptor] with a schema that does
	// not compile.
	ErrInvalidSchema = Code(wire.CodeInvalidSchema)
	// ErrUnauthorized: no or a wrong API key, from any call when the server
	// requires authentication.
	ErrUnauthorized = Code(wire.CodeUnauthorized)
	// ErrForbidden: the API key's role does not allow the call.
	ErrForbidden = Code(wire.CodeForbidden)
	// ErrNotFound: no such route (an endpoint that is not a BadBatch
	// server, or a newer call on an older server).
	ErrNotFound = Code(wire.CodeNotFound)
	// ErrDisruptorNotFound: every call naming a disruptor that does not
	// exist.
	ErrDisruptorNotFound = Code(wire.CodeDisruptorNotFound)
	// ErrSequenceNotFound: [Client.Event] for a sequence not yet
	// published, and [Client.Tail] from beyond the next one.
	ErrSequenceNotFound = Code(wire.CodeSequenceNotFound)
	// ErrMethodNotAllowed: the route exists with other methods.
	ErrMethodNotAllowed = Code(wire.CodeMethodNotAllowed)
	// ErrNotAcceptable: the server serves none of the formats asked for.
	ErrNotAcceptable = Code(wire.CodeNotAcceptable)
	// ErrDisruptorExists: [Client.CreateDisruptor] with a name taken.
	ErrDisruptorExists = Code(wire.CodeDisruptorExists)
	// ErrInvalidStateTransition: [Client.SetState] (and Start, Stop,
	// Pause, Resume) for a move the lifecycle does not allow.
	ErrInvalidStateTransition = Code(wire.CodeInvalidStateTransition)
	// ErrDisruptorNotRunning: a publish to a created, paused or stopped
	// disruptor.
	ErrDisruptorNotRunning = Code(wire.CodeDisruptorNotRunning)
	// ErrDisruptorLimitReached: [Client.CreateDisruptor] on a full server.
	ErrDisruptorLimitReached = Code(wire.CodeDisruptorLimitReached)
	// ErrSequenceEvicted: [Client.Replay], [Client.Event] and
	// [Client.Tail] from a sequence the ring overwrote;
	// Details["oldest_sequence"] says where it starts now.
	ErrSequenceEvicted = Code(wire.CodeSequenceEvicted)
	// ErrBodyTooLarge: a request body over the server's limit.
	ErrBodyTooLarge = Code(wire.CodeBodyTooLarge)
	// ErrEventTooLarge: a publish with an event over max_event_size.
	ErrEventTooLarge = Code(wire.CodeEventTooLarge)
	// ErrBatchTooLarge: a publish of more events than allowed.
	ErrBatchTooLarge = Code(wire.CodeBatchTooLarge)
	// ErrUnsupportedMediaType: a body in a format the server does not read.
	ErrUnsupportedMediaType = Code(wire.CodeUnsupportedMediaType)
	// ErrUnsupportedContentEncoding: a body compressed other than gzip.
	ErrUnsupportedContentEncoding = Code(wire.CodeUnsupportedContentEncoding)
	// ErrSchemaViolation: a publish with an event that fails the
	// disruptor's schema.
	ErrSchemaViolation = Code(wire.CodeSchemaViolation)
	// ErrIdempotencyKeyReused: a publish reusing an Idempotency-Key for a
	// different batch.
	ErrIdempotencyKeyReused = Code(wire.CodeIdempotencyKeyReused)
	// ErrRingFull: a publish that found no room in the ring; nothing was
	// published. Retried (after Retry-After) only with an idempotency key.
	ErrRingFull = Code(wire.CodeRingFull)
	// ErrTooManySubscribers: [Client.Tail] on a disruptor with its maximum
	// of live subscribers.
	ErrTooManySubscribers = Code(wire.CodeTooManySubscribers)
	// ErrRateLimited: any call over the server's rate limit.
	ErrRateLimited = Code(wire.CodeRateLimited)
	// ErrDedupWindowFull: a publish with a new idempotency key while the
	// disruptor remembers its maximum of keys within the window; nothing
	// was published. Retried after Retry-After (when the oldest key
	// expires).
	ErrDedupWindowFull = Code(wire.CodeDedupWindowFull)
	// ErrRequestCanceled: logged by the server for requests whose client
	// went away; a client rarely sees it.
	ErrRequestCanceled = Code(wire.CodeRequestCanceled)
	// ErrShuttingDown: any call while the server stops.
	ErrShuttingDown = Code(wire.CodeShuttingDown)
	// ErrNotReady: [Client.Ready] when the server is not ready.
	ErrNotReady = Code(wire.CodeNotReady)
	// ErrInternal: a server bug.
	ErrInternal = Code(wire.CodeInternal)
	// ErrClusterDisabled: a cluster call to a server that is not
	// clustered.
	ErrClusterDisabled = Code(wire.CodeClusterDisabled)
	// ErrClusterNotRunning: [Client.ClusterJoin] after the node left.
	ErrClusterNotRunning = Code(wire.CodeClusterNotRunning)
	// ErrClusterJoinFailed: [Client.ClusterJoin] when no address answered.
	ErrClusterJoinFailed = Code(wire.CodeClusterJoinFailed)
	// ErrPeerUnavailable: any call about a disruptor hosted on another
	// node of the cluster that could not be reached or failed.
	ErrPeerUnavailable = Code(wire.CodePeerUnavailable)
	// ErrPeerCircuitOpen: as ErrPeerUnavailable, when every node hosting
	// the disruptor failed recently; Retry-After.
	ErrPeerCircuitOpen = Code(wire.CodePeerCircuitOpen)
	// ErrPeerTimeout: as ErrPeerUnavailable, when the node did not answer
	// in time.
	ErrPeerTimeout = Code(wire.CodePeerTimeout)
	// ErrForwardLoop: a request another node forwarded would be forwarded
	// again; a sign of a misconfigured proxy.
	ErrForwardLoop = Code(wire.CodeForwardLoop)
	// ErrRequestTimeout: the request body did not reach the server within
	// its read timeout; retried like a network error.
	ErrRequestTimeout = Code(wire.CodeRequestTimeout)
	// ErrSpinLimitReached: [Client.CreateDisruptor] with a busy_spin or
	// yielding wait strategy on a server whose cores are all taken by
	// spinning consumers.
	ErrSpinLimitReached = Code(wire.CodeSpinLimitReached)
	// ErrOverloaded: the server's memory budget for request bodies in
	// flight is spent; nothing was done. Retried after Retry-After.
	ErrOverloaded = Code(wire.CodeOverloaded)
	// ErrNotLeader: a change of a quorum disruptor reached a Raft follower
	// that could not forward it; the error's Details["leader_api"] is the
	// leader's URL.
	ErrNotLeader = Code(wire.CodeNotLeader)
	// ErrNoQuorum: no Raft leader is known; nothing was done. Retried.
	ErrNoQuorum = Code(wire.CodeNoQuorum)
	// ErrCatchingUp: the node has not applied the Raft log far enough to
	// answer for a quorum disruptor (a min_index read it did not reach in
	// time, or a name it cannot tell exists while it catches up after a
	// start). Retried.
	ErrCatchingUp = Code(wire.CodeCatchingUp)
	// ErrOutcomeUnknown: a change of a quorum disruptor was proposed but
	// its commit could not be confirmed; publishes with an idempotency key
	// are retried, which is safe.
	ErrOutcomeUnknown = Code(wire.CodeOutcomeUnknown)
	// ErrJournalUnavailable: a journaled disruptor's journal could not
	// be written; nothing was published. Retried (a publish is retried
	// only with an idempotency key).
	ErrJournalUnavailable = Code(wire.CodeJournalUnavailable)
	// ErrJournalFull: the disk of a journaled disruptor's journal is
	// full (507); nothing was published.
	ErrJournalFull = Code(wire.CodeJournalFull)
	// ErrNotJournaled: a purge of a disruptor that has no journal.
	ErrNotJournaled = Code(wire.CodeNotJournaled)
)

// codes lists the sentinels, for the test that keeps them in step with
// the API.
var codes = []Code{
	ErrMalformedBody, ErrInvalidEncoding, ErrValidation, ErrInvalidParameter, ErrInvalidSchema,
	ErrUnauthorized, ErrForbidden, ErrNotFound, ErrDisruptorNotFound, ErrSequenceNotFound,
	ErrMethodNotAllowed, ErrNotAcceptable, ErrDisruptorExists, ErrInvalidStateTransition,
	ErrDisruptorNotRunning, ErrDisruptorLimitReached, ErrSequenceEvicted, ErrBodyTooLarge,
	ErrEventTooLarge, ErrBatchTooLarge, ErrUnsupportedMediaType, ErrUnsupportedContentEncoding,
	ErrSchemaViolation, ErrIdempotencyKeyReused, ErrRingFull, ErrTooManySubscribers, ErrRateLimited, ErrDedupWindowFull,
	ErrRequestCanceled, ErrShuttingDown, ErrNotReady, ErrInternal,
	ErrClusterDisabled, ErrClusterNotRunning, ErrClusterJoinFailed, ErrPeerUnavailable,
	ErrPeerCircuitOpen, ErrPeerTimeout, ErrForwardLoop, ErrRequestTimeout, ErrSpinLimitReached,
	ErrOverloaded, ErrNotLeader, ErrNoQuorum, ErrOutcomeUnknown, ErrCatchingUp,
	ErrJournalUnavailable, ErrJournalFull, ErrNotJournaled,
}

// CodeOf returns the API error code of err, or "" when err is not an
// error the server answered.
func CodeOf(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return ""
}

// ConfigError is a bad [Config] field, returned by [New].
type ConfigError struct {
	// Field names the field, e.g. "Endpoint" or "TLS.CAFile".
	Field string
	Err   error
}

func (e *ConfigError) Error() string { return "client: " + e.Field + ": " + e.Err.Error() }
func (e *ConfigError) Unwrap() error { return e.Err }
