package disruptor

import (
	"fmt"
	"runtime"
	"slices"
	"strconv"
	"strings"
)

// CPUTopology is the machine's processor layout, as the OS reports it, for
// choosing the CPUs to pin processors to (see
// [BatchEventProcessor.SetCPUAffinity] and [EventHandlerGroup.PinCPUs]).
type CPUTopology struct {
	// CPUs lists the logical CPUs online, ascending.
	CPUs []int
	// Nodes lists the NUMA nodes with their CPUs; a machine without NUMA
	// information has one node, 0, holding every CPU.
	Nodes []NUMANode
}

// NUMANode is one memory node and the CPUs closest to it.
type NUMANode struct {
	ID   int
	CPUs []int
}

// Topology reads the CPU layout from the OS (on Linux, /sys). Where it has
// none, it reports runtime.NumCPU CPUs on one node.
func Topology() (CPUTopology, error) {
	t, err := readTopology()
	if err != nil || len(t.CPUs) == 0 {
		cpus := make([]int, runtime.NumCPU())
		for i := range cpus {
			cpus[i] = i
		}
		return CPUTopology{CPUs: cpus, Nodes: []NUMANode{{ID: 0, CPUs: cpus}}}, err
	}
	return t, nil
}

// parseCPUList parses the kernel's list format, "0-3,8,10-11".
func parseCPUList(s string) ([]int, error) {
	var cpus []int
	for part := range strings.SplitSeq(strings.TrimSpace(s), ",") {
		if part == "" {
			continue
		}
		lo, hi, isRange := strings.Cut(part, "-")
		a, err := strconv.Atoi(lo)
		if err != nil {
			return nil, fmt.Errorf("disruptor: bad CPU list %q: %w", s, err)
		}
		b := a
		if isRange {
			if b, err = strconv.Atoi(hi); err != nil {
				return nil, fmt.Errorf("disruptor: bad CPU list %q: %w", s, err)
			}
		}
		if b < a {
			return nil, fmt.Errorf("disruptor: bad CPU list %q: range %d-%d", s, a, b)
		}
		for c := a; c <= b; c++ {
			cpus = append(cpus, c)
		}
	}
	slices.Sort(cpus)
	return slices.Compact(cpus), nil
}
