package engine

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/badbatch/badbatch/disruptor"
	"github.com/badbatch/badbatch/internal/notify"
	"github.com/badbatch/badbatch/journal"
)

// regionSlots is how many consecutive slots share one lock. Writers take a
// region's lock once per run of a batch inside it, readers once per run of
// a read, so a batch of 1000 events costs 16 lock round trips, not 1000.
const regionSlots = 64

// pad is the padding between the hot fields of a hosted disruptor: two
// 64-byte cache lines, as the core library's Sequence has, because amd64
// and arm64 cores prefetch lines in adjacent pairs.
const pad = 128

// hosted is one disruptor the engine hosts: its ring of slots, the
// built-in consumers, the lifecycle and the publish path.
//
// # Memory layout
//
// The fields are in five groups, each written by different goroutines,
// and the groups are padded apart (pad bytes) so that a write to one
// never invalidates the cache lines another goroutine reads:
//
//  1. read-only after newHosted (configuration, the ring, the owner):
//     read by everyone, written by no one;
//  2. life and state: life is read-locked by every publish (an atomic
//     add on its reader count), state read by every publish, both
//     written by lifecycle transitions;
//  3. published: moved forward by publishers (a store, or a CAS for
//     "multi" producers), read by replay readers;
//  4. the publish counters (eventsPublished, batches, nextSample):
//     written by every publish, read by metrics;
//  5. delivered, ended and the notifier: written by the fan-out consumer
//     (and by ending), read by every live subscriber.
//
// The remaining fields (subscribers, the idempotency table, the rate
// window) are behind locks or touched once per subscription, not per
// event. Each group starts at least pad bytes after the previous one
// ends, so no two groups share an aligned pair of lines;
// TestHostedLayout checks it.
type hosted struct {
	// ---- 1. read-only after newHosted ----
	eng       *Engine
	name      string
	cfg       resolved
	createdAt time.Time
	schema    *jsonschema.Schema
	// owner is the Writer of a disruptor created with CreateOwned (a
	// replicated one), nil for a local one. It is set before the
	// disruptor enters the engine's map and never changes, so every
	// lookup of the name finds the one path its changes take.
	owner Writer
	// handle is the disruptor's Ring: its Writer when it is local, its
	// owner's capability when it is owned.
	handle *Ring

	d           *disruptor.Disruptor[slot]
	ring        *disruptor.RingBuffer[slot]
	seqr        disruptor.Sequencer
	first       int64 // the first sequence published; those before it count as evicted
	restoredTo  int64 // the last sequence refilled from a journal at start (first-1 when none): no latency is recorded for them
	size, mask  int64
	single      bool
	regions     []sync.RWMutex // regions[i] guards slots i<<regionShift ..
	regionShift uint
	regionMask  int64                    // slots per region - 1
	sem         chan struct{}            // single producer or journaled: the token of the one publishing goroutine
	keys        *keys                    // idempotency keys of a local disruptor; nil for an owned one
	errCounts   map[string]*atomic.Int64 // by code; read-only map
	fan         *fanout
	met         *metricsConsumer
	procs       []disruptor.EventProcessor
	// j is a journaled disruptor's journal, nil for a memory one; set
	// before the disruptor enters the engine's map.
	j *journal.Journal

	_ [pad]byte
	// ---- 2. lifecycle ----
	// life is held for reading by every publish, for writing by lifecycle
	// transitions, so a transition waits for the publishes in flight and
	// none starts half way through one.
	life  sync.RWMutex
	state atomic.Uint32 // a State; written with life held for writing

	_ [pad]byte
	// ---- 3. replay watermark ----
	// published is the highest sequence such that it and every sequence
	// before it are published: what replay may read; first-1 before the
	// first publish. Only publishers move it, forward.
	published atomic.Int64

	_ [pad]byte
	// ---- 4. publish counters ----
	// eventsPublished counts the sequences used: it starts at first, as if
	// the sequences before it had been published here, so that a ring
	// restored at its old numbering counts what the ring it copies counts.
	eventsPublished atomic.Int64
	batches         atomic.Int64
	nextSample      atomic.Int64 // Unix nanoseconds after which the next rate sample is due

	_ [pad]byte
	// ---- 5. live delivery ----
	// delivered is the highest sequence the fan-out consumer has passed:
	// what live subscribers may read; first-1 at first. Only the fan-out
	// consumer moves it.
	delivered atomic.Int64
	// ended is why subscriptions end at once: 0 while they need not,
	// else an endCode.
	ended  atomic.Uint32
	notify notify.Notifier

	_ [pad]byte
	// ---- cold ----
	subscribers atomic.Int32
	rateMu      sync.Mutex
	rate        rateWindow

	// ---- a journaled disruptor's publish buffers: the token holder's ----
	jev     []journal.Event
	jmd     []journal.Metadata
	jbroken atomic.Bool // the journal and the ring disagree: refuse publishes
}

