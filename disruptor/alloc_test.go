package disruptor

import (
	"runtime"
	"testing"
)

type sumHandler struct{ sum int64 }

func (h *sumHandler) OnEvent(e *testEvent, _ int64, _ bool) error {
	h.sum += e.value
	return nil
}

type sliceSumHandler struct{ sumHandler }

func (h *sliceSumHandler) OnBatch(events []testEvent, _ int64, _ bool) error {
	for i := range events {
		h.sum += events[i].value
	}
	return nil
}

func fillValue(e *testEvent, _ int64, v int64) { e.value = v }

// TestZeroAllocsPerEvent publishes and consumes (to the end: the run waits
// for the consumer) and counts allocations across all goroutines.
func TestZeroAllocsPerEvent(t *testing.T) {
	type handler interface {
		EventHandler[testEvent]
	}
	for _, pt := range []ProducerType{SingleProducer, MultiProducer} {
		for _, ws := range []string{BusySpinName, YieldingName, BlockingName, LiteBlockingName, SleepingName} {
			for _, batch := range []bool{false, true} {
				name := pt.String() + "/" + ws
				if batch {
					name += "/batch-handler"
				}
				t.Run(name, func(t *testing.T) {
					d, err := New(newTestEvent, Config{BufferSize: 1024, ProducerType: pt, WaitStrategy: mustParse(t, ws)})
					if err != nil {
						t.Fatal(err)
					}
					var h handler = &sumHandler{}
					if batch {
						h = &sliceSumHandler{}
					}
					g := d.HandleEventsWith(h)
					if err := d.Start(); err != nil {
						t.Fatal(err)
					}
					defer d.Halt()
					ring, consumer := d.RingBuffer(), g.Sequences()[0]
					run := func() {
						for i := range int64(1000) {
							PublishEvent1(ring, fillValue, i)
						}
						hi := ring.NextN(8) // and a batch claim
						ring.PublishRange(hi-7, hi)
						for consumer.Get() < ring.Cursor() {
							runtime.Gosched()
						}
					}
					run() // warm up
					if allocs := testing.AllocsPerRun(20, run); allocs != 0 {
						t.Errorf("%.1f allocations per 1008 events published and consumed, want 0", allocs)
					}
				})
			}
		}
	}
}

func mustParse(t *testing.T, name string) WaitStrategy {
	t.Helper()
	ws, err := ParseWaitStrategy(name)
	if err != nil {
		t.Fatal(err)
	}
	return ws
}
