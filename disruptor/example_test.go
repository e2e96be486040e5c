package disruptor_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/badbatch/badbatch/disruptor"
)

type Trade struct {
	Symbol string
	Price  int64
	Qty    int64
	Value  int64 // written by a stage
}

// totaller sums a field; it runs on its own goroutine.
type totaller struct{ qty int64 }

func (t *totaller) OnEvent(e *Trade, _ int64, _ bool) error {
	t.qty += e.Qty
	return nil
}

func fillTrade(e *Trade, _ int64, price, qty int64) {
	e.Symbol, e.Price, e.Qty = "BB", price, qty
}

// The builder validates its settings and returns a Disruptor.
func ExampleNewBuilder() {
	d, err := disruptor.NewBuilder(func() Trade { return Trade{} }).
		BufferSize(1024).
		SingleProducer().
		BlockingWaitStrategy().
		Build()
	if err != nil {
		panic(err)
	}
	fmt.Println(d.RingBuffer().BufferSize())

	_, err = disruptor.NewBuilder(func() Trade { return Trade{} }).BufferSize(1000).Build()
	fmt.Println(err)
	// Output:
	// 1024
	// disruptor: invalid BufferSize 1000: must be a power of 2
}

// A diamond: valuer and counter see every trade independently, and the
// reporter runs after both of them.
func ExampleDisruptor_HandleEventsWith() {
	d, _ := disruptor.NewBuilder(func() Trade { return Trade{} }).BufferSize(64).SingleProducer().Build()

	valuer := disruptor.EventHandlerFunc[Trade](func(e *Trade, _ int64, _ bool) error {
		e.Value = e.Price * e.Qty
		return nil
	})
	counter := &totaller{}
	var total int64
	reporter := disruptor.EventHandlerFunc[Trade](func(e *Trade, _ int64, _ bool) error {
		total += e.Value // valuer has run for this event
		return nil
	})
	d.HandleEventsWith(valuer, counter).Then(reporter)

	if err := d.Start(); err != nil {
		panic(err)
	}
	for i := range int64(10) {
		disruptor.PublishEvent2(d.RingBuffer(), fillTrade, 100+i, 2)
	}
	if err := d.Shutdown(context.Background()); err != nil { // drains first
		panic(err)
	}
	fmt.Println("quantity", counter.qty, "value", total)
	// Output: quantity 20 value 2090
}

// A worker pool hands each event to exactly one of its workers.
func ExampleDisruptor_HandleEventsWithWorkerPool() {
	d, _ := disruptor.NewBuilder(func() Trade { return Trade{} }).BufferSize(64).MultiProducer().Build()
	var handled [3]atomic.Int64
	workers := make([]disruptor.WorkHandler[Trade], len(handled))
	for i := range workers {
		workers[i] = disruptor.WorkHandlerFunc[Trade](func(*Trade, int64) error {
			handled[i].Add(1)
			return nil
		})
	}
	d.HandleEventsWithWorkerPool(workers...)
	if err := d.Start(); err != nil {
		panic(err)
	}
	for i := range int64(1000) {
		disruptor.PublishEvent2(d.RingBuffer(), fillTrade, i, 1)
	}
	if err := d.Shutdown(context.Background()); err != nil {
		panic(err)
	}
	fmt.Println(handled[0].Load() + handled[1].Load() + handled[2].Load())
	// Output: 1000
}

// A ring may start at any sequence, as one restored from a snapshot
// resumes its numbering: the cursor starts just before it and no consumer
// is handed anything below it.
func ExampleBuilder_FirstSequence() {
	d, err := disruptor.NewBuilder(func() Trade { return Trade{} }).
		BufferSize(8).
		SingleProducer().
		FirstSequence(1_000_000).
		Build()
	if err != nil {
		panic(err)
	}
	d.HandleEventsWith(disruptor.EventHandlerFunc[Trade](func(e *Trade, seq int64, _ bool) error {
		fmt.Println(seq, e.Price)
		return nil
	}))
	fmt.Println("cursor", d.RingBuffer().Cursor())
	if err := d.Start(); err != nil {
		panic(err)
	}
	for i := range int64(3) {
		disruptor.PublishEvent2(d.RingBuffer(), fillTrade, 100+i, 1)
	}
	if err := d.Shutdown(context.Background()); err != nil {
		panic(err)
	}
	// Output:
	// cursor 999999
	// 1000000 100
	// 1000001 101
	// 1000002 102
}