const (
	endNone uint32 = iota
	endDeleted
	endShutdown
	endReplaced
)

// processor names, as health and metrics report them.
const (
	fanoutName  = "fanout"
	metricsName = "metrics"
)

func newHosted(e *Engine, cfg resolved, schema *jsonschema.Schema, owner Writer) (*hosted, error) {
	ws, err := disruptor.ParseWaitStrategy(cfg.WaitStrategy)
	if err != nil {
		return nil, err
	}
	size := cfg.BufferSize
	sb := e.cfg.SlotBytes
	var arena []byte
	if sb > 0 {
		arena = make([]byte, size*sb)
	}
	next := 0
	factory := func() slot {
		s := slot{seq: -1}
		if arena != nil {
			s.payload = arena[next*sb : next*sb : (next+1)*sb]
		}
		next++
		return s
	}
	d, err := disruptor.New(factory, disruptor.Config{
		BufferSize:    size,
		ProducerType:  cfg.producer,
		WaitStrategy:  ws,
		Logger:        e.log,
		FirstSequence: cfg.FirstSequence,
	})
	if err != nil {
		return nil, err
	}
	now := e.now()
	h := &hosted{
		eng:       e,
		name:      cfg.Name,
		cfg:       cfg,
		createdAt: now,
		schema:    schema,
		d:         d,
		ring:      d.RingBuffer(),
		first:     cfg.FirstSequence,
		size:      int64(size),
		mask:      int64(size - 1),
		single:    cfg.producer == disruptor.SingleProducer,
		owner:     owner,
		errCounts: make(map[string]*atomic.Int64, len(codes)),
		rate:      newRateWindow(now, cfg.FirstSequence),
	}
	if owner == nil {
		h.keys = newKeys(e.cfg.DedupWindow, e.cfg.DedupMaxKeys)
	}
	h.seqr = h.ring.Sequencer()
	per := min(regionSlots, size)
	for 1<<h.regionShift < per {
		h.regionShift++
	}
	h.regionMask = int64(per - 1)
	h.regions = make([]sync.RWMutex, size/per)
	if h.single || cfg.Durability == DurabilityJournal {
		// a journaled disruptor's publishes are serialised too: each is
		// written to the journal at the sequence the ring gives it
		h.sem = make(chan struct{}, 1)
	}
	h.restoredTo = h.first - 1
	h.published.Store(h.first - 1)
	h.delivered.Store(h.first - 1)
	h.eventsPublished.Store(h.first)
	h.state.Store(uint32(StateCreated))
	for _, c := range codes {
		h.errCounts[c.code] = new(atomic.Int64)
	}
	h.handle = &Ring{h: h}
	h.fan = &fanout{h: h}
	h.met = newMetricsConsumer(h)
	h.met.consumed.Store(h.first) // as eventsPublished
	h.procs = d.HandleEventsWith(h.fan, h.met).Processors()
	return h, nil
}

// State returns the disruptor's state.
func (h *hosted) State() State { return State(h.state.Load()) }

// start runs the consumers and waits until they are running.
func (h *hosted) start() error {
	if err := h.d.Start(); err != nil {
		return err
	}
	deadline := time.Now().Add(5 * time.Second)
	for _, p := range h.procs {
		for !p.IsRunning() {
			if err := h.d.Err(); err != nil {
				return err
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("engine: consumers of %q did not start", h.name)
			}
			time.Sleep(50 * time.Microsecond)
		}
	}
	return nil
}

// transition moves the disruptor to state to, waiting for the publishes in
// flight. Stopping drains the consumers (bounded by ctx) and stops them.
// A journaled disruptor records the new state in its journal first (but
// deleted: its journal goes).
func (h *hosted) transition(ctx context.Context, to State) error {
	return h.transitionTo(ctx, to, h.j != nil && to != StateDeleted)
}

