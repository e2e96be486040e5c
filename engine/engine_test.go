package engine

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"go.uber.org/goleak"

	"github.com/badbatch/badbatch/disruptor"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func newEngine(t *testing.T, mod func(*Config)) *Engine {
	t.Helper()
	cfg := DefaultConfig()
	if mod != nil {
		mod(&cfg)
	}
	e, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := e.Close(context.Background()); err != nil {
			t.Error(err)
		}
	})
	return e
}

func create(t *testing.T, e *Engine, cfg DisruptorConfig) {
	t.Helper()
	if _, err := e.Create(cfg, true); err != nil {
		t.Fatal(err)
	}
}

func events(n int, f string) []Event {
	out := make([]Event, n)
	for i := range out {
		out[i] = Event{Payload: fmt.Appendf(nil, f, i)}
	}
	return out
}

func publish(t *testing.T, e *Engine, name string, evs []Event) []int64 {
	t.Helper()
	first, err := e.Publish(context.Background(), name, &Batch{Events: evs})
	if err != nil {
		t.Fatal(err)
	}
	return span(first, len(evs))
}

// span is the n sequences from first on.
func span(first int64, n int) []int64 {
	out := make([]int64, n)
	for i := range out {
		out[i] = first + int64(i)
	}
	return out
}

func TestStateTable(t *testing.T) {
	allowed := map[[2]State]bool{
		{StateCreated, StateRunning}: true,
		{StateRunning, StatePaused}:  true,
		{StateRunning, StateStopped}: true,
		{StatePaused, StateRunning}:  true,
		{StatePaused, StateStopped}:  true,
	}
	for _, from := range States {
		for _, to := range States {
			want := allowed[[2]State{from, to}] || (from != StateDeleted && (to == from || to == StateDeleted))
			if got := from.CanTransition(to); got != want {
				t.Errorf("%s → %s: got %v, want %v", from, to, got, want)
			}
		}
	}
	for _, s := range States {
		p, err := ParseState(s.String())
		if err != nil || p != s {
			t.Errorf("ParseState(%q) = %v, %v", s, p, err)
		}
	}
	if _, err := ParseState("sleeping"); err == nil {
		t.Error("ParseState accepted a bad name")
	}
	if State(0).CanTransition(StateRunning) || StateRunning.CanTransition(State(9)) {
		t.Error("a non-state may transition")
	}
}

func TestLifecycle(t *testing.T) {
	e := newEngine(t, nil)
	ctx := context.Background()
	if _, err := e.Create(DisruptorConfig{Name: "a"}, false); err != nil {
		t.Fatal(err)
	}
	pub := func() error {
		_, err := e.Publish(ctx, "a", &Batch{Events: events(1, `{"i":%d}`)})
		return err
	}
	if err := pub(); !errors.Is(err, ErrNotRunning) {
		t.Fatalf("publish while created: %v", err)
	}
	steps := []struct {
		to      State
		wantErr error
		accepts bool
	}{
		{StatePaused, ErrInvalidTransition, false},
		{StateRunning, nil, true},
		{StateRunning, nil, true}, // no-op
		{StatePaused, nil, false},
		{StateCreated, ErrInvalidTransition, false},
		{StateRunning, nil, true},
		{StateStopped, nil, false},
		{StateRunning, ErrInvalidTransition, false},
		{StateStopped, nil, false},
	}
	for i, s := range steps {
		_, err := e.SetState(ctx, "a", s.to)
		if !errors.Is(err, s.wantErr) || (s.wantErr == nil) != (err == nil) {
			t.Fatalf("step %d (→%s): err %v, want %v", i, s.to, err, s.wantErr)
		}
		err = pub()
		if s.accepts != (err == nil) {
			t.Fatalf("step %d (→%s): publish err %v", i, s.to, err)
		}
		if !s.accepts {
			var se *StateError
			if !errors.As(err, &se) || Code(err) != CodeNotRunning {
				t.Fatalf("step %d: publish err %v, want a StateError", i, err)
			}
		}
	}
	// A stopped disruptor still serves its window.
	var rec Records
	w, err := e.Read("a", 0, 10, &rec)
	if err != nil || len(rec.Events) != 3 || w.Latest != 2 {
		t.Fatalf("read after stop: %+v %d events, %v", w, len(rec.Events), err)
	}
	if err := e.Delete(ctx, "a"); err != nil {
		t.Fatal(err)
	}
	if _, err := e.Info("a"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("info after delete: %v", err)
	}
	if err := e.Delete(ctx, "a"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("second delete: %v", err)
	}
}

