package server

import (
	"testing"
	"time"
)

// TestPromotable: a non-voter is promoted only after the stabilization
// time, once it has applied the log up to its target (the leader's
// applied index when the leader first saw it as a non-voter).
func TestPromotable(t *testing.T) {
	const stab = 5 * time.Second
	for _, c := range []struct {
		applied string
		target  uint64
		for_    time.Duration
		want    bool
	}{
		{"1000", 1000, stab, true},
		{"5000", 1000, stab, true}, // kept up while the log grew
		{"999", 1000, stab, false}, // not there yet
		{"1000", 1000, stab - 1, false},
		{"", 10, time.Hour, false},  // gossips no index
		{"x", 10, time.Hour, false}, // nonsense
		{"0", 0, stab, true},        // a fresh cluster
		{"18446744073709551615", 1, stab, true},
	} {
		if got := promotable(c.applied, c.target, c.for_, stab); got != c.want {
			t.Errorf("promotable(%q, %d, %v) = %v, want %v", c.applied, c.target, c.for_, got, c.want)
		}
	}
}