// transitionTo is transition, recording the new state in the journal
// when record is set: not when a recovered disruptor goes back to its
// recorded state, nor when the engine closes.
func (h *hosted) transitionTo(ctx context.Context, to State, record bool) error {
	h.life.Lock()
	defer h.life.Unlock()
	from := h.State()
	if from == StateDeleted {
		return fmt.Errorf("%w: %q", ErrNotFound, h.name)
	}
	if err := checkTransition(h.name, from, to); err != nil {
		return err
	}
	if from == to {
		return nil
	}
	if record {
		if err := h.setMeta(to); err != nil {
			return err // nothing changed
		}
	}
	var err error
	switch to {
	case StateRunning:
		if from == StateCreated {
			if err := h.start(); err != nil {
				if record {
					// The journal says running already: put back what
					// the disruptor still is, or a restart would start it.
					if merr := h.setMeta(from); merr != nil && h.eng.log != nil {
						h.eng.log.Error("disruptor did not start and its journal still records it running", "disruptor", h.name, "err", merr)
					}
				}
				return err
			}
		}
	case StateStopped, StateDeleted:
		if from.Active() {
			err = h.d.Shutdown(ctx)
		}
	}
	h.state.Store(uint32(to))
	h.notify.Broadcast()
	if err != nil && h.eng.log != nil {
		h.eng.log.Warn("disruptor stopped without draining", "disruptor", h.name, "err", err)
	}
	return err
}

// setState moves the disruptor to state to (not deleted) and describes it
// afterwards. A stop that could not drain within ctx still stops.
func (h *hosted) setState(ctx context.Context, to State) (Info, error) {
	if err := h.transition(ctx, to); err != nil && !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, context.Canceled) {
		return h.info(), err
	}
	if h.eng.log != nil {
		h.eng.log.Info("disruptor state changed", "disruptor", h.name, "state", h.State().String())
	}
	return h.info(), nil
}

// end makes the live subscriptions end at once for the given reason.
func (h *hosted) end(code uint32) {
	h.ended.CompareAndSwap(endNone, code)
	h.notify.Broadcast()
}

// validate checks a batch against the limits and the schema, before
// anything is claimed.
func (h *hosted) validate(events []Event) error {
	n := len(events)
	if n == 0 {
		return &BatchError{Err: ErrEmptyBatch}
	}
	if limit := min(h.eng.cfg.MaxBatchEvents, int(h.size)); n > limit {
		return &BatchError{Count: n, Limit: limit, Err: ErrBatchTooLarge}
	}
	maxSize, maxMeta := h.cfg.MaxEventSize, h.eng.cfg.MaxMetadata
	for i := range events {
		e := &events[i]
		if size := e.Size(); size > maxSize {
			return &EventError{Index: i, Size: size, Limit: maxSize, Err: ErrEventTooLarge,
				Reason: fmt.Sprintf("%d bytes of payload and metadata is over the limit of %d", size, maxSize)}
		}
		if len(e.Metadata) > maxMeta {
			return &EventError{Index: i, Limit: maxMeta, Err: ErrInvalidEvent,
				Reason: fmt.Sprintf("%d metadata entries is over the limit of %d", len(e.Metadata), maxMeta)}
		}
		for _, m := range e.Metadata {
			if m.Key == "" {
				return &EventError{Index: i, Err: ErrInvalidEvent, Reason: "metadata key is empty"}
			}
		}
	}
	if h.schema != nil {
		for i := range events {
			if err := validatePayload(h.schema, &events[i]); err != nil {
				err.Index = i
				return err
			}
		}
	}
	return nil
}

// publish is the engine's one publish path for this disruptor: it returns
// the batch's first sequence.
func (h *hosted) publish(ctx context.Context, b *Batch) (int64, error) {
	b.Duplicate = false
	if err := h.validate(b.Events); err != nil {
		return 0, err
	}
	if b.IdempotencyKey == "" || h.keys == nil {
		if err := h.accepting(); err != nil { // fast refusal; rechecked under life
			return 0, err
		}
		if h.j != nil {
			return h.publishJournaled(ctx, b, 0)
		}
		return h.publishLocked(ctx, b)
	}
	ts := h.batchTime(b).UnixNano()
	hash := BatchHash(b.Events)
	p, first, err := h.keys.reserve(ctx, h.name, b, hash, ts)
	if p == nil {
		return first, err
	}
	if h.j != nil {
		first, err = h.publishJournaled(ctx, b, hash)
		if errors.Is(err, ErrOutcomeUnknown) {
			// in the journal, so there after a restart: a retry is a duplicate
			h.keys.complete(b.IdempotencyKey, p, hash, len(b.Events), first, ts)
			return 0, err
		}
	} else {
		first, err = h.publishLocked(ctx, b)
	}
	if err != nil {
		h.keys.abort(b.IdempotencyKey, p)
		return 0, err
	}
	h.keys.complete(b.IdempotencyKey, p, hash, len(b.Events), first, ts)
	return first, nil
}

