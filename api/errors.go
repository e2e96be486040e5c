package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"

	"github.com/badbatch/badbatch/engine"
	"github.com/badbatch/badbatch/replication"
	"github.com/badbatch/badbatch/wire"
)

// Error is the error envelope's error ([wire.Error]); its code is one of
// [wire.Codes], which also gives its status.
type Error = wire.Error

// errorBody is the envelope.
type errorBody = wire.ErrorBody

// The error codes, as this package names them; [wire.Codes] is the table
// of their statuses and meanings.
const (
	CodeMalformedBody              = wire.CodeMalformedBody
	CodeInvalidEncoding            = wire.CodeInvalidEncoding
	CodeValidation                 = wire.CodeValidation
	CodeInvalidParameter           = wire.CodeInvalidParameter
	CodeInvalidSchema              = wire.CodeInvalidSchema
	CodeUnauthorized               = wire.CodeUnauthorized
	CodeForbidden                  = wire.CodeForbidden
	CodeNotFound                   = wire.CodeNotFound
	CodeDisruptorNotFound          = wire.CodeDisruptorNotFound
	CodeSequenceNotFound           = wire.CodeSequenceNotFound
	CodeMethodNotAllowed           = wire.CodeMethodNotAllowed
	CodeNotAcceptable              = wire.CodeNotAcceptable
	CodeRequestTimeout             = wire.CodeRequestTimeout
	CodeDisruptorExists            = wire.CodeDisruptorExists
	CodeInvalidStateTransition     = wire.CodeInvalidStateTransition
	CodeDisruptorNotRunning        = wire.CodeDisruptorNotRunning
	CodeDisruptorLimitReached      = wire.CodeDisruptorLimitReached
	CodeSpinLimitReached           = wire.CodeSpinLimitReached
	CodeSequenceEvicted            = wire.CodeSequenceEvicted
	CodeBodyTooLarge               = wire.CodeBodyTooLarge
	CodeEventTooLarge              = wire.CodeEventTooLarge
	CodeBatchTooLarge              = wire.CodeBatchTooLarge
	CodeUnsupportedMediaType       = wire.CodeUnsupportedMediaType
	CodeUnsupportedContentEncoding = wire.CodeUnsupportedContentEncoding
	CodeSchemaViolation            = wire.CodeSchemaViolation
	CodeIdempotencyKeyReused       = wire.CodeIdempotencyKeyReused
	CodeRingFull                   = wire.CodeRingFull
	CodeTooManySubscribers         = wire.CodeTooManySubscribers
	CodeRateLimited                = wire.CodeRateLimited
	CodeRequestCanceled            = wire.CodeRequestCanceled
	CodeShuttingDown               = wire.CodeShuttingDown
	CodeNotReady                   = wire.CodeNotReady
	CodeOverloaded                 = wire.CodeOverloaded
	CodeInternal                   = wire.CodeInternal
	CodeClusterDisabled            = wire.CodeClusterDisabled
	CodeClusterNotRunning          = wire.CodeClusterNotRunning
	CodeClusterJoinFailed          = wire.CodeClusterJoinFailed
	CodePeerUnavailable            = wire.CodePeerUnavailable
	CodePeerCircuitOpen            = wire.CodePeerCircuitOpen
	CodePeerTimeout                = wire.CodePeerTimeout
	CodeForwardLoop                = wire.CodeForwardLoop
	CodeNotLeader                  = wire.CodeNotLeader
	CodeNoQuorum                   = wire.CodeNoQuorum
	CodeOutcomeUnknown             = wire.CodeOutcomeUnknown
	CodeDedupWindowFull            = wire.CodeDedupWindowFull
	CodeCatchingUp                 = wire.CodeCatchingUp
	CodeJournalUnavailable         = wire.CodeJournalUnavailable
	CodeJournalFull                = wire.CodeJournalFull
	CodeNotJournaled               = wire.CodeNotJournaled
)

func newError(code, msg string, details map[string]any) *Error {
	if details == nil {
		details = map[string]any{}
	}
	return &Error{Code: code, Message: msg, Details: details}
}

func errorf(code, format string, args ...any) *Error {
	return newError(code, fmt.Sprintf(format, args...), nil)
}

