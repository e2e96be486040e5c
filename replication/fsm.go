package replication

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

	"github.com/hashicorp/raft"

	"github.com/badbatch/badbatch/engine"
	"github.com/badbatch/badbatch/internal/dedup"
	"github.com/badbatch/badbatch/internal/notify"
)

// ring is a replicated disruptor as the catalog records it.
type ring struct {
	spec ringSpec
	// created is the index of the log entry that created the ring: with
	// the name, its identity, which a snapshot carries so that a restore
	// can tell the same ring (continued in place) from one deleted and
	// created again meanwhile (replaced). 0 when unknown (a ring from a
	// version 1 snapshot).
	created uint64
	state   engine.State  // the replicated state; the local ring follows it
	keys    *dedup.Window // the idempotency keys, in log time
	// legacy marks the keys restored from a version 1 snapshot, whose
	// hashes are that version's FNV-1a fingerprints.
	legacy map[string]bool
	// local is the engine's copy, owned by this node's replication Node:
	// the only handle that changes it. Set for every ring in the catalog.
	local *engine.Ring
}

// result is what applying one command gave. For a publish, the batch got
// count sequences from first on.
type result struct {
	first     int64
	count     int
	duplicate bool
	err       error
}

// fsm is the replicated state machine: the catalog of replicated
// disruptors, their idempotency tables, and (through the engine rings it
// owns) their events. Raft calls Apply, Snapshot and Restore from one
// goroutine; nothing else changes a replicated ring, so applying the same
// entries in the same order gives every node the same catalog, keys and
// sequences.
//
// # Outcomes
//
// The FSM never skips a committed command, and a command's result is the
// same on every node. It depends only on the replicated state (the
// catalog, each ring's replicated state and keys) and the command:
// creating a name the catalog has, changing a ring it lacks, a transition
// the replicated state does not allow, a reused key, a full idempotency
// window, an invalid batch ([engine.IsInvalidBatch]: it depends on the
// ring's recorded configuration and the engine's limits, which every node
// shares). Everything else is a condition local to this node (the ring is
// full, a local disruptor holds the name, the engine's disruptor limit,
// the local ring failed to start or to change state): it is never the
// result, because the other nodes applied the command. It is waited out:
// the FSM retries, logs, and reports itself stalled until the condition
// clears or the node closes (then the result is errClosing: committed,
// outcome unknown here).
//
// # The local rings
//
// A ring's local copy is created owned ([engine.Engine.CreateOwned]), so
// the engine refuses every change that does not come through the *Ring
// the FSM holds, and a server resolving the name gets the Node's writer
// from the moment the ring exists. Before each command on a ring, the FSM
// brings the local copy to the replicated state (converge), so a start or
// state change that failed before is retried rather than forgotten.
type fsm struct {
	eng *engine.Engine
	log *slog.Logger
	// ctx ends when the node closes, ending the engine calls and retries
	// in progress.
	ctx context.Context
	// owner returns the Writer through which a server changes the
	// replicated ring name created by the entry at index created: the
	// Node's proposals, guarded with that ring's identity.
	owner func(name string, created uint64) engine.Writer
	// fault, when set (tests), is called before each local operation on a
	// ring ("create", "state", "publish", "delete") and makes it fail with
	// the error it returns.
	fault atomic.Pointer[faultFunc]

	// mu guards the rings map and each ring's state and local handle for
	// readers on other goroutines; the FSM goroutine reads without it.
	mu    sync.RWMutex
	rings map[string]*ring
	// last is the time of the last entry applied (Unix ns). An entry's time
	// is raised to it, so log time never goes back across leaders with
	// different clocks.
	last int64

	// ready is closed once the state machine takes raft's entries: at
	// once, or after the replay of a restart (see replay).
	ready chan struct{}

	stalled   atomic.Bool           // a committed entry waits for a local condition
	halted    atomic.Pointer[error] // set at an entry this build cannot decode: nothing more is applied
	restores  atomic.Int64          // snapshots restored
	restoring atomic.Bool           // a snapshot is being restored: names may be missing a moment
	applied   atomic.Uint64         // index of the last command entry applied in full (or of the snapshot restored)
	progress  notify.Notifier       // broadcast when applied moves or a restore ends
}

