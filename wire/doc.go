// Package wire is the BadBatch REST API on the wire: the request and
// response bodies, the error envelope and the table of stable error codes.
// It imports nothing of the server, so that the server ([api]), the Go
// client ([client]) and anything else that speaks the API share one
// definition of it without pulling in the engine, the cluster or Raft.
//
// # Bodies
//
// Every body type carries json tags (also the field names in MessagePack)
// and yaml tags. Zero fields of a request mean "the server's default"; an
// explicit invalid value (a buffer_size of 0, say) is refused by the server
// with VALIDATION_FAILED. Events are [EventData] on the way in and [Event]
// on the way out; the server writes events by hand, as they are its hot
// path, and tests keep it in step with these types.
//
// # Errors
//
// Every error response is an [ErrorBody]: {"error": {"code", "message",
// "details"}}. The code is stable: [Lookup] gives its HTTP status, whether
// a retry may succeed, and what it means. docs/api.md's table of codes is
// generated from the same table and a test keeps the two equal.
//
// [api]: https://pkg.go.dev/github.com/badbatch/badbatch/api
// [client]: https://pkg.go.dev/github.com/badbatch/badbatch/client
package wire
