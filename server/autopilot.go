package server

import (
	"cmp"
	"fmt"
	"slices"
	"time"

	"github.com/badbatch/badbatch/cluster"
	"github.com/badbatch/badbatch/replication"
)

// The voter autopilot's decisions: a deterministic core, as etcd's
// RawNode, that reads no clock and does no I/O. The driver (replicator)
// feeds it what the leader sees and applies what it returns.

// AutopilotConfig are the autopilot's rules.
type AutopilotConfig struct {
	// Self is the leader's own server id.
	Self string
	// MaxVoters is how many voters the group keeps (1, 3 or 5): members
	// beyond it stay non-voters, and voters beyond it are demoted.
	MaxVoters int
	// DeadGrace is how long a server may be missing from the gossip
	// cluster, or dead or suspect in it, before it is removed.
	DeadGrace time.Duration
	// Stabilization is how long a member stays a non-voter before it may
	// be promoted (and only once caught up).
	Stabilization time.Duration
	// MaxContactAge is how recent the follower's last successful answer
	// to the leader must be for it to be promoted.
	MaxContactAge time.Duration
}

// Observation is what the leader sees at one step.
type Observation struct {
	// Now is the time of the observation.
	Now time.Time
	// Members are the gossip members, the leader included (Local), as
	// its cluster node sees them.
	Members []cluster.Member
	// Servers is the Raft configuration.
	Servers []replication.Server
	// Progress is the leader's own account of each follower's
	// replication in its current term (replication.Node.FollowerProgress).
	Progress map[string]replication.Progress
	// LastIndex is the leader's last log index.
	LastIndex uint64
}

// ChangeKind is what a [Change] does to the Raft configuration.
type ChangeKind uint8

// The changes, in the order a step returns them.
const (
	// Remove takes a server out of the configuration.
	Remove ChangeKind = iota + 1
	// Readdress gives a server a new Raft address, keeping its suffrage.
	Readdress
	// AddNonvoter adds a member as a non-voter.
	AddNonvoter
	// Promote makes a caught-up non-voter a voter.
	Promote
	// Demote makes a voter beyond MaxVoters a non-voter.
	Demote
)

var changeNames = [...]string{"", "remove", "readdress", "add_nonvoter", "promote", "demote"}

func (k ChangeKind) String() string {
	if int(k) < len(changeNames) && k > 0 {
		return changeNames[k]
	}
	return fmt.Sprintf("ChangeKind(%d)", k)
}

// Change is one change of the Raft configuration the autopilot decided.
type Change struct {
	Kind ChangeKind
	// ID is the server's id; Addr its Raft address (for Readdress,
	// AddNonvoter and Promote); Voter, for Readdress, whether it is a
	// voter.
	ID    string
	Addr  string
	Voter bool
	// Why says what led to it, for the log.
	Why string
}

func (c Change) String() string {
	s := c.Kind.String() + " " + c.ID
	if c.Addr != "" {
		s += " at " + c.Addr
	}
	return s + ": " + c.Why
}

// Autopilot is the decision core: the rules and what it remembers
// between steps (since when each server has been gone, when each
// non-voter was first seen and the leader's last index then). Create it
// with [NewAutopilot] when a node becomes the leader, and drop it when it
// stops leading. It is not safe for concurrent use.
type Autopilot struct {
	cfg      AutopilotConfig
	gone     map[string]time.Time    // servers not alive in the cluster, since
	nonvoter map[string]nonvoterSeen // non-voters, since
}

// nonvoterSeen is when the leader first saw a member as a non-voter, and
// its own last log index then: the index the member's acknowledged log
// must reach for it to be promoted. Comparing with the leader's current
// index instead would never promote anyone under steady load.
type nonvoterSeen struct {
	since  time.Time
	target uint64
}

// NewAutopilot returns an autopilot with the rules and no memory.
func NewAutopilot(cfg AutopilotConfig) *Autopilot {
	return &Autopilot{cfg: cfg, gone: map[string]time.Time{}, nonvoter: map[string]nonvoterSeen{}}
}

// leaving reports whether a member has announced that it leaves: it left
// (memberlist's graceful leave) or says it is leaving.
func leaving(m cluster.Member) bool {
	return m.State == cluster.StateLeft || m.Meta.State == cluster.NodeLeaving
}

