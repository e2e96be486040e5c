package server

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/badbatch/badbatch/cluster"
	"github.com/badbatch/badbatch/replication"
)

// The autopilot's table: each case is a sequence of observations by the
// leader n1 (the same Autopilot stepping through them, as the driver does
// within one leadership) and the changes each must produce, written
// "kind id" or "kind id at addr".

var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func pilotConfig() AutopilotConfig {
	return AutopilotConfig{Self: "n1", MaxVoters: 3, DeadGrace: time.Minute, Stabilization: 5 * time.Second, MaxContactAge: 2 * time.Second}
}

// gm is an alive, ready gossip member gossiping the Raft address (none
// when addr is ""); edits change it.
func gm(id, addr string, edits ...func(*cluster.Member)) cluster.Member {
	m := cluster.Member{ID: id, State: cluster.StateAlive, Local: id == "n1",
		Meta: cluster.Meta{State: cluster.NodeReady, APIAddr: "127.0.0.1:1", Tags: map[string]string{}}}
	if addr != "" {
		m.Tags[raftAddrTag] = addr
	}
	for _, e := range edits {
		e(&m)
	}
	return m
}

func inState(s cluster.MemberState) func(*cluster.Member) {
	return func(m *cluster.Member) { m.State = s }
}

func nodeState(s cluster.NodeState) func(*cluster.Member) {
	return func(m *cluster.Member) { m.Meta.State = s }
}

func tag(k, v string) func(*cluster.Member) {
	return func(m *cluster.Member) { m.Tags[k] = v }
}

func voter(id, addr string) replication.Server { return replication.Server{ID: id, Address: addr} }
func nonvoter(id, addr string) replication.Server {
	return replication.Server{ID: id, Address: addr, Nonvoter: true}
}

// acked is the leader's account of a follower: it holds the log up to
// match, and answered ago before the observation.
type acked struct {
	match uint64
	ago   time.Duration
}

type pilotStep struct {
	at       time.Duration // after t0
	members  []cluster.Member
	servers  []replication.Server
	progress map[string]acked
	last     uint64 // the leader's last log index
	want     []string
}

func (s pilotStep) observation() Observation {
	now := t0.Add(s.at)
	o := Observation{Now: now, Members: s.members, Servers: s.servers, LastIndex: s.last, Progress: map[string]replication.Progress{}}
	for id, a := range s.progress {
		o.Progress[id] = replication.Progress{Match: a.match, Term: 2, LastContact: now.Add(-a.ago)}
	}
	return o
}

func changeStrings(cs []Change) []string {
	out := []string{}
	for _, c := range cs {
		s := c.Kind.String() + " " + c.ID
		if c.Addr != "" {
			s += " at " + c.Addr
		}
		out = append(out, s)
	}
	return out
}

