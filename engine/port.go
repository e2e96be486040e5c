package engine

import (
	"context"
	"fmt"
	"slices"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/badbatch/badbatch/journal"
)

// Writer is the one door through which a hosted disruptor changes: every
// publish, state change and delete of it goes through the Writer that
// [Engine.Writer] resolves for its name. A server resolves a name once
// per request and acts on the Writer it got, never on the name again, so
// that a disruptor deleted and created anew meanwhile is not changed by
// mistake.
//
// There are two kinds. A local disruptor's Writer is its [*Ring], which
// changes the ring at once. A disruptor created with [Engine.CreateOwned]
// (a replicated one) has the Writer its owner gave: it orders the change
// through the owner's log, and the owner applies it through the *Ring
// that only it holds. Which kind a name has is fixed when the disruptor
// is created, under the same lock as the engine's map of names, so there
// is no moment at which a replicated disruptor can be taken for a local
// one; and the engine's own [Engine.Publish], [Engine.SetState] and
// [Engine.Delete] refuse an owned disruptor with [ErrReplicated], so no
// caller can reach its ring by another path.
//
// A journaled local disruptor ([DurabilityJournal]: its publishes are
// acknowledged only once written to its journal) is the third kind. Its
// Writer is its *Ring too, whose Publish writes the journal, then the
// ring, and whose SetState records the state in the journal before it
// answers; there is no path into its ring that skips the journal.
//
// Methods may be called concurrently.
type Writer interface {
	// Publish publishes b and returns the sequence of its first event; the
	// batch's events take consecutive sequences from there. b.Duplicate is
	// set when b was recognised as a retry of a batch already published
	// under its idempotency key (the first sequence is then the original
	// one). It returns the errors of [Engine.Publish], and the owner's.
	Publish(ctx context.Context, b *Batch) (int64, error)
	// SetState moves the disruptor through its lifecycle (see [State];
	// deleting is Delete) and describes it afterwards. It returns the
	// errors of [Engine.SetState], and the owner's.
	SetState(ctx context.Context, to State) (Info, error)
	// Delete deletes the disruptor: its name is free, and its live
	// subscriptions end. It returns the errors of [Engine.Delete], and
	// the owner's.
	Delete(ctx context.Context) error
}

var _ Writer = (*Ring)(nil)

// Ring is the capability to change one hosted disruptor: its publish
// path, lifecycle and deletion, acting on that disruptor itself (not on
// whatever has its name later). A local disruptor's Ring is its
// [Writer]; an owned disruptor's Ring is returned only to its owner, by
// [Engine.CreateOwned]. A Ring is safe for concurrent use; once its
// disruptor is deleted, its changes return [ErrNotFound].
type Ring struct{ h *hosted }

// Name is the disruptor's name.
func (r *Ring) Name() string { return r.h.name }

// Info describes the disruptor.
func (r *Ring) Info() Info { return r.h.info() }

// Publish publishes b to the disruptor; see [Engine.Publish]. An owned
// disruptor keeps no idempotency keys (its owner does): b.IdempotencyKey
// is ignored.
func (r *Ring) Publish(ctx context.Context, b *Batch) (int64, error) {
	if r.h.eng.closed.Load() {
		return 0, ErrClosed
	}
	first, err := r.h.publish(ctx, b)
	if err != nil {
		r.h.countError(err)
	}
	return first, err
}

// Validate checks b's events against the disruptor's limits and schema,
// as Publish does before it claims anything, and returns what Publish
// would: nil, or an error for which [IsInvalidBatch] holds.
func (r *Ring) Validate(events []Event) error { return r.h.validate(events) }

// SetState moves the disruptor through its lifecycle; see
// [Engine.SetState].
func (r *Ring) SetState(ctx context.Context, to State) (Info, error) {
	if to == StateDeleted {
		return Info{}, r.Delete(ctx)
	}
	if r.h.eng.closed.Load() {
		return Info{}, ErrClosed
	}
	return r.h.setState(ctx, to)
}

// Delete deletes the disruptor; see [Engine.Delete].
func (r *Ring) Delete(ctx context.Context) error { return r.h.eng.remove(ctx, r.h, endDeleted) }

// Replace deletes the disruptor to make way for another copy of it (a
// replica rebuilt from its leader's snapshot): its live subscriptions end
// with [EndReplaced] rather than [EndDeleted], so that a client resumes
// after the last event it got instead of taking the disruptor for gone.
func (r *Ring) Replace(ctx context.Context) error { return r.h.eng.remove(ctx, r.h, endReplaced) }

// Read copies events from sequence from on into rec; see [Engine.Read].
func (r *Ring) Read(from int64, limit int, rec *Records) (Window, error) {
	return r.h.read(from, limit, rec)
}

// Writer returns the Writer of the disruptor name: its [*Ring] for a
// local disruptor, its owner's Writer for one created with
// [Engine.CreateOwned]. The choice is made under the lock that guards the
// engine's names, from what the disruptor was created as. It returns
// [ErrNotFound] or [ErrClosed].
func (e *Engine) Writer(name string) (Writer, error) {
	h, err := e.lookup(name)
	if err != nil {
		return nil, err
	}
	if h.owner != nil {
		return h.owner, nil
	}
	return h.handle, nil
}

