package wire

import "net/http"

// The stable error codes of the API. Codes are never renamed or given
// another status within /api/v1; [Lookup] says what each means.
const (
	CodeMalformedBody              = "MALFORMED_BODY"
	CodeInvalidEncoding            = "INVALID_ENCODING"
	CodeValidation                 = "VALIDATION_FAILED"
	CodeInvalidParameter           = "INVALID_PARAMETER"
	CodeInvalidSchema              = "INVALID_SCHEMA"
	CodeUnauthorized               = "UNAUTHORIZED"
	CodeForbidden                  = "FORBIDDEN"
	CodeNotFound                   = "NOT_FOUND"
	CodeDisruptorNotFound          = "DISRUPTOR_NOT_FOUND"
	CodeSequenceNotFound           = "SEQUENCE_NOT_FOUND"
	CodeClusterDisabled            = "CLUSTER_DISABLED"
	CodeMethodNotAllowed           = "METHOD_NOT_ALLOWED"
	CodeNotAcceptable              = "NOT_ACCEPTABLE"
	CodeRequestTimeout             = "REQUEST_TIMEOUT"
	CodeDisruptorExists            = "DISRUPTOR_EXISTS"
	CodeInvalidStateTransition     = "INVALID_STATE_TRANSITION"
	CodeDisruptorNotRunning        = "DISRUPTOR_NOT_RUNNING"
	CodeDisruptorLimitReached      = "DISRUPTOR_LIMIT_REACHED"
	CodeSpinLimitReached           = "SPIN_LIMIT_REACHED"
	CodeClusterNotRunning          = "CLUSTER_NOT_RUNNING"
	CodeSequenceEvicted            = "SEQUENCE_EVICTED"
	CodeBodyTooLarge               = "BODY_TOO_LARGE"
	CodeEventTooLarge              = "EVENT_TOO_LARGE"
	CodeBatchTooLarge              = "BATCH_TOO_LARGE"
	CodeUnsupportedMediaType       = "UNSUPPORTED_MEDIA_TYPE"
	CodeUnsupportedContentEncoding = "UNSUPPORTED_CONTENT_ENCODING"
	CodeSchemaViolation            = "SCHEMA_VIOLATION"
	CodeIdempotencyKeyReused       = "IDEMPOTENCY_KEY_REUSED"
	CodeRingFull                   = "RING_FULL"
	CodeTooManySubscribers         = "TOO_MANY_SUBSCRIBERS"
	CodeRateLimited                = "RATE_LIMITED"
	CodeRequestCanceled            = "REQUEST_CANCELED"
	CodeInternal                   = "INTERNAL"
	CodeClusterJoinFailed          = "CLUSTER_JOIN_FAILED"
	CodePeerUnavailable            = "PEER_UNAVAILABLE"
	CodeShuttingDown               = "SHUTTING_DOWN"
	CodeNotReady                   = "NOT_READY"
	CodeOverloaded                 = "OVERLOADED"
	CodePeerCircuitOpen            = "PEER_CIRCUIT_OPEN"
	CodeNoQuorum                   = "NO_QUORUM"
	CodeOutcomeUnknown             = "OUTCOME_UNKNOWN"
	CodePeerTimeout                = "PEER_TIMEOUT"
	CodeForwardLoop                = "FORWARD_LOOP"
	CodeNotLeader                  = "NOT_LEADER"
	CodeDedupWindowFull            = "DEDUP_WINDOW_FULL"
	CodeCatchingUp                 = "CATCHING_UP"
	CodeJournalUnavailable         = "JOURNAL_UNAVAILABLE"
	CodeJournalFull                = "JOURNAL_FULL"
	CodeNotJournaled               = "NOT_JOURNALED"
)

// CodeSubscriberLagged is not an error response but the code of a
// stream's final "lagged" message: the subscriber fell more than a ring
// behind and the events it had not read were overwritten.
const CodeSubscriberLagged = "SUBSCRIBER_LAGGED"

// CodeInfo describes one error code.
type CodeInfo struct {
	Code string
	// Status is the HTTP status of every response with this code.
	Status int
	// Retryable says the same request may succeed when sent again later
	// (after Retry-After when the response has it). Sending it again is
	// safe only for requests that are idempotent or carry an
	// Idempotency-Key.
	Retryable bool
	// Description says when the code is answered, for docs/api.md.
	Description string
}

