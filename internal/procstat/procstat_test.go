package procstat

import (
	"runtime"
	"testing"
	"time"
)

func TestReadAndOthers(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("/proc is Linux's")
	}
	a, err := Read()
	if err != nil {
		t.Fatal(err)
	}
	// burn some CPU of our own: it must not count as the others'
	deadline := time.Now().Add(200 * time.Millisecond)
	x := 0
	for time.Now().Before(deadline) {
		x++
	}
	b, err := Read()
	if err != nil {
		t.Fatal(err)
	}
	if b.Total <= a.Total || b.Self < a.Self || b.Busy < a.Busy {
		t.Fatalf("counters went backwards or stood still: %+v then %+v", a, b)
	}
	if b.Self == a.Self {
		t.Fatalf("200ms of spinning cost no CPU time: %+v then %+v (x=%d)", a, b, x)
	}
	if o := Others(a, b); o < 0 || o > 1 {
		t.Fatalf("Others = %v, want a share from 0 to 1", o)
	}
	if o := Others(a, a); o != 0 {
		t.Fatalf("Others over no time = %v", o)
	}
}
