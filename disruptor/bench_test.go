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
// sums what it sees and checks that each producer's events arrive in the
// order it sent them, and each benchmark checks the totals: a peer that
// lost, repeated or reordered an event fails rather than looking fast. The
// disruptor benchmarks also report the average batch their processors
// handled per wake-up ("events/wakeup", from [disruptor.ProcessorStats]),
// which explains most of the differences between them.
//
// Every goroutine a benchmark starts has exited when it returns.

import (
	"context"
	"sync"
	"testing"

	"github.com/Workiva/go-datastructures/queue"

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

// benchSink is what one consumer saw: the events, their sum, and how
// many arrived out of order. It is written only by the consumer's
// goroutine and read by the benchmark after the consumer has stopped.
//
// Sinks are padded so that consumers allocated side by side do not share
// cache lines (false sharing would slow the peers down unevenly).
type benchSink struct {
	_           [128]byte
	events, sum int64
	order       benchOrder
	// last is the final value of the run; seeing it closes done.
	last int64
	done chan struct{}
	_    [128]byte
}

// benchOrder checks that every producer's values arrive in the order it
// sent them: producer i of k sends benchShare(n, k, i), one value after
// the other.
type benchOrder struct {
	next  [benchMaxProducers]int64 // the value expected next from each producer
	hi    [benchMaxProducers]int64 // one past each producer's last value
	k     int
	wrong int64 // values that were not the one expected next
}

const benchMaxProducers = 4

func newBenchOrder(n, producers int) benchOrder {
	o := benchOrder{k: producers}
	for i := range producers {
		o.next[i], o.hi[i] = benchShare(n, producers, i)
	}
	return o
}

// see checks v against what its producer sent before.
func (o *benchOrder) see(v int64) {
	i := 0
	for i < o.k-1 && v >= o.hi[i] {
		i++
	}
	if v != o.next[i] {
		o.wrong++
	}
	o.next[i] = v + 1
}

// ok reports whether every value arrived in order and every producer's
// last one arrived.
func (o *benchOrder) ok() bool {
	for i := range o.k {
		if o.next[i] != o.hi[i] {
			return false
		}
	}
	return o.wrong == 0
}

func newBenchSink(n, producers int) benchSink {
	return benchSink{order: newBenchOrder(n, producers), last: int64(n) - 1, done: make(chan struct{})}
}

// see records value v.
func (s *benchSink) see(v int64) {
	s.events++
	s.sum += v
	s.order.see(v)
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
// 0..n-1 (by count and by the sum of their values), each producer's in
// the order it sent them.
func (s *benchSink) check(b *testing.B, n int) {
	b.Helper()
	if s.events != int64(n) || s.sum != benchSum(n) || !s.order.ok() {
		b.Fatalf("consumer saw %d events summing to %d, %d out of order; want %d summing to %d, in order",
			s.events, s.sum, s.order.wrong, n, benchSum(n))
	}
}

// benchSum is 0 + 1 + ... + n-1.
func benchSum(n int) int64 { return int64(n) * int64(n-1) / 2 }

// benchHandler is the per-event consumer: an [disruptor.EventHandler].
type benchHandler struct{ benchSink }

func newBenchHandler(n, producers int) *benchHandler {
	return &benchHandler{newBenchSink(n, producers)}
}

func (h *benchHandler) OnEvent(e *benchEvent, seq int64, _ bool) error {
	h.see(e.Value)
	if seq == h.last {
		close(h.done)
	}
	return nil
}

// benchBatchHandler is benchHandler with the [disruptor.BatchHandler] fast
// path, which the processors prefer.
type benchBatchHandler struct{ benchHandler }

func newBenchBatchHandler(n, producers int) *benchBatchHandler {
	return &benchBatchHandler{benchHandler{newBenchSink(n, producers)}}
}

func (h *benchBatchHandler) OnBatch(events []benchEvent, first int64, _ bool) error {
	for i := range events {
		h.see(events[i].Value)
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
// one otherwise, for events from the given number of producers.
func newBenchConsumer(n, producers int, batch bool) benchConsumer {
	if batch {
		return newBenchBatchHandler(n, producers)
	}
	return newBenchHandler(n, producers)
}

// benchReportWakeups reports the average batch the group's processors
// handled per wake-up ("events/wakeup": events over the waits that
// returned events, as each processor counts them), once they have
// stopped.
func benchReportWakeups[T any](b *testing.B, groups ...*disruptor.EventHandlerGroup[T]) {
	var events, batches int64
	for _, g := range groups {
		for _, p := range g.Processors() {
			if bp, ok := p.(*disruptor.BatchEventProcessor[T]); ok {
				st := bp.Stats()
				events += st.Events
				batches += st.Batches
			}
		}
	}
	if batches > 0 {
		b.ReportMetric(float64(events)/float64(batches), "events/wakeup")
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
// them: produce(i, lo, hi) publishes producer i's share of 0..n-1.
func benchProducers(n, k int, produce func(i int, lo, hi int64)) {
	var wg sync.WaitGroup
	for i := range k {
		lo, hi := benchShare(n, k, i)
		wg.Go(func() { produce(i, lo, hi) })
	}
	wg.Wait()
}

// Channel and queue peers.

// benchChanConsumer drains ch, checking what it sees as the disruptor's
// consumers do, and signals done.
func benchChanConsumer(ch <-chan benchEvent, s *benchSink) {
	for e := range ch {
		s.see(e.Value)
	}
	close(s.done)
}

// benchQueueValue boxes producer's count-th value for the Workiva queue
// without allocating: Go keeps the boxes of integers below 256 in a static
// table, so the queue is measured without garbage. The box holds the
// producer (up to 3) and the count's low 6 bits, which is enough for the
// consumer to check each producer's order (see benchQueueSink).
func benchQueueValue(producer int, count int64) any { return int64(producer)<<6 | count&63 }

// benchQueueSink is benchSink for the queue's boxed values: it counts each
// producer's values and checks that each arrives in that producer's order.
type benchQueueSink struct {
	_      [128]byte
	counts [benchMaxProducers]int64
	events int64
	wrong  int64
	done   chan struct{}
	_      [128]byte
}

func newBenchQueueSink() *benchQueueSink { return &benchQueueSink{done: make(chan struct{})} }

func (s *benchQueueSink) see(x int64) {
	p := x >> 6
	if x&63 != s.counts[p]&63 {
		s.wrong++
	}
	s.counts[p]++
	s.events++
}

// check fails the benchmark unless the consumer saw each producer's share
// of n, in order.
func (s *benchQueueSink) check(b *testing.B, n, producers int) {
	b.Helper()
	ok := s.events == int64(n) && s.wrong == 0
	for i := range producers {
		lo, hi := benchShare(n, producers, i)
		ok = ok && s.counts[i] == hi-lo
	}
	if !ok {
		b.Fatalf("queue consumer saw %d events (%v per producer), %d out of order; want %d in order", s.events, s.counts[:producers], s.wrong, n)
	}
}

// benchQueueConsumer takes n values from q, checking them, and signals
// done.
func benchQueueConsumer(q *queue.RingBuffer, n int, s *benchQueueSink) {
	defer close(s.done)
	for range n {
		v, err := q.Get()
		if err != nil {
			return
		}
		s.see(v.(int64))
	}
}
