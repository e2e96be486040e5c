package main

import (
	"bufio"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// userHZ is the unit of /proc/stat's counters: Linux reports them in
// USER_HZ, which is 100 on every architecture Go supports.
const userHZ = 100

// cpuTimes is one reading of the machine-wide CPU counters of /proc/stat,
// in seconds summed over every CPU.
type cpuTimes struct {
	busy  float64 // user, nice, system, irq, softirq (guest time is inside user)
	steal float64 // time the hypervisor gave this machine's CPUs to others
	total float64 // everything, idle and iowait included
}

// readCPU reads the first ("cpu") line of a /proc/stat file.
func readCPU(path string) (cpuTimes, error) {
	f, err := os.Open(path)
	if err != nil {
		return cpuTimes{}, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	if !sc.Scan() {
		return cpuTimes{}, fmt.Errorf("benchdoc: %s is empty", path)
	}
	return parseCPULine(sc.Text())
}

// parseCPULine parses "cpu  user nice system idle iowait irq softirq
// steal guest guest_nice".
func parseCPULine(line string) (cpuTimes, error) {
	f := strings.Fields(line)
	if len(f) < 9 || f[0] != "cpu" {
		return cpuTimes{}, fmt.Errorf("benchdoc: not a /proc/stat cpu line: %q", line)
	}
	var v [8]float64
	for i := range v {
		n, err := strconv.ParseUint(f[i+1], 10, 64)
		if err != nil {
			return cpuTimes{}, fmt.Errorf("benchdoc: /proc/stat field %d: %w", i+1, err)
		}
		v[i] = float64(n) / userHZ
	}
	user, nice, system, idle, iowait, irq, softirq, steal := v[0], v[1], v[2], v[3], v[4], v[5], v[6], v[7]
	busy := user + nice + system + irq + softirq
	return cpuTimes{busy: busy, steal: steal, total: busy + steal + idle + iowait}, nil
}

// noise is the CPU that everything but the measured process used over an
// interval, in cores (CPU-seconds per second): the machine's busy and
// stolen time minus own, the measured process's CPU time, over wall.
func noise(before, after cpuTimes, own, wall time.Duration) float64 {
	if wall <= 0 {
		return 0
	}
	others := (after.busy - before.busy) + (after.steal - before.steal) - own.Seconds()
	// The counters tick at userHZ and own is exact, so a quiet interval
	// can come out a tick or two below zero.
	return max(others, 0) / wall.Seconds()
}