// CreateOwned adds a disruptor that w owns, in the created state, and
// returns the [*Ring] through which the owner alone changes it: from then
// on [Engine.Writer] returns w for its name, and the engine's own
// Publish, SetState and Delete refuse it with [ErrReplicated]. The
// disruptor is marked owned before it enters the engine's map, under the
// map's lock, so no lookup ever finds it unowned. cfg is taken as
// resolved by the owner (its zero fields still get the engine's
// defaults); an owned disruptor keeps no idempotency keys of its own.
//
// It returns the errors of [Engine.Create].
func (e *Engine) CreateOwned(cfg DisruptorConfig, w Writer) (*Ring, error) {
	if w == nil {
		return nil, fmt.Errorf("engine: CreateOwned(%q) without a writer", cfg.Name)
	}
	h, err := e.create(cfg, w)
	if err != nil {
		return nil, err
	}
	return h.handle, nil
}

// create resolves cfg, builds its disruptor and adds it under e.mu,
// owned by owner (nil for a local disruptor). A local journaled
// disruptor's journal is created before it enters the map (and deleted
// again if it cannot); an owned one is never journaled: its record is its
// owner's log.
func (e *Engine) create(cfg DisruptorConfig, owner Writer) (*hosted, error) {
	if owner != nil {
		cfg.Durability, cfg.Sync, cfg.Retention = DurabilityMemory, "", journal.Retention{}
	}
	return e.build(cfg, owner, nil)
}

// build resolves cfg, builds its disruptor and adds it under e.mu. With
// restore nil a journaled disruptor gets a new journal; else restore
// gives the new disruptor its journal and refills it, before it enters
// the map.
func (e *Engine) build(cfg DisruptorConfig, owner Writer, restore func(*hosted) error) (*hosted, error) {
	if e.closed.Load() {
		return nil, ErrClosed
	}
	r, err := e.cfg.resolve(cfg)
	if err != nil {
		return nil, err
	}
	var schema *jsonschema.Schema
	if len(r.Schema) > 0 {
		if schema, err = compileSchema(r.Schema); err != nil {
			return nil, err
		}
		r.Schema = slices.Clone(r.Schema)
	}
	e.mu.RLock()
	_, exists := e.hosted[r.Name]
	full := len(e.hosted) >= e.cfg.MaxDisruptors
	e.mu.RUnlock()
	if exists {
		return nil, fmt.Errorf("%w: %q", ErrExists, r.Name)
	}
	if full {
		return nil, fmt.Errorf("%w: %d", ErrLimitReached, e.cfg.MaxDisruptors)
	}
	h, err := newHosted(e, r, schema, owner) // allocates the ring: outside the lock
	if err != nil {
		return nil, err
	}
	created := false
	switch {
	case restore != nil:
		err = restore(h)
	case r.Durability == DurabilityJournal:
		err = e.createJournal(h)
		created = err == nil
	}
	if err != nil {
		return nil, err
	}
	e.mu.Lock()
	switch {
	case e.closed.Load():
		err = ErrClosed
	case e.hosted[r.Name] != nil:
		err = fmt.Errorf("%w: %q", ErrExists, r.Name)
	case len(e.hosted) >= e.cfg.MaxDisruptors:
		err = fmt.Errorf("%w: %d", ErrLimitReached, e.cfg.MaxDisruptors)
	default:
		e.hosted[r.Name] = h
	}
	e.mu.Unlock()
	if err != nil {
		if created {
			_ = e.dropJournal(h)
		}
		return nil, err
	}
	if e.log != nil && restore == nil {
		e.log.Info("disruptor created", "disruptor", r.Name, "buffer_size", r.BufferSize,
			"producer_type", r.ProducerType, "wait_strategy", r.WaitStrategy, "owned", owner != nil,
			"durability", r.Durability.String())
	}
	return h, nil
}

// remove takes h out of the engine's map (if it is still there under its
// name), ends its live subscriptions for the reason code, and stops it,
// draining bounded by ctx. Its name is free at once.
func (e *Engine) remove(ctx context.Context, h *hosted, code uint32) error {
	if e.closed.Load() {
		return ErrClosed
	}
	e.mu.Lock()
	here := e.hosted[h.name] == h
	if here {
		delete(e.hosted, h.name)
	}
	e.mu.Unlock()
	if !here {
		return fmt.Errorf("%w: %q", ErrNotFound, h.name)
	}
	h.end(code)
	// A failure to drain is logged by transition; the disruptor is gone
	// either way.
	_ = h.transition(ctx, StateDeleted)
	var err error
	if h.j != nil {
		err = e.dropJournal(h) // its files are gone before the delete is answered
	}
	if e.log != nil {
		e.log.Info("disruptor deleted", "disruptor", h.name)
	}
	return err
}
