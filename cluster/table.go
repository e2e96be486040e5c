package cluster

import (
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// MemberState is a member's state as this node sees it. Membership is
// eventually consistent: two nodes may disagree for a while (see the
// package documentation, "Member states").
type MemberState uint8

// The member states. The zero value is not a state a member is ever in.
const (
	// StateAlive: memberlist counts the member in and it answers probes.
	StateAlive MemberState = iota + 1
	// StateSuspect: memberlist still counts the member in, but it did not
	// answer this node's last check; it is either slow, cut off from this
	// node, or gone and about to be declared dead.
	StateSuspect
	// StateDead: memberlist declared the member failed: it did not refute
	// a suspicion in time.
	StateDead
	// StateLeft: the member left gracefully ([Node.Leave]).
	StateLeft
)

var memberStateNames = [...]string{"", "alive", "suspect", "dead", "left"}

// String returns "alive", "suspect", "dead", "left" or "unknown".
func (s MemberState) String() string {
	if s != 0 && int(s) < len(memberStateNames) {
		return memberStateNames[s]
	}
	return "unknown"
}

// MarshalText encodes the state as its name.
func (s MemberState) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// UnmarshalText decodes a state name.
func (s *MemberState) UnmarshalText(b []byte) error {
	for i, n := range memberStateNames {
		if i > 0 && strings.EqualFold(n, string(b)) {
			*s = MemberState(i)
			return nil
		}
	}
	return fmt.Errorf("cluster: unknown member state %q", b)
}

// Member is one node of the cluster as this node sees it. It is a copy:
// the caller owns it.
type Member struct {
	// ID is the node id (memberlist's node name).
	ID string `json:"id"`
	// Addr is the member's gossip address, host:port.
	Addr string `json:"gossip_addr"`
	// State is the member's state as this node sees it.
	State MemberState `json:"state"`
	// Since is when this node saw the member enter State.
	Since time.Time `json:"since"`
	// LastSeen is when this node last had a sign of life from it: a probe
	// answered, a join or metadata update. Zero for the local node.
	LastSeen time.Time `json:"last_seen,omitzero"`
	// RTT is the round trip of the last answered probe, when known.
	RTT time.Duration `json:"rtt_ns,omitempty"`
	// Local is true for the node itself.
	Local bool `json:"local"`
	// MetaError says why the member's metadata could not be decoded; Meta
	// is then empty and the member is never routed to.
	MetaError string `json:"meta_error,omitempty"`
	// Meta is what the member gossips about itself.
	Meta
}

// Routable reports whether requests may be sent to the member: alive, ready
// and with an API address.
func (m *Member) Routable() bool {
	return m.State == StateAlive && m.Meta.State == NodeReady && m.APIAddr != ""
}

// MemberEvent is a change of a member's state, as given to the observer of
// [WithObserver]. From is zero for a member seen for the first time.
type MemberEvent struct {
	Member Member      // the member after the change
	From   MemberState // the state before
	At     time.Time   // when this node saw the change
}

// nodeInfo is what memberlist says about a node, copied out of its
// callbacks.
type nodeInfo struct {
	name string
	addr string // host:port
	meta []byte
}

// table is the membership bookkeeping: the deterministic core behind
// [Node]. It turns memberlist's callbacks, probe acks and this package's
// check results into member states, and remembers dead and left members
// until they are forgotten. It runs no goroutines and reads no clock: the
// caller passes the time. Its methods are safe for concurrent use; each
// that changes a state returns the events to deliver.
type table struct {
	mu      sync.Mutex
	local   string
	members map[string]*entry
}

type entry struct {
	Member
	pinging bool // a check ping is in flight
}

func newTable(local string) *table {
	return &table{local: local, members: make(map[string]*entry)}
}

// setState moves e to s at now and returns the event, or nothing when the
// state does not change.
func (e *entry) setState(s MemberState, now time.Time, evs []MemberEvent) []MemberEvent {
	if e.State == s {
		return evs
	}
	from := e.State
	e.State = s
	e.Since = now
	return append(evs, MemberEvent{Member: e.snapshot(), From: from, At: now})
}

func (e *entry) snapshot() Member {
	m := e.Member
	m.Meta = m.Meta.clone()
	return m
}

// applyMeta decodes raw metadata into e.
func (e *entry) applyMeta(raw []byte) {
	meta, err := DecodeMeta(raw)
	if err != nil {
		e.Meta = Meta{Disruptors: []string{}}
		e.MetaError = err.Error()
		return
	}
	e.Meta = meta
	e.MetaError = ""
}

// join records that memberlist counts the node in (a join, or a node
// coming back from dead or left).
func (t *table) join(n nodeInfo, now time.Time) []MemberEvent {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.aliveLocked(n, now)
}

// update records new metadata or a new address for a node memberlist
// counts in. An update is a sign of life: the node sent it.
func (t *table) update(n nodeInfo, now time.Time) []MemberEvent {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.aliveLocked(n, now)
}

// aliveLocked records a node memberlist counts in, with its latest address
// and metadata.
func (t *table) aliveLocked(n nodeInfo, now time.Time) []MemberEvent {
	e, ok := t.members[n.name]
	if !ok {
		e = &entry{Member: Member{ID: n.name, Local: n.name == t.local}}
		t.members[n.name] = e
	}
	e.Addr = n.addr
	e.applyMeta(n.meta)
	if !e.Local {
		e.LastSeen = now
	}
	return e.setState(StateAlive, now, nil)
}

// leave records that memberlist counts the node out. It left if the last
// metadata it gossiped said it was leaving, else it died.
func (t *table) leave(n nodeInfo, now time.Time) []MemberEvent {
	t.mu.Lock()
	defer t.mu.Unlock()
	e, ok := t.members[n.name]
	if !ok {
		e = &entry{Member: Member{ID: n.name, Addr: n.addr, Local: n.name == t.local}}
		t.members[n.name] = e
	}
	if len(n.meta) > 0 {
		e.applyMeta(n.meta)
	}
	s := StateDead
	if e.Meta.State == NodeLeaving {
		s = StateLeft
	}
	return e.setState(s, now, nil)
}

// ack records an answered probe or check ping.
func (t *table) ack(name string, rtt time.Duration, now time.Time) []MemberEvent {
	t.mu.Lock()
	defer t.mu.Unlock()
	e, ok := t.members[name]
	if !ok || e.Local {
		return nil
	}
	e.LastSeen = now
	if rtt > 0 {
		e.RTT = rtt
	}
	if e.State != StateSuspect {
		return nil
	}
	return e.setState(StateAlive, now, nil)
}

// missed records a check ping that went unanswered: an alive member turns
// suspect unless it was heard from since the ping was sent.
func (t *table) missed(name string, sent, now time.Time) []MemberEvent {
	t.mu.Lock()
	defer t.mu.Unlock()
	e, ok := t.members[name]
	if !ok || e.State != StateAlive || e.LastSeen.After(sent) {
		return nil
	}
	return e.setState(StateSuspect, now, nil)
}

// checkTarget is a member to ping.
type checkTarget struct {
	name string
	addr string
}

// due returns the alive or suspect members not heard from for longer than
// after and not being pinged yet, most silent first, at most limit, and
// marks them as being pinged. done must be called for each.
func (t *table) due(now time.Time, after time.Duration, limit int) []checkTarget {
	t.mu.Lock()
	defer t.mu.Unlock()
	var es []*entry
	for _, e := range t.members {
		if e.Local || e.pinging || (e.State != StateAlive && e.State != StateSuspect) {
			continue
		}
		if now.Sub(e.LastSeen) > after {
			es = append(es, e)
		}
	}
	slices.SortFunc(es, func(a, b *entry) int { return a.LastSeen.Compare(b.LastSeen) })
	if len(es) > limit {
		es = es[:limit]
	}
	out := make([]checkTarget, len(es))
	for i, e := range es {
		e.pinging = true
		out[i] = checkTarget{name: e.ID, addr: e.Addr}
	}
	return out
}

// done clears the in-flight mark of a check ping.
func (t *table) done(name string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if e, ok := t.members[name]; ok {
		e.pinging = false
	}
}

// forget drops dead and left members that have been so for longer than
// after, and returns their ids.
func (t *table) forget(now time.Time, after time.Duration) []string {
	t.mu.Lock()
	defer t.mu.Unlock()
	var out []string
	for id, e := range t.members {
		if (e.State == StateDead || e.State == StateLeft) && now.Sub(e.Since) > after {
			delete(t.members, id)
			out = append(out, id)
		}
	}
	slices.Sort(out)
	return out
}

// setLocalMeta records the local node's metadata.
func (t *table) setLocalMeta(m Meta) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if e, ok := t.members[t.local]; ok {
		e.Meta = m.clone()
		e.MetaError = ""
	}
}

// members returns a copy of every member, sorted by id.
func (t *table) snapshot() []Member {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := make([]Member, 0, len(t.members))
	for _, e := range t.members {
		out = append(out, e.snapshot())
	}
	slices.SortFunc(out, func(a, b Member) int { return strings.Compare(a.ID, b.ID) })
	return out
}

// get returns a copy of one member.
func (t *table) get(id string) (Member, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	e, ok := t.members[id]
	if !ok {
		return Member{}, false
	}
	return e.snapshot(), true
}

// counts returns how many members are in each state, the local node
// included.
func (t *table) counts() (c [len(memberStateNames)]int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, e := range t.members {
		c[e.State]++
	}
	return c
}

// addrsOf returns the gossip addresses of members in the given states.
func (t *table) addrsOf(states ...MemberState) []string {
	t.mu.Lock()
	defer t.mu.Unlock()
	var out []string
	for _, e := range t.members {
		if !e.Local && slices.Contains(states, e.State) {
			out = append(out, e.Addr)
		}
	}
	slices.Sort(out)
	return out
}

// hostPort formats an address memberlist gives as IP and port.
func hostPort(ip net.IP, port uint16) string {
	return net.JoinHostPort(ip.String(), strconv.Itoa(int(port)))
}
