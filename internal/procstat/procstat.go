// Package procstat measures how busy the rest of the machine was during a
// benchmark, from /proc: the CPU time all processes used (/proc/stat)
// minus the CPU time of this one (/proc/self/stat). Benchmarks report it
// as a metric so that a run on a busy machine can be told apart and
// rerun; the machines we measure on are shared.
//
// CPU the kernel spends on this process's behalf in its own threads (the
// file system journal committing an fsync, say) counts as the others'.
package procstat

import (
	"fmt"
	"os"
	"strconv"
	"strings"
)

// Sample is a reading of the machine's and this process's CPU counters,
// in clock ticks.
type Sample struct {
	Busy  uint64 // every CPU's time in user, nice, system, irq, softirq and steal
	Total uint64 // every CPU's time, idle and iowait included
	Self  uint64 // this process's user and system time (with ReadWith, its processes' too)
}

// Read takes a sample. It fails where /proc is missing (not Linux).
func Read() (Sample, error) {
	stat, err := os.ReadFile("/proc/stat")
	if err != nil {
		return Sample{}, err
	}
	line, _, _ := strings.Cut(string(stat), "\n")
	fields := strings.Fields(line)
	if len(fields) < 8 || fields[0] != "cpu" {
		return Sample{}, fmt.Errorf("procstat: unexpected /proc/stat line %q", line)
	}
	var s Sample
	for i, f := range fields[1:] {
		v, err := strconv.ParseUint(f, 10, 64)
		if err != nil {
			return Sample{}, fmt.Errorf("procstat: /proc/stat: %w", err)
		}
		if i >= 8 { // guest and guest_nice are already counted in user and nice
			break
		}
		s.Total += v
		if i != 3 && i != 4 { // idle, iowait
			s.Busy += v
		}
	}
	self, err := processCPU("/proc/self/stat")
	if err != nil {
		return Sample{}, err
	}
	s.Self = self
	return s, nil
}

// ReadWith is [Read] counting the processes pids (a server the benchmark
// started, say) as this one: their CPU time is added to Self, so that
// [Others] leaves it out. It fails when one of them is gone.
func ReadWith(pids ...int) (Sample, error) {
	s, err := Read()
	if err != nil {
		return Sample{}, err
	}
	for _, pid := range pids {
		v, err := processCPU("/proc/" + strconv.Itoa(pid) + "/stat")
		if err != nil {
			return Sample{}, err
		}
		s.Self += v
	}
	return s, nil
}

// processCPU reads a process's user and system time, in clock ticks,
// from its stat file.
func processCPU(path string) (uint64, error) {
	self, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	// the command name may hold spaces: the fields start after the last ')'
	i := strings.LastIndexByte(string(self), ')')
	if i < 0 {
		return 0, fmt.Errorf("procstat: unexpected %s", path)
	}
	rest := strings.Fields(string(self)[i+1:])
	if len(rest) < 13 {
		return 0, fmt.Errorf("procstat: short %s", path)
	}
	var sum uint64
	for _, f := range rest[11:13] { // utime, stime: fields 14 and 15
		v, err := strconv.ParseUint(f, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("procstat: %s: %w", path, err)
		}
		sum += v
	}
	return sum, nil
}

// Others returns the share of the machine's CPU time, from 0 to 1, that
// processes other than this one used between a and b; 0 when no time
// passed.
func Others(a, b Sample) float64 {
	total := float64(b.Total - a.Total)
	if total <= 0 {
		return 0
	}
	others := float64(b.Busy-a.Busy) - float64(b.Self-a.Self)
	return max(others, 0) / total
}