var _ raft.FSM = (*fsm)(nil)

func newFSM(ctx context.Context, eng *engine.Engine, log *slog.Logger) *fsm {
	f := &fsm{eng: eng, log: log, ctx: ctx, rings: make(map[string]*ring), owner: noOwner, ready: make(chan struct{})}
	close(f.ready)
	return f
}

// noOwner stands for the Node in tests of the FSM alone.
func noOwner(name string, _ uint64) engine.Writer { return refusingWriter{name} }

type refusingWriter struct{ name string }

func (w refusingWriter) Publish(context.Context, *engine.Batch) (int64, error) {
	return 0, fmt.Errorf("%w: %q has no replication node", ErrClosed, w.name)
}
func (w refusingWriter) SetState(context.Context, engine.State) (engine.Info, error) {
	return engine.Info{}, fmt.Errorf("%w: %q has no replication node", ErrClosed, w.name)
}
func (w refusingWriter) Delete(context.Context) error {
	return fmt.Errorf("%w: %q has no replication node", ErrClosed, w.name)
}

// Apply implements [raft.FSM]: it applies one committed entry and returns
// its []result (or an error for an entry it cannot decode), which the
// leader hands to the proposers. An entry at or below the applied index
// was applied before this node restarted (see replay): it is skipped.
func (f *fsm) Apply(l *raft.Log) any {
	<-f.ready
	if l.Type != raft.LogCommand || l.Index <= f.applied.Load() {
		return nil
	}
	return f.applyLog(l)
}

// applyLog applies a command entry. The applied index moves past it only
// when every command of it was applied in full, not cut short by the node
// closing, so that a restart applies it again (see replay).
//
// Once the node closes (f.ctx ended) it applies nothing more: an entry
// is answered with errClosing, the state and the applied index as they
// are, so that the index saved at close, and any snapshot, never claim
// an entry that a command cut short left half-applied (raft hands the
// entries again after a restart).
func (f *fsm) applyLog(l *raft.Log) any {
	if f.ctx.Err() != nil {
		return errClosing
	}
	if h := f.halted.Load(); h != nil {
		return *h
	}
	e, err := decodeEntry(l.Data)
	if err != nil {
		// Every node decodes the same bytes, so an entry that this node
		// cannot read was written by a build that knows more (a rolling
		// upgrade) or was damaged: skipping it would make this replica
		// differ from the others at every later sequence. The node stops
		// applying instead, reports itself stalled, and takes no
		// snapshot; the applied index stays below the entry, so a restart
		// with a build that reads it applies it and what follows.
		h := fmt.Errorf("%w: log entry %d cannot be decoded (%v): this node applies nothing more until it runs a build that reads it", ErrCorrupt, l.Index, err)
		f.halted.Store(&h)
		f.stalled.Store(true)
		f.log.Error("replication: halted at a log entry this build cannot decode; upgrade this node's binary to the leader's version and restart it", "index", l.Index, "err", err)
		return h
	}
	res := f.apply(e, l.Index)
	for _, r := range res {
		if r.err == errClosing {
			return res
		}
	}
	f.advance(l.Index)
	return res
}

// advance records that the entries up to index are applied.
func (f *fsm) advance(index uint64) {
	if index > f.applied.Load() {
		f.applied.Store(index)
	}
	f.progress.Broadcast()
}

// apply applies a decoded entry, the log's entry index.
func (f *fsm) apply(e entry, index uint64) []result {
	t := max(e.time, f.last)
	f.last = t
	res := make([]result, len(e.cmds))
	for i := range e.cmds {
		if i > 0 && res[i-1].err == errClosing {
			res[i] = res[i-1] // cut short: nothing after it is applied
			continue
		}
		c := &e.cmds[i]
		switch c.op {
		case opPublish:
			res[i] = f.publish(c, t)
		case opCreate:
			res[i] = f.create(c, index)
		case opDelete:
			res[i] = f.delete(c)
		case opSetState:
			res[i] = f.setState(c)
		}
	}
	return res
}

// errClosing is the result of a committed command this node could not
// apply because it is closing: the command is committed (other nodes apply
// it), but this node cannot tell its outcome.
var errClosing = &OutcomeError{Cause: ErrClosed}

