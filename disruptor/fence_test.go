package disruptor

import (
	"runtime"
	"sync/atomic"
	"testing"
)

// TestAsymmetricFenceLitmus runs the store-then-load race behind the
// blocking strategies' release-store publishes, many times, each round
// started on both sides at once: the producer stores the cursor with a
// release store and then reads the parked flag; the consumer raises the
// flag, calls heavyFence, then reads the cursor. The outcome where both
// read the old values (the producer sees no flag, the consumer no
// publish: a lost wake-up) must never happen. Without the fence it
// does, within a few thousand rounds, on any x86 machine.
func TestAsymmetricFenceLitmus(t *testing.T) {
	if !asymmetricFence() {
		t.Skip("no membarrier here (or the race detector): publishes keep their full fence")
	}
	if runtime.GOMAXPROCS(0) < 2 {
		t.Skip("needs two Ps")
	}
	rounds := int64(scale(50000, 10000))
	var cursor Sequence
	var flag atomic.Int32
	var start, done [2]atomic.Int64 // per side: the round it may start, the round it finished
	var producerSaw [2]int32        // double-buffered results, read after both finish a round
	lost := make(chan int64, 1)
	go func() { // the consumer
		for k := int64(1); k <= rounds; k++ {
			for start[1].Load() != k {
			}
			flag.Store(1)
			heavyFence()
			if cursor.Get() < k && producerSawFlag(&done[0], &producerSaw, k) == 0 {
				select {
				case lost <- k:
				default:
				}
			}
			done[1].Store(k)
		}
	}()
	for k := int64(1); k <= rounds; k++ {
		flag.Store(0)
		start[1].Store(k) // release both sides together
		cursor.setRelease(k)
		producerSaw[k&1] = flag.Load()
		done[0].Store(k)
		for done[1].Load() != k {
		}
	}
	select {
	case k := <-lost:
		t.Fatalf("round %d: the producer read no flag and the consumer no publish: a lost wake-up", k)
	default:
	}
}

// producerSawFlag waits for the producer to finish round k and returns
// what it read.
func producerSawFlag(done *atomic.Int64, saw *[2]int32, k int64) int32 {
	for done.Load() != k {
	}
	return saw[k&1]
}

// TestWhoFencesForProducers: only the blocking strategy (alone or as a
// phased strategy's fallback) has its parking consumers fence for the
// producers, and only where the kernel can; every other parking strategy
// leaves the producers' own fence in place.
func TestWhoFencesForProducers(t *testing.T) {
	tests := []struct {
		ws   WaitStrategy
		asym bool
	}{
		{NewBlockingWaitStrategy(), asymmetricFence()},
		{NewLiteBlockingWaitStrategy(), false},
		{NewTimeoutBlockingWaitStrategy(DefaultWaitTimeout), false},
		{NewPhasedBackoffWaitStrategy(0, 0, NewBlockingWaitStrategy()), asymmetricFence()},
		{NewPhasedBackoffWaitStrategy(0, 0, NewLiteBlockingWaitStrategy()), false},
		{NewBusySpinWaitStrategy(), false},
	}
	for _, tt := range tests {
		for _, pt := range []ProducerType{SingleProducer, MultiProducer} {
			ring, err := NewRingBuffer(newTestEvent, 8, pt, tt.ws)
			if err != nil {
				t.Fatal(err)
			}
			if ring.core.asym != tt.asym {
				t.Errorf("%v, %v: producers publish with release stores = %v, want %v", tt.ws, pt, ring.core.asym, tt.asym)
			}
		}
	}
}
