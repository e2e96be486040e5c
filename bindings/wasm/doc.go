// Package wasm holds the WebAssembly builds of the BadBatch core and
// their tests: wasip1/ is a WASI reactor module with a tiny exported API
// (//go:wasmexport), js/ a browser module (syscall/js), both over
// wasmapi/. The tests run the wasip1 module in wazero and the js module in
// Node.js. See docs/bindings.md.
package wasm
