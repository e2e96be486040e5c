package engine

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"testing"
	"time"

	"pgregory.net/rapid"
)

// TestWindowModel checks the engine's read and subscribe window against a
// model that is a list of every event ever published: the ring holds the
// last buffer_size of them; replay (Read, Get) returns exactly those from
// a sequence on, an evicted error below them and nothing past them; live
// subscriptions deliver each event once, in order, and a subscriber that
// falls behind the window is disconnected (naming the last event it got)
// or skips to the oldest event held (naming the gap). Random rings
// (sizes, single or multi producer, a first sequence past 0) and random
// interleavings of publishes, reads, gets, subscriptions and polls.
func TestWindowModel(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		size := rapid.SampledFrom([]int{1, 2, 4, 8, 16}).Draw(t, "size")
		pt := rapid.SampledFrom([]string{"single", "multi"}).Draw(t, "producer")
		first := rapid.SampledFrom([]int64{0, 0, 5, 1000}).Draw(t, "first")
		e, err := New(DefaultConfig())
		if err != nil {
			t.Fatal(err)
		}
		defer e.Close(context.Background())
		if _, err := e.Create(DisruptorConfig{Name: "w", BufferSize: size, ProducerType: pt, FirstSequence: first}, true); err != nil {
			t.Fatal(err)
		}
		h := e.hosted["w"]
		next := first // the model: events first..next-1 were published, event s has payload s
		oldest := func() int64 { return max(first, next-int64(size)) }
		type modelSub struct {
			sub    *Subscription
			next   int64
			policy LagPolicy
		}
		var subs []*modelSub
		ctx := context.Background()
		var rec Records
		t.Repeat(map[string]func(*rapid.T){
			"publish": func(t *rapid.T) {
				n := rapid.IntRange(1, size).Draw(t, "n")
				evs := make([]Event, n)
				for i := range evs {
					evs[i].Payload = strconv.AppendInt(nil, next+int64(i), 10)
				}
				got, err := e.Publish(ctx, "w", &Batch{Events: evs})
				if err != nil || got != next {
					t.Fatalf("publish %d: first %d %v, want %d", n, got, err, next)
				}
				next += int64(n)
				// Deterministic from here: the fan-out has passed the batch.
				deadline := time.Now().Add(10 * time.Second)
				for h.delivered.Load() != next-1 {
					if time.Now().After(deadline) {
						t.Fatalf("the fan-out consumer is at %d, want %d", h.delivered.Load(), next-1)
					}
					time.Sleep(10 * time.Microsecond)
				}
			},
			"read": func(t *rapid.T) {
				from := rapid.Int64Range(0, next+2).Draw(t, "from")
				limit := rapid.IntRange(1, size+2).Draw(t, "limit")
				w, err := e.Read("w", from, limit, &rec)
				var ev *EvictedError
				switch {
				case from < oldest():
					if !errors.As(err, &ev) || ev.Oldest != oldest() || len(rec.Events) != 0 {
						t.Fatalf("read from %d below the window %d..%d: %d events, %v", from, oldest(), next-1, len(rec.Events), err)
					}
					return
				case err != nil:
					t.Fatalf("read from %d in the window %d..%d: %v", from, oldest(), next-1, err)
				}
				if w.Oldest != oldest() || w.Latest != next-1 {
					t.Fatalf("window %d..%d, want %d..%d", w.Oldest, w.Latest, oldest(), next-1)
				}
				want := max(0, min(int64(limit), next-from))
				if int64(len(rec.Events)) != want || w.Next != from+want {
					t.Fatalf("read from %d limit %d: %d events, next %d; want %d", from, limit, len(rec.Events), w.Next, want)
				}
				for i, ev := range rec.Events {
					if ev.Sequence != from+int64(i) || string(ev.Payload) != strconv.FormatInt(ev.Sequence, 10) {
						t.Fatalf("read event %d: %d %q", i, ev.Sequence, ev.Payload)
					}
				}
			},
			"get": func(t *rapid.T) {
				seq := rapid.Int64Range(0, next+2).Draw(t, "seq")
				ev, err := e.Get("w", seq, &rec)
				switch {
				case seq >= next:
					var np *NotPublishedError
					if !errors.As(err, &np) || np.Latest != next-1 {
						t.Fatalf("get %d past %d: %v", seq, next-1, err)
					}
				case seq < oldest():
					if !errors.Is(err, ErrEvicted) {
						t.Fatalf("get %d below %d: %v", seq, oldest(), err)
					}
				case err != nil || ev.Sequence != seq || string(ev.Payload) != strconv.FormatInt(seq, 10):
					t.Fatalf("get %d: %+v %v", seq, ev, err)
				}
			},
			"subscribe": func(t *rapid.T) {
				if len(subs) >= 4 {
					t.Skip("enough subscribers")
				}
				from := rapid.Int64Range(-1, next+1).Draw(t, "from")
				policy := rapid.SampledFrom([]LagPolicy{LagDisconnect, LagSkip}).Draw(t, "policy")
				sub, err := e.Subscribe("w", SubscribeOptions{From: from, OnLag: policy})
				switch {
				case from > next:
					if !errors.Is(err, ErrSequenceNotFound) {
						t.Fatalf("subscribe from %d past %d: %v", from, next, err)
					}
					return
				case from >= 0 && from < oldest():
					if !errors.Is(err, ErrEvicted) {
						t.Fatalf("subscribe from %d below %d: %v", from, oldest(), err)
					}
					return
				case err != nil:
					t.Fatalf("subscribe from %d: %v", from, err)
				}
				if from < 0 {
					from = next
				}
				if sub.Next() != from {
					t.Fatalf("subscription starts at %d, want %d", sub.Next(), from)
				}
				subs = append(subs, &modelSub{sub: sub, next: from, policy: policy})
			},
			"poll": func(t *rapid.T) {
				if len(subs) == 0 {
					t.Skip("no subscriber")
				}
				i := rapid.IntRange(0, len(subs)-1).Draw(t, "sub")
				limit := rapid.IntRange(1, size+2).Draw(t, "limit")
				s := subs[i]
				gap, err := s.sub.Poll(&rec, limit)
				if s.next < oldest() {
					if s.policy == LagDisconnect {
						var le *LaggedError
						if !errors.As(err, &le) || le.LastDelivered != s.next-1 || le.Oldest != oldest() {
							t.Fatalf("a subscriber at %d behind %d: %v", s.next, oldest(), err)
						}
						s.sub.Close()
						subs = append(subs[:i], subs[i+1:]...)
						return
					}
					if gap.From != s.next || gap.To != oldest()-1 || gap.Count != oldest()-s.next {
						t.Fatalf("a skipping subscriber at %d behind %d: gap %+v", s.next, oldest(), gap)
					}
					s.next = oldest()
				} else if gap.Count != 0 {
					t.Fatalf("a gap %+v at %d inside the window", gap, s.next)
				}
				if err != nil {
					t.Fatalf("poll: %v", err)
				}
				want := max(0, min(int64(limit), next-s.next))
				if int64(len(rec.Events)) != want {
					t.Fatalf("poll at %d limit %d: %d events, want %d", s.next, limit, len(rec.Events), want)
				}
				for j, ev := range rec.Events {
					if ev.Sequence != s.next+int64(j) || string(ev.Payload) != fmt.Sprint(ev.Sequence) {
						t.Fatalf("poll event %d: %d %q, want %d", j, ev.Sequence, ev.Payload, s.next+int64(j))
					}
				}
				s.next += want
				if s.sub.Next() != s.next {
					t.Fatalf("subscription next %d, model %d", s.sub.Next(), s.next)
				}
			},
		})
		for _, s := range subs {
			s.sub.Close()
		}
		if n := h.subscribers.Load(); n != 0 {
			t.Fatalf("%d subscribers left after closing all", n)
		}
	})
}
