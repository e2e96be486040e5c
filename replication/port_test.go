package replication

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync/atomic"
	"testing"

	"pgregory.net/rapid"

	"github.com/badbatch/badbatch/engine"
)

// portModel is the reference the port is checked against: per name, a
// disruptor that is local or replicated, its state, its events, and its
// idempotency keys; nothing else.
type portModel struct {
	rings map[string]*modelRing
}

type modelRing struct {
	replicated bool
	state      engine.State
	events     []string
	keys       map[string]modelKey
}

type modelKey struct {
	first  int64
	events string // the batch, as published
}

// TestPortProperties checks the one write door against a reference model:
// random interleavings of creates (local through the engine, replicated
// through the Raft node), state changes, deletes and publishes (with and
// without idempotency keys, retries and reused keys) through the writer
// each name resolves to, direct engine writes (refused for replicated
// rings), and writers kept across a delete and a re-create. After every
// step each disruptor's state and events, as the engine serves them, are
// the model's.
//
// A writer changes the disruptor it was resolved to and nothing else: a
// local disruptor's writer is its ring, and a replicated one's proposals
// carry the ring's identity (the index of the entry that created it), so
// once the name is deleted, even if it is created again meanwhile, a
// writer kept from before changes nothing (not found), as a request
// resolved just before a delete and a re-create of the name must not put
// its events into the new disruptor.
func TestPortProperties(t *testing.T) {
	c := newCluster(t, 1, true, nil)
	l := c.leader()
	eng, node := l.eng, l.node
	var run atomic.Int64
	rapid.Check(t, func(t *rapid.T) {
		prefix := fmt.Sprintf("r%d-", run.Add(1))
		names := []string{prefix + "a", prefix + "b", prefix + "c"}
		m := &portModel{rings: map[string]*modelRing{}}
		ctx := context.Background()
		kept := map[string]engine.Writer{}  // writers resolved earlier, by name
		keptRing := map[string]*modelRing{} // the disruptor each was resolved to
		t.Cleanup(func() {
			for name := range m.rings {
				if w, err := eng.Writer(name); err == nil {
					_ = w.Delete(ctx)
				}
			}
		})
		batch := func(t *rapid.T) []engine.Event {
			n := rapid.IntRange(1, 3).Draw(t, "events")
			evs := make([]engine.Event, n)
			for i := range evs {
				evs[i].Payload = fmt.Appendf(nil, `"%s"`, rapid.StringMatching(`[a-c]{1,3}`).Draw(t, "payload"))
			}
			return evs
		}
		join := func(evs []engine.Event) string {
			var s string
			for _, e := range evs {
				s += string(e.Payload) + ","
			}
			return s
		}
		// publishModel is what publishing evs with key to name should do.
		publishModel := func(name, key string, evs []engine.Event) (int64, bool, error) {
			r := m.rings[name]
			if r == nil {
				return 0, false, engine.ErrNotFound
			}
			if key != "" {
				if k, ok := r.keys[key]; ok {
					if k.events != join(evs) {
						return 0, false, engine.ErrKeyReused
					}
					return k.first, true, nil
				}
			}
			if r.state != engine.StateRunning {
				return 0, false, engine.ErrNotRunning
			}
			first := int64(len(r.events))
			for _, e := range evs {
				r.events = append(r.events, string(e.Payload))
			}
			if key != "" {
				r.keys[key] = modelKey{first: first, events: join(evs)}
			}
			return first, false, nil
		}
		check := func(t *rapid.T, what string, err, want error) {
			t.Helper()
			if (err == nil) != (want == nil) || (want != nil && !errors.Is(err, want)) {
				t.Fatalf("%s: %v, want %v", what, err, want)
			}
		}
		t.Repeat(map[string]func(*rapid.T){
			"create": func(t *rapid.T) {
				name := rapid.SampledFrom(names).Draw(t, "name")
				replicated := rapid.Bool().Draw(t, "replicated")
				start := rapid.Bool().Draw(t, "start")
				cfg := engine.DisruptorConfig{Name: name, BufferSize: 64}
				var err error
				if replicated {
					_, err = node.Create(ctx, cfg, start)
				} else {
					_, err = eng.Create(cfg, start)
				}
				if m.rings[name] != nil {
					check(t, "create "+name, err, engine.ErrExists)
					return
				}
				check(t, "create "+name, err, nil)
				st := engine.StateCreated
				if start {
					st = engine.StateRunning
				}
				m.rings[name] = &modelRing{replicated: replicated, state: st, keys: map[string]modelKey{}}
			},
			"delete": func(t *rapid.T) {
				name := rapid.SampledFrom(names).Draw(t, "name")
				w, err := eng.Writer(name)
				if m.rings[name] == nil {
					check(t, "resolve "+name, err, engine.ErrNotFound)
					return
				}
				check(t, "resolve "+name, err, nil)
				check(t, "delete "+name, w.Delete(ctx), nil)
				delete(m.rings, name)
			},
			"state": func(t *rapid.T) {
				name := rapid.SampledFrom(names).Draw(t, "name")
				to := rapid.SampledFrom([]engine.State{engine.StateCreated, engine.StateRunning, engine.StatePaused, engine.StateStopped}).Draw(t, "to")
				w, err := eng.Writer(name)
				r := m.rings[name]
				if r == nil {
					check(t, "resolve "+name, err, engine.ErrNotFound)
					return
				}
				check(t, "resolve "+name, err, nil)
				info, err := w.SetState(ctx, to)
				if !r.state.CanTransition(to) {
					check(t, fmt.Sprintf("%s %s → %s", name, r.state, to), err, engine.ErrInvalidTransition)
					return
				}
				check(t, fmt.Sprintf("%s %s → %s", name, r.state, to), err, nil)
				r.state = to
				if info.State != to {
					t.Fatalf("%s: SetState answered %s, want %s", name, info.State, to)
				}
			},
			"publish": func(t *rapid.T) {
				name := rapid.SampledFrom(names).Draw(t, "name")
				key := rapid.SampledFrom([]string{"", "", "k1", "k2"}).Draw(t, "key")
				evs := batch(t)
				w, err := eng.Writer(name)
				if m.rings[name] == nil {
					check(t, "resolve "+name, err, engine.ErrNotFound)
					return
				}
				check(t, "resolve "+name, err, nil)
				b := engine.Batch{Events: evs, IdempotencyKey: key}
				first, err := w.Publish(ctx, &b)
				wantFirst, wantDup, want := publishModel(name, key, evs)
				check(t, "publish to "+name, err, want)
				if err == nil && (first != wantFirst || b.Duplicate != wantDup) {
					t.Fatalf("publish to %s: first %d duplicate %v, want %d %v", name, first, b.Duplicate, wantFirst, wantDup)
				}
			},
			"direct": func(t *rapid.T) {
				// The engine's own door, which only local disruptors take.
				name := rapid.SampledFrom(names).Draw(t, "name")
				evs := batch(t)
				_, err := eng.Publish(ctx, name, &engine.Batch{Events: evs})
				switch r := m.rings[name]; {
				case r == nil:
					check(t, "direct publish to "+name, err, engine.ErrNotFound)
				case r.replicated:
					check(t, "direct publish to replicated "+name, err, engine.ErrReplicated)
					_, err = eng.SetState(ctx, name, engine.StateStopped)
					check(t, "direct state change of replicated "+name, err, engine.ErrReplicated)
					check(t, "direct delete of replicated "+name, eng.Delete(ctx, name), engine.ErrReplicated)
				default:
					_, _, want := publishModel(name, "", evs)
					check(t, "direct publish to "+name, err, want)
				}
			},
			"keep": func(t *rapid.T) {
				// Resolve a writer now, to use after the name changes.
				name := rapid.SampledFrom(names).Draw(t, "name")
				if w, err := eng.Writer(name); err == nil {
					kept[name], keptRing[name] = w, m.rings[name]
				}
			},
			"stale": func(t *rapid.T) {
				name := rapid.SampledFrom(names).Draw(t, "name")
				w, ok := kept[name]
				if !ok {
					t.Skip("no writer kept")
				}
				evs := batch(t)
				_, err := w.Publish(ctx, &engine.Batch{Events: evs})
				// A writer changes its own disruptor, and nothing once that
				// one is deleted, even when the name was created again
				// meanwhile (local or replicated).
				if r := m.rings[name]; r != nil && r == keptRing[name] {
					_, _, want := publishModel(name, "", evs)
					check(t, "publish through the kept writer of "+name, err, want)
					return
				}
				check(t, "publish through the writer of a deleted "+name, err, engine.ErrNotFound)
			},
			"stale delete": func(t *rapid.T) {
				name := rapid.SampledFrom(names).Draw(t, "name")
				w, ok := kept[name]
				if !ok {
					t.Skip("no writer kept")
				}
				err := w.Delete(ctx)
				if r := m.rings[name]; r != nil && r == keptRing[name] {
					check(t, "delete through the kept writer of "+name, err, nil)
					delete(m.rings, name)
					return
				}
				check(t, "delete through the writer of a deleted "+name, err, engine.ErrNotFound)
			},
			"": func(t *rapid.T) {
				// The engine serves exactly the model.
				for _, name := range names {
					r := m.rings[name]
					info, err := eng.Info(name)
					if r == nil {
						if !errors.Is(err, engine.ErrNotFound) {
							t.Fatalf("%s: %+v %v, want not found", name, info, err)
						}
						continue
					}
					if err != nil || info.State != r.state || info.Owned != r.replicated || info.Latest != int64(len(r.events))-1 {
						t.Fatalf("%s: %+v %v, model %+v", name, info, err, r)
					}
					var got []string
					if len(r.events) > 0 {
						var rec engine.Records
						if _, err := eng.Read(name, 0, len(r.events), &rec); err != nil {
							t.Fatal(err)
						}
						for _, e := range rec.Events {
							got = append(got, string(e.Payload))
						}
					}
					if !slices.Equal(got, r.events) {
						t.Fatalf("%s holds %v, model %v", name, got, r.events)
					}
				}
			},
		})
	})
	if got := node.Status(); got.Stalled {
		t.Fatalf("the state machine is stalled: %+v", got)
	}
}
