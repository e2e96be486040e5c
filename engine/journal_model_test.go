package engine

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"

	"pgregory.net/rapid"
)

// journalModel is the reference of a journaled disruptor: every event
// published, by sequence, the oldest kept, and the first sequence of
// every keyed batch. No ring, no journal, no restarts.
type journalModel struct {
	payloads []string // by sequence
	oldest   int64
	keys     map[string]int64
}

func (m *journalModel) next() int64 { return int64(len(m.payloads)) }

// TestJournaledAgainstModel drives a journaled disruptor with a small
// ring through random publishes (keyed and not, retries of earlier keys),
// restarts (the engine closed and the disruptor recovered from its
// journal), purges and reads from anywhere, and compares every answer
// with the model: what was acknowledged is read back at its sequence
// after any number of restarts, from the ring or beyond it, numbering
// continues, a retried key is a duplicate at its first sequence, and
// only what is below the oldest is evicted.
func TestJournaledAgainstModel(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		dir := t.TempDir()
		size := rapid.SampledFrom([]int{4, 8, 16}).Draw(rt, "ring")
		sync := rapid.SampledFrom([]string{"always", "interval", "never"}).Draw(rt, "sync")
		ctx := context.Background()
		e, stop := journaledEngine(t, dir)
		defer func() { stop() }()
		if _, err := e.Create(DisruptorConfig{Name: "m", BufferSize: size, Durability: DurabilityJournal, Sync: sync}, true); err != nil {
			rt.Fatal(err)
		}
		m := &journalModel{keys: map[string]int64{}}
		batches := 0
		rt.Repeat(map[string]func(*rapid.T){
			"publish": func(rt *rapid.T) {
				n := rapid.IntRange(1, size).Draw(rt, "n") // a batch is at most the ring
				keyed := rapid.Bool().Draw(rt, "keyed")
				b := &Batch{Events: make([]Event, n)}
				for i := range b.Events {
					b.Events[i] = Event{Payload: fmt.Appendf(nil, `"%d.%d"`, batches, i)}
				}
				key := ""
				if keyed {
					key = fmt.Sprint("k", batches)
					b.IdempotencyKey = key
				}
				first, err := e.Publish(ctx, "m", b)
				if err != nil {
					rt.Fatalf("publish %d events: %v", n, err)
				}
				if first != m.next() || b.Duplicate {
					rt.Fatalf("publish: first %d duplicate %v, want %d, new", first, b.Duplicate, m.next())
				}
				for _, ev := range b.Events {
					m.payloads = append(m.payloads, string(ev.Payload))
				}
				if keyed {
					m.keys[key] = first
				}
				batches++
			},
			"retry": func(rt *rapid.T) {
				if len(m.keys) == 0 {
					rt.Skip("no key yet")
				}
				keys := make([]string, 0, len(m.keys))
				for k := range m.keys {
					keys = append(keys, k)
				}
				slices.Sort(keys)
				key := rapid.SampledFrom(keys).Draw(rt, "key")
				want := m.keys[key]
				// The same batch again: same events, same key.
				var evs []Event
				for s := want; s < m.next(); s++ {
					p := m.payloads[s]
					if s > want && p[len(p)-3:] == `.0"` {
						break
					}
					evs = append(evs, Event{Payload: []byte(p)})
				}
				b := &Batch{Events: evs, IdempotencyKey: key}
				first, err := e.Publish(ctx, "m", b)
				if err != nil || first != want || !b.Duplicate {
					rt.Fatalf("retry of %s: first %d duplicate %v err %v, want %d, a duplicate", key, first, b.Duplicate, err, want)
				}
			},
			"restart": func(rt *rapid.T) {
				stop()
				e, stop = journaledEngine(t, dir)
				info, err := e.Recover("m", RecoverOptions{})
				if err != nil {
					rt.Fatalf("recover: %v", err)
				}
				if info.Latest != m.next()-1 || info.Oldest != m.oldest {
					rt.Fatalf("recovered window [%d, %d], want [%d, %d]", info.Oldest, info.Latest, m.oldest, m.next()-1)
				}
			},
			"purge": func(rt *rapid.T) {
				before := rapid.Int64Range(0, m.next()).Draw(rt, "before")
				w, err := e.Writer("m")
				if err != nil {
					rt.Fatal(err)
				}
				if _, err := w.(*Ring).Purge(before); err != nil {
					rt.Fatalf("purge before %d: %v", before, err)
				}
				m.oldest = max(m.oldest, before)
				// A key whose batch a purge reached is not tried again: its
				// batch's record may be gone with its segment, and with it
				// the key after a restart (docs/durability.md).
				for k, first := range m.keys {
					if first < m.oldest {
						delete(m.keys, k)
					}
				}
			},
			"read": func(rt *rapid.T) {
				from := rapid.Int64Range(0, m.next()+1).Draw(rt, "from")
				limit := rapid.IntRange(1, 3*size).Draw(rt, "limit")
				var rec Records
				_, err := e.Read("m", from, limit, &rec)
				if from < m.oldest {
					var ev *EvictedError
					if !errors.As(err, &ev) || ev.Oldest != m.oldest {
						rt.Fatalf("read from %d below the oldest %d: %v, want evicted naming %d", from, m.oldest, err, m.oldest)
					}
					return
				}
				if err != nil {
					rt.Fatalf("read from %d: %v", from, err)
				}
				want := min(int64(limit), max(0, m.next()-from))
				if int64(len(rec.Events)) > want || (want > 0 && len(rec.Events) == 0) {
					rt.Fatalf("read from %d limit %d: %d events, want up to %d and at least one", from, limit, len(rec.Events), want)
				}
				for i, ev := range rec.Events {
					s := from + int64(i)
					if ev.Sequence != s || string(ev.Payload) != m.payloads[s] {
						rt.Fatalf("read from %d: event %d is %d %s, want %d %s", from, i, ev.Sequence, ev.Payload, s, m.payloads[s])
					}
				}
			},
		})
	})
}
