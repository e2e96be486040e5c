package replication

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"slices"
	"time"

	"github.com/hashicorp/raft"

	"github.com/badbatch/badbatch/engine"
	"github.com/badbatch/badbatch/internal/dedup"
)

// The snapshot format: the whole FSM state at one log index.
//
//	snapshot = magic("BBRS") version(1) last(varint ns) applied(uvarint) rings(uvarint) ring*
//	ring     = name(string) spec created(uvarint) state(1) next(uvarint) events(uvarint) event* keys(uvarint) key*
//	event    = time(varint ns) flags(1) payload(bytes) metadata(uvarint) (key value)*
//	key      = key(string) flags(1) hash(8, big endian) count(uvarint) first(uvarint) at(varint ns)
//
// applied is the index of the last entry the state, and so the snapshot,
// reflects: raft records a snapshot at its own applied index, which may be
// lower (after a restart, see replay), and the state machine skips the
// entries up to applied when raft hands them over again. next is the
// sequence the ring publishes next; the events are the ring's
// retained window, the last len(events) sequences before next. created is
// the index of the entry that created the ring (its identity, with the
// name). A key's hash is [engine.BatchHash] unless bit 0 of its flags
// says it is version 1's FNV-1a fingerprint. raft's file snapshot store
// adds a CRC over the whole.
//
// Version 1, which this version still restores, had no applied index
// (raft's index of the snapshot is taken), no created index (a
// ring restored from it is continued in place only when its events prove
// it the same) and no key flags (its hashes are FNV-1a).
const (
	snapshotMagic   = "BBRS"
	snapshotVersion = 2
)

// snapRing is one replicated disruptor in a snapshot.
type snapRing struct {
	spec    ringSpec
	created uint64
	state   engine.State
	next    int64
	events  []engine.Event // Sequence unset; Time set
	keys    []*dedup.Entry
	legacy  map[string]bool // keys whose Hash is version 1's FNV-1a
}

// snapshotState is a decoded snapshot.
type snapshotState struct {
	last    int64
	applied uint64 // 0 in a version 1 snapshot
	rings   []snapRing
}

// fsmSnapshot is a snapshot encoded when raft asked for it, written out
// later by Persist (on another goroutine, while the FSM goes on).
type fsmSnapshot struct{ data []byte }

var _ raft.FSMSnapshot = (*fsmSnapshot)(nil)

func (s *fsmSnapshot) Persist(sink raft.SnapshotSink) error {
	if _, err := sink.Write(s.data); err != nil {
		_ = sink.Cancel()
		return err
	}
	return sink.Close()
}

func (s *fsmSnapshot) Release() {}

// Snapshot implements [raft.FSM]. It copies every replicated ring's
// retained window out of the engine together with the catalog and the
// idempotency tables. Raft calls it on the FSM's goroutine, so no entry
// is being applied meanwhile.
func (f *fsm) Snapshot() (raft.FSMSnapshot, error) {
	<-f.ready
	if f.ctx.Err() != nil {
		// Closing: an entry may be half-applied (see applyLog).
		return nil, errClosing
	}
	if h := f.halted.Load(); h != nil {
		// Halted at an entry it cannot decode: the state lacks it.
		return nil, *h
	}
	data, err := f.encodeSnapshot()
	if err != nil {
		return nil, err
	}
	return &fsmSnapshot{data: data}, nil
}

