//go:build wasm

package bytering

// singleThreaded: Go on WebAssembly runs every goroutine on one thread.
const singleThreaded = true