// accepting returns nil when the disruptor takes events now: a
// [*StateError] when it is not running, [ErrNotFound] once deleted.
func (h *hosted) accepting() error {
	switch st := h.State(); st {
	case StateRunning:
		return nil
	case StateDeleted:
		return fmt.Errorf("%w: %q", ErrNotFound, h.name)
	default:
		return &StateError{Disruptor: h.name, State: st}
	}
}

// publishLocked claims slots, copies the batch in and publishes it.
func (h *hosted) publishLocked(ctx context.Context, b *Batch) (int64, error) {
	h.life.RLock()
	defer h.life.RUnlock()
	if err := h.accepting(); err != nil {
		return 0, err
	}
	n := len(b.Events)
	deadline := time.Now().Add(h.cfg.PublishTimeout)
	if h.single {
		if err := h.acquire(ctx, deadline); err != nil {
			return 0, err
		}
		defer func() { <-h.sem }()
	}
	hi, err := h.claim(ctx, n, deadline)
	if err != nil {
		return 0, err
	}
	lo := hi - int64(n) + 1
	ts := h.batchTime(b)
	h.write(lo, hi, b.Events, ts.UnixNano())
	h.ring.PublishRange(lo, hi)
	h.advance(hi)
	h.count(ts, n)
	return lo, nil
}

// batchTime is the batch's time, or now. It stamps the events and drives
// the dedup window, so replicas applying the same batches with the same
// times keep the same keys.
func (h *hosted) batchTime(b *Batch) time.Time {
	if b.Time.IsZero() {
		return h.eng.now()
	}
	return b.Time
}

// acquire takes the single producer's token.
func (h *hosted) acquire(ctx context.Context, deadline time.Time) error {
	select {
	case h.sem <- struct{}{}: // fast path
		return nil
	default:
	}
	t := time.NewTimer(time.Until(deadline))
	defer t.Stop()
	select {
	case h.sem <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return &RingFullError{Disruptor: h.name, Waited: h.cfg.PublishTimeout}
	}
}

// claim claims n slots, applying the overflow policy when the ring is
// full.
func (h *hosted) claim(ctx context.Context, n int, deadline time.Time) (int64, error) {
	hi, err := h.ring.TryNextN(n)
	if err == nil {
		return hi, nil // fast path
	}
	return h.claimSlow(ctx, n, deadline, err)
}

func (h *hosted) claimSlow(ctx context.Context, n int, deadline time.Time, err error) (int64, error) {
	if !errors.Is(err, disruptor.ErrInsufficientCapacity) {
		return 0, err
	}
	var hi int64
	err = h.awaitRoom(ctx, deadline, func() bool {
		var cerr error
		hi, cerr = h.ring.TryNextN(n)
		return cerr == nil
	})
	return hi, err
}