func (f *fsm) encodeSnapshot() ([]byte, error) {
	b := append([]byte(snapshotMagic), snapshotVersion)
	b = binary.AppendVarint(b, f.last)
	b = binary.AppendUvarint(b, f.applied.Load())
	cat := f.catalog() // sorted, so the bytes do not depend on map order
	b = binary.AppendUvarint(b, uint64(len(cat)))
	var rec engine.Records
	for _, ri := range cat {
		name := ri.Config.Name
		r := f.rings[name]
		b = appendString(b, name)
		b = appendSpec(b, r.spec)
		b = binary.AppendUvarint(b, r.created)
		b = append(b, byte(r.state))
		info := r.local.Info()
		rec.Reset()
		if info.Latest >= info.Oldest { // else the window is empty: Latest is Oldest-1
			if _, err := r.local.Read(info.Oldest, int(info.Latest-info.Oldest+1), &rec); err != nil {
				return nil, fmt.Errorf("replication: snapshot of %q: %w", name, err)
			}
		}
		if n := len(rec.Events); n > 0 && rec.Events[n-1].Sequence != info.Latest {
			return nil, fmt.Errorf("replication: snapshot of %q: read up to %d, latest is %d", name, rec.Events[n-1].Sequence, info.Latest)
		}
		b = binary.AppendUvarint(b, uint64(info.Latest+1))
		b = binary.AppendUvarint(b, uint64(len(rec.Events)))
		for i := range rec.Events {
			e := &rec.Events[i]
			b = binary.AppendVarint(b, e.Time.UnixNano())
			b = appendEvent(b, e)
		}
		keys := r.keys.Entries()
		b = binary.AppendUvarint(b, uint64(len(keys)))
		for _, k := range keys {
			b = appendString(b, k.Key)
			var flags byte
			if r.legacy[k.Key] {
				flags = 1
			}
			b = append(b, flags)
			b = binary.BigEndian.AppendUint64(b, k.Hash)
			b = binary.AppendUvarint(b, uint64(k.Count))
			b = binary.AppendUvarint(b, uint64(k.First))
			b = binary.AppendVarint(b, k.At)
		}
	}
	return b, nil
}

// decodeSnapshot decodes a snapshot of version 1 or 2. Payloads alias
// data.
func decodeSnapshot(data []byte) (snapshotState, error) {
	var s snapshotState
	if len(data) < len(snapshotMagic)+1 || string(data[:len(snapshotMagic)]) != snapshotMagic {
		return s, fmt.Errorf("%w: not a snapshot", ErrCorrupt)
	}
	version := data[len(snapshotMagic)]
	if version != 1 && version != snapshotVersion {
		return s, fmt.Errorf("%w: snapshot version %d", ErrCorrupt, version)
	}
	d := decoder{b: data[len(snapshotMagic)+1:]}
	s.last = d.varint("time")
	if version >= 2 {
		s.applied = d.uvarint("applied index")
	}
	s.rings = make([]snapRing, d.count("ring count", 8))
	for i := range s.rings {
		r := &s.rings[i]
		name := d.string("name")
		r.spec = d.spec(name)
		if version >= 2 {
			r.created = d.uvarint("created index")
		}
		r.state = engine.State(d.byte("state"))
		next := d.uvarint("next sequence")
		if next > 1<<62 {
			d.fail("next sequence")
		}
		r.next = int64(next)
		r.events = make([]engine.Event, d.count("event count", 4))
		for j := range r.events {
			e := &r.events[j]
			e.Time = time.Unix(0, d.varint("event time"))
			d.event(e)
		}
		if int64(len(r.events)) > r.next {
			d.fail("event count")
		}
		r.keys = make([]*dedup.Entry, d.count("key count", 12))
		for j := range r.keys {
			k := &dedup.Entry{Key: d.string("key")}
			legacy := version == 1
			if version >= 2 {
				switch d.byte("key flags") {
				case 0:
				case 1:
					legacy = true
				default:
					d.fail("key flags")
				}
			}
			if legacy {
				if r.legacy == nil {
					r.legacy = map[string]bool{}
				}
				r.legacy[k.Key] = true
			}
			if len(d.b) < 8 {
				d.fail("key hash")
			} else {
				k.Hash = binary.BigEndian.Uint64(d.b)
				d.b = d.b[8:]
			}
			k.Count = d.int("key count")
			k.First = int64(d.uvarint("key first"))
			k.At = d.varint("key time")
			r.keys[j] = k
		}
	}
	if d.err == nil && len(d.b) != 0 {
		d.fail("trailing bytes")
	}
	return s, d.err
}

