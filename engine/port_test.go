package engine

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"
	"unsafe"
)

// ownerWriter stands for a replication node: it records what it was asked
// and applies nothing (its log would, through the Ring).
type ownerWriter struct {
	mu    sync.Mutex
	calls []string
}

func (o *ownerWriter) record(s string) {
	o.mu.Lock()
	o.calls = append(o.calls, s)
	o.mu.Unlock()
}

func (o *ownerWriter) Publish(_ context.Context, b *Batch) (int64, error) {
	o.record(fmt.Sprintf("publish %d", len(b.Events)))
	return 0, nil
}

func (o *ownerWriter) SetState(_ context.Context, to State) (Info, error) {
	o.record("state " + to.String())
	return Info{}, nil
}

func (o *ownerWriter) Delete(context.Context) error {
	o.record("delete")
	return nil
}

// TestOwnedDisruptorHasOneDoor: a disruptor created with CreateOwned is
// owned from the moment its name exists: Engine.Writer returns the
// owner's Writer, the engine's own Publish, SetState and Delete refuse it
// with ErrReplicated (nothing reaches the ring), and only the Ring the
// owner holds changes it. Its info says it is owned; a local one's does
// not. (Issue 12, finding 1: on the old engine a direct publish into a
// replicated ring was acknowledged.)
func TestOwnedDisruptorHasOneDoor(t *testing.T) {
	e := newEngine(t, nil)
	ctx := context.Background()
	ow := &ownerWriter{}
	ring, err := e.CreateOwned(DisruptorConfig{Name: "q", BufferSize: 16}, ow)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.CreateOwned(DisruptorConfig{Name: "q"}, ow); !errors.Is(err, ErrExists) {
		t.Fatalf("second CreateOwned: %v", err)
	}
	if _, err := e.Create(DisruptorConfig{Name: "q"}, true); !errors.Is(err, ErrExists) {
		t.Fatalf("Create over an owned name: %v", err)
	}
	if _, err := ring.SetState(ctx, StateRunning); err != nil {
		t.Fatal(err)
	}
	b := Batch{Events: events(2, "%d")}
	if _, err := e.Publish(ctx, "q", &b); !errors.Is(err, ErrReplicated) {
		t.Errorf("Engine.Publish into an owned ring: %v", err)
	}
	if _, err := e.SetState(ctx, "q", StatePaused); !errors.Is(err, ErrReplicated) {
		t.Errorf("Engine.SetState of an owned ring: %v", err)
	}
	if err := e.Delete(ctx, "q"); !errors.Is(err, ErrReplicated) {
		t.Errorf("Engine.Delete of an owned ring: %v", err)
	}
	if info, _ := e.Info("q"); info.Published != 0 || info.State != StateRunning || !info.Owned {
		t.Fatalf("the refused calls changed the ring: %+v", info)
	}
	w, err := e.Writer("q")
	if err != nil || w != Writer(ow) {
		t.Fatalf("Writer(q) = %v, %v; want the owner's", w, err)
	}
	if _, err := w.Publish(ctx, &b); err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(ow.calls) != "[publish 2]" {
		t.Fatalf("the owner saw %v", ow.calls)
	}
	if first, err := ring.Publish(ctx, &b); err != nil || first != 0 {
		t.Fatalf("Ring.Publish: %d %v", first, err)
	}
	// A replica's tail may start ahead of what it has applied.
	sub, err := e.Subscribe("q", SubscribeOptions{From: 5})
	if err != nil {
		t.Fatalf("subscribe ahead of an owned ring: %v", err)
	}
	defer sub.Close()
	if _, err := ring.Publish(ctx, &Batch{Events: events(4, "%d")}); err != nil {
		t.Fatal(err)
	}
	got, err := follow(t, sub, 1, 5*time.Second)
	if err != nil || got[0].Sequence != 5 {
		t.Fatalf("tail from 5: %v %v", got, err)
	}

	create(t, e, DisruptorConfig{Name: "l"})
	if info, _ := e.Info("l"); info.Owned {
		t.Fatal("a local disruptor says it is owned")
	}
	if _, err := e.Subscribe("l", SubscribeOptions{From: 5}); !errors.Is(err, ErrSequenceNotFound) {
		t.Fatalf("subscribe ahead of a local ring: %v", err)
	}
	if err := ring.Replace(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := follow(t, sub, 1, time.Second); !isEnd(err, EndReplaced) {
		t.Fatalf("a replaced ring's tail ended with %v", err)
	}
	if _, err := ring.Publish(ctx, &b); !errors.Is(err, ErrNotFound) {
		t.Fatalf("publish through the Ring of a removed disruptor: %v", err)
	}
}

func isEnd(err error, why EndReason) bool {
	var ee *EndError
	return errors.As(err, &ee) && ee.Reason == why
}

// TestWriterActsOnItsDisruptor: a Writer resolved for a name changes the
// disruptor it was resolved for, never one created later under the same
// name.
func TestWriterActsOnItsDisruptor(t *testing.T) {
	e := newEngine(t, nil)
	ctx := context.Background()
	create(t, e, DisruptorConfig{Name: "a"})
	old, err := e.Writer("a")
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Delete(ctx, "a"); err != nil {
		t.Fatal(err)
	}
	create(t, e, DisruptorConfig{Name: "a"})
	b := Batch{Events: events(1, "%d")}
	if _, err := old.Publish(ctx, &b); !errors.Is(err, ErrNotFound) {
		t.Errorf("publish through a deleted disruptor's writer: %v", err)
	}
	if _, err := old.SetState(ctx, StatePaused); !errors.Is(err, ErrNotFound) {
		t.Errorf("state change through a deleted disruptor's writer: %v", err)
	}
	if err := old.Delete(ctx); !errors.Is(err, ErrNotFound) {
		t.Errorf("delete through a deleted disruptor's writer: %v", err)
	}
	if info, _ := e.Info("a"); info.Published != 0 || info.State != StateRunning {
		t.Fatalf("the new a was changed: %+v", info)
	}
}

// TestDedupKeepsWholeWindow: a key is recognised for the whole window,
// however many keys come after it; when the table is full, a new key is
// refused with DEDUP_WINDOW_FULL and a retry time (the oldest key's
// expiry), while unkeyed publishes and retries of known keys go on; once
// keys expire there is room again. (Issue 12, finding 11: the old table
// forgot the oldest key and published its retry again.)
func TestDedupKeepsWholeWindow(t *testing.T) {
	now := time.Unix(1000, 0)
	var mu sync.Mutex
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	e := newEngine(t, func(c *Config) { c.DedupMaxKeys = 4; c.DedupWindow = time.Hour; c.Clock = clock })
	create(t, e, DisruptorConfig{Name: "d"})
	ctx := context.Background()
	first, err := e.Publish(ctx, "d", &Batch{Events: events(1, `"a%d"`), IdempotencyKey: "k0"})
	if err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= 3; i++ {
		mu.Lock()
		now = now.Add(time.Minute)
		mu.Unlock()
		if _, err := e.Publish(ctx, "d", &Batch{Events: events(1, `"b%d"`), IdempotencyKey: fmt.Sprintf("k%d", i)}); err != nil {
			t.Fatal(err)
		}
	}
	_, err = e.Publish(ctx, "d", &Batch{Events: events(1, `"c%d"`), IdempotencyKey: "k4"})
	var df *DedupFullError
	if !errors.As(err, &df) || Code(err) != CodeDedupWindowFull || df.Keys != 4 || df.RetryAfter != 57*time.Minute {
		t.Fatalf("a fifth key in a table of 4: %v", err)
	}
	if _, err := e.Publish(ctx, "d", &Batch{Events: events(1, "%d")}); err != nil {
		t.Fatalf("an unkeyed publish with the table full: %v", err)
	}
	b := Batch{Events: events(1, `"a%d"`), IdempotencyKey: "k0"}
	if again, err := e.Publish(ctx, "d", &b); err != nil || !b.Duplicate || again != first {
		t.Fatalf("a retry of k0 inside the window: %v at %d dup=%v (first at %d)", err, again, b.Duplicate, first)
	}
	mu.Lock()
	now = now.Add(57 * time.Minute) // k0 expires
	mu.Unlock()
	if _, err := e.Publish(ctx, "d", &Batch{Events: events(1, `"c%d"`), IdempotencyKey: "k4"}); err != nil {
		t.Fatalf("k4 once k0 expired: %v", err)
	}
	if n := e.hosted["d"].keys.len(); n != 4 {
		t.Fatalf("%d keys remembered, want 4", n)
	}
}

// TestKeyReuseCollision: two batches whose 32-bit CRC-32C fingerprints
// collide are told apart by the 64-bit fingerprint, so reusing a key with
// the second is IDEMPOTENCY_KEY_REUSED, not a duplicate. (Issue 12,
// finding 11: the old engine took the second for a retry of the first.)
func TestKeyReuseCollision(t *testing.T) {
	e := newEngine(t, nil)
	create(t, e, DisruptorConfig{Name: "d"})
	// Found by a birthday search over the old fingerprint (CRC-32C of the
	// length header and the payload).
	p1, _ := hex.DecodeString("e9b1302140011a58")
	p2, _ := hex.DecodeString("2d9ca8df4c4db03e")
	ctx := context.Background()
	if _, err := e.Publish(ctx, "d", &Batch{Events: []Event{{Payload: p1, Binary: true}}, IdempotencyKey: "k"}); err != nil {
		t.Fatal(err)
	}
	b := Batch{Events: []Event{{Payload: p2, Binary: true}}, IdempotencyKey: "k"}
	if _, err := e.Publish(ctx, "d", &b); !errors.Is(err, ErrKeyReused) {
		t.Errorf("key k reused with another batch: %v, duplicate %v; want ErrKeyReused", err, b.Duplicate)
	}
}

// TestBatchHash: the fingerprint covers every part of an event and its
// framing, and is fixed forever (snapshots store it).
func TestBatchHash(t *testing.T) {
	base := []Event{{Payload: []byte("ab"), Metadata: []Metadata{{"k", "v"}}}}
	variants := map[string][]Event{
		"binary":        {{Payload: []byte("ab"), Binary: true, Metadata: []Metadata{{"k", "v"}}}},
		"payload":       {{Payload: []byte("ac"), Metadata: []Metadata{{"k", "v"}}}},
		"metadata key":  {{Payload: []byte("ab"), Metadata: []Metadata{{"j", "v"}}}},
		"metadata val":  {{Payload: []byte("ab"), Metadata: []Metadata{{"k", "w"}}}},
		"no metadata":   {{Payload: []byte("ab")}},
		"split":         {{Payload: []byte("a")}, {Payload: []byte("b"), Metadata: []Metadata{{"k", "v"}}}},
		"key and value": {{Payload: []byte("ab"), Metadata: []Metadata{{"kv", ""}}}},
	}
	h := BatchHash(base)
	for name, v := range variants {
		if BatchHash(v) == h {
			t.Errorf("%s: same hash", name)
		}
	}
	if got, want := BatchHash(base), uint64(0xeabafaaabc6d1605); got != want {
		t.Errorf("BatchHash changed: %#x, was %#x (snapshots store it)", got, want)
	}
}

// TestHostedLayout: the groups of hot fields of a hosted disruptor are at
// least pad bytes apart, so that no two share an aligned pair of cache
// lines.
func TestHostedLayout(t *testing.T) {
	var h hosted
	groups := []struct {
		name     string
		from, to uintptr // first byte, byte after the last
	}{
		{"read-only", unsafe.Offsetof(h.eng), unsafe.Offsetof(h.procs) + unsafe.Sizeof(h.procs)},
		{"lifecycle", unsafe.Offsetof(h.life), unsafe.Offsetof(h.state) + unsafe.Sizeof(h.state)},
		{"published", unsafe.Offsetof(h.published), unsafe.Offsetof(h.published) + 8},
		{"counters", unsafe.Offsetof(h.eventsPublished), unsafe.Offsetof(h.nextSample) + 8},
		{"delivery", unsafe.Offsetof(h.delivered), unsafe.Offsetof(h.notify) + unsafe.Sizeof(h.notify)},
		{"cold", unsafe.Offsetof(h.subscribers), unsafe.Sizeof(h)},
	}
	for i := 1; i < len(groups); i++ {
		if gap := groups[i].from - groups[i-1].to; groups[i].from < groups[i-1].to || gap < pad {
			t.Errorf("%s starts %d bytes after %s ends, want at least %d", groups[i].name, int(groups[i].from)-int(groups[i-1].to), groups[i-1].name, pad)
		}
	}
}
