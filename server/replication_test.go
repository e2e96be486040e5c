package server

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/badbatch/badbatch/config"
	"github.com/badbatch/badbatch/internal/clustertest"
	"github.com/badbatch/badbatch/replication"
)

// replicaConfig returns the configuration of a clustered node with
// replication on loopback: Raft on a free port with data in dir, the
// replication package's loopback timings (somewhat slower, for three
// servers in one test process on a busy machine) and a short
// stabilization.
func replicaConfig(t *testing.T, id, dir string, bootstrap bool, seeds ...string) config.Config {
	cfg := clusterConfig(id, seeds...)
	rc := &cfg.Cluster.Replication
	lc := replication.LoopbackConfig(id, dir)
	lc.HeartbeatTimeout, lc.ElectionTimeout, lc.LeaderLeaseTimeout = 300*time.Millisecond, 300*time.Millisecond, 300*time.Millisecond
	rc.SetTimings(lc)
	rc.Enabled = true
	rc.RaftBindAddr = clustertest.FreeAddr(t)
	rc.DataDir = dir
	rc.Bootstrap = bootstrap
	rc.ServerStabilization = 300 * time.Millisecond
	return cfg
}

// servers returns the Raft configuration as s knows it, by id.
func servers(t *testing.T, s *Server) map[string]replication.Server {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	ss, err := s.repl.node.Servers(ctx)
	if err != nil {
		return nil
	}
	out := map[string]replication.Server{}
	for _, sv := range ss {
		out[sv.ID] = sv
	}
	return out
}

// voters reports whether s knows exactly the ids as voters.
func voters(t *testing.T, s *Server, ids ...string) bool {
	ss := servers(t, s)
	n := 0
	for _, sv := range ss {
		if !sv.Nonvoter {
			n++
		}
	}
	for _, id := range ids {
		if sv, ok := ss[id]; !ok || sv.Nonvoter {
			return false
		}
	}
	return n == len(ids)
}

// leaderOf returns the server leading the Raft group, or nil.
func leaderOf(ss ...*Server) *Server {
	for _, s := range ss {
		if s.repl.node.IsLeader() {
			return s
		}
	}
	return nil
}

// replicaGroup starts n servers with replication, n1 bootstrapping, and
// waits until every one is a voter.
func replicaGroup(t *testing.T, n int, edit func(*config.Config)) ([]*Server, []string) {
	t.Helper()
	var ss []*Server
	var dirs, ids []string
	for i := range n {
		id, dir := fmt.Sprintf("n%d", i+1), t.TempDir()
		var seeds []string
		if i > 0 {
			seeds = []string{ss[0].gossipAddr()}
		}
		cfg := replicaConfig(t, id, dir, i == 0, seeds...)
		if edit != nil {
			edit(&cfg)
		}
		ss = append(ss, startServer(t, cfg))
		dirs, ids = append(dirs, dir), append(ids, id)
	}
	clustertest.WaitFor(t, 60*time.Second, "every node to become a voter", func() bool {
		l := leaderOf(ss...)
		return l != nil && voters(t, l, ids...)
	})
	return ss, dirs
}

// publish publishes n events to the quorum disruptor name through s.
func publish(t *testing.T, c *http.Client, s *Server, name string, n int) {
	t.Helper()
	for i := range n {
		st, body := do(t, c, "POST", "http://"+s.Addr().String()+"/api/v1/disruptors/"+name+"/events", fmt.Sprintf(`{"events":[{"payload":{"i":%d}}]}`, i))
		if st != 200 {
			t.Fatalf("publish through %s: %d %s", s.member.node.ID(), st, body)
		}
	}
}

// latestOn returns the latest sequence of name in s's engine, -2 when it
// does not host it.
func latestOn(s *Server, name string) int64 {
	info, err := s.eng.Info(name)
	if err != nil {
		return -2
	}
	return info.Latest
}

