// Command quickstart runs a small pipeline on the disruptor library: one
// producer, two independent consumers (a summer and a counter), and a third
// stage that runs after both, then prints what each saw.
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"time"

	"github.com/badbatch/badbatch/disruptor"
)

type event struct {
	value   int64
	doubled int64
}

type summer struct{ sum int64 }

func (s *summer) OnEvent(e *event, _ int64, _ bool) error {
	s.sum += e.value
	return nil
}

type doubler struct{}

func (doubler) OnEvent(e *event, _ int64, _ bool) error {
	e.doubled = 2 * e.value
	return nil
}

type checker struct{ seen, bad int64 }

func (c *checker) OnEvent(e *event, _ int64, _ bool) error {
	c.seen++
	if e.doubled != 2*e.value {
		c.bad++
	}
	return nil
}

func main() {
	n := flag.Int64("events", 10_000_000, "events to publish")
	flag.Parse()

	d, err := disruptor.NewBuilder(func() event { return event{} }).
		BufferSize(1 << 14).
		SingleProducer().
		YieldingWaitStrategy().
		Build()
	if err != nil {
		log.Fatal(err)
	}
	sum, check := &summer{}, &checker{}
	d.HandleEventsWith(sum, doubler{}).Then(check)
	if err := d.Start(); err != nil {
		log.Fatal(err)
	}

	start := time.Now()
	ring := d.RingBuffer()
	for i := range *n {
		disruptor.PublishEvent1(ring, func(e *event, _ int64, v int64) { e.value = v }, i)
	}
	if err := d.Shutdown(context.Background()); err != nil {
		log.Fatal(err)
	}
	elapsed := time.Since(start)

	fmt.Printf("published %d events in %v (%.1f M events/s)\n", *n, elapsed.Round(time.Millisecond),
		float64(*n)/elapsed.Seconds()/1e6)
	fmt.Printf("sum=%d (want %d) checked=%d mismatches=%d\n", sum.sum, *n*(*n-1)/2, check.seen, check.bad)
}
