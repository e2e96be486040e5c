//go:build !unix

package disruptor

import (
	"testing"
	"time"
)

// processCPU skips: there is no getrusage here.
func processCPU(t *testing.T) time.Duration {
	t.Helper()
	t.Skip("no getrusage on this platform")
	return 0
}
