package clustertest

import (
	"net"
	"testing"
	"time"
)

func TestEventually(t *testing.T) {
	n := 0
	if !Eventually(time.Second, func() bool { n++; return n == 3 }) {
		t.Fatal("a condition that holds on the third look did not")
	}
	start := time.Now()
	if Eventually(50*time.Millisecond, func() bool { return false }) {
		t.Fatal("a condition that never holds did")
	}
	if time.Since(start) < 50*time.Millisecond {
		t.Fatal("gave up before the timeout")
	}
}

func TestFreeAddr(t *testing.T) {
	a := FreeAddr(t)
	ln, err := net.Listen("tcp", a)
	if err != nil {
		t.Fatalf("FreeAddr %s is not free: %v", a, err)
	}
	ln.Close()
}
