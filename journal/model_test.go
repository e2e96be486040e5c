package journal

import (
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"testing"
	"time"

	"pgregory.net/rapid"

	"github.com/badbatch/badbatch/disruptor"
)

// refStream is the reference model: every batch appended, in order, and
// the window of sequences still kept. No cleverness.
type refStream struct {
	batches []Batch // every batch appended, from the first
	oldest  int64   // the oldest sequence kept
	next    int64   // the next sequence
	meta    string
}

func (m *refStream) event(seq int64) (Event, *Batch) {
	for i := range m.batches {
		b := &m.batches[i]
		if seq >= b.First && seq <= b.Last() {
			return b.Events[seq-b.First], b
		}
	}
	panic(fmt.Sprintf("model has no sequence %d", seq))
}

// truncate forgets everything from seq on (what a power loss lost).
func (m *refStream) truncate(seq int64) {
	for len(m.batches) > 0 && m.batches[len(m.batches)-1].Last() >= seq {
		m.batches = m.batches[:len(m.batches)-1]
	}
	m.next = seq
	m.oldest = min(m.oldest, seq)
}

// slotEvent is what the ring window holds: the engine keeps the newest
// events in its ring and serves older ones from the journal.
type slotEvent struct {
	seq     int64
	payload string
}

type journalMachine struct {
	e      *env
	o      Options
	j      *Journal
	ring   *disruptor.RingBuffer[slotEvent]
	model  *refStream
	rng    *rand.Rand
	window int64
}

const modelName = "m"

func (m *journalMachine) restartRing(t *rapid.T) {
	// the engine's restart: a ring at its window, filled from the journal
	first := max(m.j.Oldest(), m.j.Next()-m.window)
	ring, err := disruptor.NewRingBufferAt(func() slotEvent { return slotEvent{seq: -1} }, int(m.window), disruptor.SingleProducer, disruptor.NewBusySpinWaitStrategy(), first)
	if err != nil {
		t.Fatal(err)
	}
	m.ring = ring
	if first == m.j.Next() {
		return
	}
	r, err := m.j.NewReader(first)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	for {
		b, err := r.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		for i, ev := range b.Events {
			if seq := b.First + int64(i); seq >= first {
				m.put(seq, string(ev.Payload))
			}
		}
	}
	if m.ring.Cursor() != m.j.Latest() {
		t.Fatalf("ring refilled to %d, journal latest %d", m.ring.Cursor(), m.j.Latest())
	}
}

func (m *journalMachine) put(seq int64, payload string) {
	s := m.ring.Next()
	if s != seq {
		panic(fmt.Sprintf("ring claimed %d for sequence %d", s, seq))
	}
	*m.ring.Get(s) = slotEvent{seq: seq, payload: payload}
	m.ring.Publish(s)
}

func (m *journalMachine) Append(t *rapid.T) {
	n := rapid.IntRange(1, 12).Draw(t, "events")
	b := Batch{First: m.model.next, Time: m.e.clock().UnixNano()}
	if rapid.Bool().Draw(t, "keyed") {
		b.Key = rapid.StringMatching(`[a-z0-9-]{1,20}`).Draw(t, "key")
		b.Hash = rapid.Uint64().Draw(t, "hash")
	}
	size := rapid.IntRange(0, 600).Draw(t, "size")
	for i := range n {
		seq := b.First + int64(i)
		ev := Event{Payload: fmt.Appendf(nil, "%d:%s", seq, make([]byte, size)), Binary: i%2 == 1}
		if rapid.IntRange(0, 3).Draw(t, "meta") == 0 {
			ev.Metadata = []Metadata{{Key: "traceparent", Value: fmt.Sprint(seq)}}
		}
		b.Events = append(b.Events, ev)
	}
	before := m.j.Oldest()
	if err := m.j.Append(b); err != nil {
		t.Fatal(err)
	}
	m.retained(t, before, m.j.Oldest()) // sealing a segment applies retention
	for i, ev := range b.Events {
		m.put(b.First+int64(i), string(ev.Payload))
	}
	m.model.batches = append(m.model.batches, b)
	m.model.next = b.Last() + 1
	m.e.advance(time.Duration(rapid.IntRange(0, 5000).Draw(t, "ms")) * time.Millisecond)
}

