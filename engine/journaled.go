package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"syscall"
	"time"

	"github.com/badbatch/badbatch/internal/dedup"
	"github.com/badbatch/badbatch/journal"
)

// A journaled disruptor ([DurabilityJournal]) is a local disruptor whose
// Writer writes its journal, then its ring. Its publishes are serialised
// by the token that serialises a single producer's (sem), whatever its
// producer type, so that each batch is written to the journal at the
// sequence the ring will give it:
//
//	take the token; wait for room in the ring (only the token holder
//	claims, so the room cannot shrink); j.Write(batch at cursor+1);
//	claim, copy and publish in the ring; release the token;
//	j.WaitDurable(last) (the fsync of sync "always", shared with the
//	publishes that wrote meanwhile); answer.
//
// A failed Write publishes nothing. The journal's stream holds the
// disruptor's config and lifecycle state as its metadata (journalMeta),
// rewritten before a state change is answered, so that [Engine.Recover]
// rebuilds the catalog, the ring, the numbering and the idempotency keys
// from the journal alone.

// JournalInfo describes a journaled disruptor's journal.
type JournalInfo struct {
	// Oldest is the oldest sequence the journal keeps: reads from there
	// on are served, from the ring or the journal.
	Oldest int64
	// Bytes is the size of the journal's segment files.
	Bytes int64
	// Stats are the journal's counters since it was opened, and its
	// number of segment files.
	Stats journal.Stats
}

// journalMeta is the metadata of a journaled disruptor's stream: its
// resolved config and its lifecycle state, as JSON.
type journalMeta struct {
	Format           int              `json:"format"`
	Name             string           `json:"name"`
	BufferSize       int              `json:"buffer_size"`
	ProducerType     string           `json:"producer_type"`
	WaitStrategy     string           `json:"wait_strategy"`
	MaxEventSize     int              `json:"max_event_size"`
	Overflow         string           `json:"overflow"`
	PublishTimeoutNS int64            `json:"publish_timeout_ns"`
	Schema           json.RawMessage  `json:"schema,omitempty"`
	FirstSequence    int64            `json:"first_sequence"`
	Sync             string           `json:"sync"`
	Retention        journalRetention `json:"retention"`
	State            string           `json:"state"`
	CreatedAt        time.Time        `json:"created_at"`
}

type journalRetention struct {
	MaxAgeNS  int64 `json:"max_age_ns,omitempty"`
	MaxBytes  int64 `json:"max_bytes,omitempty"`
	MaxEvents int64 `json:"max_events,omitempty"`
}

const journalMetaFormat = 1

func encodeMeta(cfg DisruptorConfig, st State, created time.Time) []byte {
	m := journalMeta{
		Format:           journalMetaFormat,
		Name:             cfg.Name,
		BufferSize:       cfg.BufferSize,
		ProducerType:     cfg.ProducerType,
		WaitStrategy:     cfg.WaitStrategy,
		MaxEventSize:     cfg.MaxEventSize,
		Overflow:         cfg.Overflow.String(),
		PublishTimeoutNS: int64(cfg.PublishTimeout),
		Schema:           cfg.Schema,
		FirstSequence:    cfg.FirstSequence,
		Sync:             cfg.Sync,
		Retention: journalRetention{MaxAgeNS: int64(cfg.Retention.MaxAge), MaxBytes: cfg.Retention.MaxBytes,
			MaxEvents: cfg.Retention.MaxEvents},
		State:     st.String(),
		CreatedAt: created.UTC(),
	}
	b, err := json.Marshal(m)
	if err != nil {
		panic("engine: encoding a disruptor's metadata: " + err.Error()) // plain types: cannot fail
	}
	return b
}

