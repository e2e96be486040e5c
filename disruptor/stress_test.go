package disruptor

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"
)

// orderChecker is a consumer that checks every event arrives once, in each
// producer's order, and keeps counts and sums to compare with what was
// published.
type orderChecker struct {
	t     *testing.T
	next  []int64 // next value expected from each producer
	count int64
	sum   int64
	bad   int
}

func newOrderChecker(t *testing.T, producers int) *orderChecker {
	return &orderChecker{t: t, next: make([]int64, producers)}
}

func (c *orderChecker) OnEvent(e *testEvent, seq int64, _ bool) error {
	if e.value != c.next[e.producer] {
		if c.bad < 5 {
			c.t.Errorf("seq %d: producer %d sent %d, want %d", seq, e.producer, e.value, c.next[e.producer])
		}
		c.bad++
	}
	c.next[e.producer] = e.value + 1
	c.count++
	c.sum += e.value
	return nil
}

func (c *orderChecker) check(t *testing.T, producers int, perProducer int64) {
	t.Helper()
	if want := int64(producers) * perProducer; c.count != want {
		t.Errorf("consumer saw %d events, want %d", c.count, want)
	}
	if want := int64(producers) * perProducer * (perProducer - 1) / 2; c.sum != want {
		t.Errorf("consumer sum %d, want %d", c.sum, want)
	}
	for p, n := range c.next {
		if n != perProducer {
			t.Errorf("producer %d: last value seen %d, want %d", p, n-1, perProducer-1)
		}
	}
}

func publishFrom(d *Disruptor[testEvent], producer int, n int64) {
	ring := d.RingBuffer()
	for i := range n {
		PublishEvent2(ring, func(e *testEvent, _ int64, p int, v int64) {
			e.producer, e.value = p, v
		}, producer, i)
	}
}

func shutdown(t *testing.T, d interface{ Shutdown(context.Context) error }) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := d.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
}

// TestMultiProducerStress: 4 producers publish concurrently; two
// independent consumers each see every event once, in per-producer order.
func TestMultiProducerStress(t *testing.T) {
	const producers = 4
	perProducer := scale(1_000_000, 50_000)
	for _, ws := range []string{BusySpinName, YieldingName, BlockingName, LiteBlockingName} {
		t.Run(ws, func(t *testing.T) {
			if testing.Short() && ws == BusySpinName {
				// 4 producers and 2 spinning consumers on a 2-core
				// machine under -race are slow; the full suite runs it.
				perProducer = 10_000
			}
			d, err := NewBuilder(newTestEvent).BufferSize(1024).MultiProducer().WaitStrategyName(ws).Build()
			if err != nil {
				t.Fatal(err)
			}
			c1, c2 := newOrderChecker(t, producers), newOrderChecker(t, producers)
			d.HandleEventsWith(c1, c2)
			if err := d.Start(); err != nil {
				t.Fatal(err)
			}
			var wg sync.WaitGroup
			for p := range producers {
				wg.Go(func() { publishFrom(d, p, perProducer) })
			}
			wg.Wait()
			shutdown(t, d)
			c1.check(t, producers, perProducer)
			c2.check(t, producers, perProducer)
		})
	}
}

// TestMultiProducerBatchStress publishes in batches of varying sizes from
// several producers with PublishEvents1.
func TestMultiProducerBatchStress(t *testing.T) {
	const producers = 3
	perProducer := scale(300_000, 30_000)
	d, err := NewBuilder(newTestEvent).BufferSize(256).MultiProducer().YieldingWaitStrategy().Build()
	if err != nil {
		t.Fatal(err)
	}
	c := newOrderChecker(t, producers)
	d.HandleEventsWith(c)
	if err := d.Start(); err != nil {
		t.Fatal(err)
	}
	type arg struct {
		p int
		v int64
	}
	var wg sync.WaitGroup
	for p := range producers {
		wg.Go(func() {
			batch := make([]arg, 0, 37)
			for v := int64(0); v < perProducer; {
				batch = batch[:0]
				for n := 1 + int(v%37); n > 0 && v < perProducer; n-- {
					batch = append(batch, arg{p, v})
					v++
				}
				PublishEvents1(d.RingBuffer(), func(e *testEvent, _ int64, a arg) {
					e.producer, e.value = a.p, a.v
				}, batch)
			}
		})
	}
	wg.Wait()
	shutdown(t, d)
	c.check(t, producers, perProducer)
}

// TestSingleProducerThreeConsumers: one producer, three independent
// consumers, each sees everything once and in order.
func TestSingleProducerThreeConsumers(t *testing.T) {
	n := scale(3_000_000, 200_000)
	for _, ws := range []string{YieldingName, BlockingName, SleepingName, PhasedBackoffName} {
		t.Run(ws, func(t *testing.T) {
			d, err := NewBuilder(newTestEvent).BufferSize(512).SingleProducer().WaitStrategyName(ws).Build()
			if err != nil {
				t.Fatal(err)
			}
			cs := []*orderChecker{newOrderChecker(t, 1), newOrderChecker(t, 1), newOrderChecker(t, 1)}
			d.HandleEventsWith(cs[0], cs[1], cs[2])
			if err := d.Start(); err != nil {
				t.Fatal(err)
			}
			publishFrom(d, 0, n)
			shutdown(t, d)
			for i, c := range cs {
				t.Run(fmt.Sprint("consumer", i), func(t *testing.T) { c.check(t, 1, n) })
			}
		})
	}
}
