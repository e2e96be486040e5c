//go:build linux

package disruptor

import (
	"testing"

	"golang.org/x/sys/unix"
)

// affinityProbe records, on the processor's goroutine, which CPUs its
// thread may run on.
type affinityProbe struct{ cpus []int }

func (a *affinityProbe) OnEvent(*testEvent, int64, bool) error { return nil }

func (a *affinityProbe) OnStart() error {
	var set unix.CPUSet
	if err := unix.SchedGetaffinity(0, &set); err != nil {
		return err
	}
	for c := range 1024 {
		if set.IsSet(c) {
			a.cpus = append(a.cpus, c)
		}
	}
	return nil
}

func TestSetCPUAffinityBindsThread(t *testing.T) {
	topo, err := Topology()
	if err != nil {
		t.Fatal(err)
	}
	want := topo.CPUs[len(topo.CPUs)-1]
	d, err := NewBuilder(newTestEvent).BufferSize(8).Build()
	if err != nil {
		t.Fatal(err)
	}
	probe := &affinityProbe{}
	d.HandleEventsWith(probe).PinCPUs(want)
	if err := d.Start(); err != nil {
		t.Fatal(err)
	}
	publishFrom(d, 0, 1) // so that the processor surely runs before the shutdown
	shutdown(t, d)
	if len(probe.cpus) != 1 || probe.cpus[0] != want {
		t.Fatalf("pinned processor's thread may run on %v, want [%d]", probe.cpus, want)
	}
}