func decodeMeta(b []byte) (DisruptorConfig, State, time.Time, error) {
	var m journalMeta
	if err := json.Unmarshal(b, &m); err != nil {
		return DisruptorConfig{}, 0, time.Time{}, fmt.Errorf("engine: the journal's metadata does not decode: %w", err)
	}
	if m.Format != journalMetaFormat {
		return DisruptorConfig{}, 0, time.Time{}, fmt.Errorf("engine: the journal's metadata has format %d, want %d", m.Format, journalMetaFormat)
	}
	ov, err := ParseOverflowPolicy(m.Overflow)
	if err != nil {
		return DisruptorConfig{}, 0, time.Time{}, err
	}
	st, err := ParseState(m.State)
	if err != nil {
		return DisruptorConfig{}, 0, time.Time{}, err
	}
	cfg := DisruptorConfig{
		Name:           m.Name,
		BufferSize:     m.BufferSize,
		ProducerType:   m.ProducerType,
		WaitStrategy:   m.WaitStrategy,
		MaxEventSize:   m.MaxEventSize,
		Overflow:       ov,
		PublishTimeout: time.Duration(m.PublishTimeoutNS),
		FirstSequence:  m.FirstSequence,
		Durability:     DurabilityJournal,
		Sync:           m.Sync,
		Retention: journal.Retention{MaxAge: time.Duration(m.Retention.MaxAgeNS), MaxBytes: m.Retention.MaxBytes,
			MaxEvents: m.Retention.MaxEvents},
	}
	if len(m.Schema) > 0 {
		cfg.Schema = []byte(m.Schema)
	}
	return cfg, st, m.CreatedAt, nil
}

// journalOptions are the journal options of a resolved journaled config.
func journalOptions(cfg DisruptorConfig) (journal.Options, error) {
	o := journal.DefaultOptions()
	m, err := journal.ParseSyncMode(cfg.Sync)
	if err != nil {
		return o, err
	}
	o.Sync = m
	o.Retention = cfg.Retention
	// A batch is one record: the largest the API lets through must fit.
	o.MaxRecordBytes = 256 << 20
	return o, nil
}

// journalError maps an error of a journal write to the engine's.
func journalError(err error) error {
	switch {
	case errors.Is(err, journal.ErrSyncFailed):
		return fmt.Errorf("%w: %w", ErrOutcomeUnknown, err)
	case errors.Is(err, syscall.ENOSPC):
		return fmt.Errorf("%w: %w", ErrJournalFull, err)
	case errors.Is(err, journal.ErrInvalidBatch):
		return &BatchError{Err: fmt.Errorf("%w: %w", ErrBatchTooLarge, err)}
	case errors.Is(err, journal.ErrClosed):
		return fmt.Errorf("%w: %w", ErrNotFound, err)
	}
	return fmt.Errorf("%w: %w", ErrJournalUnavailable, err)
}

// publishJournaled publishes b to a journaled disruptor: journal, ring,
// then the fsync the sync mode needs. hash is the batch's hash when it
// has an idempotency key. With an [ErrOutcomeUnknown] error the batch is
// in the journal (so it is there after a restart) at the first sequence
// returned: its idempotency key is to be remembered.
func (h *hosted) publishJournaled(ctx context.Context, b *Batch, hash uint64) (int64, error) {
	h.life.RLock()
	defer h.life.RUnlock()
	if err := h.accepting(); err != nil {
		return 0, err
	}
	lo, last, err := h.appendJournaled(ctx, b, hash)
	if err != nil {
		return lo, err
	}
	if err := h.j.WaitDurable(last); err != nil {
		return lo, journalError(err)
	}
	return lo, nil
}

