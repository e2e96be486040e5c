package engine

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// follow reads sub until it has n events or fails, checking order.
func follow(t *testing.T, sub *Subscription, n int, timeout time.Duration) ([]Event, error) {
	t.Helper()
	var rec Records
	var got []Event
	deadline := time.After(timeout)
	for len(got) < n {
		gap, err := sub.Poll(&rec, 64)
		if gap.Count > 0 {
			return got, fmt.Errorf("unexpected gap %+v", gap)
		}
		for _, ev := range rec.Events {
			ev.Payload = append([]byte(nil), ev.Payload...)
			got = append(got, ev)
		}
		if err != nil {
			return got, err
		}
		if len(rec.Events) == 0 {
			select {
			case <-sub.Wait():
			case <-deadline:
				return got, fmt.Errorf("timed out with %d of %d events", len(got), n)
			}
		}
	}
	return got, nil
}

func TestConcurrentPublishSubscribeReplay(t *testing.T) {
	const producers, perProducer, batch = 4, 500, 5
	for _, pt := range []string{"single", "multi"} {
		t.Run(pt, func(t *testing.T) {
			e := newEngine(t, nil)
			create(t, e, DisruptorConfig{Name: "c", BufferSize: 1 << 13, ProducerType: pt})
			sub, err := e.Subscribe("c", SubscribeOptions{From: -1})
			if err != nil {
				t.Fatal(err)
			}
			defer sub.Close()
			var wg sync.WaitGroup
			for p := range producers {
				wg.Go(func() {
					for i := 0; i < perProducer; i += batch {
						evs := make([]Event, batch)
						for j := range evs {
							evs[j].Payload = fmt.Appendf(nil, `{"p":%d,"i":%d}`, p, i+j)
						}
						if _, err := e.Publish(context.Background(), "c", &Batch{Events: evs}); err != nil {
							t.Error(err)
							return
						}
					}
				})
			}
			const total = producers * perProducer
			got, err := follow(t, sub, total, 10*time.Second)
			wg.Wait()
			if err != nil {
				t.Fatal(err)
			}
			check := func(what string, evs []Event) {
				t.Helper()
				seen := make(map[string]bool, total)
				next := map[int]int{}
				for i, ev := range evs {
					if ev.Sequence != int64(i) {
						t.Fatalf("%s: event %d has sequence %d", what, i, ev.Sequence)
					}
					k := string(ev.Payload)
					if seen[k] {
						t.Fatalf("%s: %s twice", what, k)
					}
					seen[k] = true
					var p, n int
					fmt.Sscanf(k, `{"p":%d,"i":%d}`, &p, &n)
					if n != next[p] {
						t.Fatalf("%s: producer %d's event %d came before %d", what, p, n, next[p])
					}
					next[p]++
				}
				if len(seen) != total {
					t.Fatalf("%s: %d distinct events, want %d", what, len(seen), total)
				}
			}
			check("subscriber", got)
			var rec Records
			var replay []Event
			for from := int64(0); from < total; {
				w, err := e.Read("c", from, 333, &rec)
				if err != nil {
					t.Fatal(err)
				}
				replay = append(replay, rec.Events...)
				for i := range replay[len(replay)-len(rec.Events):] {
					ev := &replay[len(replay)-len(rec.Events)+i]
					ev.Payload = append([]byte(nil), ev.Payload...)
				}
				from = w.Next
			}
			check("replay", replay)
		})
	}
}

func TestSubscriptionLag(t *testing.T) {
	e := newEngine(t, nil)
	create(t, e, DisruptorConfig{Name: "lag", BufferSize: 8})
	h, _ := e.lookup("lag")
	disc, _ := e.Subscribe("lag", SubscribeOptions{From: 0})
	skip, _ := e.Subscribe("lag", SubscribeOptions{From: 0, OnLag: LagSkip})
	defer disc.Close()
	defer skip.Close()
	publish(t, e, "lag", events(3, "%d"))
	if got, err := follow(t, disc, 3, time.Second); err != nil || len(got) != 3 {
		t.Fatal(got, err)
	}
	for range 4 {
		publish(t, e, "lag", events(5, "%d"))
	}
	waitConsumed(t, h) // 23 events: 15..22 remain
	var rec Records
	_, err := disc.Poll(&rec, 100)
	var le *LaggedError
	if !errors.As(err, &le) || le.LastDelivered != 2 || le.Oldest != 15 || Code(err) != CodeLagged {
		t.Fatalf("disconnect: %v", err)
	}
	gap, err := skip.Poll(&rec, 100)
	if err != nil || gap != (Gap{From: 0, To: 14, Count: 15}) || len(rec.Events) != 8 || rec.Events[0].Sequence != 15 {
		t.Fatalf("skip: %+v %d events %v", gap, len(rec.Events), err)
	}
	if _, err := e.Subscribe("lag", SubscribeOptions{From: 3}); !errors.Is(err, ErrEvicted) {
		t.Errorf("subscribe from evicted: %v", err)
	}
	if _, err := e.Subscribe("lag", SubscribeOptions{From: 24}); !errors.Is(err, ErrSequenceNotFound) {
		t.Errorf("subscribe from the future: %v", err)
	}
}