// sentinels maps the errors of the layers below to the API's codes: the
// one place where an engine or replication error becomes a code. The
// first match wins, so the replication errors, which may wrap a context
// error or an engine one, come first, and the context's errors last.
var sentinels = []struct {
	err  error
	code string
	// msg replaces the error's own message, which names internals.
	msg string
}{
	{replication.ErrOutcomeUnknown, CodeOutcomeUnknown, "the change was proposed but its commit could not be confirmed; retry with the same idempotency key"},
	{replication.ErrNoQuorum, CodeNoQuorum, "no Raft leader is known (an election, or this node is on the minority side of a partition)"},
	{replication.ErrNotLeader, CodeNotLeader, "this node is not the Raft leader; resend the request to the leader"},
	{replication.ErrClosed, CodeShuttingDown, "the replication node is closed"},
	{replication.ErrCorrupt, CodeInternal, ""},
	{engine.ErrNotFound, CodeDisruptorNotFound, ""},
	{engine.ErrExists, CodeDisruptorExists, ""},
	{engine.ErrInvalidConfig, CodeValidation, ""},
	{engine.ErrInvalidSchema, CodeInvalidSchema, ""},
	{engine.ErrLimitReached, CodeDisruptorLimitReached, ""},
	{engine.ErrInvalidTransition, CodeInvalidStateTransition, ""},
	{engine.ErrNotRunning, CodeDisruptorNotRunning, ""},
	{engine.ErrRingFull, CodeRingFull, ""},
	{engine.ErrEmptyBatch, CodeValidation, ""},
	{engine.ErrBatchTooLarge, CodeBatchTooLarge, ""},
	{engine.ErrEventTooLarge, CodeEventTooLarge, ""},
	{engine.ErrInvalidEvent, CodeValidation, ""},
	{engine.ErrSchemaViolation, CodeSchemaViolation, ""},
	{engine.ErrKeyReused, CodeIdempotencyKeyReused, ""},
	{engine.ErrDedupWindowFull, CodeDedupWindowFull, ""},
	{engine.ErrEvicted, CodeSequenceEvicted, ""},
	{engine.ErrSequenceNotFound, CodeSequenceNotFound, ""},
	{engine.ErrInvalidSequence, CodeInvalidParameter, ""},
	{engine.ErrTooManySubscribers, CodeTooManySubscribers, ""},
	{engine.ErrClosed, CodeShuttingDown, ""},
	{engine.ErrOutcomeUnknown, CodeOutcomeUnknown, "the events were written to the journal and published, but its fsync failed: they may not survive a power loss; the disruptor refuses publishes until the server restarts"},
	{engine.ErrJournalFull, CodeJournalFull, "the journal's disk is full; nothing was published"},
	{engine.ErrJournalUnavailable, CodeJournalUnavailable, ""},
	{engine.ErrNotJournaled, CodeNotJournaled, ""},
	{context.Canceled, CodeRequestCanceled, "the request ended before the operation finished"},
	{context.DeadlineExceeded, CodeRequestCanceled, "the request ended before the operation finished"},
}

// codeOf returns the API code of err and the message to send with it
// ("" for err's own), CodeInternal for an error no table entry matches.
func codeOf(err error) (code, msg string) {
	for _, s := range sentinels {
		if errors.Is(err, s.err) {
			return s.code, s.msg
		}
	}
	return CodeInternal, ""
}

// fromEngine maps an error of the engine or the replication node (or the
// request's context) to the API error, with the details its typed errors
// carry. An *Error passes through.
func fromEngine(err error) *Error {
	var ae *Error
	if errors.As(err, &ae) {
		return ae
	}
	code, msg := codeOf(err)
	d := map[string]any{}
	var (
		ev  *engine.EvictedError
		np  *engine.NotPublishedError
		ee  *engine.EventError
		be  *engine.BatchError
		se  *engine.SchemaError
		te  *engine.TransitionError
		ste *engine.StateError
		rf  *engine.RingFullError
		df  *engine.DedupFullError
		le  *replication.LeaderError
	)
	switch {
	case errors.As(err, &le):
		if le.LeaderID != "" {
			d["leader_id"], d["leader_raft_addr"] = le.LeaderID, le.LeaderAddr
		}
	case errors.As(err, &ev):
		d["sequence"], d["oldest_sequence"] = ev.Sequence, ev.Oldest
	case errors.As(err, &np):
		d["sequence"], d["latest_sequence"] = np.Sequence, np.Latest
	case errors.As(err, &ee):
		d["index"] = ee.Index
		if ee.Size > 0 {
			d["size"] = ee.Size
		}
		if ee.Limit > 0 {
			d["limit"] = ee.Limit
		}
	case errors.As(err, &be):
		if be.Limit > 0 {
			d["count"], d["limit"] = be.Count, be.Limit
		}
	case errors.As(err, &se):
		d["index"], d["path"], d["reason"] = se.Index, se.Path, se.Message
	case errors.As(err, &te):
		d["from"], d["to"] = te.From.String(), te.To.String()
	case errors.As(err, &ste):
		d["state"] = ste.State.String()
	case errors.As(err, &rf):
		d["waited_ms"] = rf.Waited.Milliseconds()
	case errors.As(err, &df):
		n, _ := strconv.Atoi(retryAfterSeconds(df.RetryAfter))
		d["keys"], d["retry_after_seconds"] = df.Keys, n
	}
	if ces := engine.ConfigErrors(err); len(ces) > 0 {
		fields := make([]map[string]any, len(ces))
		for i, ce := range ces {
			fields[i] = map[string]any{"field": ce.Field, "value": fmt.Sprint(ce.Value), "reason": ce.Reason}
		}
		d["errors"] = fields
	}
	switch {
	case code == CodeInternal:
		msg = "internal error"
	case msg == "":
		msg = trimPrefix(err.Error())
	}
	return newError(code, msg, d)
}

// trimPrefix drops the package prefix of engine messages.
func trimPrefix(msg string) string {
	const p = "engine: "
	if len(msg) > len(p) && msg[:len(p)] == p {
		return msg[len(p):]
	}
	return msg
}

// retryAfter is the Retry-After header value for the error, or "":
// details.retry_after_seconds when the error says when to retry, else one
// second for the retryable codes answered 429 or 503.
func retryAfter(e *Error) string {
	c, ok := wire.Lookup(e.Code)
	if !ok || !c.Retryable || (c.Status != http.StatusTooManyRequests && c.Status != http.StatusServiceUnavailable) {
		return ""
	}
	if n, ok := e.Details["retry_after_seconds"].(int); ok && n > 0 {
		return strconv.Itoa(n)
	}
	return strconv.Itoa(1)
}