// appendJournaled writes b to the journal and the ring under the
// publish token, and returns its first and last sequences.
func (h *hosted) appendJournaled(ctx context.Context, b *Batch, hash uint64) (lo, last int64, err error) {
	n := len(b.Events)
	deadline := time.Now().Add(h.cfg.PublishTimeout)
	if err := h.acquire(ctx, deadline); err != nil {
		return 0, 0, err
	}
	defer func() { <-h.sem }()
	if h.jbroken.Load() {
		return 0, 0, fmt.Errorf("%w: the journal of %q and its ring disagree since an earlier failure; restart the server", ErrJournalUnavailable, h.name)
	}
	if err := h.room(ctx, n, deadline); err != nil {
		return 0, 0, err
	}
	lo = h.seqr.Cursor() + 1
	ts := h.batchTime(b)
	jb := journal.Batch{First: lo, Time: ts.UnixNano(), Events: h.journalEvents(b.Events)}
	if b.IdempotencyKey != "" && h.keys != nil {
		jb.Key, jb.Hash = b.IdempotencyKey, hash
	}
	last, err = h.j.Write(jb)
	clear(h.jev) // drop the caller's buffers
	clear(h.jmd)
	if err != nil {
		return 0, 0, journalError(err)
	}
	hi, cerr := h.ring.TryNextN(n)
	if cerr != nil || hi != last {
		// Cannot happen: only the token holder claims, and there was room.
		h.jbroken.Store(true)
		return lo, 0, fmt.Errorf("%w: batch %d..%d is in the journal of %q but the ring claimed %d (%v)", ErrOutcomeUnknown, lo, last, h.name, hi, cerr)
	}
	h.write(lo, hi, b.Events, jb.Time)
	h.ring.PublishRange(lo, hi)
	h.advance(hi)
	h.count(ts, n)
	return lo, last, nil
}

// room waits until the ring has room for n events, as the overflow
// policy says. The caller holds the publish token, so the room it found
// stays.
func (h *hosted) room(ctx context.Context, n int, deadline time.Time) error {
	if h.ring.HasAvailableCapacity(n) {
		return nil // fast path
	}
	return h.awaitRoom(ctx, deadline, func() bool { return h.ring.HasAvailableCapacity(n) })
}

// journalEvents returns events in the journal's form, in buffers reused
// from publish to publish (the caller holds the publish token).
func (h *hosted) journalEvents(events []Event) []journal.Event {
	evs, md := h.jev[:0], h.jmd[:0]
	for i := range events {
		e := &events[i]
		je := journal.Event{Payload: e.Payload, Binary: e.Binary}
		if len(e.Metadata) > 0 {
			at := len(md)
			for _, m := range e.Metadata {
				md = append(md, journal.Metadata{Key: m.Key, Value: m.Value})
			}
			je.Metadata = md[at:len(md):len(md)]
		}
		evs = append(evs, je)
	}
	h.jev, h.jmd = evs, md
	return evs
}

// setMeta records the disruptor's state to be in its journal's metadata.
func (h *hosted) setMeta(to State) error {
	if err := h.j.SetMeta(encodeMeta(h.cfg.DisruptorConfig, to, h.createdAt)); err != nil {
		return journalError(err)
	}
	return nil
}

// journalCursor is where a reader of a journal is: a subscription keeps
// one, so that catching up from the journal reads on where the last
// poll stopped instead of seeking again. The zero value has no reader.
type journalCursor struct {
	r  *journal.Reader
	b  *journal.Batch // the batch being read (valid until r.Next), or nil
	at int64          // the sequence of the next event the cursor gives
}

// close releases the cursor's reader.
func (c *journalCursor) close() {
	if c.r != nil {
		_ = c.r.Close()
	}
	*c = journalCursor{}
}

// journalReadBytes bounds what one read from a journal copies (payloads
// and metadata; it copies at least one event): a ring's reads are
// bounded by the ring, but a journal holds far more than its ring, so
// that a read with a large limit of a disruptor with large events and a
// small ring would otherwise copy limit × max_event_size bytes into
// memory (10,000 MiB at the API's largest limit and the engine's largest
// events). The read says where to go on, as one that reaches its limit
// does.
const journalReadBytes = 16 << 20