func TestCreateValidation(t *testing.T) {
	e := newEngine(t, func(c *Config) { c.MaxDisruptors = 2 })
	_, err := e.Create(DisruptorConfig{Name: "bad name", BufferSize: 1000, ProducerType: "many",
		WaitStrategy: "nap", MaxEventSize: -1, Overflow: 9, PublishTimeout: -time.Second}, false)
	if !errors.Is(err, ErrInvalidConfig) {
		t.Fatalf("err %v", err)
	}
	var fields []string
	for _, ce := range ConfigErrors(err) {
		fields = append(fields, ce.Field)
	}
	want := []string{"name", "buffer_size", "producer_type", "wait_strategy", "max_event_size", "overflow", "publish_timeout"}
	if diff := cmp.Diff(want, fields); diff != "" {
		t.Errorf("fields (-want +got):\n%s", diff)
	}
	if _, err := e.Create(DisruptorConfig{Name: "huge", BufferSize: 1 << 20, MaxEventSize: 1 << 20}, false); !errors.Is(err, ErrInvalidConfig) {
		t.Errorf("ring over MaxRingBytes: %v", err)
	}
	if _, err := e.Create(DisruptorConfig{Name: "s", Schema: []byte(`{"type": 12}`)}, false); !errors.Is(err, ErrInvalidSchema) {
		t.Errorf("bad schema: %v", err)
	}
	if _, err := e.Create(DisruptorConfig{Name: "s", Schema: []byte(`{"$ref": "file:///etc/passwd"}`)}, false); !errors.Is(err, ErrInvalidSchema) {
		t.Errorf("schema loading a file: %v", err)
	}
	create(t, e, DisruptorConfig{Name: "a"})
	if _, err := e.Create(DisruptorConfig{Name: "a"}, false); !errors.Is(err, ErrExists) {
		t.Errorf("duplicate: %v", err)
	}
	create(t, e, DisruptorConfig{Name: "b"})
	if _, err := e.Create(DisruptorConfig{Name: "c"}, false); !errors.Is(err, ErrLimitReached) {
		t.Errorf("limit: %v", err)
	}
	info, err := e.Info("a")
	if err != nil {
		t.Fatal(err)
	}
	if info.BufferSize != 1024 || info.ProducerType != "single" || info.WaitStrategy != "blocking" ||
		info.Overflow != OverflowBlock || info.State != StateRunning || info.Latest != -1 {
		t.Errorf("defaults not applied: %+v", info)
	}
	if bad := (Config{}).Validate(); len(ConfigErrors(bad)) < 5 {
		t.Errorf("zero Config: %v", bad)
	}
}

