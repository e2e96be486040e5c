//go:build !linux

package disruptor

import "errors"

func readTopology() (CPUTopology, error) {
	return CPUTopology{}, errors.New("disruptor: no CPU topology on this OS")
}

// setAffinity is a no-op where the OS gives us no thread affinity call.
func setAffinity([]int) error { return nil }