// readJournal copies the events from..to of the journal (at most limit)
// into rec, and returns the sequence after the last copied. It returns an
// [*EvictedError] when from is no longer kept. cur, when not nil, is the
// caller's cursor, kept open for the next call from where this one
// stopped; nil reads with a cursor of its own.
func (h *hosted) readJournal(rec *Records, from, to int64, limit int, cur *journalCursor) (int64, error) {
	if cur == nil {
		cur = &journalCursor{}
		defer cur.close()
	}
	if cur.r == nil || cur.at != from {
		cur.close()
		r, err := h.j.NewReader(from)
		if err != nil {
			if errors.Is(err, journal.ErrEvicted) {
				return from, h.evicted(from)
			}
			return from, journalError(err)
		}
		cur.r, cur.at = r, from
	}
	start := len(rec.Events)
	defer rec.finish(start)
	to = min(to, from+int64(limit)-1)
	copied := 0 // bytes: journalReadBytes
	for cur.at <= to && copied < journalReadBytes {
		if cur.b == nil || cur.at > cur.b.Last() {
			b, err := cur.r.Next()
			if errors.Is(err, io.EOF) {
				cur.b = nil
				break // the reader follows the journal on the next call
			}
			if err != nil {
				cur.close()
				if len(rec.Events) > start {
					break // return what was read; the next read reports it
				}
				if errors.Is(err, journal.ErrEvicted) {
					return from, h.evicted(from)
				}
				if h.eng.log != nil {
					h.eng.log.Error("reading the journal", "disruptor", h.name, "from", from, "err", err)
				}
				return from, journalError(err)
			}
			cur.b = b
		}
		b := cur.b
		for i := max(cur.at-b.First, 0); i < int64(len(b.Events)) && b.First+i <= to && copied < journalReadBytes; i++ {
			copied += rec.addJournal(b.First+i, b.Time, &b.Events[i])
			cur.at = b.First + i + 1
		}
	}
	if len(rec.Events) == start {
		return from, nil
	}
	return rec.Events[len(rec.Events)-1].Sequence + 1, nil
}

// addJournal appends a copy of an event read from a journal, and returns
// its size (payload and metadata); finish fixes the payload slices
// afterwards.
func (r *Records) addJournal(seq, ts int64, e *journal.Event) int {
	r.offs = append(r.offs, len(r.arena))
	r.arena = append(r.arena, e.Payload...)
	size := len(e.Payload)
	var md []Metadata
	if len(e.Metadata) > 0 {
		md = make([]Metadata, len(e.Metadata))
		for i, m := range e.Metadata {
			md[i] = Metadata{Key: m.Key, Value: m.Value}
			size += len(m.Key) + len(m.Value)
		}
	}
	r.Events = append(r.Events, Event{Sequence: seq, Time: time.Unix(0, ts).UTC(), Binary: e.Binary, Metadata: md})
	return size
}

// createJournal creates the journal of a new journaled disruptor h.
func (e *Engine) createJournal(h *hosted) error {
	if e.cfg.Journal == nil {
		return errors.Join(ErrInvalidConfig, &ConfigError{Field: "durability", Value: "journal",
			Reason: "needs a data directory (the server's server.data_dir); this engine has none"})
	}
	opts, err := journalOptions(h.cfg.DisruptorConfig)
	if err != nil {
		return err
	}
	j, err := e.cfg.Journal.Create(h.name, h.first, encodeMeta(h.cfg.DisruptorConfig, StateCreated, h.createdAt), opts)
	if err != nil {
		if errors.Is(err, journal.ErrExists) || errors.Is(err, journal.ErrBusy) {
			return fmt.Errorf("%w: %q (its journal exists: a disruptor being deleted, or one whose journal did not recover at start)", ErrExists, h.name)
		}
		return journalError(err)
	}
	h.j = j
	return nil
}

