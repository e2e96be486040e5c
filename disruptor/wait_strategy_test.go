package disruptor

import (
	"errors"
	"runtime"
	"testing"
	"time"
)

// strategies returns one fresh instance of every wait strategy.
func strategies(t *testing.T) map[string]WaitStrategy {
	out := map[string]WaitStrategy{}
	for _, name := range WaitStrategyNames {
		if name == TimeoutBlockingName {
			// Its own test below checks the timeout; here it must outwait
			// the suite's pauses.
			out[name] = NewTimeoutBlockingWaitStrategy(time.Minute)
			continue
		}
		ws, err := ParseWaitStrategy(name)
		if err != nil {
			t.Fatal(err)
		}
		out[name] = ws
	}
	out["phased_backoff/blocking"] = NewPhasedBackoffWaitStrategy(time.Microsecond, 10*time.Microsecond, NewBlockingWaitStrategy())
	out["sleeping/short"] = NewSleepingWaitStrategyWith(2, time.Microsecond)
	return out
}

// waitResult runs b.WaitFor(seq) on a goroutine.
func waitResult(b *SequenceBarrier, seq int64) <-chan [2]any {
	ch := make(chan [2]any, 1)
	go func() {
		for {
			// Like a processor: with many producers, WaitFor may return
			// below seq while a claimed slot is being written.
			got, err := b.WaitFor(seq)
			if err != nil || got >= seq {
				ch <- [2]any{got, err}
				return
			}
		}
	}()
	return ch
}

func expectPending(t *testing.T, ch <-chan [2]any, what string) {
	t.Helper()
	select {
	case r := <-ch:
		t.Fatalf("%s: WaitFor returned %v early", what, r)
	case <-time.After(20 * time.Millisecond):
	}
}

func expectResult(t *testing.T, ch <-chan [2]any, atLeast int64, wantErr error) {
	t.Helper()
	select {
	case r := <-ch:
		got, err := r[0].(int64), r[1]
		if wantErr != nil {
			if e, _ := err.(error); !errors.Is(e, wantErr) {
				t.Fatalf("WaitFor = %d, %v; want %v", got, err, wantErr)
			}
			return
		}
		if err != nil || got < atLeast {
			t.Fatalf("WaitFor = %d, %v; want >= %d", got, err, atLeast)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("WaitFor did not return")
	}
}

// TestWaitStrategyBehaviour is the suite every strategy passes.
func TestWaitStrategyBehaviour(t *testing.T) {
	for name, ws := range strategies(t) {
		t.Run(name, func(t *testing.T) {
			for _, pt := range []ProducerType{SingleProducer, MultiProducer} {
				ring, err := NewRingBuffer(newInt, 64, pt, ws)
				if err != nil {
					t.Fatal(err)
				}
				b := ring.NewBarrier()

				// Already published: returns at once, with the whole batch.
				ring.PublishRange(ring.NextN(3)-2, 2)
				expectResult(t, waitResult(b, 0), 2, nil)

				// Not yet published: waits, then returns after the publish.
				ch := waitResult(b, 5)
				expectPending(t, ch, "before publish")
				hi := ring.NextN(3)
				ring.PublishRange(hi-2, hi)
				expectResult(t, ch, 5, nil)

				// Alert wakes a waiter with ErrAlerted, and sticks until
				// cleared.
				ch = waitResult(b, 100)
				expectPending(t, ch, "before alert")
				b.Alert()
				expectResult(t, ch, 0, ErrAlerted)
				if _, err := b.WaitFor(0); !errors.Is(err, ErrAlerted) || !b.IsAlerted() {
					t.Fatalf("WaitFor on an alerted barrier = %v", err)
				}
				b.ClearAlert()
				expectResult(t, waitResult(b, 5), 5, nil)

				// Dependencies: published up to 5, but the consumer this one
				// follows is at 3.
				dep := NewSequence(3)
				db := ring.NewBarrier(dep)
				ch = waitResult(db, 5)
				expectPending(t, ch, "dependency behind")
				dep.Set(5)
				expectResult(t, ch, 5, nil)
			}
		})
	}
}

func TestTimeoutBlockingTimesOut(t *testing.T) {
	ws := NewTimeoutBlockingWaitStrategy(10 * time.Millisecond)
	ring, err := NewRingBuffer(newInt, 8, SingleProducer, ws)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	_, err = ring.NewBarrier().WaitFor(0)
	if !errors.Is(err, ErrTimeout) {
		t.Fatalf("WaitFor = %v, want ErrTimeout", err)
	}
	if elapsed := time.Since(start); elapsed < 10*time.Millisecond {
		t.Errorf("timed out after %v, before the 10ms timeout", elapsed)
	}
}

// TestBlockingStrategiesLoseNoWakeup: a producer publishes bursts of one
// to three events and waits, each time, until its consumer has handled
// them, so that the consumer parks between bursts and every burst's
// publish must wake it. A wake-up lost in the race between a consumer
// about to park and a publish (the store-then-load pattern, with its
// fence on the producer's side or, where the parking consumer pays for
// it, on the consumer's) leaves the consumer parked and the wait fails.
func TestBlockingStrategiesLoseNoWakeup(t *testing.T) {
	bursts := int(scale(3000, 300))
	for _, name := range []string{BlockingName, LiteBlockingName, PhasedBackoffName} {
		for _, pt := range []ProducerType{SingleProducer, MultiProducer} {
			t.Run(name+"/"+pt.String(), func(t *testing.T) {
				ws := mustParse(t, name)
				if name == PhasedBackoffName { // park at once rather than after a millisecond
					ws = NewPhasedBackoffWaitStrategy(0, 0, NewLiteBlockingWaitStrategy())
				}
				d, err := New(newTestEvent, Config{BufferSize: 64, ProducerType: pt, WaitStrategy: ws})
				if err != nil {
					t.Fatal(err)
				}
				c := newOrderChecker(t, 1)
				seq := d.HandleEventsWith(c).Sequences()[0]
				if err := d.Start(); err != nil {
					t.Fatal(err)
				}
				defer d.Halt()
				ring := d.RingBuffer()
				v := int64(0)
				for i := range bursts {
					for range 1 + i%3 {
						PublishEvent2(ring, func(e *testEvent, _ int64, p int, x int64) { e.producer, e.value = p, x }, 0, v)
						v++
					}
					deadline := time.Now().Add(10 * time.Second)
					for seq.Get() != v-1 {
						if time.Now().After(deadline) {
							t.Fatalf("burst %d: the consumer is at %d, the producer published up to %d 10s ago: a wake-up was lost", i, seq.Get(), v-1)
						}
						runtime.Gosched()
					}
				}
				shutdown(t, d)
				c.check(t, 1, v)
			})
		}
	}
}
