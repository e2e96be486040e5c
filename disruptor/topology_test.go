package disruptor

import (
	"runtime"
	"slices"
	"testing"
)

func TestParseCPUList(t *testing.T) {
	tests := []struct {
		in   string
		want []int
		bad  bool
	}{
		{"0", []int{0}, false},
		{"0-3\n", []int{0, 1, 2, 3}, false},
		{"0-1,4,6-7", []int{0, 1, 4, 6, 7}, false},
		{"3,1,1", []int{1, 3}, false},
		{"", nil, false},
		{"a", nil, true},
		{"3-1", nil, true},
		{"1-x", nil, true},
	}
	for _, tt := range tests {
		got, err := parseCPUList(tt.in)
		if (err != nil) != tt.bad || !slices.Equal(got, tt.want) {
			t.Errorf("parseCPUList(%q) = %v, %v; want %v (error %v)", tt.in, got, err, tt.want, tt.bad)
		}
	}
}

func TestTopology(t *testing.T) {
	topo, err := Topology()
	if err != nil && runtime.GOOS == "linux" {
		t.Fatal(err)
	}
	if len(topo.CPUs) == 0 || len(topo.Nodes) == 0 {
		t.Fatalf("Topology = %+v", topo)
	}
	var inNodes []int
	for _, n := range topo.Nodes {
		inNodes = append(inNodes, n.CPUs...)
	}
	slices.Sort(inNodes)
	for _, c := range topo.CPUs {
		if _, found := slices.BinarySearch(inNodes, c); !found {
			t.Errorf("CPU %d is on no NUMA node", c)
		}
	}
}

// TestPinnedProcessor runs a pinned pipeline to the end: pinning must not
// change what is delivered.
func TestPinnedProcessor(t *testing.T) {
	topo, _ := Topology()
	d, err := NewBuilder(newTestEvent).BufferSize(64).SingleProducer().Build()
	if err != nil {
		t.Fatal(err)
	}
	c := newOrderChecker(t, 1)
	d.HandleEventsWith(c).PinCPUs(topo.CPUs[len(topo.CPUs)-1])
	if err := d.Start(); err != nil {
		t.Fatal(err)
	}
	publishFrom(d, 0, 10_000)
	shutdown(t, d)
	c.check(t, 1, 10_000)
}
