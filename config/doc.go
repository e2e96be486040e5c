// Package config loads BadBatch's configuration: built-in defaults, then a
// YAML (or JSON) file, then BADBATCH_* environment variables, then
// command-line flags, each layer overriding the one before.
//
// # Layout
//
// The file has the sections of the design document's example — server,
// cluster (with its replication subsection), disruptor, logging — plus
// limits and security (TLS, API keys and roles, rate limits, CORS, whether
// /metrics is public: [Security], applied to the server with
// [Security.Apply]). [Example] returns a complete, commented file;
// [Default] the built-in values.
//
// # Environment
//
// Every scalar key has a variable: the key upper-cased with "." replaced by
// "_" and the prefix BADBATCH_, so server.bind_addr is
// BADBATCH_SERVER_BIND_ADDR. Lists take comma-separated values.
//
// # Validation
//
// [Load] rejects unknown keys (with a "did you mean" hint) and returns every
// invalid value at once, each naming its key and what is allowed, as
// [*KeyError]s joined with errors.Join.
package config
