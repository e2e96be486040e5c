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
)

// ring is a replicated disruptor as the catalog records it.
type ring struct {
	spec  ringSpec
	state engine.State // the replicated state; the local engine follows it
	dedup *dedupTable
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
// disruptors, their idempotency tables, and (through the engine's one
// publish path) their rings. Raft calls Apply, Snapshot and Restore from
// one goroutine; nothing else writes, so applying the same entries in the
// same order gives every node the same catalog, keys and sequences.
//
// The FSM never skips a committed command. Errors that depend only on
// replicated state and the command (a validation error, a reused key, a
// refused transition) are its result on every node alike. Conditions
// local to one node that would make it diverge (a full ring, a local
// disruptor holding the name, the engine's disruptor limit) are waited
// out: the FSM retries, logs, and reports itself stalled until they
// clear or the node closes.
type fsm struct {
	eng *engine.Engine
	log *slog.Logger
	// ctx ends when the node closes, ending the engine calls and retries
	// in progress.
	ctx context.Context

	// mu guards the rings map and each ring's state for readers on other
	// goroutines; the FSM goroutine reads without it.
	mu    sync.RWMutex
	rings map[string]*ring
	// last is the time of the last entry applied (Unix ns). An entry's time
	// is raised to it, so log time never goes back across leaders with
	// different clocks.
	last int64

	stalled  atomic.Bool  // a committed entry waits for a local condition
	restores atomic.Int64 // snapshots restored
}

var _ raft.FSM = (*fsm)(nil)

func newFSM(ctx context.Context, eng *engine.Engine, log *slog.Logger) *fsm {
	return &fsm{eng: eng, log: log, ctx: ctx, rings: make(map[string]*ring)}
}

// Apply implements [raft.FSM]: it applies one committed entry and returns
// its []result (or an error for an entry it cannot decode), which the
// leader hands to the proposers.
func (f *fsm) Apply(l *raft.Log) any {
	if l.Type != raft.LogCommand {
		return nil
	}
	e, err := decodeEntry(l.Data)
	if err != nil {
		f.log.Error("replication: cannot decode log entry", "index", l.Index, "err", err)
		return err
	}
	return f.apply(e)
}

// apply applies a decoded entry.
func (f *fsm) apply(e entry) []result {
	t := max(e.time, f.last)
	f.last = t
	res := make([]result, len(e.cmds))
	for i := range e.cmds {
		c := &e.cmds[i]
		switch c.op {
		case opPublish:
			res[i] = f.publish(c, t)
		case opCreate:
			res[i] = f.create(c)
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

func (f *fsm) publish(c *command, t int64) result {
	r := f.rings[c.name]
	if r == nil {
		return result{err: notReplicated(c.name)}
	}
	var hash uint64
	if c.key != "" {
		hash = batchHash(c.events)
		if d := r.dedup.lookup(c.key, t); d != nil {
			if d.hash != hash || d.count != len(c.events) {
				return result{err: fmt.Errorf("%w: key %q", engine.ErrKeyReused, c.key)}
			}
			return result{first: d.first, count: d.count, duplicate: true}
		}
	}
	first, err := f.publishEvents(c.name, c.events, t)
	if err != nil {
		return result{err: err}
	}
	if c.key != "" {
		r.dedup.add(&dedupEntry{key: c.key, hash: hash, count: len(c.events), first: first, at: t})
	}
	return result{first: first, count: len(c.events)}
}

// publishEvents publishes events at time t through the engine and returns
// the first sequence. A full ring is waited out: its consumers are the
// engine's own, which never block, so room comes back.
func (f *fsm) publishEvents(name string, events []engine.Event, t int64) (int64, error) {
	b := engine.Batch{Events: events, Time: time.Unix(0, t)}
	for attempt := 0; ; attempt++ {
		seqs, err := f.eng.Publish(f.ctx, name, &b)
		if err == nil {
			f.stalled.Store(false)
			return seqs[0], nil
		}
		if f.ctx.Err() != nil {
			return 0, errClosing
		}
		if !errors.Is(err, engine.ErrRingFull) {
			return 0, err
		}
		if !f.backoff(attempt, "ring full", name, err) {
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

// createLocal creates the disruptor in the local engine and records r in
// the catalog, waiting out a local disruptor holding the name or the
// engine's limit.
//
// The catalog records the ring just before each attempt to create it, so
// that a server never takes the engine's new ring for a local one (and
// publishes to it without Raft) while it is being created; and not while
// a local disruptor holds the name, so that the operator can still reach
// (and delete) that one through the API to let the create through. After
// an error other than those two, r stays recorded: the error is the
// command's on every node alike.
func (f *fsm) createLocal(cfg engine.DisruptorConfig, start bool, r *ring) error {
	for attempt := 0; ; attempt++ {
		_, err := f.eng.Info(cfg.Name)
		if err != nil {
			f.record(cfg.Name, r)
			_, err = f.eng.Create(cfg, start)
			if err == nil {
				f.stalled.Store(false)
				return nil
			}
			if !errors.Is(err, engine.ErrExists) && !errors.Is(err, engine.ErrLimitReached) {
				return err
			}
			f.record(cfg.Name, nil)
		} else {
			err = fmt.Errorf("%w: %q is a local disruptor on this node", engine.ErrExists, cfg.Name)
		}
		if !f.backoff(attempt, "cannot create the replicated disruptor locally", cfg.Name, err) {
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

func (f *fsm) create(c *command) result {
	if _, ok := f.rings[c.name]; ok {
		return result{err: fmt.Errorf("%w: %q", engine.ErrExists, c.name)}
	}
	r := &ring{spec: c.spec, state: engine.StateCreated, dedup: newDedupTable(int64(c.spec.DedupWindow), c.spec.DedupMax)}
	if c.start {
		r.state = engine.StateRunning
	}
	if err := f.createLocal(c.spec.Config, c.start, r); err != nil {
		f.record(c.name, nil) // on every node, or this one is closing
		return result{err: err}
	}
	return result{}
}

func (f *fsm) delete(c *command) result {
	if _, ok := f.rings[c.name]; !ok {
		return result{err: notReplicated(c.name)}
	}
	// The engine's ring goes first, for the reason create adds to the
	// catalog first.
	if err := f.eng.Delete(f.ctx, c.name); err != nil && !errors.Is(err, engine.ErrNotFound) {
		f.log.Warn("replication: deleting the local ring", "disruptor", c.name, "err", err)
	}
	f.record(c.name, nil)
	return result{}
}

func (f *fsm) setState(c *command) result {
	r := f.rings[c.name]
	if r == nil {
		return result{err: notReplicated(c.name)}
	}
	if c.state == engine.StateDeleted || !r.state.CanTransition(c.state) {
		return result{err: &engine.TransitionError{Disruptor: c.name, From: r.state, To: c.state}}
	}
	f.mu.Lock()
	r.state = c.state
	f.mu.Unlock()
	if _, err := f.eng.SetState(f.ctx, c.name, c.state); err != nil {
		f.log.Warn("replication: changing the local ring's state", "disruptor", c.name, "to", c.state, "err", err)
	}
	return result{}
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
