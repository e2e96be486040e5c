package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"

	"github.com/badbatch/badbatch/engine"
	"github.com/badbatch/badbatch/replication"
)

// The stable error codes of the API and their statuses. docs/api.md lists
// them with their meaning; a test keeps the two in step. Codes are never
// renamed or given another status within /api/v1.
const (
	CodeMalformedBody              = "MALFORMED_BODY"
	CodeInvalidEncoding            = "INVALID_ENCODING"
	CodeValidation                 = engine.CodeValidation
	CodeInvalidParameter           = engine.CodeInvalidParameter
	CodeInvalidSchema              = engine.CodeInvalidSchema
	CodeUnauthorized               = "UNAUTHORIZED"
	CodeForbidden                  = "FORBIDDEN"
	CodeNotFound                   = "NOT_FOUND"
	CodeDisruptorNotFound          = engine.CodeNotFound
	CodeSequenceNotFound           = engine.CodeSequenceNotFound
	CodeMethodNotAllowed           = "METHOD_NOT_ALLOWED"
	CodeNotAcceptable              = "NOT_ACCEPTABLE"
	CodeDisruptorExists            = engine.CodeExists
	CodeInvalidStateTransition     = engine.CodeInvalidTransition
	CodeDisruptorNotRunning        = engine.CodeNotRunning
	CodeDisruptorLimitReached      = engine.CodeLimitReached
	CodeSequenceEvicted            = engine.CodeEvicted
	CodeBodyTooLarge               = "BODY_TOO_LARGE"
	CodeEventTooLarge              = engine.CodeEventTooLarge
	CodeBatchTooLarge              = engine.CodeBatchTooLarge
	CodeUnsupportedMediaType       = "UNSUPPORTED_MEDIA_TYPE"
	CodeUnsupportedContentEncoding = "UNSUPPORTED_CONTENT_ENCODING"
	CodeSchemaViolation            = engine.CodeSchemaViolation
	CodeIdempotencyKeyReused       = engine.CodeKeyReused
	CodeRingFull                   = engine.CodeRingFull
	CodeTooManySubscribers         = engine.CodeTooManySubscribers
	CodeRateLimited                = "RATE_LIMITED"
	CodeRequestCanceled            = "REQUEST_CANCELED"
	CodeShuttingDown               = engine.CodeShuttingDown
	CodeNotReady                   = "NOT_READY"
	CodeInternal                   = engine.CodeInternal
	CodeClusterDisabled            = "CLUSTER_DISABLED"
	CodeClusterNotRunning          = "CLUSTER_NOT_RUNNING"
	CodeClusterJoinFailed          = "CLUSTER_JOIN_FAILED"
	CodePeerUnavailable            = "PEER_UNAVAILABLE"
	CodePeerCircuitOpen            = "PEER_CIRCUIT_OPEN"
	CodePeerTimeout                = "PEER_TIMEOUT"
	CodeForwardLoop                = "FORWARD_LOOP"
	CodeNotLeader                  = replication.CodeNotLeader
	CodeNoQuorum                   = replication.CodeNoQuorum
	CodeOutcomeUnknown             = replication.CodeOutcomeUnknown
)

