package notify

import (
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestNotifier: a change made between a waiter's check and its select is
// not missed, for many waiters and broadcasters at once.
func TestNotifier(t *testing.T) {
	var n Notifier
	var v atomic.Int64
	const target = 2000
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for {
				ch := n.Wait()
				if v.Load() >= target {
					return
				}
				select {
				case <-ch:
				case <-time.After(10 * time.Second):
					t.Error("a broadcast was missed")
					return
				}
			}
		})
	}
	for range target {
		v.Add(1)
		n.Broadcast()
	}
	wg.Wait()
}

func BenchmarkBroadcastNobodyWaits(b *testing.B) {
	var n Notifier
	for b.Loop() {
		n.Broadcast()
	}
}
