package disruptor_test

import (
	"fmt"
	"testing"

	"github.com/Workiva/go-datastructures/queue"

	"github.com/badbatch/badbatch/disruptor"
)

// BenchmarkMPSC is two and three producers publishing into one consumer
// through the multi-producer sequencer, beside several goroutines sending
// on one channel and putting into one Workiva queue. The producers share
// the events: one op is one event, whichever producer sent it.
func BenchmarkMPSC(b *testing.B) {
	for _, producers := range []int{2, 3} {
		b.Run(fmt.Sprintf("P%d", producers), func(b *testing.B) {
			b.Run("channel", func(b *testing.B) { benchMPSCChannel(b, producers) })
			b.Run("queue", func(b *testing.B) { benchMPSCQueue(b, producers) })
			for _, batch := range []bool{false, true} {
				name := "disruptor"
				if batch {
					name = "disruptor_batch"
				}
				for _, ws := range benchWaitStrategies {
					b.Run(name+"/"+ws.name, func(b *testing.B) {
						benchMPSCDisruptor(b, producers, ws.make(), batch)
					})
				}
			}
		})
	}
}

func benchMPSCChannel(b *testing.B, producers int) {
	ch := make(chan benchEvent, benchRingSize)
	s := newBenchSink(b.N, producers)
	b.ReportAllocs()
	b.ResetTimer()
	go benchChanConsumer(ch, &s)
	benchProducers(b.N, producers, func(_ int, lo, hi int64) {
		for v := lo; v < hi; v++ {
			ch <- benchEvent{Value: v}
		}
	})
	close(ch)
	<-s.done
	b.StopTimer()
	s.check(b, b.N)
}

func benchMPSCQueue(b *testing.B, producers int) {
	q := queue.NewRingBuffer(benchRingSize)
	s := newBenchQueueSink()
	b.ReportAllocs()
	b.ResetTimer()
	go benchQueueConsumer(q, b.N, s)
	benchProducers(b.N, producers, func(i int, lo, hi int64) {
		for v := lo; v < hi; v++ {
			if q.Put(benchQueueValue(i, v-lo)) != nil {
				return
			}
		}
	})
	<-s.done
	b.StopTimer()
	s.check(b, b.N, producers)
}

func benchMPSCDisruptor(b *testing.B, producers int, ws disruptor.WaitStrategy, batch bool) {
	d := newBenchDisruptor(b, benchRingSize, disruptor.MultiProducer, ws)
	h := newBenchConsumer(b.N, producers, batch)
	g := d.HandleEventsWith(h)
	ring := d.RingBuffer()
	benchStart(b, d, func() {
		benchProducers(b.N, producers, func(_ int, lo, hi int64) { benchPublishEach(ring, lo, hi) })
	}, h.sink().done)
	h.sink().check(b, b.N)
	benchReportWakeups(b, g)
}