// Codes maps every error code to its HTTP status.
var Codes = map[string]int{
	CodeMalformedBody:              http.StatusBadRequest,
	CodeInvalidEncoding:            http.StatusBadRequest,
	CodeValidation:                 http.StatusBadRequest,
	CodeInvalidParameter:           http.StatusBadRequest,
	CodeInvalidSchema:              http.StatusBadRequest,
	CodeUnauthorized:               http.StatusUnauthorized,
	CodeForbidden:                  http.StatusForbidden,
	CodeNotFound:                   http.StatusNotFound,
	CodeDisruptorNotFound:          http.StatusNotFound,
	CodeSequenceNotFound:           http.StatusNotFound,
	CodeMethodNotAllowed:           http.StatusMethodNotAllowed,
	CodeNotAcceptable:              http.StatusNotAcceptable,
	CodeDisruptorExists:            http.StatusConflict,
	CodeInvalidStateTransition:     http.StatusConflict,
	CodeDisruptorNotRunning:        http.StatusConflict,
	CodeDisruptorLimitReached:      http.StatusConflict,
	CodeSequenceEvicted:            http.StatusGone,
	CodeBodyTooLarge:               http.StatusRequestEntityTooLarge,
	CodeEventTooLarge:              http.StatusRequestEntityTooLarge,
	CodeBatchTooLarge:              http.StatusRequestEntityTooLarge,
	CodeUnsupportedMediaType:       http.StatusUnsupportedMediaType,
	CodeUnsupportedContentEncoding: http.StatusUnsupportedMediaType,
	CodeSchemaViolation:            http.StatusUnprocessableEntity,
	CodeIdempotencyKeyReused:       http.StatusUnprocessableEntity,
	CodeRingFull:                   http.StatusTooManyRequests,
	CodeTooManySubscribers:         http.StatusTooManyRequests,
	CodeRateLimited:                http.StatusTooManyRequests,
	CodeRequestCanceled:            499,
	CodeShuttingDown:               http.StatusServiceUnavailable,
	CodeNotReady:                   http.StatusServiceUnavailable,
	CodeInternal:                   http.StatusInternalServerError,
	CodeClusterDisabled:            http.StatusNotFound,
	CodeClusterNotRunning:          http.StatusConflict,
	CodeClusterJoinFailed:          http.StatusBadGateway,
	CodePeerUnavailable:            http.StatusBadGateway,
	CodePeerCircuitOpen:            http.StatusServiceUnavailable,
	CodePeerTimeout:                http.StatusGatewayTimeout,
	CodeForwardLoop:                http.StatusLoopDetected,
	CodeNotLeader:                  http.StatusTemporaryRedirect,
	CodeNoQuorum:                   http.StatusServiceUnavailable,
	CodeOutcomeUnknown:             http.StatusServiceUnavailable,
}

// Error is the body of every error response:
//
//	{"error": {"code": "RING_FULL", "message": "...", "details": {...}}}
type Error struct {
	Code    string         `json:"code" yaml:"code"`
	Message string         `json:"message" yaml:"message"`
	Details map[string]any `json:"details" yaml:"details"`
}

func (e *Error) Error() string { return e.Code + ": " + e.Message }

// Status is the HTTP status of the error's code.
func (e *Error) Status() int {
	if s, ok := Codes[e.Code]; ok {
		return s
	}
	return http.StatusInternalServerError
}

// errorBody is the envelope.
type errorBody struct {
	Error *Error `json:"error" yaml:"error"`
}

func newError(code, msg string, details map[string]any) *Error {
	if details == nil {
		details = map[string]any{}
	}
	return &Error{Code: code, Message: msg, Details: details}
}

func errorf(code, format string, args ...any) *Error {
	return newError(code, fmt.Sprintf(format, args...), nil)
}

// fromEngine maps an engine error to the API error, with the details the
// typed errors carry.
func fromEngine(err error) *Error {
	var ae *Error
	if errors.As(err, &ae) {
		return ae
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return newError(CodeRequestCanceled, "the request ended before the operation finished", nil)
	}
	code := engine.Code(err)
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
	)
	switch {
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
	}
	if ces := engine.ConfigErrors(err); len(ces) > 0 {
		fields := make([]map[string]any, len(ces))
		for i, ce := range ces {
			fields[i] = map[string]any{"field": ce.Field, "value": fmt.Sprint(ce.Value), "reason": ce.Reason}
		}
		d["errors"] = fields
	}
	msg := err.Error()
	if code == CodeInternal {
		msg = "internal error"
	}
	return newError(code, trimPrefix(msg), d)
}

// trimPrefix drops the package prefix of engine messages.
func trimPrefix(msg string) string {
	const p = "engine: "
	if len(msg) > len(p) && msg[:len(p)] == p {
		return msg[len(p):]
	}
	return msg
}

// retryAfter is the Retry-After header value for the error, or "".
func retryAfter(e *Error) string {
	switch e.Code {
	case CodeRingFull, CodeTooManySubscribers, CodeShuttingDown, CodeNotReady, CodePeerCircuitOpen, CodeNoQuorum, CodeOutcomeUnknown:
		return strconv.Itoa(1)
	}
	return ""
}
