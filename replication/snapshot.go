package replication

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/hashicorp/raft"

	"github.com/badbatch/badbatch/engine"
)

// The snapshot format: the whole FSM state at one log index.
//
//	snapshot = magic("BBRS") version(1) last(varint ns) rings(uvarint) ring*
//	ring     = name(string) spec state(1) next(uvarint) events(uvarint) event* keys(uvarint) key*
//	event    = time(varint ns) flags(1) payload(bytes) metadata(uvarint) (key value)*
//	key      = key(string) hash(8, big endian) count(uvarint) first(uvarint) at(varint ns)
//
// next is the sequence the ring publishes next; the events are the ring's
// retained window, the last len(events) sequences before next. raft's
// file snapshot store adds a CRC over the whole.
const (
	snapshotMagic   = "BBRS"
	snapshotVersion = 1
)

// snapRing is one replicated disruptor in a snapshot.
type snapRing struct {
	spec   ringSpec
	state  engine.State
	next   int64
	events []engine.Event // Sequence unset; Time set
	keys   []*dedupEntry
}

// snapshotState is a decoded snapshot.
type snapshotState struct {
	last  int64
	rings []snapRing
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
// retained window out of the engine ([engine.Engine.Read]) together with
// the catalog and the idempotency tables. Raft calls it on the FSM's
// goroutine, so no entry is being applied meanwhile.
func (f *fsm) Snapshot() (raft.FSMSnapshot, error) {
	data, err := f.encodeSnapshot()
	if err != nil {
		return nil, err
	}
	return &fsmSnapshot{data: data}, nil
}

func (f *fsm) encodeSnapshot() ([]byte, error) {
	b := append([]byte(snapshotMagic), snapshotVersion)
	b = binary.AppendVarint(b, f.last)
	cat := f.catalog() // sorted, so the bytes do not depend on map order
	b = binary.AppendUvarint(b, uint64(len(cat)))
	var rec engine.Records
	for _, ri := range cat {
		name := ri.Config.Name
		r := f.rings[name]
		b = appendString(b, name)
		b = appendSpec(b, r.spec)
		b = append(b, byte(r.state))
		info, err := f.eng.Info(name)
		if err != nil {
			return nil, fmt.Errorf("replication: snapshot of %q: %w", name, err)
		}
		rec.Reset()
		if info.Latest >= info.Oldest { // else the window is empty: Latest is Oldest-1
			if _, err := f.eng.Read(name, info.Oldest, int(info.Latest-info.Oldest+1), &rec); err != nil {
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
		keys := r.dedup.entries()
		b = binary.AppendUvarint(b, uint64(len(keys)))
		for _, k := range keys {
			b = appendString(b, k.key)
			b = binary.BigEndian.AppendUint64(b, k.hash)
			b = binary.AppendUvarint(b, uint64(k.count))
			b = binary.AppendUvarint(b, uint64(k.first))
			b = binary.AppendVarint(b, k.at)
		}
	}
	return b, nil
}

// decodeSnapshot decodes a snapshot. Payloads alias data.
func decodeSnapshot(data []byte) (snapshotState, error) {
	var s snapshotState
	if len(data) < len(snapshotMagic)+1 || string(data[:len(snapshotMagic)]) != snapshotMagic {
		return s, fmt.Errorf("%w: not a snapshot", ErrCorrupt)
	}
	if v := data[len(snapshotMagic)]; v != snapshotVersion {
		return s, fmt.Errorf("%w: snapshot version %d", ErrCorrupt, v)
	}
	d := decoder{b: data[len(snapshotMagic)+1:]}
	s.last = d.varint("time")
	s.rings = make([]snapRing, d.count("ring count", 8))
	for i := range s.rings {
		r := &s.rings[i]
		name := d.string("name")
		r.spec = d.spec(name)
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
		r.keys = make([]*dedupEntry, d.count("key count", 12))
		for j := range r.keys {
			k := &dedupEntry{key: d.string("key")}
			if len(d.b) < 8 {
				d.fail("key hash")
			} else {
				k.hash = binary.BigEndian.Uint64(d.b)
				d.b = d.b[8:]
			}
			k.count = d.int("key count")
			k.first = int64(d.uvarint("key first"))
			k.at = d.varint("key time")
			r.keys[j] = k
		}
	}
	if d.err == nil && len(d.b) != 0 {
		d.fail("trailing bytes")
	}
	return s, d.err
}

// Restore implements [raft.FSM]: it replaces the whole state with the
// snapshot's. The replicated rings are deleted from the engine (ending
// their subscriptions) and rebuilt: each is created starting at the oldest
// sequence of its window ([engine.DisruptorConfig.FirstSequence]), so that
// the sequences before the window read as evicted, and its window is
// published again at the original times. A restore costs the size of the
// windows, not the number of events the rings ever held. Raft calls it on
// the FSM's goroutine, at start-up and when the leader sends a snapshot.
func (f *fsm) Restore(rc io.ReadCloser) error {
	defer rc.Close()
	data, err := io.ReadAll(rc)
	if err != nil {
		return fmt.Errorf("replication: reading snapshot: %w", err)
	}
	s, err := decodeSnapshot(data)
	if err != nil {
		return err
	}
	f.restores.Add(1)
	// The engine's rings go before the catalog's records of them, and
	// rebuild records a ring before creating it, so a server never takes a
	// replicated ring for a local one (see fsm.createLocal).
	for name := range f.rings {
		if err := f.eng.Delete(f.ctx, name); err != nil && !errors.Is(err, engine.ErrNotFound) {
			f.log.Warn("replication: deleting a ring before a restore", "disruptor", name, "err", err)
		}
	}
	f.mu.Lock()
	f.rings = make(map[string]*ring, len(s.rings))
	f.mu.Unlock()
	f.last = s.last
	for i := range s.rings {
		// Raft takes a failed restore for a corrupt state and panics, so a
		// ring this node cannot rebuild (it is closing, or its engine's
		// limits refuse the ring) is logged and left out of the engine; it
		// stays in the catalog.
		if err := f.rebuild(&s.rings[i]); err != nil {
			f.log.Error("replication: restoring a ring from a snapshot", "disruptor", s.rings[i].spec.Config.Name, "err", err)
		}
	}
	return nil
}

// rebuild recreates one ring of a snapshot in the engine and the catalog.
// The local ring starts at the window's oldest sequence; the catalog keeps
// the ring's spec as it was created.
func (f *fsm) rebuild(sr *snapRing) error {
	cfg := sr.spec.Config
	r := &ring{spec: sr.spec, state: sr.state, dedup: newDedupTable(int64(sr.spec.DedupWindow), sr.spec.DedupMax)}
	for _, k := range sr.keys {
		r.dedup.add(k)
	}
	local := cfg
	local.FirstSequence = sr.next - int64(len(sr.events))
	if err := f.createLocal(local, sr.state != engine.StateCreated, r); err != nil {
		f.record(cfg.Name, r) // it stays in the catalog (see Restore)
		return err
	}
	if err := f.refill(cfg, sr); err != nil {
		return err
	}
	if sr.state == engine.StatePaused || sr.state == engine.StateStopped {
		if _, err := f.eng.SetState(f.ctx, cfg.Name, sr.state); err != nil {
			return err
		}
	}
	return nil
}

// refill publishes the ring's window into the local ring, which starts at
// the window's oldest sequence: the events take their original sequences.
func (f *fsm) refill(cfg engine.DisruptorConfig, sr *snapRing) error {
	chunk := min(f.eng.Config().MaxBatchEvents, cfg.BufferSize)
	// The window, in runs of events of the same time (one original batch
	// each, or several batches of one entry), at most chunk at a time.
	for i := 0; i < len(sr.events); {
		t := sr.events[i].Time
		j := i + 1
		for j < len(sr.events) && j-i < chunk && sr.events[j].Time.Equal(t) {
			j++
		}
		if _, err := f.publishEvents(cfg.Name, sr.events[i:j], t.UnixNano()); err != nil {
			return err
		}
		i = j
	}
	return nil
}
