package procstat

import (
	"os"
	"os/exec"
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

// TestReadWith: the CPU of a process given to ReadWith is counted as this
// one's (a child that spins), and a process that is gone is an error.
func TestReadWith(t *testing.T) {
	if os.Getenv("PROCSTAT_SPIN") != "" {
		for deadline := time.Now().Add(2 * time.Second); time.Now().Before(deadline); {
		}
		return
	}
	if runtime.GOOS != "linux" {
		t.Skip("/proc is Linux's")
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestReadWith$")
	cmd.Env = append(os.Environ(), "PROCSTAT_SPIN=1")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	pid := cmd.Process.Pid
	a, err := ReadWith(pid)
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(500 * time.Millisecond)
	b, err := ReadWith(pid)
	if err != nil {
		t.Fatal(err)
	}
	own, err := Read()
	if err != nil {
		t.Fatal(err)
	}
	if b.Self <= a.Self || b.Self <= own.Self {
		t.Errorf("a spinning child's CPU is not in Self: %d then %d ticks (this process alone: %d)", a.Self, b.Self, own.Self)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadWith(pid); err == nil {
		t.Error("ReadWith of a process that has exited: no error")
	}
}
