//go:build !unix

package main

// lockFile does not lock where flock(2) is not: two edits of the contexts
// at the same moment may lose one.
func lockFile(string) (func(), error) { return func() {}, nil }
