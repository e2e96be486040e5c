// Package python holds the Go side of the Python binding: the tests that
// build libbadbatch and a badbatch server and run the Python package's
// pytest suite against them, and the benchmark against the standard
// library's queues. The package itself is Python, in badbatch/; see
// docs/bindings.md.
package python
