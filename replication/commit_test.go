package replication

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/hashicorp/raft"

	"github.com/badbatch/badbatch/engine"
)

// A node whose log ends with entries that were never committed (it led
// a term and appended them, then lost the leadership before they
// reached a majority) never applies them, whatever the next leader's
// AppendEntries say: an AppendEntries whose previous entry matches but
// whose entries stop short of the stale ones (here none at all), with a
// commit index past them, must not commit the stale entries.
// hashicorp/raft's follower sets its commit index to min(leader commit,
// its own last index), which covers such a stale tail; the node takes
// the commit index of each AppendEntries only as far as the entries it
// verified (the Raft paper's rule: min(leaderCommit, index of last new
// entry)).
//
// Seen in TestRepeatedLeaderKills: a killed leader restarted with one
// uncommitted entry at the end of its log applied it, so its ring held
// that batch, and the batch the next leader had committed at that index
// never; two replicas then held different events at the same sequences.
func TestFollowerNeverAppliesStaleTail(t *testing.T) {
	eng := newTestEngine(t)
	t.Cleanup(func() { _ = eng.Close(context.Background()) })
	nAddr, nTr := raft.NewInmemTransport("n")
	lAddr, lTr := raft.NewInmemTransport("L")
	lTr.Connect(nAddr, nTr) // the node cannot reach the leader: it only follows
	cfg := testConfig("n", t.TempDir())
	cfg.HeartbeatTimeout, cfg.ElectionTimeout, cfg.LeaderLeaseTimeout = 2*time.Second, 2*time.Second, time.Second
	cfg.Bootstrap = []Server{{ID: "n", Address: string(nAddr)}, {ID: "L", Address: string(lAddr)}}
	n, err := New(cfg, eng, WithTransport(nTr))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = n.Close() })

	entry := func(index, term uint64, cmds ...[]byte) *raft.Log {
		data := appendEntryHeader(nil, int64(index)*int64(time.Millisecond), len(cmds))
		for _, c := range cmds {
			data = append(data, c...)
		}
		return &raft.Log{Index: index, Term: term, Type: raft.LogCommand, Data: data}
	}
	send := func(term, prev, prevTerm, commit uint64, entries ...*raft.Log) {
		t.Helper()
		req := &raft.AppendEntriesRequest{
			RPCHeader: raft.RPCHeader{ProtocolVersion: raft.ProtocolVersionMax, ID: []byte("L"), Addr: []byte(lAddr)},
			Term:      term, PrevLogEntry: prev, PrevLogTerm: prevTerm,
			Entries: entries, LeaderCommitIndex: commit,
		}
		var resp raft.AppendEntriesResponse
		if err := lTr.AppendEntries("n", nAddr, req, &resp); err != nil || !resp.Success {
			t.Fatalf("AppendEntries term %d prev %d/%d: %+v %v", term, prev, prevTerm, resp, err)
		}
	}
	const old, next = 5, 6 // the terms of the leader that lost its entry, and of the next one
	// Index 1 is the bootstrap configuration (term 1).
	send(old, 1, 1, 2,
		entry(2, old, createCmd("q", 16, true)),
		entry(3, old, pubCmd("q", "", `"a"`)),
		entry(4, old, pubCmd("q", "", `"stale"`)))
	waitFor(t, 5*time.Second, "the create applied", func() bool { return n.AppliedIndex() >= 2 })
	// The next leader holds 1–3 and its own entry at 4: a probe at its
	// entry 3, with its commit index at 4, then the entry.
	send(next, 3, old, 4)
	send(next, 3, old, 4, entry(4, next, pubCmd("q", "", `"b"`)))
	waitFor(t, 5*time.Second, "index 4 applied", func() bool { return n.AppliedIndex() >= 4 })
	var rec engine.Records
	if _, err := eng.Read("q", 0, 10, &rec); err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range rec.Events {
		got = append(got, string(e.Payload))
	}
	if want := []string{`"a"`, `"b"`}; !slices.Equal(got, want) {
		t.Fatalf("q holds %v, want %v: an entry that was never committed was applied", got, want)
	}
}