// Read replays from a random sequence kept: from the ring when it still
// holds it, else from the journal, as the engine serves ?from=.
func (m *journalMachine) Read(t *rapid.T) {
	if m.model.next == m.model.oldest {
		t.Skip("empty")
	}
	from := rapid.Int64Range(m.model.oldest, m.model.next-1).Draw(t, "from")
	count := rapid.Int64Range(1, 50).Draw(t, "count")
	upto := min(from+count, m.model.next) - 1
	seq := from
	if lowest := m.ring.Cursor() - m.window + 1; from < lowest || from < m.ring.FirstSequence() {
		r, err := m.j.NewReader(from)
		if err != nil {
			t.Fatal(err)
		}
		defer r.Close()
		for seq <= upto {
			b, err := r.Next()
			if err != nil {
				t.Fatalf("journal read at %d (from %d): %v", seq, from, err)
			}
			_, mb := m.model.event(b.First)
			if b.First != mb.First || b.Key != mb.Key || b.Hash != mb.Hash || b.Time != mb.Time || len(b.Events) != len(mb.Events) {
				t.Fatalf("batch at %d: got first %d key %q hash %d time %d n %d; model first %d key %q hash %d time %d n %d",
					seq, b.First, b.Key, b.Hash, b.Time, len(b.Events), mb.First, mb.Key, mb.Hash, mb.Time, len(mb.Events))
			}
			for i := range b.Events {
				s := b.First + int64(i)
				if s < seq || s > upto {
					continue
				}
				want, _ := m.model.event(s)
				if d := diffBatches([]Batch{{Events: []Event{want}}}, []Batch{{Events: []Event{b.Events[i]}}}); d != "" {
					t.Fatalf("event %d from the journal (-model +got):\n%s", s, d)
				}
				seq = s + 1
			}
		}
		return
	}
	for ; seq <= upto; seq++ {
		got := *m.ring.Get(seq)
		want, _ := m.model.event(seq)
		if got.seq != seq || got.payload != string(want.Payload) {
			t.Fatalf("ring slot for %d holds %d %q, model %q", seq, got.seq, got.payload, want.Payload)
		}
	}
}

func (m *journalMachine) Purge(t *rapid.T) {
	seq := rapid.Int64Range(m.model.oldest, m.model.next+3).Draw(t, "below")
	if err := m.j.Purge(seq); err != nil {
		t.Fatal(err)
	}
	m.model.oldest = max(m.model.oldest, seq)
	if seq > m.model.next {
		m.model.next = seq
		m.restartRing(t) // the numbering jumped: the engine makes a new ring
	}
}

func (m *journalMachine) Retain(t *rapid.T) {
	before := m.j.Oldest()
	m.e.advance(time.Duration(rapid.IntRange(0, 120).Draw(t, "s")) * time.Second)
	if err := m.j.Retain(); err != nil {
		t.Fatal(err)
	}
	after := m.j.Oldest()
	m.retained(t, before, after)
}

// retained checks that retention moving Oldest from before to after kept
// what the bounds promise, and moves the model's oldest.
func (m *journalMachine) retained(t *rapid.T, before, after int64) {
	if after < before {
		t.Fatalf("retention moved Oldest back from %d to %d", before, after)
	}
	r := m.o.Retention
	if after == before {
		return
	}
	if r == (Retention{}) {
		t.Fatalf("Oldest moved from %d to %d without retention", before, after)
	}
	kept := m.model.next - after
	if r.MaxEvents > 0 && kept < r.MaxEvents && oldestKeptByAge(m, after) {
		t.Fatalf("retention kept %d events, fewer than max_events %d, and dropped batches younger than max_age", kept, r.MaxEvents)
	}
	if after < m.model.next {
		if _, b := m.model.event(after); b.First != after {
			t.Fatalf("retention cut inside a batch at %d", after)
		}
	}
	m.model.oldest = after
}

// oldestKeptByAge reports whether max_age alone cannot explain Oldest:
// some batch before it is younger than max_age.
func oldestKeptByAge(m *journalMachine, oldest int64) bool {
	cutoff := m.e.clock().Add(-m.o.Retention.MaxAge).UnixNano()
	for _, b := range m.model.batches {
		if b.Last() < oldest && b.Time >= cutoff {
			return true
		}
	}
	return false
}

func (m *journalMachine) Sync(t *rapid.T) {
	if err := m.j.Sync(); err != nil {
		t.Fatal(err)
	}
}

func (m *journalMachine) SetMeta(t *rapid.T) {
	meta := rapid.StringN(0, 40, -1).Draw(t, "meta")
	if err := m.j.SetMeta([]byte(meta)); err != nil {
		t.Fatal(err)
	}
	m.model.meta = meta
}

// Restart closes and reopens: nothing is lost.
func (m *journalMachine) Restart(t *rapid.T) {
	if err := m.j.Close(); err != nil {
		t.Fatal(err)
	}
	m.reopen(t)
}