func TestAutopilotStep(t *testing.T) {
	leader := gm("n1", "a1")
	three := []replication.Server{voter("n1", "a1"), voter("n2", "a2"), voter("n3", "a3")}
	alive3 := []cluster.Member{leader, gm("n2", "a2"), gm("n3", "a3")}
	cases := []struct {
		name  string
		cfg   func(*AutopilotConfig)
		steps []pilotStep
	}{
		{name: "a member joins with a Raft address: added as a non-voter",
			steps: []pilotStep{{members: []cluster.Member{leader, gm("n2", "a2")}, servers: []replication.Server{voter("n1", "a1")},
				want: []string{"add_nonvoter n2 at a2"}}}},
		{name: "a member without a Raft address (replication off there) is left alone",
			steps: []pilotStep{{members: []cluster.Member{leader, gm("n2", "")}, servers: []replication.Server{voter("n1", "a1")}}}},
		{name: "a starting or suspect member is not added yet",
			steps: []pilotStep{{members: []cluster.Member{leader, gm("n2", "a2", inState(cluster.StateSuspect)), gm("n3", "a3", nodeState(cluster.NodeLeaving))},
				servers: []replication.Server{voter("n1", "a1")}}}},
		{name: "a caught-up non-voter is promoted after the stabilization time, not before",
			steps: []pilotStep{
				{members: []cluster.Member{leader, gm("n2", "a2")}, servers: []replication.Server{voter("n1", "a1"), nonvoter("n2", "a2")},
					progress: map[string]acked{"n2": {100, 0}}, last: 100},
				{at: 4 * time.Second, members: []cluster.Member{leader, gm("n2", "a2")}, servers: []replication.Server{voter("n1", "a1"), nonvoter("n2", "a2")},
					progress: map[string]acked{"n2": {150, 0}}, last: 180},
				{at: 5 * time.Second, members: []cluster.Member{leader, gm("n2", "a2")}, servers: []replication.Server{voter("n1", "a1"), nonvoter("n2", "a2")},
					progress: map[string]acked{"n2": {150, 0}}, last: 200, want: []string{"promote n2 at a2"}},
			}},
		{name: "a lagging non-voter (below the leader's index when it joined) is not promoted",
			steps: []pilotStep{
				{members: []cluster.Member{leader, gm("n2", "a2")}, servers: []replication.Server{voter("n1", "a1"), nonvoter("n2", "a2")}, last: 100},
				{at: time.Hour, members: []cluster.Member{leader, gm("n2", "a2")}, servers: []replication.Server{voter("n1", "a1"), nonvoter("n2", "a2")},
					progress: map[string]acked{"n2": {99, 0}}, last: 5000},
				{at: time.Hour + time.Second, members: []cluster.Member{leader, gm("n2", "a2")}, servers: []replication.Server{voter("n1", "a1"), nonvoter("n2", "a2")},
					progress: map[string]acked{"n2": {100, 0}}, last: 5100, want: []string{"promote n2 at a2"}},
			}},
		{name: "a non-voter that stopped answering the leader is not promoted",
			steps: []pilotStep{
				{members: []cluster.Member{leader, gm("n2", "a2")}, servers: []replication.Server{voter("n1", "a1"), nonvoter("n2", "a2")}, last: 10},
				{at: time.Minute, members: []cluster.Member{leader, gm("n2", "a2")}, servers: []replication.Server{voter("n1", "a1"), nonvoter("n2", "a2")},
					progress: map[string]acked{"n2": {10, 3 * time.Second}}, last: 10},
			}},
		{name: "a rogue member gossiping a forged progress tag is never promoted",
			steps: []pilotStep{
				{members: []cluster.Member{leader, gm("rogue", "ar", tag("raft_applied", "18446744073709551615"))},
					servers: []replication.Server{voter("n1", "a1"), nonvoter("rogue", "ar")}, last: 10},
				{at: 24 * time.Hour, members: []cluster.Member{leader, gm("rogue", "ar", tag("raft_applied", "18446744073709551615"))},
					servers: []replication.Server{voter("n1", "a1"), nonvoter("rogue", "ar")}, last: 20},
			}},
		{name: "at max_voters a caught-up non-voter stays one",
			steps: []pilotStep{
				{members: append(alive3[:3:3], gm("n4", "a4")), servers: append(three[:3:3], nonvoter("n4", "a4")), last: 10},
				{at: time.Minute, members: append(alive3[:3:3], gm("n4", "a4")), servers: append(three[:3:3], nonvoter("n4", "a4")),
					progress: map[string]acked{"n2": {10, 0}, "n3": {10, 0}, "n4": {10, 0}}, last: 10},
			}},
		{name: "one free voter place goes to one non-voter, by id",
			steps: []pilotStep{
				{members: []cluster.Member{leader, gm("n2", "a2"), gm("n3", "a3"), gm("n4", "a4")},
					servers: []replication.Server{voter("n1", "a1"), voter("n2", "a2"), nonvoter("n3", "a3"), nonvoter("n4", "a4")}, last: 10},
				{at: time.Minute, members: []cluster.Member{leader, gm("n2", "a2"), gm("n3", "a3"), gm("n4", "a4")},
					servers:  []replication.Server{voter("n1", "a1"), voter("n2", "a2"), nonvoter("n3", "a3"), nonvoter("n4", "a4")},
					progress: map[string]acked{"n2": {10, 0}, "n3": {10, 0}, "n4": {10, 0}}, last: 10, want: []string{"promote n3 at a3"}},
			}},
		{name: "too many voters: the dead one, then the least replicated, are demoted, never the leader",
			steps: []pilotStep{{
				members:  []cluster.Member{leader, gm("n2", "a2"), gm("n3", "a3"), gm("n4", "a4"), gm("n5", "a5", inState(cluster.StateSuspect))},
				servers:  []replication.Server{voter("n1", "a1"), voter("n2", "a2"), voter("n3", "a3"), voter("n4", "a4"), voter("n5", "a5")},
				progress: map[string]acked{"n2": {90, 0}, "n3": {50, 0}, "n4": {99, 0}, "n5": {100, 0}}, last: 100,
				want: []string{"demote n5", "demote n3"}}}},
		{name: "a voter that left is removed at once",
			steps: []pilotStep{{members: []cluster.Member{leader, gm("n2", "a2"), gm("n3", "a3", inState(cluster.StateLeft), nodeState(cluster.NodeLeaving))},
				servers: three, want: []string{"remove n3"}}}},
		{name: "a voter announcing it leaves is removed before memberlist counts it out",
			steps: []pilotStep{{members: []cluster.Member{leader, gm("n2", "a2"), gm("n3", "a3", nodeState(cluster.NodeLeaving))},
				servers: three, want: []string{"remove n3"}}}},
		{name: "a dead voter is removed after the grace period, not before",
			steps: []pilotStep{
				{members: []cluster.Member{leader, gm("n2", "a2"), gm("n3", "a3", inState(cluster.StateDead))}, servers: three},
				{at: 59 * time.Second, members: []cluster.Member{leader, gm("n2", "a2"), gm("n3", "a3", inState(cluster.StateDead))}, servers: three},
				{at: time.Minute, members: []cluster.Member{leader, gm("n2", "a2"), gm("n3", "a3", inState(cluster.StateDead))}, servers: three,
					want: []string{"remove n3"}},
			}},
		{name: "a server back alive before the grace period starts its count again",
			steps: []pilotStep{
				{members: []cluster.Member{leader, gm("n2", "a2"), gm("n3", "a3", inState(cluster.StateSuspect))}, servers: three},
				{at: 30 * time.Second, members: alive3, servers: three},
				{at: 40 * time.Second, members: []cluster.Member{leader, gm("n2", "a2"), gm("n3", "a3", inState(cluster.StateDead))}, servers: three},
				{at: 90 * time.Second, members: []cluster.Member{leader, gm("n2", "a2"), gm("n3", "a3", inState(cluster.StateDead))}, servers: three},
				{at: 100 * time.Second, members: []cluster.Member{leader, gm("n2", "a2"), gm("n3", "a3", inState(cluster.StateDead))}, servers: three,
					want: []string{"remove n3"}},
			}},
		{name: "a server forgotten by the cluster is removed after the grace period",
			steps: []pilotStep{
				{members: []cluster.Member{leader, gm("n2", "a2")}, servers: three},
				{at: time.Minute, members: []cluster.Member{leader, gm("n2", "a2")}, servers: three, want: []string{"remove n3"}},
			}},
		{name: "a voter gossiping a new Raft address is re-addressed as a voter",
			steps: []pilotStep{{members: []cluster.Member{leader, gm("n2", "a2"), gm("n3", "b3")}, servers: three,
				want: []string{"readdress n3 at b3"}}}},
		{name: "a non-voter gossiping a new Raft address is re-addressed, and is not promoted in the same step",
			steps: []pilotStep{{members: []cluster.Member{leader, gm("n2", "b2")}, servers: []replication.Server{voter("n1", "a1"), nonvoter("n2", "a2")},
				want: []string{"readdress n2 at b2"}}}},
		{name: "the leader's own new address is put in the configuration",
			steps: []pilotStep{{members: []cluster.Member{gm("n1", "b1"), gm("n2", "a2"), gm("n3", "a3")}, servers: three,
				want: []string{"readdress n1 at b1"}}}},
		{name: "a dead member's old address is not taken for a new one",
			steps: []pilotStep{{members: []cluster.Member{leader, gm("n2", "a2"), gm("n3", "b3", inState(cluster.StateDead))}, servers: three}}},
		{name: "a removal frees the place a caught-up non-voter takes in the same step",
			steps: []pilotStep{
				{members: append(alive3[:3:3], gm("n4", "a4")), servers: append(three[:3:3], nonvoter("n4", "a4")), last: 10},
				{at: time.Minute, members: []cluster.Member{leader, gm("n2", "a2"), gm("n3", "a3", inState(cluster.StateLeft)), gm("n4", "a4")},
					servers: append(three[:3:3], nonvoter("n4", "a4")), progress: map[string]acked{"n4": {10, 0}}, last: 10,
					want: []string{"remove n3", "promote n4 at a4"}},
			}},
		{name: "a member that left and came back (restarted) joins again as a non-voter",
			steps: []pilotStep{
				{members: []cluster.Member{leader, gm("n2", "a2"), gm("n3", "a3", inState(cluster.StateLeft))}, servers: three, want: []string{"remove n3"}},
				{at: time.Second, members: []cluster.Member{leader, gm("n2", "a2"), gm("n3", "a3", inState(cluster.StateLeft))},
					servers: []replication.Server{voter("n1", "a1"), voter("n2", "a2")}},
				{at: 10 * time.Second, members: alive3, servers: []replication.Server{voter("n1", "a1"), voter("n2", "a2")}, want: []string{"add_nonvoter n3 at a3"}},
			}},
		{name: "a new leader finding a non-voter counts its stabilization from then",
			steps: []pilotStep{
				{members: []cluster.Member{leader, gm("n2", "a2")}, servers: []replication.Server{voter("n1", "a1"), nonvoter("n2", "a2")},
					progress: map[string]acked{"n2": {500, 0}}, last: 500},
				{at: 4 * time.Second, members: []cluster.Member{leader, gm("n2", "a2")}, servers: []replication.Server{voter("n1", "a1"), nonvoter("n2", "a2")},
					progress: map[string]acked{"n2": {500, 0}}, last: 500},
				{at: 5 * time.Second, members: []cluster.Member{leader, gm("n2", "a2")}, servers: []replication.Server{voter("n1", "a1"), nonvoter("n2", "a2")},
					progress: map[string]acked{"n2": {500, 0}}, last: 500, want: []string{"promote n2 at a2"}},
			}},
		{name: "a single-voter group promotes nobody",
			cfg: func(c *AutopilotConfig) { c.MaxVoters = 1 },
			steps: []pilotStep{
				{members: []cluster.Member{leader, gm("n2", "a2")}, servers: []replication.Server{voter("n1", "a1"), nonvoter("n2", "a2")}},
				{at: time.Hour, members: []cluster.Member{leader, gm("n2", "a2")}, servers: []replication.Server{voter("n1", "a1"), nonvoter("n2", "a2")},
					progress: map[string]acked{"n2": {0, 0}}},
			}},
		{name: "the leader is never removed, whatever it gossips",
			steps: []pilotStep{{members: []cluster.Member{gm("n1", "a1", nodeState(cluster.NodeLeaving)), gm("n2", "a2"), gm("n3", "a3")},
				servers: three}}},
	}
	if len(cases) < 15 {
		t.Fatalf("%d cases; the autopilot's table needs at least 15", len(cases))
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cfg := pilotConfig()
			if c.cfg != nil {
				c.cfg(&cfg)
			}
			a := NewAutopilot(cfg)
			for i, s := range c.steps {
				got := changeStrings(a.Step(s.observation()))
				want := s.want
				if want == nil {
					want = []string{}
				}
				if d := cmp.Diff(want, got); d != "" {
					t.Fatalf("step %d (t0+%v): changes (-want +got):\n%s", i, s.at, d)
				}
			}
		})
	}
}

// TestChangeString: the log names what changes and why.
func TestChangeString(t *testing.T) {
	c := Change{Kind: Promote, ID: "n2", Addr: "10.0.0.2:7947", Why: "caught up"}
	if got := c.String(); got != "promote n2 at 10.0.0.2:7947: caught up" {
		t.Errorf("String() = %q", got)
	}
	if got := ChangeKind(99).String(); !strings.HasPrefix(got, "ChangeKind(") {
		t.Errorf("unknown kind: %q", got)
	}
}
