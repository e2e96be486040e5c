// Package client is a typed Go client of the BadBatch REST API (see
// docs/api.md): disruptors and their lifecycle, publishing, replay, the
// live tail, metrics and health. The badbatch command is built on it.
//
// # Using it
//
//	c, err := client.New(client.DefaultConfig()) // http://127.0.0.1:8080
//	if err != nil { ... }
//	defer c.Close()
//	d, err := c.CreateDisruptor(ctx, wire.CreateRequest{Name: "orders", BufferSize: 4096})
//	ev, _ := client.JSONEvent(map[string]any{"id": 1}, nil)
//	res, err := c.Publish(ctx, "orders", ev, client.PublishOptions{IdempotencyKey: "order-1"})
//	page, err := c.Replay(ctx, "orders", client.FromOldest, 100)
//
// Requests and responses are the wire package's types
// ([wire.CreateRequest], [wire.Disruptor], [wire.PublishResult],
// [wire.Metrics], ...); the events are [EventData] (to publish) and [Event]
// (as read back), also wire's. The client imports wire and nothing else of
// the server: not the engine, the cluster or Raft.
//
// # Configuration
//
// [Config] names the endpoint, a timeout per call, an API key (sent as
// "Authorization: Bearer <key>"), TLS (a CA file, a client certificate for
// mutual TLS, or — for tests — no verification), the body encoding (JSON,
// or MessagePack) and the retry policy. [New] checks it and returns
// [*ConfigError]s naming the bad field.
//
// # Retries
//
// A call is retried only when repeating it cannot do anything twice: GET,
// PUT (the lifecycle is a state resource: putting the state a disruptor is
// in changes nothing) and DELETE, and publishes with an idempotency key
// ([PublishOptions.IdempotencyKey]), which the server deduplicates.
// Retries follow network errors and the answers whose code the code table
// marks retryable ([wire.Lookup]; for a proxy's answer without the API's
// envelope, 429, 502, 503 and 504), wait
// with exponential backoff and jitter (or the server's Retry-After), and
// stay within the call's context and [Config.Timeout]. Creating a
// disruptor and publishing without a key are never retried.
//
// # Errors
//
// The server's error envelope comes back as an [*Error] with the stable
// code, message, details, status and request id. Match codes with
// [errors.Is] and the [Code] sentinels ([ErrDisruptorNotFound],
// [ErrRingFull], ...), or take the whole error with [errors.As] (into a
// *client.Error, or into the envelope's *wire.Error). Network failures are
// returned wrapped, and the context's errors match context.Canceled and
// context.DeadlineExceeded.
//
// # Streams
//
// [Client.Tail] follows a disruptor live, over Server-Sent Events or
// NDJSON, as a range-over-func iterator of [Message] values. When the
// connection breaks it reconnects after the last sequence delivered, so
// nothing is lost or repeated while the ring still holds it.
package client
