package replication

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/hashicorp/raft"
)

// A node that closes in the middle of an entry (a command held up by a
// local condition when the node's context ends) applies nothing more:
// the entries raft still hands it are answered with an unknown outcome
// and leave the state and the applied index as they are, and no
// snapshot is taken of the half-applied state. Before, a later entry
// applied in full moved the applied index past the half-applied one, so
// a snapshot (or the saved applied index) claimed the whole entry while
// the rings held part of it: a node restored from that snapshot missed
// the rest of the entry's events.
func TestFSMStopsAtClose(t *testing.T) {
	eng := newTestEngine(t)
	t.Cleanup(func() { _ = eng.Close(context.Background()) })
	ctx, cancel := context.WithCancel(context.Background())
	f := &testFSM{fsm: newFSM(ctx, eng, discardLogger), eng: eng}
	f.applyAt(t, 1, createCmd("a", 16, true), createCmd("b", 16, true))
	f.setFault(func(op, name string) error {
		if op == "publish" && name == "b" {
			return errLocal // held up until the node closes
		}
		return nil
	})
	done := make(chan []result, 1)
	go func() { done <- f.applyAt(t, 2, pubCmd("a", "", `"a1"`), pubCmd("b", "", `"b1"`)) }()
	waitFor(t, 10*time.Second, "the FSM to stall on b", f.stalled.Load)
	cancel()
	res := <-done
	if res[0].err != nil || !errors.Is(res[1].err, ErrOutcomeUnknown) {
		t.Fatalf("the entry cut short: %s", resultString(res))
	}
	halfApplied := f.index
	out := f.Apply(&raft.Log{Index: halfApplied + 1, Type: raft.LogCommand, Data: append(appendEntryHeader(nil, 3, 1), pubCmd("a", "", `"a2"`)...)})
	if err, ok := out.(error); !ok || !errors.Is(err, ErrOutcomeUnknown) {
		t.Fatalf("an entry after the node closed: %v, want an unknown outcome", out)
	}
	if got := f.applied.Load(); got >= halfApplied {
		t.Fatalf("applied index %d, past the half-applied entry %d", got, halfApplied)
	}
	if got := readAll(t, eng, "a"); len(got) != 1 {
		t.Fatalf("a holds %v after the node closed, want only the event of the half-applied entry", got)
	}
	if _, err := f.Snapshot(); err == nil {
		t.Fatal("a snapshot of a half-applied state was taken")
	}
}

// An entry this build cannot decode (written by a newer build during a
// rolling upgrade, or damaged) halts the state machine there: later
// entries are not applied, the applied index stays below it, the node
// reports itself stalled and takes no snapshot. Before, the entry was
// skipped and the applied index moved past it, so this replica differed
// from the others at every later sequence.
func TestFSMHaltsAtUndecodableEntry(t *testing.T) {
	f := newTestFSM(t)
	f.applyAt(t, 1, createCmd("a", 16, true))
	f.applyAt(t, 2, pubCmd("a", "", `"a1"`))
	before := f.applied.Load()
	bad := f.index + 1
	out := f.Apply(&raft.Log{Index: bad, Type: raft.LogCommand, Data: []byte{0xff, 0xfe, 0xfd}})
	if err, ok := out.(error); !ok || !errors.Is(err, ErrCorrupt) {
		t.Fatalf("an undecodable entry: %v, want ErrCorrupt", out)
	}
	out = f.Apply(&raft.Log{Index: bad + 1, Type: raft.LogCommand, Data: append(appendEntryHeader(nil, 3, 1), pubCmd("a", "", `"a2"`)...)})
	if err, ok := out.(error); !ok || !errors.Is(err, ErrCorrupt) {
		t.Fatalf("an entry after the undecodable one: %v, want ErrCorrupt (halted)", out)
	}
	if got := f.applied.Load(); got != before {
		t.Fatalf("applied index %d, want %d (below the undecodable entry %d)", got, before, bad)
	}
	if got := readAll(t, f.eng, "a"); len(got) != 1 {
		t.Fatalf("a holds %v, want only the event before the undecodable entry", got)
	}
	if !f.stalled.Load() {
		t.Fatal("a halted state machine does not report itself stalled")
	}
	if _, err := f.Snapshot(); err == nil {
		t.Fatal("a snapshot was taken of a state that lacks an entry")
	}
}