// A poller lets the caller's own loop take events when it wants them.
func ExampleRingBuffer_NewPoller() {
	ring, _ := disruptor.NewRingBuffer(func() Trade { return Trade{} }, 16,
		disruptor.SingleProducer, disruptor.NewYieldingWaitStrategy())
	poller := ring.NewPoller()

	for i := range int64(3) {
		disruptor.PublishEvent2(ring, fillTrade, 10*i, 1)
	}
	state, _ := poller.Poll(func(e *Trade, seq int64, endOfBatch bool) (bool, error) {
		fmt.Println(seq, e.Price, endOfBatch)
		return true, nil
	})
	fmt.Println(state)
	state, _ = poller.Poll(func(*Trade, int64, bool) (bool, error) { return true, nil })
	fmt.Println(state)
	// Output:
	// 0 0 false
	// 1 10 false
	// 2 20 true
	// processing
	// idle
}

// Claim, write in place, publish: the ring's lowest-level API.
func ExampleRingBuffer_Next() {
	ring, _ := disruptor.NewRingBuffer(func() Trade { return Trade{} }, 8,
		disruptor.MultiProducer, disruptor.NewBusySpinWaitStrategy())
	consumer := disruptor.NewSequence(disruptor.InitialSequenceValue)
	ring.AddGatingSequences(consumer)

	seq := ring.Next()
	ring.Get(seq).Price = 42
	ring.Publish(seq)

	if _, err := ring.TryNextN(8); err != nil {
		fmt.Println(err) // 7 slots are free, not 8
	}
	avail, _ := ring.NewBarrier().WaitFor(0)
	fmt.Println(avail, ring.Get(avail).Price)
	// Output:
	// disruptor: insufficient capacity
	// 0 42
}

// Wait strategies are chosen by their config names.
func ExampleParseWaitStrategy() {
	ws, err := disruptor.ParseWaitStrategy("busy-spin")
	fmt.Println(ws, err)
	_, err = disruptor.ParseWaitStrategy("fast")
	fmt.Println(err)
	// Output:
	// busy_spin <nil>
	// disruptor: invalid WaitStrategy fast: want one of [busy_spin yielding sleeping blocking lite_blocking timeout_blocking phased_backoff]
}

// A producer that must not wait forever claims with a context: when the
// ring stays full (here its only consumer is stuck) the claim gives up
// with the context's error and publishes nothing; once the Disruptor
// halts, claims waiting for room return ErrShutdown.
func ExampleDisruptor_PublishEventCtx() {
	d, _ := disruptor.NewBuilder(func() Trade { return Trade{} }).BufferSize(4).SingleProducer().Build()
	stuck, release := make(chan struct{}), make(chan struct{})
	var once atomic.Bool
	d.HandleEventsWith(disruptor.EventHandlerFunc[Trade](func(*Trade, int64, bool) error {
		if once.CompareAndSwap(false, true) {
			close(stuck)
			<-release // holds the ring full
		}
		return nil
	}))
	if err := d.Start(); err != nil {
		panic(err)
	}
	fill := func(e *Trade, _ int64) { e.Qty = 1 }
	for range 4 {
		_ = d.PublishEvent(fill)
	}
	<-stuck
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel()
	fmt.Println(d.PublishEventCtx(ctx, fill))

	blocked := make(chan error)
	go func() { blocked <- d.PublishEvent(fill) }() // waits for room
	go func() { time.Sleep(10 * time.Millisecond); close(release) }()
	d.Halt()
	fmt.Println(<-blocked)
	// Output:
	// context deadline exceeded
	// disruptor: shut down
}

// A processor counts the events it handled and the batches they came in:
// events per batch is how many events each wake-up found.
func ExampleBatchEventProcessor_Stats() {
	d, _ := disruptor.NewBuilder(func() Trade { return Trade{} }).BufferSize(64).SingleProducer().Build()
	g := d.HandleEventsWith(&totaller{})
	ring := d.RingBuffer()
	for i := range int64(10) { // published before Start: the first wait finds all ten
		disruptor.PublishEvent2(ring, fillTrade, 100+i, 1)
	}
	if err := d.Start(); err != nil {
		panic(err)
	}
	if err := d.Shutdown(context.Background()); err != nil {
		panic(err)
	}
	st := g.Processors()[0].(*disruptor.BatchEventProcessor[Trade]).Stats()
	fmt.Println(st.Events, "events in", st.Batches, "batch")
	// Output: 10 events in 1 batch
}