// TestVoterReaddressed: a voter that comes back on another Raft address
// (same id and data, a new port: a rescheduled pod) is given that address
// in the Raft configuration by the leader, and catches up. Before, the
// leader kept dialling the old address and the voter never got another
// entry.
func TestVoterReaddressed(t *testing.T) {
	ss, dirs := replicaGroup(t, 3, nil)
	c := &http.Client{Timeout: 30 * time.Second}
	l := leaderOf(ss...)
	if st, body := do(t, c, "POST", "http://"+l.Addr().String()+"/api/v1/disruptors", `{"name":"q","replication":"quorum"}`); st != 201 {
		t.Fatalf("create: %d %s", st, body)
	}
	publish(t, c, l, "q", 10)
	var f *Server
	fi := 0
	for i, s := range ss {
		if s != l {
			f, fi = s, i
		}
	}
	old := servers(t, l)[f.member.node.ID()].Address
	_ = f.Close() // as a crash: it stays a voter for the grace period
	cfg := replicaConfig(t, f.member.node.ID(), dirs[fi], false, l.gossipAddr())
	if cfg.Cluster.Replication.RaftBindAddr == old {
		t.Fatal("the same port again")
	}
	back := startServer(t, cfg)
	clustertest.WaitFor(t, 30*time.Second, "the leader to re-address the returning voter", func() bool {
		sv, ok := servers(t, l)[back.member.node.ID()]
		return ok && !sv.Nonvoter && sv.Address == cfg.Cluster.Replication.RaftBindAddr
	})
	publish(t, c, l, "q", 10)
	clustertest.WaitFor(t, 30*time.Second, "the returning voter to hold every event", func() bool { return latestOn(back, "q") == 19 })
}

// TestLeaveHandsLeadershipOver: POST /api/v1/cluster/leave on the Raft
// leader hands the leadership to another voter first, as a shutdown does,
// and the new leader drops the node from the voters at once (not after
// the dead grace period, a minute here), so the quorum no longer counts
// it. Before, the node stayed leader until it stopped.
func TestLeaveHandsLeadershipOver(t *testing.T) {
	ss, _ := replicaGroup(t, 3, nil)
	c := &http.Client{Timeout: 30 * time.Second}
	l := leaderOf(ss...)
	start := time.Now()
	st, body := do(t, c, "POST", "http://"+l.Addr().String()+"/api/v1/cluster/leave", "")
	if st != 200 {
		t.Fatalf("leave: %d %s", st, body)
	}
	took := time.Since(start)
	var rest []*Server
	for _, s := range ss {
		if s != l {
			rest = append(rest, s)
		}
	}
	if l.repl.node.IsLeader() {
		t.Fatalf("the node that left still leads after its leave returned (%v); warnings: %s", took, body)
	}
	var nl *Server
	clustertest.WaitFor(t, 10*time.Second, "another node to lead", func() bool { nl = leaderOf(rest...); return nl != nil })
	leaderAt := time.Since(start)
	clustertest.WaitFor(t, 20*time.Second, "the new leader to drop the node that left from the voters", func() bool {
		return voters(t, nl, rest[0].member.node.ID(), rest[1].member.node.ID())
	})
	removedAt := time.Since(start)
	t.Logf("leave of the leader: answered in %v, new leader %s after %v, out of the voters after %v",
		took.Round(time.Millisecond), nl.member.node.ID(), leaderAt.Round(time.Millisecond), removedAt.Round(time.Millisecond))
	if strings.Contains(body, "handing the leadership over") {
		t.Errorf("leave warned about the handover: %s", body)
	}
	// The group goes on with the two others.
	if st, body := do(t, c, "POST", "http://"+nl.Addr().String()+"/api/v1/disruptors", `{"name":"after","replication":"quorum"}`); st != 201 {
		t.Fatalf("create after the leave: %d %s", st, body)
	}
}

// TestShutdownDropsVoter: a voter that shuts down gracefully (SIGTERM) is
// dropped from the voters by the leader at once, not after the dead grace
// period.
func TestShutdownDropsVoter(t *testing.T) {
	ss, _ := replicaGroup(t, 3, nil)
	l := leaderOf(ss...)
	var f *Server
	var keep []string
	for _, s := range ss {
		if s != l && f == nil {
			f = s
			continue
		}
		keep = append(keep, s.member.node.ID())
	}
	start := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := f.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	clustertest.WaitFor(t, 20*time.Second, "the leader to drop the voter that shut down", func() bool { return voters(t, l, keep...) })
	t.Logf("a follower's graceful shutdown: out of the voters %v after it began", time.Since(start).Round(time.Millisecond))
}
