//go:build !wasm

package bytering

// singleThreaded: this port of Go runs goroutines on many threads.
const singleThreaded = false
