// Command c is the C binding of BadBatch, built as a library:
//
//	go build -buildmode=c-shared -o libbadbatch.so ./bindings/c
//	go build -buildmode=c-archive -o libbadbatch.a ./bindings/c
//
// badbatch.h, in this directory, is its interface and states its rules of
// ownership and threading; docs/bindings.md has a quick start. The
// functions are thin: each finds its handle, converts its arguments and
// calls bindings/internal/bytering, whose errors are the BB_* codes.
package main

func main() {}
