package engine

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/badbatch/badbatch/journal"
)

// Engine hosts named disruptors. All its methods are safe for concurrent
// use.
type Engine struct {
	cfg     Config
	log     *slog.Logger
	clock   func() time.Time
	started time.Time

	mu     sync.RWMutex
	hosted map[string]*hosted
	closed atomic.Bool
}

// New returns an engine with cfg, which it validates. When cfg.Registerer
// is set, the engine's collector is registered with it.
func New(cfg Config) (*Engine, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	e := &Engine{
		cfg:    cfg,
		log:    cfg.Logger,
		clock:  cfg.Clock,
		hosted: make(map[string]*hosted),
	}
	if e.clock == nil {
		e.clock = time.Now
	}
	e.started = e.now()
	if cfg.Registerer != nil {
		if err := cfg.Registerer.Register(e.Collector()); err != nil {
			return nil, fmt.Errorf("engine: registering metrics: %w", err)
		}
	}
	return e, nil
}

// Config returns the engine's configuration.
func (e *Engine) Config() Config { return e.cfg }

func (e *Engine) now() time.Time { return e.clock() }

func (e *Engine) lookup(name string) (*hosted, error) {
	if e.closed.Load() {
		return nil, ErrClosed
	}
	e.mu.RLock()
	h := e.hosted[name]
	e.mu.RUnlock()
	if h == nil {
		return nil, fmt.Errorf("%w: %q", ErrNotFound, name)
	}
	return h, nil
}

// Info describes a hosted disruptor.
type Info struct {
	Name           string
	State          State
	BufferSize     int
	ProducerType   string
	WaitStrategy   string
	MaxEventSize   int
	Overflow       OverflowPolicy
	PublishTimeout time.Duration
	Schema         []byte // nil when there is none
	CreatedAt      time.Time
	// Oldest and Latest bound the replay window; while nothing is
	// published, Latest is Oldest-1 (-1 for a disruptor whose
	// [DisruptorConfig.FirstSequence] is 0).
	Oldest, Latest int64
	// Published counts the events published since creation, and the
	// sequences before [DisruptorConfig.FirstSequence] as if they had
	// been: a ring started at N counts N before its first publish, so
	// that a replica restored from a snapshot reports what the ring it
	// copies does.
	Published   int64
	Subscribers int
	// Owned is set for a disruptor created with [Engine.CreateOwned] (a
	// replicated one), which changes only through its owner's [Writer].
	Owned bool
	// Durability, Sync and Retention are the disruptor's journal settings
	// (Sync "" and Retention zero for a memory disruptor).
	Durability Durability
	Sync       string
	Retention  journal.Retention
	// Journal describes a journaled disruptor's journal; nil for a
	// memory one. Oldest above is then the journal's oldest sequence.
	Journal *JournalInfo
}

func (h *hosted) info() Info {
	oldest, latest := h.served()
	return Info{
		Name:           h.name,
		State:          h.State(),
		BufferSize:     h.cfg.BufferSize,
		ProducerType:   h.cfg.ProducerType,
		WaitStrategy:   h.cfg.WaitStrategy,
		MaxEventSize:   h.cfg.MaxEventSize,
		Overflow:       h.cfg.Overflow,
		PublishTimeout: h.cfg.PublishTimeout,
		Schema:         h.cfg.Schema,
		CreatedAt:      h.createdAt,
		Oldest:         oldest,
		Latest:         latest,
		Published:      h.eventsPublished.Load(),
		Subscribers:    int(h.subscribers.Load()),
		Owned:          h.owner != nil,
		Durability:     h.cfg.Durability,
		Sync:           h.cfg.Sync,
		Retention:      h.cfg.Retention,
		Journal:        h.journalInfo(),
	}
}

// journalInfo describes h's journal, nil for a memory disruptor.
func (h *hosted) journalInfo() *JournalInfo {
	if h.j == nil {
		return nil
	}
	return &JournalInfo{Oldest: h.j.Oldest(), Bytes: h.j.Bytes(), Stats: h.j.Stats()}
}

// Create adds a local disruptor in the created state, and starts it when
// start is set. It returns [ErrInvalidConfig] (with a [*ConfigError] per
// problem), [ErrInvalidSchema], [ErrExists], [ErrLimitReached] or
// [ErrClosed]. When the disruptor was added but could not start, it
// stays, in the created state, and Create returns its Info with the
// error.
func (e *Engine) Create(cfg DisruptorConfig, start bool) (Info, error) {
	h, err := e.create(cfg, nil)
	if err != nil {
		return Info{}, err
	}
	if start {
		if err := h.transition(context.Background(), StateRunning); err != nil {
			return h.info(), err
		}
	}
	return h.info(), nil
}

