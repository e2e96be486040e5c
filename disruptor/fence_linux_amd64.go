//go:build linux && amd64 && !race

package disruptor

import (
	"sync"
	"syscall"
)

// The membarrier(2) system call (Linux 4.14 and later).
const (
	sysMembarrier                         = 324
	membarrierCmdPrivateExpedited         = 1 << 3
	membarrierCmdRegisterPrivateExpedited = 1 << 4
)

var (
	fenceOnce sync.Once
	fenceOK   bool
)

// asymmetricFence reports whether heavyFence works in this process (it
// registers the process for it the first time). When it does, a producer
// whose consumers may park publishes with a release store and then reads
// their parked word, without the full fence that such a store followed by
// a load needs (the store could still sit in its core's store buffer when
// the load reads an old word); a consumer about to park raises the word
// and then calls heavyFence, which makes every thread of the process run
// a full barrier. Then either the consumer's look at the cursor sees the
// publish, or the producer's load sees the raised word (the asymmetric
// Dekker pattern; the consumer pays, once per park, what the producer no
// longer pays on every publish).
func asymmetricFence() bool {
	fenceOnce.Do(func() {
		_, _, errno := syscall.Syscall(sysMembarrier, membarrierCmdRegisterPrivateExpedited, 0, 0)
		fenceOK = errno == 0
	})
	return fenceOK
}

// heavyFence runs a full memory barrier on every CPU that runs a thread of
// this process (membarrier MEMBARRIER_CMD_PRIVATE_EXPEDITED). Call it only
// after asymmetricFence reported true.
func heavyFence() {
	_, _, _ = syscall.Syscall(sysMembarrier, membarrierCmdPrivateExpedited, 0, 0)
}
