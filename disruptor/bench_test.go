package disruptor_test

// The benchmark suite: LMAX's performance-test topologies, each with its
// peers in the same benchmark function so that one `go test -bench` run
// compares them on the same machine at the same moment. scripts/bench.sh
// runs it and writes docs/benchmarks.md.
//
// Names are Benchmark<Topology>/<peer>[/<wait strategy>], where the
// topology may have a parameter (MPSC/P3, Multicast/C3, Pipeline/3,
// WorkerPool/W2) and the peer is one of
//
//	ceiling           one goroutine writing then reading a ring: no synchronisation at all
//	atomic            bare atomics (the PingPong floor)
//	channel           a buffered Go channel (channel_chain: one per edge of a graph)
//	queue             github.com/Workiva/go-datastructures/queue.RingBuffer
//	disruptor         this library, one event per claim, an EventHandler
//	disruptor_batch   the same with a BatchHandler (one call per slice of the ring)
//	disruptor_claim16 claims of 16 with NextN, published with PublishRange
//
// One op is one event through the whole topology (for PingPong, one round
// trip), so ns/op compares directly across peers. Every consumer counts and
// sums what it sees, and each benchmark checks the totals: a peer that lost
// or repeated an event fails rather than looking fast. The disruptor
// benchmarks also report the average batch a consumer got from its barrier
// ("events/batch"), which explains most of the differences between them.
//
// Every goroutine a benchmark starts has exited when it returns.

import (
	"context"
	"sync"
	"testing"

	"github.com/badbatch/badbatch/disruptor"
)

// benchRingSize is the ring (and channel and queue) capacity of the
// throughput benchmarks: LMAX's perf tests use 64Ki slots.
const benchRingSize = 1 << 16

// benchEvent is the event of every throughput topology but the graphs.
type benchEvent struct{ Value int64 }

func newBenchEvent() benchEvent { return benchEvent{} }

// benchWaitStrategy names a wait strategy and makes a fresh one: a
// strategy belongs to one ring.
type benchWaitStrategy struct {
	name string
	make func() disruptor.WaitStrategy
}

// benchWaitStrategies are the strategies every disruptor peer runs with.
var benchWaitStrategies = []benchWaitStrategy{
	{disruptor.BusySpinName, func() disruptor.WaitStrategy { return disruptor.NewBusySpinWaitStrategy() }},
	{disruptor.YieldingName, func() disruptor.WaitStrategy { return disruptor.NewYieldingWaitStrategy() }},
	{disruptor.BlockingName, func() disruptor.WaitStrategy { return disruptor.NewBlockingWaitStrategy() }},
}

// benchSink is what one consumer saw: the events, their sum and the
// batches its processor handed it. It is written only by the consumer's
// goroutine and read by the benchmark after the consumer has stopped.
//
// Sinks are padded so that consumers allocated side by side do not share
// cache lines (false sharing would slow the peers down unevenly).
type benchSink struct {
	_                    [128]byte
	events, sum, batches int64
	// last is the final sequence of the run; handling it closes done.
	last int64
	done chan struct{}
	_    [128]byte
}

func newBenchSink(n int) benchSink {
	return benchSink{last: int64(n) - 1, done: make(chan struct{})}
}

// benchDone returns the done channels of sinks.
func benchDone(sinks ...*benchSink) []chan struct{} {
	done := make([]chan struct{}, len(sinks))
	for i, s := range sinks {
		done[i] = s.done
	}
	return done
}

// check fails the benchmark unless the consumer saw exactly the events
// 0..n-1 (by count and by the sum of their values).
func (s *benchSink) check(b *testing.B, n int) {
	b.Helper()
	if s.events != int64(n) || s.sum != benchSum(n) {
		b.Fatalf("consumer saw %d events summing to %d; want %d summing to %d", s.events, s.sum, n, benchSum(n))
	}
}

// benchSum is 0 + 1 + ... + n-1.
func benchSum(n int) int64 { return int64(n) * int64(n-1) / 2 }

// benchHandler is the per-event consumer: an [disruptor.EventHandler].
type benchHandler struct{ benchSink }

func newBenchHandler(n int) *benchHandler { return &benchHandler{newBenchSink(n)} }

func (h *benchHandler) OnEvent(e *benchEvent, seq int64, endOfBatch bool) error {
	h.events++
	h.sum += e.Value
	if endOfBatch {
		h.batches++
	}
	if seq == h.last {
		close(h.done)
	}
	return nil
}

// benchBatchHandler is benchHandler with the [disruptor.BatchHandler] fast
// path, which the processors prefer.
type benchBatchHandler struct{ benchHandler }