// Restore implements [raft.FSM]: it replaces the whole state with the
// snapshot's. Raft calls it on the FSM's goroutine, at start-up and when
// the leader sends a snapshot to a follower too far behind.
//
// A ring the snapshot lacks is deleted (its live subscriptions end with
// [engine.EndDeleted]: it is gone). A ring whose local copy the snapshot
// continues — the same ring (same create entry), whose events are the
// snapshot's up to where the copy got, and whose state can move on to the
// snapshot's — is continued in place: the events it lacks are published
// into it at their original times and sequences, so its live subscriptions
// go on as if the entries had been applied one by one. Any other ring is
// replaced: the old copy is deleted with [engine.EndReplaced] (so a
// client resumes after its last event rather than taking the disruptor
// for gone), and a new copy is created starting at the oldest sequence of
// the snapshot's window ([engine.DisruptorConfig.FirstSequence]; the
// sequences before it read as evicted) and given the window at its
// original times. A restore costs the size of the windows, not the number
// of events the rings ever held.
func (f *fsm) Restore(rc io.ReadCloser) error {
	<-f.ready
	defer rc.Close()
	data, err := io.ReadAll(rc)
	if err != nil {
		return fmt.Errorf("replication: reading snapshot: %w", err)
	}
	s, err := decodeSnapshot(data)
	if err != nil {
		return err
	}
	f.install(&s)
	return nil
}

// install makes s the whole state (see Restore).
func (f *fsm) install(s *snapshotState) {
	f.restores.Add(1)
	f.restoring.Store(true)
	defer func() {
		f.restoring.Store(false)
		f.progress.Broadcast()
	}()
	keep := make(map[string]bool, len(s.rings))
	for i := range s.rings {
		keep[s.rings[i].spec.Config.Name] = true
	}
	for name, r := range f.rings {
		if !keep[name] {
			if err := r.local.Delete(f.ctx); err != nil && !errors.Is(err, engine.ErrNotFound) {
				f.log.Warn("replication: deleting a ring the snapshot lacks", "disruptor", name, "err", err)
			}
			f.record(name, nil)
		}
	}
	f.last = s.last
	for i := range s.rings {
		// Raft takes a failed restore for a corrupt state and panics, so a
		// ring this node cannot restore (it is closing) is logged.
		if err := f.restoreRing(&s.rings[i]); err != nil {
			f.log.Error("replication: restoring a ring from a snapshot", "disruptor", s.rings[i].spec.Config.Name, "err", err)
		}
	}
	f.applied.Store(s.applied)
}

// restoreRing makes the catalog's and the engine's copy of one ring the
// snapshot's: in place when the local copy can continue, else by
// replacing it.
func (f *fsm) restoreRing(sr *snapRing) error {
	name := sr.spec.Config.Name
	r := newRing(sr.spec, sr.created, sr.state)
	for _, k := range sr.keys {
		r.keys.Add(k)
	}
	r.legacy = sr.legacy
	start := sr.next - int64(len(sr.events))
	if old := f.rings[name]; old != nil {
		if from, ok := f.continues(old, sr); ok {
			r.local = old.local
			f.record(name, r)
			return f.fill(r, sr.events[from-start:], sr.state)
		}
		if err := old.local.Replace(f.ctx); err != nil && !errors.Is(err, engine.ErrNotFound) {
			f.log.Warn("replication: replacing a ring from a snapshot", "disruptor", name, "err", err)
		}
		f.record(name, nil)
	}
	cfg := sr.spec.Config
	cfg.FirstSequence = start
	local, err := f.createLocal(cfg, sr.created)
	if err != nil {
		return err
	}
	r.local = local
	f.record(name, r)
	return f.fill(r, sr.events, sr.state)
}

