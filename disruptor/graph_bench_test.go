package disruptor_test

import (
	"sync"
	"testing"

	"github.com/Workiva/go-datastructures/queue"

	"github.com/badbatch/badbatch/disruptor"
)

// BenchmarkMulticast is one producer and three consumers that each see
// every event, beside a producer sending each event on three channels and
// putting it into three Workiva queues.
func BenchmarkMulticast(b *testing.B) {
	const consumers = 3
	b.Run("C3", func(b *testing.B) {
		b.Run("channel", func(b *testing.B) { benchMulticastChannel(b, consumers) })
		b.Run("queue", func(b *testing.B) { benchMulticastQueue(b, consumers) })
		for _, batch := range []bool{false, true} {
			for _, ws := range benchWaitStrategies {
				b.Run(benchPeer(batch)+"/"+ws.name, func(b *testing.B) {
					benchMulticastDisruptor(b, consumers, ws.make(), batch)
				})
			}
		}
	})
}

// benchPeer names the disruptor peer with the per-event or the batch
// handler.
func benchPeer(batch bool) string {
	if batch {
		return "disruptor_batch"
	}
	return "disruptor"
}

func benchMulticastChannel(b *testing.B, consumers int) {
	chans := make([]chan benchEvent, consumers)
	sinks := make([]*benchSink, consumers)
	for i := range chans {
		chans[i] = make(chan benchEvent, benchRingSize)
		s := newBenchSink(b.N, 1)
		sinks[i] = &s
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i, ch := range chans {
		go benchChanConsumer(ch, sinks[i])
	}
	for i := range b.N {
		for _, ch := range chans {
			ch <- benchEvent{Value: int64(i)}
		}
	}
	for _, ch := range chans {
		close(ch)
	}
	for _, s := range sinks {
		<-s.done
	}
	b.StopTimer()
	for _, s := range sinks {
		s.check(b, b.N)
	}
}

func benchMulticastQueue(b *testing.B, consumers int) {
	queues := make([]*queue.RingBuffer, consumers)
	sinks := make([]*benchQueueSink, consumers)
	for i := range queues {
		queues[i] = queue.NewRingBuffer(benchRingSize)
		sinks[i] = newBenchQueueSink()
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i, q := range queues {
		go benchQueueConsumer(q, b.N, sinks[i])
	}
	for i := range b.N {
		for _, q := range queues {
			if err := q.Put(benchQueueValue(0, int64(i))); err != nil {
				b.Fatal(err)
			}
		}
	}
	for _, s := range sinks {
		<-s.done
	}
	b.StopTimer()
	for _, s := range sinks {
		s.check(b, b.N, 1)
	}
}

func benchMulticastDisruptor(b *testing.B, consumers int, ws disruptor.WaitStrategy, batch bool) {
	d := newBenchDisruptor(b, benchRingSize, disruptor.SingleProducer, ws)
	handlers := make([]disruptor.EventHandler[benchEvent], consumers)
	sinks := make([]*benchSink, consumers)
	for i := range handlers {
		h := newBenchConsumer(b.N, 1, batch)
		handlers[i], sinks[i] = h, h.sink()
	}
	g := d.HandleEventsWith(handlers...)
	ring := d.RingBuffer()
	benchStart(b, d, func() { benchPublishEach(ring, 0, int64(b.N)) }, benchDone(sinks...)...)
	for _, s := range sinks {
		s.check(b, b.N)
	}
	benchReportWakeups(b, g)
}

// The graphs: a pipeline and a diamond of stages that each compute on the
// event and pass it on.

// benchStageEvent is the event of the graph topologies: stages write A
// and B, the last one sums them.
type benchStageEvent struct{ Value, A, B int64 }

func newBenchStageEvent() benchStageEvent { return benchStageEvent{} }

// benchStageOp is what one stage of a graph does to an event.
type benchStageOp int

const (
	benchIncValue    benchStageOp = iota // A = Value + 1
	benchDoubleA                         // B = 2A: the pipeline's second stage
	benchDoubleValue                     // B = 2 Value: the diamond's second branch
	benchSumB                            // sum B: the pipeline's end
	benchSumAB                           // sum A + B: the diamond's end
)

// benchStage is one stage of a graph. As a disruptor consumer it is a
// per-event handler; benchBatchStage adds the batch path. The channel peers
// run the same apply. Every stage checks the order of the values it sees;
// the last one also sums what the stages before it computed.
type benchStage struct {
	op      benchStageOp
	derived int64 // the last stage's sum of what the others computed
	benchSink
}

func newBenchStage(op benchStageOp, n int) *benchStage {
	return &benchStage{op: op, benchSink: newBenchSink(n, 1)}
}

func (s *benchStage) apply(e *benchStageEvent) {
	switch s.op {
	case benchIncValue:
		e.A = e.Value + 1
	case benchDoubleA:
		e.B = 2 * e.A
	case benchDoubleValue:
		e.B = 2 * e.Value
	case benchSumB:
		s.derived += e.B
	case benchSumAB:
		s.derived += e.A + e.B
	}
	s.see(e.Value)
}

func (s *benchStage) OnEvent(e *benchStageEvent, seq int64, _ bool) error {
	s.apply(e)
	if seq == s.last {
		close(s.done)
	}
	return nil
}

type benchBatchStage struct{ *benchStage }

func (s benchBatchStage) OnBatch(events []benchStageEvent, first int64, _ bool) error {
	for i := range events {
		s.apply(&events[i])
	}
	if first+int64(len(events))-1 == s.last {
		close(s.done)
	}
	return nil
}

// handler returns s as a disruptor consumer, with the batch path or
// without.
func (s *benchStage) handler(batch bool) disruptor.EventHandler[benchStageEvent] {
	if batch {
		return benchBatchStage{s}
	}
	return s
}

// checkSum fails the benchmark unless the stage saw the n events in
// order and, for the last stage, what the stages before it computed sums
// to want.
func (s *benchStage) checkSum(b *testing.B, n int, want int64) {
	b.Helper()
	s.check(b, n)
	if s.derived != want {
		b.Fatalf("last stage summed %d from the stages before it; want %d", s.derived, want)
	}
}

// benchPipelineSum and benchDiamondSum are what the last stage sums for the values
// 0..n-1: 2(v+1) and (v+1) + 2v for each.
func benchPipelineSum(n int) int64 { return 2 * (benchSum(n) + int64(n)) }
func benchDiamondSum(n int) int64  { return 3*benchSum(n) + int64(n) }

// benchChanStage runs s over the events of in, sending each on to out (when
// out is not nil), and closes out and s.done at the end.
func benchChanStage(s *benchStage, in <-chan benchStageEvent, out chan<- benchStageEvent) {
	for e := range in {
		s.apply(&e)
		if out != nil {
			out <- e
		}
	}
	if out != nil {
		close(out)
	}
	close(s.done)
}

func newBenchStageDisruptor(b *testing.B, ws disruptor.WaitStrategy) *disruptor.Disruptor[benchStageEvent] {
	b.Helper()
	d, err := disruptor.New(newBenchStageEvent, disruptor.Config{
		BufferSize:   benchRingSize,
		ProducerType: disruptor.SingleProducer,
		WaitStrategy: ws,
	})
	if err != nil {
		b.Fatal(err)
	}
	return d
}

// benchPublishStages publishes the values 0..n-1, one per claim.
func benchPublishStages(r *disruptor.RingBuffer[benchStageEvent], n int) {
	for v := range n {
		seq := r.Next()
		*r.Get(seq) = benchStageEvent{Value: int64(v)}
		r.Publish(seq)
	}
}

// BenchmarkPipeline is one producer and three stages in a row (A → B → C,
// each reading what the one before wrote), beside the same stages joined
// by channels.
func BenchmarkPipeline(b *testing.B) {
	b.Run("3", func(b *testing.B) {
		b.Run("channel_chain", benchPipelineChannels)
		for _, batch := range []bool{false, true} {
			for _, ws := range benchWaitStrategies {
				b.Run(benchPeer(batch)+"/"+ws.name, func(b *testing.B) {
					benchPipelineDisruptor(b, ws.make(), batch)
				})
			}
		}
	})
}

func benchPipelineChannels(b *testing.B) {
	in, ab, bc := make(chan benchStageEvent, benchRingSize), make(chan benchStageEvent, benchRingSize), make(chan benchStageEvent, benchRingSize)
	sa, sb, sc := newBenchStage(benchIncValue, b.N), newBenchStage(benchDoubleA, b.N), newBenchStage(benchSumB, b.N)
	b.ReportAllocs()
	b.ResetTimer()
	go benchChanStage(sa, in, ab)
	go benchChanStage(sb, ab, bc)
	go benchChanStage(sc, bc, nil)
	for v := range b.N {
		in <- benchStageEvent{Value: int64(v)}
	}
	close(in)
	<-sc.done
	b.StopTimer()
	<-sa.done
	<-sb.done
	sa.check(b, b.N)
	sb.check(b, b.N)
	sc.checkSum(b, b.N, benchPipelineSum(b.N))
}

func benchPipelineDisruptor(b *testing.B, ws disruptor.WaitStrategy, batch bool) {
	d := newBenchStageDisruptor(b, ws)
	sa, sb, sc := newBenchStage(benchIncValue, b.N), newBenchStage(benchDoubleA, b.N), newBenchStage(benchSumB, b.N)
	ga := d.HandleEventsWith(sa.handler(batch))
	gb := ga.Then(sb.handler(batch))
	gc := gb.Then(sc.handler(batch))
	ring := d.RingBuffer()
	benchStart(b, d, func() { benchPublishStages(ring, b.N) }, sc.done)
	sa.check(b, b.N)
	sb.check(b, b.N)
	sc.checkSum(b, b.N, benchPipelineSum(b.N))
	benchReportWakeups(b, ga, gb, gc)
}

// BenchmarkDiamond is one producer, two stages that read each event
// independently (A and B), and a third that runs after both (C), beside
// the same graph of channels: the producer sends to A and B, which send to
// C.
func BenchmarkDiamond(b *testing.B) {
	b.Run("channel_chain", benchDiamondChannels)
	for _, batch := range []bool{false, true} {
		for _, ws := range benchWaitStrategies {
			b.Run(benchPeer(batch)+"/"+ws.name, func(b *testing.B) {
				benchDiamondDisruptor(b, ws.make(), batch)
			})
		}
	}
}

func benchDiamondChannels(b *testing.B) {
	newChan := func() chan benchStageEvent { return make(chan benchStageEvent, benchRingSize) }
	toA, toB, aToC, bToC := newChan(), newChan(), newChan(), newChan()
	sa, sb, sc := newBenchStage(benchIncValue, b.N), newBenchStage(benchDoubleValue, b.N), newBenchStage(benchSumAB, b.N)
	b.ReportAllocs()
	b.ResetTimer()
	go benchChanStage(sa, toA, aToC)
	go benchChanStage(sb, toB, bToC)
	go func() {
		// C joins the branches: the n-th event of each is the same event.
		for ea := range aToC {
			eb := <-bToC
			ea.B = eb.B
			sc.apply(&ea)
		}
		close(sc.done)
	}()
	for v := range b.N {
		e := benchStageEvent{Value: int64(v)}
		toA <- e
		toB <- e
	}
	close(toA)
	close(toB)
	<-sc.done
	b.StopTimer()
	<-sa.done
	<-sb.done
	sa.check(b, b.N)
	sb.check(b, b.N)
	sc.checkSum(b, b.N, benchDiamondSum(b.N))
}

func benchDiamondDisruptor(b *testing.B, ws disruptor.WaitStrategy, batch bool) {
	d := newBenchStageDisruptor(b, ws)
	sa, sb, sc := newBenchStage(benchIncValue, b.N), newBenchStage(benchDoubleValue, b.N), newBenchStage(benchSumAB, b.N)
	gab := d.HandleEventsWith(sa.handler(batch), sb.handler(batch))
	gc := gab.Then(sc.handler(batch))
	ring := d.RingBuffer()
	benchStart(b, d, func() { benchPublishStages(ring, b.N) }, sc.done)
	sa.check(b, b.N)
	sb.check(b, b.N)
	sc.checkSum(b, b.N, benchDiamondSum(b.N))
	benchReportWakeups(b, gab, gc)
}

// BenchmarkWorkerPool is one producer and two workers sharing the events
// (each event to one of them), beside two goroutines receiving from one
// channel and getting from one Workiva queue. Work handlers see single
// events, so there is no batch variant.
func BenchmarkWorkerPool(b *testing.B) {
	const workers = 2
	b.Run("W2", func(b *testing.B) {
		b.Run("channel", func(b *testing.B) { benchWorkerPoolChannel(b, workers) })
		b.Run("queue", func(b *testing.B) { benchWorkerPoolQueue(b, workers) })
		for _, ws := range benchWaitStrategies {
			b.Run("disruptor/"+ws.name, func(b *testing.B) {
				benchWorkerPoolDisruptor(b, workers, ws.make())
			})
		}
	})
}

// benchWorker is one worker of a pool: it counts and sums its share and
// checks that the values it gets increase (a pool keeps no order between
// workers, but each worker claims in sequence order); whichever worker
// handles the last sequence closes the shared done.
type benchWorker struct {
	_           [128]byte
	events, sum int64
	prev, wrong int64
	last        int64
	done        chan struct{}
	_           [128]byte
}

func (w *benchWorker) see(v int64) {
	if v <= w.prev {
		w.wrong++
	}
	w.prev = v
	w.events++
	w.sum += v
}

func (w *benchWorker) OnEvent(e *benchEvent, seq int64) error {
	w.see(e.Value)
	if seq == w.last {
		close(w.done)
	}
	return nil
}

// benchCheckWorkers fails the benchmark unless the workers saw n events
// between them, summing to want, each worker's in increasing order.
func benchCheckWorkers(b *testing.B, n int, want int64, workers []*benchWorker) {
	b.Helper()
	var events, sum, wrong int64
	for _, w := range workers {
		events += w.events
		sum += w.sum
		wrong += w.wrong
	}
	if events != int64(n) || sum != want || wrong != 0 {
		b.Fatalf("workers saw %d events summing to %d, %d out of order; want %d summing to %d", events, sum, wrong, n, want)
	}
}

func newBenchWorkers(k, n int) []*benchWorker {
	done := make(chan struct{})
	workers := make([]*benchWorker, k)
	for i := range workers {
		workers[i] = &benchWorker{prev: -1, last: int64(n) - 1, done: done}
	}
	return workers
}

func benchWorkerPoolChannel(b *testing.B, k int) {
	ch := make(chan benchEvent, benchRingSize)
	workers := newBenchWorkers(k, b.N)
	var wg sync.WaitGroup
	b.ReportAllocs()
	b.ResetTimer()
	for _, w := range workers {
		wg.Go(func() {
			for e := range ch {
				w.see(e.Value)
			}
		})
	}
	for i := range b.N {
		ch <- benchEvent{Value: int64(i)}
	}
	close(ch)
	wg.Wait()
	b.StopTimer()
	benchCheckWorkers(b, b.N, benchSum(b.N), workers)
}

// benchWorkerPoolQueue is the pool over the Workiva queue. Its boxed
// values carry only 6 bits of each count (see benchQueueValue), so its
// workers count events and do not check their order.
func benchWorkerPoolQueue(b *testing.B, k int) {
	q := queue.NewRingBuffer(benchRingSize)
	counts := make([]struct {
		_ [128]byte
		n int64
	}, k) // padded: the workers write them side by side
	var wg sync.WaitGroup
	b.ReportAllocs()
	b.ResetTimer()
	for i := range k {
		wg.Go(func() {
			for {
				v, err := q.Get()
				if err != nil || v == nil { // nil: the producer is done
					return
				}
				counts[i].n++
			}
		})
	}
	for i := range b.N {
		if err := q.Put(benchQueueValue(0, int64(i))); err != nil {
			b.Fatal(err)
		}
	}
	for range k {
		if err := q.Put(nil); err != nil {
			b.Fatal(err)
		}
	}
	wg.Wait()
	b.StopTimer()
	var total int64
	for _, c := range counts {
		total += c.n
	}
	if total != int64(b.N) {
		b.Fatalf("queue workers saw %d events, want %d", total, b.N)
	}
}

func benchWorkerPoolDisruptor(b *testing.B, k int, ws disruptor.WaitStrategy) {
	d := newBenchDisruptor(b, benchRingSize, disruptor.SingleProducer, ws)
	workers := newBenchWorkers(k, b.N)
	handlers := make([]disruptor.WorkHandler[benchEvent], k)
	for i, w := range workers {
		handlers[i] = w
	}
	d.HandleEventsWithWorkerPool(handlers...)
	ring := d.RingBuffer()
	// The worker that handles the last event closes done; the others may
	// still hold one event each, which Shutdown drains before the check.
	benchStart(b, d, func() { benchPublishEach(ring, 0, int64(b.N)) }, workers[0].done)
	benchCheckWorkers(b, b.N, benchSum(b.N), workers)
}