func newBenchBatchHandler(n int) *benchBatchHandler {
	return &benchBatchHandler{benchHandler{newBenchSink(n)}}
}

func (h *benchBatchHandler) OnBatch(events []benchEvent, first int64, endOfBatch bool) error {
	for i := range events {
		h.sum += events[i].Value
	}
	h.events += int64(len(events))
	if endOfBatch {
		h.batches++
	}
	if first+int64(len(events))-1 == h.last {
		close(h.done)
	}
	return nil
}

// benchConsumer is either handler, as the benchmarks see it.
type benchConsumer interface {
	disruptor.EventHandler[benchEvent]
	sink() *benchSink
}

func (h *benchHandler) sink() *benchSink { return &h.benchSink }

// newBenchConsumer returns a batch handler when batch is set, a per-event
// one otherwise.
func newBenchConsumer(n int, batch bool) benchConsumer {
	if batch {
		return newBenchBatchHandler(n)
	}
	return newBenchHandler(n)
}

// benchReportBatches reports the average batch the sinks' processors handed
// them.
func benchReportBatches(b *testing.B, sinks ...*benchSink) {
	var events, batches int64
	for _, s := range sinks {
		events += s.events
		batches += s.batches
	}
	if batches > 0 {
		b.ReportMetric(float64(events)/float64(batches), "events/batch")
	}
}

// newBenchDisruptor builds a disruptor of benchEvents on a ring of size
// slots.
func newBenchDisruptor(b *testing.B, size int, producer disruptor.ProducerType, ws disruptor.WaitStrategy) *disruptor.Disruptor[benchEvent] {
	b.Helper()
	d, err := disruptor.New(newBenchEvent, disruptor.Config{
		BufferSize:   size,
		ProducerType: producer,
		WaitStrategy: ws,
	})
	if err != nil {
		b.Fatal(err)
	}
	return d
}

// benchStart starts d and the benchmark timer, runs produce with the timer
// running, waits for every done channel to close (each consumer closes its
// own when it has seen the last event), and stops the timer before shutting
// d down.
func benchStart[T any](b *testing.B, d *disruptor.Disruptor[T], produce func(), done ...chan struct{}) {
	b.Helper()
	if err := d.Start(); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	produce()
	for _, ch := range done {
		<-ch
	}
	b.StopTimer()
	if err := d.Shutdown(context.Background()); err != nil {
		b.Fatal(err)
	}
}

// benchPublishEach publishes the values lo..hi-1, one claim and one publish
// per event.
func benchPublishEach(r *disruptor.RingBuffer[benchEvent], lo, hi int64) {
	for v := lo; v < hi; v++ {
		seq := r.Next()
		r.Get(seq).Value = v
		r.Publish(seq)
	}
}

// benchPublishClaims publishes the values 0..n-1 in claims of up to claim
// slots, each published with one PublishRange.
func benchPublishClaims(r *disruptor.RingBuffer[benchEvent], n, claim int) {
	for v := 0; v < n; v += claim {
		k := min(claim, n-v)
		hi := r.NextN(k)
		lo := hi - int64(k) + 1
		for seq := lo; seq <= hi; seq++ {
			r.Get(seq).Value = int64(v) + seq - lo
		}
		r.PublishRange(lo, hi)
	}
}

// benchShare divides n events among k producers: producer i publishes the
// values lo(i)..lo(i+1)-1.
func benchShare(n, k, i int) (lo, hi int64) {
	return int64(n * i / k), int64(n * (i + 1) / k)
}

// benchProducers runs k producers on their own goroutines and waits for
// them: produce(lo, hi) publishes its share of 0..n-1.
func benchProducers(n, k int, produce func(lo, hi int64)) {
	var wg sync.WaitGroup
	for i := range k {
		lo, hi := benchShare(n, k, i)
		wg.Add(1)
		go func() {
			defer wg.Done()
			produce(lo, hi)
		}()
	}
	wg.Wait()
}

// Channel and queue peers.

// benchChanConsumer drains ch, counting and summing, and signals done.
func benchChanConsumer(ch <-chan benchEvent, s *benchSink) {
	for e := range ch {
		s.events++
		s.sum += e.Value
	}
	close(s.done)
}

// benchQueueValue boxes v for the Workiva queue without allocating: Go keeps
// the boxes of integers below 256 in a static table, so the queue is
// measured without garbage. Consumers check the sum of the boxed values
// (see benchQueueSum).
func benchQueueValue(v int64) any { return v & 255 }

// benchQueueSum is the sum of benchQueueValue(0) .. benchQueueValue(n-1).
func benchQueueSum(n int) int64 {
	full, rest := int64(n/256), int64(n%256)
	return full*benchSum(256) + rest*(rest-1)/2
}
