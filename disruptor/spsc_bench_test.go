package disruptor_test

import (
	"testing"

	"github.com/Workiva/go-datastructures/queue"

	"github.com/badbatch/badbatch/disruptor"
)

// benchCeilingSink keeps the ceiling's sum alive past the compiler.
var benchCeilingSink int64

// BenchmarkSPSC is one producer and one consumer: the disruptor with one
// event per claim and with claims of 16, each with the per-event and the
// batch handler, beside a buffered channel, the Workiva queue, and the
// ceiling: one goroutine writing a ring and reading it back.
func BenchmarkSPSC(b *testing.B) {
	b.Run("ceiling", benchSPSCCeiling)
	b.Run("channel", benchSPSCChannel)
	b.Run("queue", benchSPSCQueue)
	for _, v := range []struct {
		name  string
		claim int
		batch bool
	}{
		{"disruptor", 1, false},
		{"disruptor_batch", 1, true},
		{"disruptor_claim16", 16, false},
		{"disruptor_claim16_batch", 16, true},
	} {
		for _, ws := range benchWaitStrategies {
			b.Run(v.name+"/"+ws.name, func(b *testing.B) {
				benchSPSCDisruptor(b, ws.make(), v.claim, v.batch)
			})
		}
	}
}

// benchSPSCCeiling is the physical limit of moving events through a ring:
// write a lap of it, then read the lap back, on one goroutine.
func benchSPSCCeiling(b *testing.B) {
	ring := make([]benchEvent, benchRingSize)
	b.ReportAllocs()
	b.ResetTimer()
	var sum int64
	for lo := 0; lo < b.N; lo += len(ring) {
		lap := ring[:min(len(ring), b.N-lo)]
		for i := range lap {
			lap[i].Value = int64(lo + i)
		}
		for i := range lap {
			sum += lap[i].Value
		}
	}
	b.StopTimer()
	if sum != benchSum(b.N) {
		b.Fatalf("sum %d, want %d", sum, benchSum(b.N))
	}
	benchCeilingSink = sum
}

func benchSPSCChannel(b *testing.B) {
	ch := make(chan benchEvent, benchRingSize)
	s := newBenchSink(b.N, 1)
	b.ReportAllocs()
	b.ResetTimer()
	go benchChanConsumer(ch, &s)
	for i := range b.N {
		ch <- benchEvent{Value: int64(i)}
	}
	close(ch)
	<-s.done
	b.StopTimer()
	s.check(b, b.N)
}

func benchSPSCQueue(b *testing.B) {
	q := queue.NewRingBuffer(benchRingSize)
	s := newBenchQueueSink()
	b.ReportAllocs()
	b.ResetTimer()
	go benchQueueConsumer(q, b.N, s)
	for i := range b.N {
		if err := q.Put(benchQueueValue(0, int64(i))); err != nil {
			b.Fatal(err)
		}
	}
	<-s.done
	b.StopTimer()
	s.check(b, b.N, 1)
}

func benchSPSCDisruptor(b *testing.B, ws disruptor.WaitStrategy, claim int, batch bool) {
	d := newBenchDisruptor(b, benchRingSize, disruptor.SingleProducer, ws)
	h := newBenchConsumer(b.N, 1, batch)
	g := d.HandleEventsWith(h)
	ring := d.RingBuffer()
	benchStart(b, d, func() {
		if claim == 1 {
			benchPublishEach(ring, 0, int64(b.N))
		} else {
			benchPublishClaims(ring, b.N, claim)
		}
	}, h.sink().done)
	h.sink().check(b, b.N)
	benchReportWakeups(b, g)
}