func TestPublishReadEvict(t *testing.T) {
	for _, pt := range []string{"single", "multi"} {
		t.Run(pt, func(t *testing.T) {
			e := newEngine(t, nil)
			create(t, e, DisruptorConfig{Name: "r", BufferSize: 16, ProducerType: pt})
			md := []Metadata{{"k", "v"}, {"trace", "x"}}
			first, err := e.Publish(context.Background(), "r", &Batch{Events: []Event{
				{Payload: []byte(`{"a":1}`), Metadata: md},
				{Payload: []byte{0, 1, 2}, Binary: true},
			}})
			if err != nil || first != 0 {
				t.Fatalf("first %v, %v", first, err)
			}
			var rec Records
			ev, err := e.Get("r", 0, &rec)
			if err != nil {
				t.Fatal(err)
			}
			if string(ev.Payload) != `{"a":1}` || ev.Binary || !cmp.Equal(ev.Metadata, md) || ev.Sequence != 0 {
				t.Errorf("event 0: %+v", ev)
			}
			ev, _ = e.Get("r", 1, &rec)
			if !ev.Binary || !cmp.Equal(ev.Payload, []byte{0, 1, 2}) || ev.Metadata != nil {
				t.Errorf("event 1: %+v", ev)
			}
			var np *NotPublishedError
			if _, err := e.Get("r", 2, &rec); !errors.As(err, &np) || np.Latest != 1 {
				t.Errorf("unpublished: %v", err)
			}
			for i := range 40 {
				publish(t, e, "r", events(1, "%d"+strconv.Itoa(i)))
			}
			// 42 events in a ring of 16: 26..41 remain.
			var ev2 *EvictedError
			if _, err := e.Read("r", 3, 5, &rec); !errors.As(err, &ev2) || ev2.Oldest != 26 {
				t.Fatalf("evicted: %v", err)
			}
			w, err := e.Read("r", 26, 100, &rec)
			if err != nil || len(rec.Events) != 16 || w.Next != 42 || w.Latest != 41 || w.Oldest != 26 {
				t.Fatalf("window %+v, %d events, %v", w, len(rec.Events), err)
			}
			for i, ev := range rec.Events {
				if ev.Sequence != int64(26+i) || string(ev.Payload) != fmt.Sprintf("0%d", 24+i) {
					t.Fatalf("event %d: %d %q", i, ev.Sequence, ev.Payload)
				}
			}
			if w, err := e.Read("r", 100, 10, &rec); err != nil || len(rec.Events) != 0 || w.Next != 100 {
				t.Errorf("read past the end: %+v %v", w, err)
			}
			if _, err := e.Read("r", -1, 10, &rec); !errors.Is(err, ErrInvalidSequence) {
				t.Errorf("negative from: %v", err)
			}
		})
	}
}

func TestPublishLimits(t *testing.T) {
	e := newEngine(t, func(c *Config) { c.MaxBatchEvents = 8; c.MaxMetadata = 2 })
	create(t, e, DisruptorConfig{Name: "l", BufferSize: 4, MaxEventSize: 10})
	ctx := context.Background()
	cases := []struct {
		name string
		evs  []Event
		want error
		code string
	}{
		{"empty", nil, ErrEmptyBatch, CodeValidation},
		{"over ring", events(5, "%d"), ErrBatchTooLarge, CodeBatchTooLarge},
		{"payload", []Event{{Payload: []byte("12345678901")}}, ErrEventTooLarge, CodeEventTooLarge},
		{"payload+meta", []Event{{Payload: []byte("123456"), Metadata: []Metadata{{"abc", "de"}}}}, ErrEventTooLarge, CodeEventTooLarge},
		{"meta count", []Event{{Metadata: []Metadata{{"a", ""}, {"b", ""}, {"c", ""}}}}, ErrInvalidEvent, CodeValidation},
		{"empty key", []Event{{Metadata: []Metadata{{"", "x"}}}}, ErrInvalidEvent, CodeValidation},
	}
	for _, c := range cases {
		_, err := e.Publish(ctx, "l", &Batch{Events: c.evs})
		if !errors.Is(err, c.want) || Code(err) != c.code {
			t.Errorf("%s: %v (%s)", c.name, err, Code(err))
		}
	}
	if _, err := e.Publish(ctx, "nope", &Batch{Events: events(1, "%d")}); Code(err) != CodeNotFound {
		t.Errorf("unknown disruptor: %v", err)
	}
	m, _ := e.Metrics("l")
	if m.Errors[CodeEventTooLarge] != 2 || m.Errors[CodeValidation] != 3 || m.Published != 0 {
		t.Errorf("error counts %v, published %d", m.Errors, m.Published)
	}
}