// continues reports whether old's local copy can be continued to become
// the snapshot's ring sr, and from which sequence the snapshot's events
// are to be published into it.
func (f *fsm) continues(old *ring, sr *snapRing) (int64, bool) {
	if !sameSpec(old.spec, sr.spec) || (old.created != 0 && sr.created != 0 && old.created != sr.created) {
		return 0, false
	}
	info := old.local.Info()
	start := sr.next - int64(len(sr.events))
	latest := info.Latest
	if latest >= sr.next || latest+1 < start {
		return 0, false // ahead of the snapshot, or a gap before its window
	}
	// The events both hold must be the same ones.
	from := max(info.Oldest, start)
	if from > latest && (old.created == 0 || sr.created == 0) {
		return 0, false // nothing in common to tell it is the same ring
	}
	if from <= latest {
		var rec engine.Records
		if _, err := old.local.Read(from, int(latest-from+1), &rec); err != nil || int64(len(rec.Events)) != latest-from+1 {
			return 0, false
		}
		for i := range rec.Events {
			if !sameEvent(&rec.Events[i], &sr.events[from-start+int64(i)]) {
				return 0, false
			}
		}
	}
	// Its state must be able to move on to the snapshot's, through running
	// when there are events to take.
	cur := info.State
	if latest+1 < sr.next {
		if !reachable(cur, engine.StateRunning) {
			return 0, false
		}
		cur = engine.StateRunning
	}
	if !reachable(cur, sr.state) {
		return 0, false
	}
	return latest + 1, true
}

// fill publishes events into r's local ring at their original times (the
// ring running meanwhile), then brings it to state. The events follow the
// ring's latest sequence, so they take their original sequences.
func (f *fsm) fill(r *ring, events []engine.Event, state engine.State) error {
	if len(events) > 0 {
		r.state = engine.StateRunning
		chunk := min(f.eng.Config().MaxBatchEvents, r.spec.Config.BufferSize)
		// The window, in runs of events of the same time (one original
		// batch each, or several batches of one entry), at most chunk at a
		// time.
		for i := 0; i < len(events); {
			t := events[i].Time
			j := i + 1
			for j < len(events) && j-i < chunk && events[j].Time.Equal(t) {
				j++
			}
			if _, err := f.publishLocal(r, events[i:j], t.UnixNano()); err != nil {
				return err
			}
			i = j
		}
	}
	f.mu.Lock()
	r.state = state
	f.mu.Unlock()
	return f.converge(r)
}

func sameSpec(a, b ringSpec) bool {
	x, y := a.Config, b.Config
	return x.Name == y.Name && x.BufferSize == y.BufferSize && x.ProducerType == y.ProducerType &&
		x.WaitStrategy == y.WaitStrategy && x.MaxEventSize == y.MaxEventSize && x.Overflow == y.Overflow &&
		x.PublishTimeout == y.PublishTimeout && bytes.Equal(x.Schema, y.Schema) &&
		a.DedupWindow == b.DedupWindow && a.DedupMax == b.DedupMax
}

func sameEvent(a, b *engine.Event) bool {
	return a.Time.Equal(b.Time) && a.Binary == b.Binary && bytes.Equal(a.Payload, b.Payload) && slices.Equal(a.Metadata, b.Metadata)
}

// FNV-1a, 64 bits: version 1's fingerprint of a batch, still compared
// with the keys a version 1 snapshot restored.
const (
	fnvOffset = 14695981039346656037
	fnvPrime  = 1099511628211
)

func fnvBytes(h uint64, p []byte) uint64 {
	for _, c := range p {
		h ^= uint64(c)
		h *= fnvPrime
	}
	return h
}

func fnvInt(h uint64, v int) uint64 {
	for range 8 {
		h ^= uint64(v & 0xff)
		h *= fnvPrime
		v >>= 8
	}
	return h
}

// legacyHash is version 1's fingerprint of a batch.
func legacyHash(events []engine.Event) uint64 {
	h := uint64(fnvOffset)
	for i := range events {
		e := &events[i]
		if e.Binary {
			h = fnvInt(h, 1)
		} else {
			h = fnvInt(h, 0)
		}
		h = fnvInt(h, len(e.Payload))
		h = fnvBytes(h, e.Payload)
		h = fnvInt(h, len(e.Metadata))
		for _, m := range e.Metadata {
			h = fnvInt(h, len(m.Key))
			h = fnvBytes(h, []byte(m.Key))
			h = fnvInt(h, len(m.Value))
			h = fnvBytes(h, []byte(m.Value))
		}
	}
	return h
}