// Info describes the disruptor name, or returns [ErrNotFound].
func (e *Engine) Info(name string) (Info, error) {
	h, err := e.lookup(name)
	if err != nil {
		return Info{}, err
	}
	return h.info(), nil
}

// List describes every disruptor, sorted by name.
func (e *Engine) List() []Info {
	e.mu.RLock()
	hs := make([]*hosted, 0, len(e.hosted))
	for _, h := range e.hosted {
		hs = append(hs, h)
	}
	e.mu.RUnlock()
	slices.SortFunc(hs, func(a, b *hosted) int { return strings.Compare(a.name, b.name) })
	out := make([]Info, len(hs))
	for i, h := range hs {
		out[i] = h.info()
	}
	return out
}

// local returns the local disruptor name: [ErrReplicated] for an owned
// one.
func (e *Engine) local(name string) (*hosted, error) {
	h, err := e.lookup(name)
	if err != nil {
		return nil, err
	}
	if h.owner != nil {
		return nil, fmt.Errorf("%w: %q", ErrReplicated, name)
	}
	return h, nil
}

// SetState moves a local disruptor through its lifecycle (see [State]);
// the deleted state is reached with [Engine.Delete]. Moving to the current
// state changes nothing. Stopping drains the consumers, bounded by ctx.
// It returns [ErrNotFound], [ErrReplicated] or a [*TransitionError].
func (e *Engine) SetState(ctx context.Context, name string, to State) (Info, error) {
	if to == StateDeleted {
		return Info{}, e.Delete(ctx, name)
	}
	h, err := e.local(name)
	if err != nil {
		return Info{}, err
	}
	return h.setState(ctx, to)
}

// Delete stops a local disruptor if it runs (draining, bounded by ctx),
// removes it and ends its live subscriptions. Its name is free at once.
// It returns [ErrNotFound], [ErrReplicated] or [ErrClosed].
func (e *Engine) Delete(ctx context.Context, name string) error {
	h, err := e.local(name)
	if err != nil {
		return err
	}
	return e.remove(ctx, h, endDeleted)
}

// Publish is the engine's one way in for events of a local disruptor: it
// publishes the batch to the disruptor name at consecutive sequences, and
// returns the first. The batch is published whole or not at all. The
// events are copied into the ring's preallocated slots; the caller keeps
// its buffers. Publish is [Engine.Writer] followed by [Writer.Publish] for
// a local disruptor; an owned one is refused with [ErrReplicated].
//
// With an idempotency key, a batch already published under that key within
// the dedup window is not published again: Publish returns the first
// publish's first sequence and sets b.Duplicate. A concurrent publish with
// the same key waits for the first to finish. A new key when the
// disruptor already remembers [Config.DedupMaxKeys] keys within the
// window is refused with a [*DedupFullError].
//
// When the ring is full, Publish waits for room up to the disruptor's
// publish timeout ([OverflowBlock]) or not at all ([OverflowReject]), then
// returns a [*RingFullError]. It returns [ErrNotFound], a [*StateError]
// unless the disruptor is running, a [*BatchError] for an empty or
// oversize batch, an [*EventError] for an oversize or invalid event, a
// [*SchemaError], [ErrKeyReused], [ErrClosed], or ctx's error if ctx ends
// while it waits.
func (e *Engine) Publish(ctx context.Context, name string, b *Batch) (int64, error) {
	h, err := e.local(name)
	if err != nil {
		return 0, err
	}
	return h.handle.Publish(ctx, b)
}

// Window is the replay window of a disruptor.
type Window struct {
	// Oldest is the oldest sequence the ring may still hold.
	Oldest int64
	// Latest is the latest sequence readable, Oldest-1 while none is.
	Latest int64
	// Next is the sequence after the last event read.
	Next int64
}

// Read copies up to limit events from sequence from on into rec (which it
// resets): every event published from there that is still in the ring, in
// order. Reading past the latest event returns no events. It returns an
// [*EvictedError] when from was overwritten already, and [ErrNotFound].
func (e *Engine) Read(name string, from int64, limit int, rec *Records) (Window, error) {
	h, err := e.lookup(name)
	if err != nil {
		rec.Reset()
		return Window{}, err
	}
	return h.read(from, limit, rec)
}