func TestSchema(t *testing.T) {
	e := newEngine(t, nil)
	create(t, e, DisruptorConfig{Name: "s", Schema: []byte(`{
		"type": "object",
		"required": ["id"],
		"properties": {"id": {"type": "integer"}, "tags": {"type": "array", "items": {"type": "string"}}}
	}`)})
	ctx := context.Background()
	ok := Event{Payload: []byte(`{"id": 1, "tags": ["a"]}`)}
	bad := Event{Payload: []byte(`{"id": 2, "tags": ["a", 3]}`)}
	_, err := e.Publish(ctx, "s", &Batch{Events: []Event{ok, bad}})
	var se *SchemaError
	if !errors.As(err, &se) || se.Index != 1 || se.Path != "/tags/1" {
		t.Fatalf("err %v", err)
	}
	if info, _ := e.Info("s"); info.Latest != -1 {
		t.Fatalf("part of a bad batch was published: latest %d", info.Latest)
	}
	_, err = e.Publish(ctx, "s", &Batch{Events: []Event{{Payload: []byte{1}, Binary: true}}})
	if !errors.As(err, &se) {
		t.Errorf("binary payload: %v", err)
	}
	if _, err := e.Publish(ctx, "s", &Batch{Events: []Event{ok}}); err != nil {
		t.Errorf("good event: %v", err)
	}
}

func TestRingFull(t *testing.T) {
	e := newEngine(t, nil)
	// A gating sequence that never moves stands for consumers that cannot
	// keep up.
	for _, pol := range []OverflowPolicy{OverflowReject, OverflowBlock} {
		name := pol.String()
		create(t, e, DisruptorConfig{Name: name, BufferSize: 4, Overflow: pol, PublishTimeout: 20 * time.Millisecond})
		h, _ := e.lookup(name)
		stuck := newStuckSequence(h)
		publish(t, e, name, events(4, "%d"))
		start := time.Now()
		_, err := e.Publish(context.Background(), name, &Batch{Events: events(1, "%d")})
		var rf *RingFullError
		if !errors.As(err, &rf) || Code(err) != CodeRingFull {
			t.Fatalf("%s: %v", name, err)
		}
		waited := time.Since(start)
		if pol == OverflowBlock && waited < 20*time.Millisecond {
			t.Errorf("block returned after %v", waited)
		}
		if pol == OverflowReject && rf.Waited != 0 {
			t.Errorf("reject waited %v", rf.Waited)
		}
		// A cancelled context ends the wait early.
		if pol == OverflowBlock {
			ctx, cancel := context.WithCancel(context.Background())
			cancel()
			if _, err := e.Publish(ctx, name, &Batch{Events: events(1, "%d")}); !errors.Is(err, context.Canceled) {
				t.Errorf("cancelled: %v", err)
			}
		}
		stuck.release()
		waitConsumed(t, h)
		publish(t, e, name, events(1, "%d"))
	}
}

