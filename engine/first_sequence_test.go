package engine

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/badbatch/badbatch/disruptor"
)

func TestFirstSequenceValidation(t *testing.T) {
	e := newEngine(t, nil)
	for _, first := range []int64{-1, disruptor.MaxFirstSequence + 1} {
		_, err := e.Create(DisruptorConfig{Name: "bad", FirstSequence: first}, false)
		ces := ConfigErrors(err)
		if !errors.Is(err, ErrInvalidConfig) || len(ces) != 1 || ces[0].Field != "first_sequence" {
			t.Errorf("FirstSequence %d: %v", first, err)
		}
	}
	info, err := e.Create(DisruptorConfig{Name: "max", FirstSequence: disruptor.MaxFirstSequence}, true)
	if err != nil || info.Oldest != disruptor.MaxFirstSequence || info.Latest != disruptor.MaxFirstSequence-1 {
		t.Fatalf("Create at MaxFirstSequence: %+v, %v", info, err)
	}
	if seqs := publish(t, e, "max", events(2, "%d")); !cmp.Equal(seqs, []int64{disruptor.MaxFirstSequence, disruptor.MaxFirstSequence + 1}) {
		t.Errorf("sequences %v", seqs)
	}
	// The defaults' FirstSequence is not applied to other disruptors.
	e2 := newEngine(t, func(c *Config) { c.Defaults.FirstSequence = 100 })
	if info, err := e2.Create(DisruptorConfig{Name: "d"}, false); err != nil || info.Oldest != 0 || info.Latest != -1 {
		t.Errorf("defaults: %+v, %v", info, err)
	}
}

// TestFirstSequence: a disruptor started at first reports an empty window
// from first, treats every sequence below it as evicted (in reads, gets,
// subscriptions and lag), numbers its events from first, and its consumers
// and metrics start there.
func TestFirstSequence(t *testing.T) {
	const size = 16
	for _, pt := range []string{"single", "multi"} {
		for _, first := range []int64{5, 7 * size, 1000} {
			t.Run(fmt.Sprintf("%s/%d", pt, first), func(t *testing.T) {
				testFirstSequence(t, pt, first, size)
			})
		}
	}
}