func notReplicated(name string) error {
	return fmt.Errorf("%w: %q is not a replicated disruptor", engine.ErrNotFound, name)
}

// faultFunc makes a local operation fail in tests.
type faultFunc func(op, name string) error

// setFault sets the test fault hook.
func (f *fsm) setFault(fn faultFunc) { f.fault.Store(&fn) }

// local runs a local operation on a ring, through the test fault hook.
func (f *fsm) local(op, name string, do func() error) error {
	if fn := f.fault.Load(); fn != nil {
		if err := (*fn)(op, name); err != nil {
			return err
		}
	}
	return do()
}

// target returns the ring a publish, delete or state change is for: the
// catalog's ring of the name, unless the command is guarded with another
// ring's identity (the one it was made for was deleted, and the name
// created again, before it was applied).
func (f *fsm) target(c *command) (*ring, error) {
	r := f.rings[c.name]
	if r == nil {
		return nil, notReplicated(c.name)
	}
	if !r.is(c.ring) {
		return nil, replaced(c.name)
	}
	return r, nil
}

// is reports whether r is the ring created by the entry at index created
// (0: any ring of the name). A ring whose identity is unknown (restored
// from a version 1 snapshot) is taken for it.
func (r *ring) is(created uint64) bool {
	return created == 0 || r.created == 0 || r.created == created
}

func replaced(name string) error {
	return fmt.Errorf("%w: the replicated disruptor %q this change was for was deleted (the name is another disruptor's now)", engine.ErrNotFound, name)
}

func (f *fsm) publish(c *command, t int64) result {
	r, err := f.target(c)
	if err != nil {
		return result{err: err}
	}
	var hash uint64
	if c.key != "" {
		hash = engine.BatchHash(c.events)
		d := r.keys.Lookup(c.key, t)
		if d != nil {
			h := hash
			if r.legacy[c.key] {
				h = legacyHash(c.events)
			}
			if d.Hash != h || d.Count != len(c.events) {
				return result{err: fmt.Errorf("%w: key %q", engine.ErrKeyReused, c.key)}
			}
			return result{first: d.First, count: d.Count, duplicate: true}
		}
		delete(r.legacy, c.key)
	}
	if r.state != engine.StateRunning {
		return result{err: &engine.StateError{Disruptor: c.name, State: r.state}}
	}
	if c.key != "" {
		if full, retryAt := r.keys.Full(t, 0); full {
			return result{err: &engine.DedupFullError{Disruptor: c.name, Keys: r.keys.Max(), RetryAfter: time.Duration(retryAt - t)}}
		}
	}
	first, err := f.publishLocal(r, c.events, t)
	if err != nil {
		return result{err: err}
	}
	if c.key != "" {
		r.keys.Add(&dedup.Entry{Key: c.key, Hash: hash, Count: len(c.events), First: first, At: t})
	}
	return result{first: first, count: len(c.events)}
}

// publishLocal publishes events at time t into r's local ring and returns
// the first sequence. An invalid batch is the command's result (every node
// refuses it alike); anything else is local and waited out: a full ring
// (its consumers are the engine's own, which never block, so room comes
// back), a local ring not in the replicated state.
func (f *fsm) publishLocal(r *ring, events []engine.Event, t int64) (int64, error) {
	b := engine.Batch{Events: events, Time: time.Unix(0, t)}
	for attempt := 0; ; attempt++ {
		if err := f.converge(r); err != nil {
			return 0, err
		}
		var first int64
		err := f.local("publish", r.spec.Config.Name, func() (err error) {
			first, err = r.local.Publish(f.ctx, &b)
			return err
		})
		switch {
		case err == nil:
			f.stalled.Store(false)
			return first, nil
		case engine.IsInvalidBatch(err):
			return 0, err
		case f.ctx.Err() != nil, errors.Is(err, engine.ErrClosed):
			return 0, errClosing
		}
		if !f.backoff(attempt, "cannot publish into the local ring", r.spec.Config.Name, err) {
			return 0, errClosing
		}
	}
}