// codes is the one table of error codes: docs/api.md's is generated from
// it, and a test keeps docs/openapi.json's list in step. Ordered by status.
var codes = []CodeInfo{
	{CodeMalformedBody, http.StatusBadRequest, false, "the body does not decode in its format: syntax, wrong types, unknown, duplicate or differently-cased fields, invalid UTF-8 (`details.offset` in JSON and MessagePack, the line in YAML), trailing data, empty"},
	{CodeInvalidEncoding, http.StatusBadRequest, false, "the gzip body is corrupt or truncated"},
	{CodeValidation, http.StatusBadRequest, false, "well-formed but invalid: settings (`details.errors`; an explicit 0 where 0 is not allowed, a value not spelled as listed), an event without or with both payloads, bad base64, an empty batch"},
	{CodeInvalidParameter, http.StatusBadRequest, false, "a bad, unknown or repeated query parameter, path sequence or header (`details.parameter`)"},
	{CodeInvalidSchema, http.StatusBadRequest, false, "the JSON Schema does not compile, or would load another document"},
	{CodeUnauthorized, http.StatusUnauthorized, false, "no credentials, or an unknown, expired or malformed key (`details.reason`); `WWW-Authenticate`"},
	{CodeForbidden, http.StatusForbidden, false, "the role lacks the route's permission, or the disruptor is not one of the key's (`details.disruptor`)"},
	{CodeNotFound, http.StatusNotFound, false, "no such route, or a path that is not in canonical form (`//`, `.`, `..`: `details.clean_path`)"},
	{CodeDisruptorNotFound, http.StatusNotFound, false, "no such disruptor"},
	{CodeSequenceNotFound, http.StatusNotFound, false, "the sequence is not published yet (`details.latest_sequence`)"},
	{CodeClusterDisabled, http.StatusNotFound, false, "a cluster route on a server that is not clustered"},
	{CodeMethodNotAllowed, http.StatusMethodNotAllowed, false, "the route exists with other methods (`Allow`)"},
	{CodeNotAcceptable, http.StatusNotAcceptable, false, "`Accept` names no format served"},
	{CodeRequestTimeout, http.StatusRequestTimeout, true, "the request body did not arrive within the server's read timeout"},
	{CodeDisruptorExists, http.StatusConflict, false, "the name is taken"},
	{CodeInvalidStateTransition, http.StatusConflict, false, "the lifecycle does not allow the move (`details.from`, `details.to`)"},
	{CodeDisruptorNotRunning, http.StatusConflict, false, "publish to a created, paused or stopped disruptor (`details.state`)"},
	{CodeDisruptorLimitReached, http.StatusConflict, false, "the server hosts as many disruptors as it may"},
	{CodeSpinLimitReached, http.StatusConflict, false, "a `busy_spin` or `yielding` disruptor would give the server more spinning consumers than it has cores (`details.limit`, `details.spinning`); pick a blocking strategy"},
	{CodeClusterNotRunning, http.StatusConflict, false, "join on a node that has left the cluster (restart it to rejoin)"},
	{CodeNotJournaled, http.StatusConflict, false, "a purge of a disruptor that has no journal (`durability: memory`, or `replication: quorum`)"},
	{CodeSequenceEvicted, http.StatusGone, false, "overwritten by the ring, or for a journaled disruptor below what its journal keeps (retention, purge) (`details.oldest_sequence`)"},
	{CodeBodyTooLarge, http.StatusRequestEntityTooLarge, false, "the body, after decompression, is over its limit (`details.limit`), decompresses more than the compression ratio allows (`details.max_ratio`), or its payloads convert to more than the limit"},
	{CodeEventTooLarge, http.StatusRequestEntityTooLarge, false, "an event's payload and metadata exceed `max_event_size` (`details.index`)"},
	{CodeBatchTooLarge, http.StatusRequestEntityTooLarge, false, "more events than 10000 or than the ring holds, or more than 256 batches"},
	{CodeUnsupportedMediaType, http.StatusUnsupportedMediaType, false, "`Content-Type` is not JSON, YAML or MessagePack"},
	{CodeUnsupportedContentEncoding, http.StatusUnsupportedMediaType, false, "`Content-Encoding` is not gzip or identity"},
	{CodeSchemaViolation, http.StatusUnprocessableEntity, false, "an event fails the disruptor's schema (`details.index`, `details.path`)"},
	{CodeIdempotencyKeyReused, http.StatusUnprocessableEntity, false, "the key was used for a different batch within the window"},
	{CodeRingFull, http.StatusTooManyRequests, true, "no room in the ring (after `publish_timeout_ms` under `block`); nothing was published; `Retry-After`"},
	{CodeTooManySubscribers, http.StatusTooManyRequests, true, "the disruptor, or the client (`details.scope: client`), has its maximum of live streams; `Retry-After`"},
	{CodeRateLimited, http.StatusTooManyRequests, true, "the client's request rate is over `security.rate_limit`; `Retry-After`"},
	{CodeDedupWindowFull, http.StatusTooManyRequests, true, "a new `Idempotency-Key` while the disruptor remembers its maximum of keys (`dedup_max_keys`), none older than the dedup window: remembering one more would forget a key inside the window; nothing was published; publishes without a key and retries of keys it holds go on; `Retry-After` (and `details.retry_after_seconds`) is when the oldest key expires"},
	{CodeRequestCanceled, 499, false, "the client went away while the request waited (logged; the client never sees it)"},
	{CodeInternal, http.StatusInternalServerError, false, "a bug; the log line with the request id says more"},
	{CodeClusterJoinFailed, http.StatusBadGateway, false, "none of the join addresses answered (`details.addrs`)"},
	{CodePeerUnavailable, http.StatusBadGateway, true, "the node hosting the disruptor could not be reached, or failed (`details.node`)"},
	{CodeShuttingDown, http.StatusServiceUnavailable, true, "the server is stopping; `Retry-After`"},
	{CodeNotReady, http.StatusServiceUnavailable, true, "readiness failed (`details.unhealthy`); `Retry-After`"},
	{CodeOverloaded, http.StatusServiceUnavailable, true, "the request bodies in flight hold the server's whole memory budget for bodies (`max_inflight_body_bytes`); nothing was done; `Retry-After`"},
	{CodePeerCircuitOpen, http.StatusServiceUnavailable, true, "every node hosting the disruptor failed recently and gets no requests for a while; `Retry-After`"},
	{CodeCatchingUp, http.StatusServiceUnavailable, true, "this node has not applied the Raft log far enough to answer for a `quorum` disruptor: a `min_index` read it did not reach within 5 s (`details.min_index`, `details.applied_index`), or a name it does not know while it catches up after a start (the disruptor may exist); retry (`Retry-After`), or ask another node"},
	{CodeNoQuorum, http.StatusServiceUnavailable, true, "no Raft leader is known (an election, or the minority side of a partition), or its API address is not known yet; nothing was done; `Retry-After`"},
	{CodeOutcomeUnknown, http.StatusServiceUnavailable, true, "the change was proposed but its commit could not be confirmed (leadership lost, timeout, or the leader a follower forwarded it to did not answer), or a journaled disruptor's events were written but the journal's fsync failed (`sync: always`); it may have happened: retry with the same `Idempotency-Key`; `Retry-After`"},
	{CodeJournalUnavailable, http.StatusServiceUnavailable, true, "a journaled disruptor's journal could not be written (an I/O error, or it refuses writes since an earlier failed fsync: restart the server); nothing was published; `Retry-After`"},
	{CodePeerTimeout, http.StatusGatewayTimeout, true, "the node hosting the disruptor did not answer in time (`details.node`)"},
	{CodeJournalFull, http.StatusInsufficientStorage, true, "the disk of a journaled disruptor's journal is full; nothing was published; publishes work again once there is room (retention, a purge, more disk)"},
	{CodeForwardLoop, http.StatusLoopDetected, false, "a forwarded request would be forwarded again (stale metadata); not sent by the server itself"},
	{CodeNotLeader, http.StatusTemporaryRedirect, false, "a `quorum` disruptor's create, state change, delete, publish or `consistent=true` read reached a Raft follower that could not forward it (the leader is not a routable member, or the request was forwarded already; in a multi-disruptor publish, per batch): `Location` is the same request on the leader (`details.leader_id`, `details.leader_api`); resend it there"},
}

var byCode = func() map[string]CodeInfo {
	m := make(map[string]CodeInfo, len(codes))
	for _, c := range codes {
		if _, dup := m[c.Code]; dup {
			panic("wire: error code " + c.Code + " is in the table twice")
		}
		m[c.Code] = c
	}
	return m
}()

// Codes returns every error code, ordered by status. The slice is a copy.
func Codes() []CodeInfo { return append([]CodeInfo(nil), codes...) }

// Lookup returns what the table says of code, and whether it is a code.
func Lookup(code string) (CodeInfo, bool) {
	c, ok := byCode[code]
	return c, ok
}

// Status returns the HTTP status of code, 500 for a code not in the table.
func Status(code string) int {
	if c, ok := byCode[code]; ok {
		return c.Status
	}
	return http.StatusInternalServerError
}

// Retryable reports whether the table marks code retryable (false for a
// code not in it).
func Retryable(code string) bool { return byCode[code].Retryable }