func testFirstSequence(t *testing.T, pt string, first int64, size int) {
	e := newEngine(t, nil)
	info, err := e.Create(DisruptorConfig{Name: "f", BufferSize: size, ProducerType: pt, FirstSequence: first}, true)
	if err != nil {
		t.Fatal(err)
	}
	// The sequences before first count as published, as in the ring a
	// restored one copies.
	if info.Oldest != first || info.Latest != first-1 || info.Published != first {
		t.Fatalf("new disruptor: oldest %d, latest %d, published %d; want %d, %d, %d", info.Oldest, info.Latest, info.Published, first, first-1, first)
	}
	h, _ := e.lookup("f")
	checkMetrics := func(at int64) {
		t.Helper()
		m, err := e.Metrics("f")
		if err != nil {
			t.Fatal(err)
		}
		if m.Cursor != at || m.FillRatio != 0 || m.Published != at+1 || m.Consumed != at+1 {
			t.Errorf("metrics: cursor %d, fill %v, published %d, consumed %d; want %d, 0, %d, %d",
				m.Cursor, m.FillRatio, m.Published, m.Consumed, at, at+1, at+1)
		}
		for _, c := range m.Consumers {
			if c.Sequence != at || c.Lag != 0 {
				t.Errorf("consumer %s at %d, lag %d; want %d, 0", c.Name, c.Sequence, c.Lag, at)
			}
		}
	}
	checkMetrics(first - 1)
	if m, _ := e.Metrics("f"); m.PublishRate != 0 {
		t.Errorf("publish rate %v before any publish", m.PublishRate)
	}

	var rec Records
	evicted := func(what string, err error, oldest int64) {
		t.Helper()
		var ev *EvictedError
		if !errors.As(err, &ev) || ev.Oldest != oldest || Code(err) != CodeEvicted {
			t.Errorf("%s: %v; want evicted, oldest %d", what, err, oldest)
		}
	}
	// Nothing published: the window is empty, and everything below first
	// is evicted, never a zero-value slot.
	w, err := e.Read("f", first, 10, &rec)
	if err != nil || len(rec.Events) != 0 || w != (Window{Oldest: first, Latest: first - 1, Next: first}) {
		t.Errorf("read at first: %+v, %d events, %v", w, len(rec.Events), err)
	}
	for _, below := range []int64{0, first - 1} {
		_, err := e.Read("f", below, 10, &rec)
		evicted(fmt.Sprint("read from ", below), err, first)
		if len(rec.Events) != 0 {
			t.Errorf("read from %d returned %d events", below, len(rec.Events))
		}
		_, err = e.Get("f", below, &rec)
		evicted(fmt.Sprint("get ", below), err, first)
		_, err = e.Subscribe("f", SubscribeOptions{From: below})
		evicted(fmt.Sprint("subscribe from ", below), err, first)
	}
	var np *NotPublishedError
	if _, err := e.Get("f", first, &rec); !errors.As(err, &np) || np.Latest != first-1 {
		t.Errorf("get first before publishing: %v", err)
	}
	if _, err := e.Subscribe("f", SubscribeOptions{From: first + 1}); !errors.As(err, &np) || np.Latest != first-1 {
		t.Errorf("subscribe past the next sequence: %v", err)
	}
	live, err := e.Subscribe("f", SubscribeOptions{From: -1})
	if err != nil || live.Next() != first {
		t.Fatalf("subscribe to what comes next: %v, next %d", err, live.Next())
	}
	defer live.Close()
	skip, err := e.Subscribe("f", SubscribeOptions{From: first, OnLag: LagSkip})
	if err != nil {
		t.Fatal(err)
	}
	defer skip.Close()
	if _, err := skip.Poll(&rec, 10); err != nil || len(rec.Events) != 0 {
		t.Fatalf("poll before publishing: %d events, %v", len(rec.Events), err)
	}

	// The first events take first, first+1, ...
	if seqs := publish(t, e, "f", events(3, "a%d")); !cmp.Equal(seqs, []int64{first, first + 1, first + 2}) {
		t.Fatalf("sequences %v, want from %d", seqs, first)
	}
	got, err := follow(t, live, 3, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	for i, ev := range got {
		if ev.Sequence != first+int64(i) || string(ev.Payload) != fmt.Sprintf("a%d", i) {
			t.Errorf("live event %d: %d %q", i, ev.Sequence, ev.Payload)
		}
	}
	ev, err := e.Get("f", first, &rec)
	if err != nil || ev.Sequence != first || string(ev.Payload) != "a0" {
		t.Errorf("get first: %+v, %v", ev, err)
	}
	if _, err := e.Read("f", first-1, 10, &rec); err == nil {
		t.Errorf("read below first after publishing: no error")
	}

	// Past a lap: 3 + 40 events in a ring of 16 keep the last 16.
	for i := range 8 {
		publish(t, e, "f", events(5, fmt.Sprintf("b%d.%%d", i)))
	}
	waitConsumed(t, h)
	last := first + 42
	oldest := last - int64(size) + 1
	info, _ = e.Info("f")
	if info.Oldest != oldest || info.Latest != last || info.Published != last+1 {
		t.Errorf("after a lap: oldest %d, latest %d, published %d; want %d, %d, %d", info.Oldest, info.Latest, info.Published, oldest, last, last+1)
	}
	_, err = e.Read("f", first, 10, &rec)
	evicted("read from first after a lap", err, oldest)
	w, err = e.Read("f", oldest, 100, &rec)
	if err != nil || len(rec.Events) != size || w.Next != last+1 {
		t.Fatalf("window: %+v, %d events, %v", w, len(rec.Events), err)
	}
	for i, ev := range rec.Events {
		if ev.Sequence != oldest+int64(i) {
			t.Fatalf("window event %d has sequence %d", i, ev.Sequence)
		}
	}
	gap, err := skip.Poll(&rec, 100)
	if err != nil || gap != (Gap{From: first, To: oldest - 1, Count: oldest - first}) || len(rec.Events) != size || rec.Events[0].Sequence != oldest {
		t.Errorf("lagging subscriber: %+v, %d events, %v", gap, len(rec.Events), err)
	}
	checkMetrics(last)
}
