//go:build linux

package disruptor

import (
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

const sysCPU = "/sys/devices/system"

func readTopology() (CPUTopology, error) {
	online, err := os.ReadFile(filepath.Join(sysCPU, "cpu", "online"))
	if err != nil {
		return CPUTopology{}, err
	}
	cpus, err := parseCPUList(string(online))
	if err != nil {
		return CPUTopology{}, err
	}
	t := CPUTopology{CPUs: cpus}
	dirs, _ := filepath.Glob(filepath.Join(sysCPU, "node", "node[0-9]*"))
	for _, d := range dirs {
		id, err := strconv.Atoi(strings.TrimPrefix(filepath.Base(d), "node"))
		if err != nil {
			continue
		}
		list, err := os.ReadFile(filepath.Join(d, "cpulist"))
		if err != nil {
			continue
		}
		nodeCPUs, err := parseCPUList(string(list))
		if err != nil {
			return CPUTopology{}, err
		}
		t.Nodes = append(t.Nodes, NUMANode{ID: id, CPUs: nodeCPUs})
	}
	slices.SortFunc(t.Nodes, func(a, b NUMANode) int { return a.ID - b.ID })
	if len(t.Nodes) == 0 {
		t.Nodes = []NUMANode{{ID: 0, CPUs: cpus}}
	}
	return t, nil
}

// setAffinity binds the calling OS thread (tid 0) to cpus.
func setAffinity(cpus []int) error {
	var set unix.CPUSet
	for _, c := range cpus {
		set.Set(c)
	}
	return unix.SchedSetaffinity(0, &set)
}