func TestIdempotency(t *testing.T) {
	now := time.Unix(1000, 0)
	var mu sync.Mutex
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	e := newEngine(t, func(c *Config) { c.Clock = clock; c.DedupWindow = time.Minute })
	create(t, e, DisruptorConfig{Name: "i"})
	ctx := context.Background()
	b := Batch{Events: events(3, "%d"), IdempotencyKey: "k1"}
	first, err := e.Publish(ctx, "i", &b)
	if err != nil || b.Duplicate {
		t.Fatal(err, b.Duplicate)
	}
	// Concurrent retries all get the original sequences.
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			b := Batch{Events: events(3, "%d"), IdempotencyKey: "k1"}
			seq, err := e.Publish(ctx, "i", &b)
			if err != nil || !b.Duplicate || seq != first {
				t.Errorf("retry: %v %v %v", seq, b.Duplicate, err)
			}
		})
	}
	wg.Wait()
	if _, err := e.Publish(ctx, "i", &Batch{Events: events(2, "%d"), IdempotencyKey: "k1"}); !errors.Is(err, ErrKeyReused) {
		t.Errorf("reused key: %v", err)
	}
	// Concurrent first publishes with one key publish once.
	var got [8]int64
	for i := range got {
		wg.Go(func() {
			seq, err := e.Publish(ctx, "i", &Batch{Events: events(2, "x%d"), IdempotencyKey: "k2"})
			if err != nil {
				t.Error(err)
			}
			got[i] = seq
		})
	}
	wg.Wait()
	for _, g := range got {
		if g != got[0] {
			t.Fatalf("different sequences for one key: %v", got)
		}
	}
	if info, _ := e.Info("i"); info.Published != 5 {
		t.Fatalf("published %d events, want 5", info.Published)
	}
	// After the window the key is forgotten.
	mu.Lock()
	now = now.Add(time.Minute)
	mu.Unlock()
	b = Batch{Events: events(3, "%d"), IdempotencyKey: "k1"}
	seq, err := e.Publish(ctx, "i", &b)
	if err != nil || b.Duplicate || seq != 5 {
		t.Fatalf("after the window: %v %v %v", seq, b.Duplicate, err)
	}
	// A failed publish releases its key.
	_, _ = e.SetState(ctx, "i", StatePaused)
	if _, err := e.Publish(ctx, "i", &Batch{Events: events(1, "%d"), IdempotencyKey: "k3"}); !errors.Is(err, ErrNotRunning) {
		t.Fatal(err)
	}
	_, _ = e.SetState(ctx, "i", StateRunning)
	b = Batch{Events: events(1, "%d"), IdempotencyKey: "k3"}
	if _, err := e.Publish(ctx, "i", &b); err != nil || b.Duplicate {
		t.Fatalf("after a failure: %v %v", err, b.Duplicate)
	}
}

func TestRateWindow(t *testing.T) {
	t0 := time.Unix(0, 0)
	r := newRateWindow(t0, 0)
	// 100 events/s for 20 s, sampled before each second's events.
	var count int64
	for s := 0; s < 20; s++ {
		at := t0.Add(time.Duration(s) * time.Second)
		r.observe(at, count)
		count += 100
	}
	now := t0.Add(20 * time.Second)
	if got := r.rate(now, count); got < 99 || got > 101 {
		t.Errorf("steady rate %v", got)
	}
	// Idle for an hour: 0; then a burst of 500 in the last 5 s: 50/s.
	now = now.Add(time.Hour)
	if got := r.rate(now, count); got > 0.1 {
		t.Errorf("idle rate %v", got)
	}
	r.observe(now.Add(-5*time.Second), count)
	count += 500
	if got := r.rate(now, count); got < 49.5 || got > 50.5 {
		t.Errorf("burst rate %v", got)
	}
	// Young: the rate since creation.
	y := newRateWindow(t0, 0)
	if got := y.rate(t0.Add(2*time.Second), 10); got != 5 {
		t.Errorf("young rate %v", got)
	}
}

// TestRateWindowDecays: a burst followed by silence reads as the burst
// over the window while it is in the window, and 0 from a window after
// it, however long the silence (the figure once spread the last burst
// over all the time since: 55.5k/s read 5,083 after 20 s and 308 after
// 6 min).
func TestRateWindowDecays(t *testing.T) {
	t0 := time.Unix(0, 0)
	r := newRateWindow(t0, 0)
	// 60 s of 1000 events/s, then 55,500 events within 500 ms at t=60 s.
	var count int64
	for s := 0; s < 60; s++ {
		r.observe(t0.Add(time.Duration(s)*time.Second), count)
		count += 1000
	}
	burst := t0.Add(60 * time.Second)
	for i := 0; i < 5; i++ {
		r.observe(burst.Add(time.Duration(i)*100*time.Millisecond), count)
		count += 11_100
	}
	for _, tc := range []struct {
		after    time.Duration
		min, max float64
	}{
		{time.Second, 5550 + 900*0.99, 5550 + 900*1.01}, // 55,500 + 9 s of 1000/s, over 10 s
		{5 * time.Second, 5550 + 500*0.99, 5550 + 500*1.01},
		{9 * time.Second, 5550 + 100*0.99, 5550 + 100*1.01},
		{11 * time.Second, 0, 0},
		{20 * time.Second, 0, 0},
		{6 * time.Minute, 0, 0},
	} {
		if got := r.rate(burst.Add(tc.after), count); got < tc.min || got > tc.max {
			t.Errorf("%v after the burst: %.1f events/s, want %.1f..%.1f", tc.after, got, tc.min, tc.max)
		}
	}
}

