//go:build !linux || !amd64 || race

package disruptor

// asymmetricFence reports false: publishes keep sync/atomic's full fence
// (see fence_linux_amd64.go).
func asymmetricFence() bool { return false }

func heavyFence() {}