func (h *hosted) read(from int64, limit int, rec *Records) (Window, error) {
	rec.Reset()
	if from < 0 || limit <= 0 {
		return Window{}, fmt.Errorf("%w: from %d, limit %d", ErrInvalidSequence, from, limit)
	}
	oldest, latest := h.served()
	w := Window{Oldest: oldest, Latest: latest, Next: from}
	if from > latest {
		return w, nil
	}
	if from < oldest {
		return w, &EvictedError{Sequence: from, Oldest: oldest}
	}
	to := min(latest, from+int64(limit)-1)
	if h.j == nil || from >= h.oldest() {
		next, evicted := h.copyRange(rec, from, to)
		if !evicted || next > from {
			w.Next = next
			return w, nil
		}
		if h.j == nil {
			ev := h.evicted(from)
			w.Oldest = ev.Oldest
			return w, ev
		}
		// overwritten meanwhile: the journal has it
	}
	next, err := h.readJournal(rec, from, to, limit, nil) // journaled: below the ring
	w.Next = next
	return w, err
}

// Get copies the event at seq into rec and returns it. It returns a
// [*NotPublishedError] for a sequence not published yet, an
// [*EvictedError] for one overwritten, and [ErrNotFound].
func (e *Engine) Get(name string, seq int64, rec *Records) (Event, error) {
	w, err := e.Read(name, seq, 1, rec)
	if err != nil {
		return Event{}, err
	}
	if len(rec.Events) == 0 {
		return Event{}, &NotPublishedError{Sequence: seq, Latest: w.Latest}
	}
	return rec.Events[0], nil
}

// SubscribeOptions say where a [Subscription] starts and what happens when
// it lags.
type SubscribeOptions struct {
	// From is the first sequence to deliver; a negative From means the
	// next event published.
	From int64
	// OnLag is what happens when the subscriber falls a ring behind.
	OnLag LagPolicy
}

// Subscribe follows the disruptor name live from opts.From. It returns an
// [*EvictedError] when From was overwritten already, a
// [*NotPublishedError] when From is past the next sequence to be
// published, [ErrTooManySubscribers], and [ErrNotFound]. Close the
// subscription when done.
//
// An owned (replicated) disruptor's subscription may start past the next
// sequence: on a replica that has not applied its log that far yet, a
// sequence a client was acknowledged is still to come, so the
// subscription waits for it rather than refusing it.
func (e *Engine) Subscribe(name string, opts SubscribeOptions) (*Subscription, error) {
	h, err := e.lookup(name)
	if err != nil {
		return nil, err
	}
	from := opts.From
	if from < 0 {
		from = h.delivered.Load() + 1
	} else {
		oldest, latest := h.served()
		if from > latest+1 && h.owner == nil {
			return nil, &NotPublishedError{Sequence: from, Latest: latest}
		}
		if from < oldest {
			return nil, &EvictedError{Sequence: from, Oldest: oldest}
		}
	}
	if n := h.subscribers.Add(1); int(n) > e.cfg.MaxSubscribers {
		h.subscribers.Add(-1)
		return nil, fmt.Errorf("%w: %d on %q", ErrTooManySubscribers, e.cfg.MaxSubscribers, name)
	}
	return &Subscription{h: h, next: from, policy: opts.OnLag}, nil
}

// Close stops every disruptor (draining, bounded by ctx), ends every live
// subscription and refuses every call from then on. It returns the errors
// of disruptors that could not drain.
func (e *Engine) Close(ctx context.Context) error {
	if e.closed.Swap(true) {
		return nil
	}
	e.mu.RLock()
	hs := make([]*hosted, 0, len(e.hosted))
	for _, h := range e.hosted {
		hs = append(hs, h)
	}
	e.mu.RUnlock()
	var errs []error
	for _, h := range hs {
		h.end(endShutdown)
		if h.State().Active() {
			// not recorded: a journaled disruptor comes back as it was
			if err := h.transitionTo(ctx, StateStopped, false); err != nil {
				errs = append(errs, fmt.Errorf("disruptor %q: %w", h.name, err))
			}
		}
		if h.j != nil {
			if err := h.j.Close(); err != nil && !errors.Is(err, journal.ErrClosed) {
				errs = append(errs, fmt.Errorf("journal of %q: %w", h.name, err))
			}
		}
	}
	if e.log != nil {
		e.log.Info("engine closed", "disruptors", len(hs))
	}
	return errors.Join(errs...)
}