// Kill stops the journal as kill -9 would: no fsync, no index, but what
// was written is in the files. Nothing acknowledged is lost.
func (m *journalMachine) Kill(t *rapid.T) {
	m.j.abandon()
	m.reopen(t)
}

// PowerLoss drops what was not fsynced (but for a random part of it):
// what survives is a prefix, holding at least everything synced.
func (m *journalMachine) PowerLoss(t *rapid.T) {
	m.j.mu.Lock()
	synced := m.j.synced
	m.j.mu.Unlock()
	m.j.abandon()
	if err := m.e.fs.crash(m.rng); err != nil {
		t.Fatal(err)
	}
	j, err := m.e.dir.Open(modelName, m.o)
	if err != nil {
		t.Fatalf("reopen after a power loss: %v", err)
	}
	m.j = j
	latest := j.Latest()
	if latest < synced {
		t.Fatalf("after a power loss Latest %d, but %d was fsynced", latest, synced)
	}
	if latest > m.model.next-1 {
		t.Fatalf("after a power loss Latest %d, past the last written %d", latest, m.model.next-1)
	}
	if m.o.Sync == SyncAlways && latest != m.model.next-1 {
		t.Fatalf("sync=always lost acknowledged events: Latest %d, acknowledged %d", latest, m.model.next-1)
	}
	if latest+1 < m.model.next && latest >= m.model.oldest {
		if _, b := m.model.event(latest); b.Last() != latest {
			t.Fatalf("a power loss kept half a batch: Latest %d inside the batch at %d", latest, b.First)
		}
	}
	if latest+1 < m.model.next {
		m.model.truncate(latest + 1)
	}
	m.retained(t, m.model.oldest, j.Oldest())
	m.restartRing(t)
}

func (m *journalMachine) reopen(t *rapid.T) {
	j, err := m.e.dir.Open(modelName, m.o)
	if err != nil {
		t.Fatal(err)
	}
	m.j = j
	m.retained(t, m.model.oldest, j.Oldest()) // open applies retention
	if got := string(j.Meta()); got != m.model.meta {
		t.Fatalf("meta after reopen %q, model %q", got, m.model.meta)
	}
	m.restartRing(t)
}

func (m *journalMachine) Check(t *rapid.T) {
	if got, want := m.j.Next(), m.model.next; got != want {
		t.Fatalf("Next %d, model %d", got, want)
	}
	if got, want := m.j.Latest(), m.model.next-1; got != want {
		t.Fatalf("Latest %d, model %d", got, want)
	}
	if got, want := m.j.Oldest(), m.model.oldest; got != want {
		t.Fatalf("Oldest %d, model %d", got, want)
	}
	if _, err := m.j.NewReader(m.model.oldest - 1); m.model.oldest > 0 && !errors.Is(err, ErrEvicted) {
		t.Fatalf("reader below Oldest: %v", err)
	}
}

// TestJournalAgainstModel drives appends, reads (from the ring window or
// the journal), purges, retention, clean restarts, kills and power losses
// against a reference list, in every sync mode.
func TestJournalAgainstModel(t *testing.T) {
	for _, mode := range []SyncMode{SyncAlways, SyncInterval, SyncNever} {
		t.Run(mode.String(), func(t *testing.T) {
			rapid.Check(t, func(rt *rapid.T) {
				e := newEnv(t)
				o := DefaultOptions()
				o.Sync = mode
				o.SyncInterval = 1 << 62 // fsyncs only where the mode says, so the model knows them
				o.SegmentBytes = int64(rapid.IntRange(4<<10, 16<<10).Draw(rt, "segment_bytes"))
				o.IndexInterval = rapid.IntRange(1, 2048).Draw(rt, "index_interval")
				if rapid.Bool().Draw(rt, "retention") {
					o.Retention.MaxEvents = rapid.Int64Range(1, 200).Draw(rt, "max_events")
					o.Retention.MaxAge = time.Duration(rapid.IntRange(1, 300).Draw(rt, "max_age_s")) * time.Second
				}
				o.RetentionCheck = time.Hour // Retain runs when the machine says
				first := rapid.Int64Range(0, 1<<40).Draw(rt, "first")
				j, err := e.dir.Create(modelName, first, nil, o)
				if err != nil {
					rt.Fatal(err)
				}
				m := &journalMachine{
					e: e, o: o, j: j,
					model:  &refStream{oldest: first, next: first},
					rng:    rand.New(rand.NewPCG(uint64(first), 7)),
					window: int64(1) << rapid.IntRange(2, 6).Draw(rt, "log2window"),
				}
				m.restartRing(rt)
				rt.Repeat(rapid.StateMachineActions(m))
				if err := m.j.Close(); err != nil {
					rt.Fatal(err)
				}
			})
		})
	}
}