func TestLatencyStats(t *testing.T) {
	l := newLatencyStats()
	for i := 1; i <= 100; i++ {
		l.record(int64(i)*int64(time.Microsecond), 1)
	}
	l.record(-5, 1)
	s := l.summary()
	if s.Count != 101 || s.P50 < 49*time.Microsecond || s.P50 > 51*time.Microsecond ||
		s.P99 < 98*time.Microsecond || s.Max < 99*time.Microsecond {
		t.Errorf("summary %+v", s)
	}
	b := l.buckets()
	if b[latencyBounds[len(latencyBounds)-1]] != 101 {
		t.Errorf("buckets %v", b)
	}
	if (&latencyStats{}).summary() != (Latency{}) {
		t.Error("empty summary")
	}
}

// stuckSequence is a gating sequence that never moves: with it the ring
// fills up.
type stuckSequence struct {
	h   *hosted
	seq *disruptor.Sequence
}

func newStuckSequence(h *hosted) *stuckSequence {
	s := &stuckSequence{h: h, seq: disruptor.NewSequence(disruptor.InitialSequenceValue)}
	h.ring.AddGatingSequences(s.seq)
	return s
}

func (s *stuckSequence) release() { s.h.ring.RemoveGatingSequence(s.seq) }

// waitConsumed waits until the consumers of h have caught up.
func waitConsumed(t *testing.T, h *hosted) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for h.ring.MinimumGatingSequence() < h.ring.Cursor() {
		if time.Now().After(deadline) {
			t.Fatal("consumers did not catch up")
		}
		time.Sleep(100 * time.Microsecond)
	}
}

// TestPublishAllocations: once the slots' buffers have grown, publishing a
// batch allocates only the sequences it returns, and reading into a reused
// Records allocates nothing.
func TestPublishAllocations(t *testing.T) {
	for _, pt := range []string{"single", "multi"} {
		t.Run(pt, func(t *testing.T) {
			e := newEngine(t, nil)
			create(t, e, DisruptorConfig{Name: "a", BufferSize: 256, ProducerType: pt, WaitStrategy: "yielding"})
			h, _ := e.lookup("a")
			evs := events(100, `{"n":%d,"padding":"................................................................"}`)
			b := Batch{Events: evs}
			ctx := context.Background()
			for range 8 { // every slot has held an event
				publish(t, e, "a", evs)
			}
			waitConsumed(t, h)
			allocs := testing.AllocsPerRun(200, func() {
				if _, err := e.Publish(ctx, "a", &b); err != nil {
					t.Fatal(err)
				}
			})
			if allocs > 1 {
				t.Errorf("Publish of 100 events: %v allocations, want 1", allocs)
			}
			var rec Records
			_, _ = e.Read("a", h.published.Load()-99, 100, &rec)
			allocs = testing.AllocsPerRun(200, func() {
				if _, err := e.Read("a", h.published.Load()-99, 100, &rec); err != nil || len(rec.Events) != 100 {
					t.Fatal(err, len(rec.Events))
				}
			})
			if allocs > 0 {
				t.Errorf("Read of 100 events: %v allocations, want 0", allocs)
			}
		})
	}
}