// backoff waits before retry attempt+1 of something a local condition
// holds up, logging now and then. It returns false when the node closes.
func (f *fsm) backoff(attempt int, what, name string, err error) bool {
	f.stalled.Store(true)
	d := min(100*time.Microsecond<<min(attempt, 12), 250*time.Millisecond)
	if attempt == 20 || attempt%200 == 199 {
		f.log.Warn("replication: applying a committed entry is held up", "reason", what, "disruptor", name, "err", err, "attempts", attempt+1)
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-f.ctx.Done():
		f.log.Error("replication: node closing with a committed entry not applied", "reason", what, "disruptor", name)
		return false
	}
}

// createLocal creates the local copy of a replicated ring, owned by this
// node's Node, waiting out a local disruptor holding the name or the
// engine's limit. The catalog does not claim the name while it waits, so
// the operator can still reach (and delete) the local disruptor through
// the API to let the create through. It returns the configuration error of
// a ring that no engine with these limits can build (every node refuses
// it alike), or errClosing.
func (f *fsm) createLocal(cfg engine.DisruptorConfig, created uint64) (*engine.Ring, error) {
	for attempt := 0; ; attempt++ {
		var rg *engine.Ring
		err := f.local("create", cfg.Name, func() (err error) {
			rg, err = f.eng.CreateOwned(cfg, f.owner(cfg.Name, created))
			return err
		})
		switch {
		case err == nil:
			f.stalled.Store(false)
			return rg, nil
		case errors.Is(err, engine.ErrInvalidConfig), errors.Is(err, engine.ErrInvalidSchema):
			return nil, err
		case errors.Is(err, engine.ErrClosed), f.ctx.Err() != nil:
			return nil, errClosing
		}
		what := "cannot create the replicated disruptor locally"
		if errors.Is(err, engine.ErrExists) {
			err = fmt.Errorf("%w: %q is a local disruptor on this node", engine.ErrExists, cfg.Name)
		}
		if !f.backoff(attempt, what, cfg.Name, err) {
			return nil, errClosing
		}
	}
}

// reachable reports whether a ring in state from can be brought to state
// to by converge: it is there, one step away, or created (which starts
// first).
func reachable(from, to engine.State) bool {
	return from == to || from.CanTransition(to) || (from == engine.StateCreated && engine.StateRunning.CanTransition(to))
}

// converge brings r's local ring to the replicated state, one lifecycle
// step at a time (created → running → paused or stopped), retrying a step
// that fails locally (a start that failed, say) until it succeeds or the
// node closes.
func (f *fsm) converge(r *ring) error {
	for attempt := 0; ; attempt++ {
		cur := r.local.Info().State
		if cur == r.state {
			return nil
		}
		if !reachable(cur, r.state) {
			// The local ring is past the replicated state, which a ring
			// that only this FSM changes, in log order, never is.
			f.log.Error("replication: the local ring is ahead of the replicated state", "disruptor", r.spec.Config.Name, "local", cur, "replicated", r.state)
			return nil
		}
		next := r.state
		if !cur.CanTransition(next) {
			next = engine.StateRunning // from created
		}
		err := f.local("state", r.spec.Config.Name, func() error {
			_, err := r.local.SetState(f.ctx, next)
			return err
		})
		switch {
		case err == nil:
			f.stalled.Store(false)
			continue
		case f.ctx.Err() != nil, errors.Is(err, engine.ErrClosed):
			return errClosing
		}
		if !f.backoff(attempt, "cannot bring the local ring to the replicated state "+r.state.String(), r.spec.Config.Name, err) {
			return errClosing
		}
	}
}

// record puts r in the catalog as name, or takes name out when r is nil.
func (f *fsm) record(name string, r *ring) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if r == nil {
		delete(f.rings, name)
		return
	}
	f.rings[name] = r
}

func newRing(spec ringSpec, created uint64, state engine.State) *ring {
	return &ring{spec: spec, created: created, state: state, keys: dedup.New(spec.DedupWindow, spec.DedupMax)}
}