// Step decides the changes that make the Raft configuration follow the
// cluster, given what the leader observes now:
//
//   - a server whose member left, or announces it is leaving, is removed
//     at once: a node that leaves cleanly stops counting towards the
//     quorum; one missing from the cluster, dead or suspect for DeadGrace
//     is removed then;
//   - a server whose alive member gossips another Raft address is given
//     that address (its own included);
//   - an alive member that gossips a Raft address and is not a server is
//     added as a non-voter;
//   - a non-voter is promoted while there are fewer than MaxVoters
//     voters, once it has been one for Stabilization and the leader's own
//     account of its replication has reached the leader's last index of
//     the moment it was first seen as a non-voter, with a recent contact.
//     What a member gossips about itself plays no part;
//   - voters beyond MaxVoters are demoted, the least useful first (not
//     alive, then the least replicated), never the leader.
//
// Removals come first (they may free a voter's place), then new
// addresses, additions, promotions and demotions; within each kind, by
// id. The caller applies them in order and stops at the first that
// fails; the next step decides again from what it then sees.
func (a *Autopilot) Step(o Observation) []Change {
	members := make(map[string]cluster.Member, len(o.Members))
	for _, m := range o.Members {
		members[m.ID] = m
	}
	servers := slices.Clone(o.Servers)
	slices.SortFunc(servers, func(x, y replication.Server) int { return cmp.Compare(x.ID, y.ID) })
	inRaft := make(map[string]replication.Server, len(servers))
	voters := 0
	for _, s := range servers {
		inRaft[s.ID] = s
		if !s.Nonvoter {
			voters++
		}
	}
	// Forget what no longer applies.
	for id := range a.nonvoter {
		if s, ok := inRaft[id]; !ok || !s.Nonvoter {
			delete(a.nonvoter, id)
		}
	}
	for id := range a.gone {
		if _, ok := inRaft[id]; !ok {
			delete(a.gone, id)
		}
	}

	var out []Change
	// Removals.
	for _, s := range servers {
		if s.ID == a.cfg.Self {
			continue
		}
		m, ok := members[s.ID]
		switch {
		case ok && leaving(m):
			out = append(out, Change{Kind: Remove, ID: s.ID, Why: "it left the cluster (" + m.State.String() + ", " + m.Meta.State.String() + ")"})
		case ok && m.State == cluster.StateAlive:
			delete(a.gone, s.ID)
			continue
		default:
			since, seen := a.gone[s.ID]
			if !seen {
				a.gone[s.ID], since = o.Now, o.Now
			}
			if o.Now.Sub(since) < a.cfg.DeadGrace {
				continue
			}
			state := "missing from the cluster"
			if ok {
				state = m.State.String()
			}
			out = append(out, Change{Kind: Remove, ID: s.ID, Why: fmt.Sprintf("%s for %v", state, o.Now.Sub(since).Round(time.Millisecond))})
		}
		delete(a.gone, s.ID)
		delete(a.nonvoter, s.ID)
		delete(inRaft, s.ID)
		if !s.Nonvoter {
			voters--
		}
	}
	// New addresses.
	for _, s := range servers {
		m, ok := members[s.ID]
		if _, still := inRaft[s.ID]; !still || !ok || m.State != cluster.StateAlive {
			continue
		}
		if addr := m.Tags[raftAddrTag]; addr != "" && addr != s.Address {
			out = append(out, Change{Kind: Readdress, ID: s.ID, Addr: addr, Voter: !s.Nonvoter,
				Why: "it gossips another Raft address than the configuration's " + s.Address})
			s.Address = addr
			inRaft[s.ID] = s
		}
	}
	// Additions and promotions, in id order.
	ids := make([]string, 0, len(members))
	for id := range members {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	var promote []Change
	for _, id := range ids {
		m := members[id]
		addr := m.Tags[raftAddrTag]
		if m.Local || id == a.cfg.Self || m.State != cluster.StateAlive || leaving(m) || addr == "" {
			continue
		}
		s, ok := inRaft[id]
		switch {
		case ok && !s.Nonvoter:
		case !ok:
			out = append(out, Change{Kind: AddNonvoter, ID: id, Addr: addr, Why: "a new member with a Raft address"})
			a.nonvoter[id] = nonvoterSeen{since: o.Now, target: o.LastIndex}
		default:
			seen, ok := a.nonvoter[id]
			if !ok {
				seen = nonvoterSeen{since: o.Now, target: o.LastIndex}
				a.nonvoter[id] = seen
			}
			if why, ok := a.promotable(seen, o.Progress[id], o.Now); ok {
				promote = append(promote, Change{Kind: Promote, ID: id, Addr: s.Address, Why: why})
			}
		}
	}
	for _, c := range promote {
		if voters >= a.cfg.MaxVoters {
			break
		}
		out = append(out, c)
		voters++
	}
	// Demotions, the least useful voter first.
	if excess := voters - a.cfg.MaxVoters; excess > 0 {
		var cands []replication.Server
		for _, s := range inRaft {
			if !s.Nonvoter && s.ID != a.cfg.Self {
				cands = append(cands, s)
			}
		}
		alive := func(id string) bool { m, ok := members[id]; return ok && m.State == cluster.StateAlive }
		slices.SortFunc(cands, func(x, y replication.Server) int {
			if ax, ay := alive(x.ID), alive(y.ID); ax != ay {
				if ax {
					return 1
				}
				return -1
			}
			if c := cmp.Compare(o.Progress[x.ID].Match, o.Progress[y.ID].Match); c != 0 {
				return c
			}
			return cmp.Compare(x.ID, y.ID)
		})
		for _, s := range cands[:min(excess, len(cands))] {
			out = append(out, Change{Kind: Demote, ID: s.ID, Why: fmt.Sprintf("%d voters, over max_voters %d", voters, a.cfg.MaxVoters)})
		}
	}
	return out
}

// promotable says whether a non-voter seen as seen, whose replication the
// leader accounts as p, may be promoted now, and why.
func (a *Autopilot) promotable(seen nonvoterSeen, p replication.Progress, now time.Time) (string, bool) {
	switch {
	case now.Sub(seen.since) < a.cfg.Stabilization:
		return "", false
	case p.Match < seen.target || p.LastContact.IsZero():
		return "", false
	case now.Sub(p.LastContact) > a.cfg.MaxContactAge:
		return "", false
	}
	return fmt.Sprintf("a non-voter for %v, holding the log up to %d (caught up to %d)",
		now.Sub(seen.since).Round(time.Millisecond), p.Match, seen.target), true
}
