// Package api serves an [engine.Engine] over HTTP: the BadBatch REST API
// under /api/v1, with /health, /health/ready and a Prometheus /metrics.
//
// docs/api.md describes the API for its users and docs/openapi.json (served
// at GET /api/v1/openapi.json) describes it for machines; a test checks that
// the document and the route table below agree.
//
// # Using it
//
//	eng, _ := engine.New(engine.DefaultConfig())
//	srv, _ := api.New(api.DefaultConfig(), eng)
//	go srv.ListenAndServe()
//	...
//	srv.Shutdown(ctx) // ends streams, drains requests, closes the engine
//
// [New] registers the engine's collector, its own HTTP metrics and the Go
// runtime's with [Config.Registry] (a private registry by default), so
// leave the engine's own Registerer unset.
//
// # Routing
//
// One route table ([Server.Routes]) feeds a Go 1.22 [http.ServeMux]. A
// request that matches no route is answered by the server, not the mux,
// so 404 and 405 come in the error envelope too. Around the mux, every
// request gets a request id (X-Request-Id), panic recovery, gzip for
// clients that accept it, a [log/slog] line and metrics; with a
// [Config.TracerProvider], each route is wrapped in otelhttp and each
// publish gets a span.
//
// # Security
//
// Every entry of the route table declares a [Permission]; [New] refuses a
// route without one. A request is authenticated by an API key
// ("Authorization: Bearer KEY" or "X-API-Key: KEY", held as [HashKey]
// hashes in [Config.Keys] and compared in constant time) or a verified
// client certificate ([Config.TLS], [Config.ClientCerts]); rate limited
// per client ([Config.RateLimit]); and authorized by its [Role]: admin,
// operator, publisher or reader, the last two confined to the disruptors
// their glob patterns match. Without keys or certificates authentication
// is off and every client is an admin, which [Config.Validate] and
// [Server.Serve] allow on loopback only unless [Config.Insecure]. Refusals
// and operator and admin actions get an "audit" log line; keys are never
// logged. docs/security.md has the model, the permission table and a
// hardening checklist.
//
// # Bodies
//
// Bodies are JSON, YAML or MessagePack, picked by Content-Type and Accept
// (the response format is chosen before the handler runs, so a 406 has no
// side effects), gzipped or not. One table (codec.go) holds what differs
// per format: its reader, its library decoder and encoder, and its writers
// of events and replay pages. Publish bodies are read by one grammar
// (decode.go) over a small token reader (tokens.go) that each format
// implements: hand-written zero-copy readers for JSON and MessagePack,
// which validate what the libraries accept and hand payloads on as slices
// of the body, and a reader over yaml.v3's node tree. The other bodies go
// through the same readers for the strict checks (duplicate and
// differently-cased fields, UTF-8; document.go), then through
// encoding/json, yaml.v3 and vmihailenco/msgpack. Replay and streams write
// events by hand. BenchmarkDecode compares the readers with the libraries,
// and fuzz tests hold them to the libraries' behaviour, with bodies split
// as a network delivers them.
//
// Reading a body is bounded before memory is spent (body.go): the limit
// after decompression, the compression ratio, the payload and conversion
// limits, and a server-wide budget of bodies in flight (503 OVERLOADED).
//
// # Errors
//
// Every error is {"error": {"code", "message", "details"}} ([wire.ErrorBody]);
// [wire.Codes] is the stable table of codes, statuses and meanings, from
// which docs/api.md's table is generated. The errors of the engine and of
// the replication node map to codes in one place (errors.go), by their
// sentinels, with the details their typed errors carry.
//
// # Streams
//
// GET /api/v1/disruptors/{name}/events/stream follows a disruptor as
// Server-Sent Events or NDJSON through an [engine.Subscription]. Streams lift
// the server's write timeout for themselves and bound each write instead,
// send heartbeats when idle, and end with a final message when the
// subscriber lagged a ring behind, the disruptor stopped or was deleted, or
// the server shuts down.
//
// # Cluster
//
// With [Config.ClusterNode] and [Config.ClusterForwarder] (a
// *cluster.Node and *cluster.Forwarder) the server is a cluster member:
// it serves /api/v1/cluster/members, /health, /join and /leave, gossips
// the names of its disruptors after every create and delete, fails
// readiness while the cluster is degraded, and sends a request about a
// disruptor it does not host to the node that does (after authentication;
// the owner checks the client's credentials again). [ForwardErrorHandler]
// gives forwarding failures the error envelope. Without them the cluster
// routes answer 404 CLUSTER_DISABLED. docs/cluster.md has the model.
package api