func (f *fsm) create(c *command, index uint64) result {
	if _, ok := f.rings[c.name]; ok {
		return result{err: fmt.Errorf("%w: %q", engine.ErrExists, c.name)}
	}
	r := newRing(c.spec, index, engine.StateCreated)
	if c.start {
		r.state = engine.StateRunning
	}
	local, err := f.createLocal(c.spec.Config, index)
	if err != nil {
		return result{err: err}
	}
	r.local = local
	// The catalog records the ring once its local copy is in the
	// replicated state, so a reader of the catalog never sees a started
	// ring that is not running yet.
	err = f.converge(r)
	f.record(c.name, r)
	if err != nil {
		return result{err: err}
	}
	return result{}
}

func (f *fsm) delete(c *command) result {
	r, err := f.target(c)
	if err != nil {
		return result{err: err}
	}
	// The catalog lets go of the name once the engine's ring is gone, so
	// the name is never free in one and taken in the other.
	if err := f.local("delete", c.name, func() error { return r.local.Delete(f.ctx) }); err != nil && !errors.Is(err, engine.ErrNotFound) {
		f.log.Warn("replication: deleting the local ring", "disruptor", c.name, "err", err)
	}
	f.record(c.name, nil)
	return result{}
}

func (f *fsm) setState(c *command) result {
	r, err := f.target(c)
	if err != nil {
		return result{err: err}
	}
	if c.state == engine.StateDeleted || !r.state.CanTransition(c.state) {
		return result{err: &engine.TransitionError{Disruptor: c.name, From: r.state, To: c.state}}
	}
	f.mu.Lock()
	r.state = c.state
	f.mu.Unlock()
	if err := f.converge(r); err != nil {
		return result{err: err}
	}
	return result{}
}

// precheck refuses, on the leader before anything is proposed, a publish
// that the state machine would refuse on every node as it stands: to a
// ring the catalog lacks or (without an idempotency key, whose retry is
// answered even by a paused ring) that is not running, or a batch the
// ring's rules refuse. A refused batch so never costs a log entry
// (fsynced on a majority) nor a place in raft's log cache. The state may
// change before the entry is applied; the state machine decides again
// then.
func (f *fsm) precheck(name string, ring uint64, events []engine.Event, keyed bool) error {
	f.mu.RLock()
	r := f.rings[name]
	var st engine.State
	var local *engine.Ring
	if r != nil {
		st, local = r.state, r.local
	}
	f.mu.RUnlock()
	switch {
	case r == nil:
		return notReplicated(name)
	case !r.is(ring):
		return replaced(name)
	case st != engine.StateRunning && !keyed:
		return &engine.StateError{Disruptor: name, State: st}
	}
	return local.Validate(events)
}

// precheckState refuses a state change the replicated state does not
// allow, on the leader before anything is proposed; deleted (del) is
// checked for a delete only (the ring is there).
func (f *fsm) precheckState(name string, ring uint64, to engine.State, del bool) error {
	f.mu.RLock()
	r := f.rings[name]
	var st engine.State
	if r != nil {
		st = r.state
	}
	f.mu.RUnlock()
	switch {
	case r == nil:
		return notReplicated(name)
	case !r.is(ring):
		return replaced(name)
	case del:
		return nil
	case to == engine.StateDeleted || !st.CanTransition(to):
		return &engine.TransitionError{Disruptor: name, From: st, To: to}
	}
	return nil
}

// RingInfo is what the catalog records of a replicated disruptor.
type RingInfo struct {
	// Config is the disruptor's configuration with the defaults resolved
	// by the leader that created it.
	Config engine.DisruptorConfig
	// State is its replicated lifecycle state.
	State engine.State
}

// lookup returns the catalog's record of name.
func (f *fsm) lookup(name string) (RingInfo, bool) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	r, ok := f.rings[name]
	if !ok {
		return RingInfo{}, false
	}
	return RingInfo{Config: r.spec.Config, State: r.state}, true
}

// catalog returns every replicated disruptor, sorted by name.
func (f *fsm) catalog() []RingInfo {
	f.mu.RLock()
	out := make([]RingInfo, 0, len(f.rings))
	for _, r := range f.rings {
		out = append(out, RingInfo{Config: r.spec.Config, State: r.state})
	}
	f.mu.RUnlock()
	slices.SortFunc(out, func(a, b RingInfo) int { return strings.Compare(a.Config.Name, b.Config.Name) })
	return out
}