// dropJournal deletes the journal of h, whose disruptor is gone.
func (e *Engine) dropJournal(h *hosted) error {
	if err := e.cfg.Journal.Delete(h.name); err != nil && !errors.Is(err, journal.ErrNotFound) {
		if e.log != nil {
			e.log.Error("deleting a disruptor's journal", "disruptor", h.name, "err", err)
		}
		return journalError(err)
	}
	return nil
}

// RecoverOptions say how [Engine.Recover] opens a journal.
type RecoverOptions struct {
	// Repair opens a journal with a corrupt record by cutting it there
	// ([journal.Options.Repair]): that record and everything after it are
	// dropped. For the operator, after taking a copy.
	Repair bool
	// Verify checks every record of every segment at open.
	Verify bool
}

// Recover brings back the journaled disruptor name from [Config.Journal]:
// its config and lifecycle state from the journal's metadata, its ring
// refilled with the newest events the journal holds (up to buffer_size),
// its numbering continuing at the journal's next sequence, and the
// idempotency keys published within the dedup window. It returns the
// journal's errors: a [*journal.CorruptError] naming the file and offset
// of a damaged record (the disruptor stays down; see [RecoverOptions]),
// [ErrExists] when the engine has the name already, and the errors of
// [Engine.Create].
func (e *Engine) Recover(name string, o RecoverOptions) (Info, error) {
	dir := e.cfg.Journal
	if dir == nil {
		return Info{}, fmt.Errorf("engine: Recover(%q) without a data directory", name)
	}
	meta, err := dir.Meta(name)
	if err != nil {
		return Info{}, err
	}
	cfg, st, created, err := decodeMeta(meta)
	if err != nil {
		return Info{}, fmt.Errorf("engine: recovering %q: %w", name, err)
	}
	if cfg.Name != name {
		return Info{}, fmt.Errorf("engine: recovering %q: its metadata names %q", name, cfg.Name)
	}
	if _, err := e.lookup(name); err == nil {
		return Info{}, fmt.Errorf("%w: %q", ErrExists, name)
	}
	opts, err := journalOptions(cfg)
	if err != nil {
		return Info{}, fmt.Errorf("engine: recovering %q: %w", name, err)
	}
	opts.Repair, opts.Verify = o.Repair, o.Verify
	j, err := dir.Open(name, opts)
	if err != nil {
		return Info{}, err
	}
	ok := false
	defer func() {
		if !ok {
			_ = j.Close()
		}
	}()
	size := int64(cfg.BufferSize)
	cfg.FirstSequence = max(j.Oldest(), j.Next()-size)
	h, err := e.build(cfg, nil, func(h *hosted) error {
		h.createdAt = created
		h.j = j
		return h.refill()
	})
	if err != nil {
		return Info{}, err
	}
	ok = true
	if e.log != nil {
		rec := j.Recovery()
		e.log.Info("disruptor recovered from its journal", "disruptor", name, "state", st.String(),
			"oldest", j.Oldest(), "next", j.Next(), "ring_from", h.first, "bytes", j.Bytes(),
			"truncated", len(rec.Truncated), "rebuilt_indexes", len(rec.RebuiltIndexes), "repaired", rec.Repaired != nil)
	}
	// back to its state: through running, as it got there, without
	// recording it again (the journal has it; a record of "running" on
	// the way to "paused" would bring it back running after a crash here,
	// and a full disk would keep it down)
	ctx := context.Background()
	if st != StateCreated {
		if err := h.transitionTo(ctx, StateRunning, false); err != nil {
			return h.info(), err
		}
		if st != StateRunning {
			if err := h.transitionTo(ctx, st, false); err != nil {
				return h.info(), err
			}
		}
	}
	return h.info(), nil
}

