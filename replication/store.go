package replication

import (
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/hashicorp/raft"
	raftboltdb "github.com/hashicorp/raft-boltdb/v2"
)

// A restarted node serves its replicated rings as they were when it
// stopped, at once, not as of its last snapshot once the leader reaches it.
//
// # How
//
// The node saves the index of the last entry its state machine applied
// (appliedKey in the stable store) every appliedSaveInterval when it
// moved, and when it closes. At start, before raft runs, it restores the
// newest snapshot into the state machine itself and applies the log
// entries after it up to the saved index: entries it had applied before,
// which were committed, so applying them again only rebuilds what the
// engine held (it is in memory, and started empty). Raft is told not to
// restore the snapshot itself (NoSnapshotRestoreOnStart): it takes the
// snapshot's index as its applied index, scans the log after it for the
// membership, and, as the leader's commit index arrives, hands the state
// machine the entries after the snapshot again; the state machine skips
// those it applied already (index ≤ its applied index), and goes on.
//
// An index saved late is only older: fewer entries are applied at start,
// and the rest come from raft as before. An entry this node applied only
// in part (it was closing) is not counted as applied.
//
// The replay runs on its own goroutine and New waits for it, so that the
// node serves its rings as they were once New returns; but a local
// condition the replay has to wait out (a local disruptor holding a
// replicated one's name, as at any other time) does not keep the server
// from starting: New returns once the state machine says it is stalled,
// and the replay finishes when the condition clears. The state machine
// takes raft's entries once the replay is done.
//
// Raft v1.8's own way (RestoreCommittedLogs, with a commit-tracking log
// store) is not used: it replays inside NewRaft into a channel nothing
// reads yet (so a long replay never returns), and its membership scan
// then skips the configuration entries the replay covered (the node
// starts with an older membership, or none).

// appliedKey is where the stable store keeps the index of the last log
// entry the state machine applied in full.
var appliedKey = []byte("BadBatchApplied")

// appliedSaveInterval is how often a moved applied index is saved.
const appliedSaveInterval = 100 * time.Millisecond

// savedApplied returns the applied index saved in stable, 0 when none.
func savedApplied(stable raft.StableStore) (uint64, error) {
	v, err := stable.GetUint64(appliedKey)
	if errors.Is(err, raftboltdb.ErrKeyNotFound) {
		return 0, nil
	}
	return v, err
}

// appliedSaver saves the state machine's applied index.
type appliedSaver struct {
	stable raft.StableStore
	fsm    *fsm
	saved  uint64
	stop   chan struct{}
	done   chan struct{}
}

func startAppliedSaver(stable raft.StableStore, f *fsm, saved uint64) *appliedSaver {
	s := &appliedSaver{stable: stable, fsm: f, saved: saved, stop: make(chan struct{}), done: make(chan struct{})}
	go s.run()
	return s
}

func (s *appliedSaver) run() {
	defer close(s.done)
	t := time.NewTicker(appliedSaveInterval)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			_ = s.save()
		case <-s.stop:
			return
		}
	}
}

// save writes the applied index when it moved. Only run and close call
// it, one after the other.
func (s *appliedSaver) save() error {
	v := s.fsm.applied.Load()
	if v <= s.saved {
		return nil
	}
	if err := s.stable.SetUint64(appliedKey, v); err != nil {
		return err
	}
	s.saved = v
	return nil
}

// close stops the saver and saves the last index; call it after raft
// shut down (the state machine applies nothing more) and before the
// stable store closes.
func (s *appliedSaver) close() error {
	close(s.stop)
	<-s.done
	return s.save()
}

// startState is what a node restarting from its data directory brings
// its state machine back to: the newest snapshot, decoded, and the saved
// applied index.
type startState struct {
	snap      *snapshotState // nil without a snapshot
	snapIndex uint64
	applied   uint64
}

// loadStartState reads the newest snapshot (a snapshot that cannot be
// read or decoded is an error: the node does not start on an older state
// than the one it snapshotted) and the saved applied index.
func loadStartState(snaps raft.SnapshotStore, stable raft.StableStore) (startState, error) {
	var st startState
	applied, err := savedApplied(stable)
	if err != nil {
		return st, fmt.Errorf("replication: reading the applied index: %w", err)
	}
	st.applied = applied
	metas, err := snaps.List()
	if err != nil {
		return st, fmt.Errorf("replication: listing the snapshots: %w", err)
	}
	if len(metas) == 0 {
		return st, nil
	}
	meta, rc, err := snaps.Open(metas[0].ID)
	if err != nil {
		return st, fmt.Errorf("replication: opening snapshot %s: %w", metas[0].ID, err)
	}
	data, err := io.ReadAll(rc)
	_ = rc.Close()
	if err != nil {
		return st, fmt.Errorf("replication: reading snapshot %s: %w", meta.ID, err)
	}
	s, err := decodeSnapshot(data)
	if err != nil {
		return st, fmt.Errorf("replication: snapshot %s: %w", meta.ID, err)
	}
	if s.applied == 0 { // a version 1 snapshot says nothing: it is raft's index
		s.applied = meta.Index
	}
	st.snap, st.snapIndex = &s, meta.Index
	return st, nil
}

// replay brings the state machine back to st: the snapshot's state, then
// the log entries after it up to the saved applied index. It runs before
// the state machine takes raft's entries (it opens the gate when done),
// and stops early when the node closes.
func (f *fsm) replay(st startState, logs raft.LogStore) {
	defer close(f.ready)
	if st.snap != nil {
		f.install(st.snap)
	}
	var l raft.Log
	for i := f.applied.Load() + 1; i <= st.applied; i++ {
		if f.ctx.Err() != nil {
			return
		}
		if err := logs.GetLog(i, &l); err != nil {
			f.log.Warn("replication: the log ends before the index applied when this node stopped", "index", i, "applied", st.applied, "err", err)
			return
		}
		if l.Type == raft.LogCommand {
			f.applyLog(&l)
		}
	}
	if st.applied > 0 {
		f.log.Info("replication: restored the state applied before the restart", "snapshot_index", st.snapIndex, "applied_index", f.applied.Load())
	}
}