// awaitRoom waits for a full ring as the overflow policy says: it
// refuses at once with "reject"; with "block" it yields, then sleeps
// (backing off to a millisecond), until room reports true, ctx ends or
// deadline passes.
func (h *hosted) awaitRoom(ctx context.Context, deadline time.Time, room func() bool) error {
	if h.cfg.Overflow == OverflowReject {
		return &RingFullError{Disruptor: h.name}
	}
	start := time.Now()
	sleep := 10 * time.Microsecond
	for spin := 0; ; spin++ {
		if spin < 16 {
			runtime.Gosched()
		} else {
			time.Sleep(sleep)
			sleep = min(2*sleep, time.Millisecond)
		}
		if room() {
			return nil
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if now := time.Now(); !now.Before(deadline) {
			return &RingFullError{Disruptor: h.name, Waited: now.Sub(start)}
		}
	}
}

// write copies events into the claimed slots lo..hi, one region at a time.
func (h *hosted) write(lo, hi int64, events []Event, ts int64) {
	i := 0
	for s := lo; s <= hi; {
		end := min(hi, s|h.regionMask)
		mu := &h.regions[(s&h.mask)>>h.regionShift]
		mu.Lock()
		for ; s <= end; s++ {
			sl, ev := h.ring.Get(s), &events[i]
			i++
			sl.seq, sl.time, sl.binary = s, ts, ev.Binary
			sl.payload = append(sl.payload[:0], ev.Payload...)
			sl.meta, sl.nmeta = sl.meta[:0], int32(len(ev.Metadata))
			if len(ev.Metadata) > 0 {
				sl.meta = packMetadata(sl.meta, ev.Metadata)
			}
		}
		mu.Unlock()
	}
}

// advance moves the published watermark to at least hi, the end of a
// batch the caller has just published.
func (h *hosted) advance(hi int64) {
	if h.sem != nil {
		h.published.Store(hi) // publishes are serialised by sem
		return
	}
	for {
		w := h.published.Load()
		if w >= hi {
			return
		}
		top := h.seqr.HighestPublishedSequence(w+1, h.seqr.Cursor())
		// Whatever every consumer has passed is published, even if its slot
		// has since been reused by a later lap.
		top = max(top, h.ring.MinimumGatingSequence())
		if top > w {
			h.published.CompareAndSwap(w, top)
			continue
		}
		runtime.Gosched() // an earlier batch is still being copied in
	}
}

// count updates the publish counters after a batch of n events at ts.
func (h *hosted) count(ts time.Time, n int) {
	if now := ts.UnixNano(); now >= h.nextSample.Load() {
		h.rateMu.Lock()
		h.rate.observe(ts, h.eventsPublished.Load())
		h.nextSample.Store(now + int64(h.rate.interval))
		h.rateMu.Unlock()
	}
	h.eventsPublished.Add(int64(n))
	h.batches.Add(1)
}

// countError counts a failed publish by its code.
func (h *hosted) countError(err error) {
	if c, ok := h.errCounts[Code(err)]; ok {
		c.Add(1)
	}
}

// oldest is the lowest sequence the ring may still hold: never below the
// first sequence.
func (h *hosted) oldest() int64 { return max(h.first, h.seqr.Cursor()+1-h.size) }

// floor is the lowest sequence h serves: a journaled disruptor's
// journal's oldest (the journal is the record, the ring its newest part),
// else the ring's oldest.
func (h *hosted) floor() int64 {
	if h.j != nil {
		return h.j.Oldest()
	}
	return h.oldest()
}

// served returns the oldest and latest readable sequences: from h's
// floor to the latest published (latest is oldest-1 while nothing is
// published).
func (h *hosted) served() (oldest, latest int64) {
	latest = h.published.Load()
	return min(h.floor(), latest+1), latest
}

// copyRange copies the events from..to (all published) into rec. It
// stops at the first evicted one and returns the sequence after the last
// copied, and whether it stopped early.
func (h *hosted) copyRange(rec *Records, from, to int64) (next int64, evicted bool) {
	start := len(rec.Events)
	s := from
	for s <= to {
		end := min(to, s|h.regionMask)
		mu := &h.regions[(s&h.mask)>>h.regionShift]
		mu.RLock()
		for ; s <= end; s++ {
			sl := h.ring.Get(s)
			if sl.seq != s {
				mu.RUnlock()
				rec.finish(start)
				return s, true
			}
			rec.add(sl)
		}
		mu.RUnlock()
	}
	rec.finish(start)
	return s, false
}

// evicted returns the error for a sequence found overwritten.
func (h *hosted) evicted(seq int64) *EvictedError {
	return &EvictedError{Sequence: seq, Oldest: max(h.floor(), seq+1)}
}

// processorsAlive reports whether the consumers run as the state says
// they should, and the first failure if not.
func (h *hosted) processorsAlive() (bool, error) {
	if err := h.d.Err(); err != nil {
		return false, err
	}
	if !h.State().Active() {
		return true, nil
	}
	for i, p := range h.procs {
		if !p.IsRunning() {
			return false, fmt.Errorf("engine: consumer %s of %q is not running", processorName(i), h.name)
		}
	}
	return true, nil
}

func processorName(i int) string {
	if i == 0 {
		return fanoutName
	}
	return metricsName
}

// fanout is the built-in consumer that feeds live subscribers: it records
// how far it got and wakes the subscribers waiting. It never touches the
// slots, and never waits for a subscriber.
type fanout struct{ h *hosted }

var (
	_ disruptor.EventHandler[slot] = (*fanout)(nil)
	_ disruptor.BatchHandler[slot] = (*fanout)(nil)
)

func (f *fanout) OnEvent(_ *slot, seq int64, _ bool) error {
	f.h.deliver(seq)
	return nil
}

func (f *fanout) OnBatch(events []slot, first int64, _ bool) error {
	f.h.deliver(first + int64(len(events)) - 1)
	return nil
}

func (h *hosted) deliver(seq int64) {
	h.delivered.Store(seq)
	h.notify.Broadcast()
}