// refill copies the events of the journal from h.first on into the ring,
// before h has consumers running or is in the engine's map, and the
// idempotency keys of the dedup window into its table, in one pass over
// the journal from the older of the two.
func (h *hosted) refill() error {
	next := h.j.Next()
	start := h.first
	var since, keysFrom int64
	if h.keys != nil {
		now := h.eng.now()
		since = now.Add(-h.eng.cfg.DedupWindow).UnixNano()
		keysFrom = max(h.j.SequenceAt(now.Add(-h.eng.cfg.DedupWindow)), h.j.Oldest())
		start = min(start, keysFrom)
	}
	if start < next {
		r, err := h.j.NewReader(start)
		if err != nil {
			return fmt.Errorf("engine: refilling %q from its journal: %w", h.name, err)
		}
		defer r.Close()
		var evs []Event
		for {
			b, err := r.Next()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				return fmt.Errorf("engine: refilling %q from its journal: %w", h.name, err)
			}
			if h.keys != nil && b.Key != "" && b.Time >= since && b.Last() >= keysFrom {
				h.keys.mu.Lock()
				h.keys.win.Add(&dedup.Entry{Key: b.Key, Hash: b.Hash, Count: len(b.Events), First: b.First, At: b.Time})
				h.keys.mu.Unlock()
			}
			if evs, err = h.refillBatch(b, evs[:0]); err != nil {
				return err
			}
		}
	}
	if got := h.published.Load() + 1; got != next {
		return fmt.Errorf("engine: refilling %q: the journal's next sequence is %d but it read up to %d", h.name, next, got)
	}
	h.restoredTo = next - 1
	return nil
}

// refillBatch copies the events of b from h.first on into the ring, with
// evs as the buffer of their engine form, which it returns.
func (h *hosted) refillBatch(b *journal.Batch, evs []Event) ([]Event, error) {
	lo := b.First
	for i := range b.Events {
		if b.First+int64(i) < h.first {
			lo++
			continue
		}
		je := &b.Events[i]
		ev := Event{Payload: je.Payload, Binary: je.Binary}
		for _, m := range je.Metadata {
			ev.Metadata = append(ev.Metadata, Metadata{Key: m.Key, Value: m.Value})
		}
		evs = append(evs, ev)
	}
	if len(evs) == 0 {
		return evs, nil
	}
	hi, err := h.ring.TryNextN(len(evs))
	if err != nil || hi != lo+int64(len(evs))-1 {
		return evs, fmt.Errorf("engine: refilling %q: the ring claimed %d for %d..%d (%v)", h.name, hi, lo, lo+int64(len(evs))-1, err)
	}
	h.write(lo, hi, evs, b.Time)
	h.ring.PublishRange(lo, hi)
	h.advance(hi)
	h.count(time.Unix(0, b.Time), len(evs))
	return evs, nil
}

// Purge drops the events of a journaled disruptor below before, from
// its journal and from reads: a read, get or subscription below it gets
// an [*EvictedError]. The journal drops whole segments; the ring is left
// as it is (it is overwritten in turn). before may be at most the next
// sequence to be published. It returns [ErrNotJournaled] for a memory
// disruptor, [ErrInvalidSequence], [ErrNotFound], and
// [ErrJournalUnavailable].
func (r *Ring) Purge(before int64) (Info, error) {
	h := r.h
	if h.eng.closed.Load() {
		return Info{}, ErrClosed
	}
	if h.j == nil {
		return Info{}, fmt.Errorf("%w: %q is a %s disruptor", ErrNotJournaled, h.name, h.cfg.Durability)
	}
	h.life.RLock()
	defer h.life.RUnlock()
	if h.State() == StateDeleted {
		return Info{}, fmt.Errorf("%w: %q", ErrNotFound, h.name)
	}
	if next := h.published.Load() + 1; before < 0 || before > next {
		return Info{}, fmt.Errorf("%w: purge before %d: must be from 0 to the next sequence, %d", ErrInvalidSequence, before, next)
	}
	if err := h.j.Purge(before); err != nil {
		return Info{}, journalError(err)
	}
	if h.eng.log != nil {
		h.eng.log.Info("disruptor purged", "disruptor", h.name, "before", before, "oldest", h.j.Oldest())
	}
	return h.info(), nil
}