func TestSubscriptionEnds(t *testing.T) {
	e := newEngine(t, func(c *Config) { c.MaxSubscribers = 2 })
	ctx := context.Background()
	create(t, e, DisruptorConfig{Name: "a"})
	create(t, e, DisruptorConfig{Name: "b"})
	sa, _ := e.Subscribe("a", SubscribeOptions{From: 0})
	sb, _ := e.Subscribe("b", SubscribeOptions{From: -1})
	s3, _ := e.Subscribe("a", SubscribeOptions{From: -1})
	if _, err := e.Subscribe("a", SubscribeOptions{}); !errors.Is(err, ErrTooManySubscribers) {
		t.Fatalf("limit: %v", err)
	}
	s3.Close()
	s3.Close()
	publish(t, e, "a", events(10, "%d"))
	if _, err := e.SetState(ctx, "a", StateStopped); err != nil {
		t.Fatal(err)
	}
	// Everything published before the stop is delivered, then the end.
	got, err := follow(t, sa, 11, time.Second)
	var end *EndError
	if len(got) != 10 || !errors.As(err, &end) || end.Reason != EndStopped || end.LastDelivered != 9 {
		t.Fatalf("stopped: %d events, %v", len(got), err)
	}
	select {
	case <-sb.Wait():
		t.Fatal("idle subscription woke")
	default:
	}
	done := make(chan error)
	go func() {
		<-sb.Wait()
		var rec Records
		_, err := sb.Poll(&rec, 1)
		done <- err
	}()
	if err := e.Delete(ctx, "b"); err != nil {
		t.Fatal(err)
	}
	if err := <-done; !errors.As(err, &end) || end.Reason != EndDeleted {
		t.Fatalf("deleted: %v", err)
	}
	sa.Close()
	sb.Close()
}

func TestEngineClose(t *testing.T) {
	e, err := New(DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	create(t, e, DisruptorConfig{Name: "a"})
	sub, _ := e.Subscribe("a", SubscribeOptions{})
	defer sub.Close()
	publish(t, e, "a", events(100, "%d"))
	if err := e.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	var rec Records
	var end *EndError
	if _, err := sub.Poll(&rec, 10); !errors.As(err, &end) || end.Reason != EndShutdown {
		t.Fatalf("poll after close: %v", err)
	}
	if _, err := e.Publish(context.Background(), "a", &Batch{Events: events(1, "%d")}); !errors.Is(err, ErrClosed) || Code(err) != CodeShuttingDown {
		t.Fatalf("publish after close: %v", err)
	}
	if _, err := e.Create(DisruptorConfig{Name: "b"}, true); !errors.Is(err, ErrClosed) {
		t.Fatalf("create after close: %v", err)
	}
	if e.Health().Ready() {
		t.Fatal("closed engine is ready")
	}
	if err := e.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
}

func TestMetricsAndHealth(t *testing.T) {
	reg := prometheus.NewPedanticRegistry()
	e := newEngine(t, func(c *Config) { c.Registerer = reg })
	create(t, e, DisruptorConfig{Name: "m"})
	if _, err := e.Create(DisruptorConfig{Name: "idle"}, false); err != nil {
		t.Fatal(err)
	}
	for range 10 {
		publish(t, e, "m", events(10, "%d"))
	}
	h, _ := e.lookup("m")
	waitConsumed(t, h)
	m, err := e.Metrics("m")
	if err != nil {
		t.Fatal(err)
	}
	if m.Published != 100 || m.Consumed != 100 || m.Batches != 10 || m.Latency.Count != 100 ||
		m.Latency.P99 <= 0 || len(m.Consumers) != 2 || m.FillRatio != 0 || m.PublishRate <= 0 {
		t.Errorf("metrics %+v", m)
	}
	if n := testutil.CollectAndCount(e.Collector(), "badbatch_events_published_total"); n != 2 {
		t.Errorf("%d published series, want 2", n)
	}
	want := `
# HELP badbatch_events_published_total Events published to the disruptor.
# TYPE badbatch_events_published_total counter
badbatch_events_published_total{disruptor="idle"} 0
badbatch_events_published_total{disruptor="m"} 100
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "badbatch_events_published_total"); err != nil {
		t.Error(err)
	}
	if lint, err := testutil.GatherAndLint(reg); err != nil || len(lint) > 0 {
		t.Errorf("lint: %v %v", lint, err)
	}
	hl := e.Health()
	if !hl.Ready() || len(hl.Disruptors) != 2 || hl.Disruptors[0].Name != "idle" {
		t.Errorf("health %+v", hl)
	}
	if all := e.AllMetrics(); len(all) != 2 {
		t.Errorf("all metrics: %d", len(all))
	}
}
