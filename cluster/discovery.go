package cluster

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"
)

// Meta returns a copy of the metadata this node gossips.
func (n *Node) Meta() Meta {
	n.metaMu.Lock()
	defer n.metaMu.Unlock()
	return n.meta.clone()
}

// SetDisruptors replaces the list of disruptors this node advertises; the
// server calls it whenever it creates or deletes one. The change is
// gossiped in the background; other members see it within a few gossip
// intervals. Names must be valid disruptor names. It fails with a
// [*MetaSizeError] when the list does not fit memberlist's metadata limit
// (the previous list stays advertised), and with [ErrInvalidMeta] for an
// invalid name.
func (n *Node) SetDisruptors(names []string) error {
	return n.editMeta(func(m *Meta) { m.Disruptors = slices.Clone(names) })
}

// SetNodeState changes the lifecycle state this node advertises. Only
// [NodeReady] nodes are routed to; [Node.Leave] sets [NodeLeaving] itself.
func (n *Node) SetNodeState(s NodeState) error {
	if s < NodeStarting || s > NodeLeaving {
		return fmt.Errorf("%w: node state %d", ErrInvalidMeta, s)
	}
	return n.editMeta(func(m *Meta) { m.State = s })
}

// SetAPI changes the REST API address (host:port) and scheme ("http" or
// "https") this node advertises, e.g. once its listener is bound.
func (n *Node) SetAPI(scheme, addr string) error {
	return n.editMeta(func(m *Meta) { m.APIScheme, m.APIAddr = scheme, addr })
}

// SetTags replaces the free-form tags this node advertises (see
// [Meta.Tags]). An empty key is invalid.
func (n *Node) SetTags(tags map[string]string) error {
	for k := range tags {
		if k == "" {
			return fmt.Errorf("%w: empty tag key", ErrInvalidMeta)
		}
	}
	return n.editMeta(func(m *Meta) { m.Tags = maps.Clone(tags) })
}

// SetTag sets one tag this node advertises, leaving the others as they
// are; an empty value removes the tag. Concurrent calls for different
// keys all take effect (unlike reading [Node.Meta] and calling
// [Node.SetTags], which may undo another caller's change).
func (n *Node) SetTag(key, value string) error {
	if key == "" {
		return fmt.Errorf("%w: empty tag key", ErrInvalidMeta)
	}
	return n.editMeta(func(m *Meta) {
		if value == "" {
			delete(m.Tags, key)
			return
		}
		if m.Tags == nil {
			m.Tags = map[string]string{}
		}
		m.Tags[key] = value
	})
}

// editMeta applies edit to a copy of the current metadata, checks and
// encodes the result, and makes it the advertised metadata, all under
// metaMu: the copy edited is the latest value, so concurrent edits of
// different fields all take effect. On error nothing changes.
func (n *Node) editMeta(edit func(*Meta)) error {
	n.metaMu.Lock()
	defer n.metaMu.Unlock()
	m := n.meta.clone()
	edit(&m)
	m, err := m.normalize()
	if err != nil {
		return err
	}
	b := encodeMeta(nil, m)
	if len(b) > MetaMaxSize {
		return &MetaSizeError{Size: len(b), Limit: MetaMaxSize, Disruptors: len(m.Disruptors)}
	}
	n.meta = m
	n.metaBytes.Store(&b)
	n.table.setLocalMeta(m)
	select {
	case n.metaDirty <- struct{}{}:
	default:
	}
	return nil
}

// Members returns every member this node knows, itself included, sorted
// by id: alive and suspect ones, and dead or left ones until they are
// forgotten (after the dead timeout). Each is a copy.
func (n *Node) Members() []Member {
	ms := n.table.snapshot()
	if len(ms) == 0 { // not started: only the local node, as it will be
		ms = []Member{{ID: n.cfg.NodeID, Local: true, Meta: n.Meta()}}
	}
	return ms
}

// Member returns one member by id.
func (n *Node) Member(id string) (Member, bool) { return n.table.get(id) }

// Owners returns the members that host the disruptor and may be routed to
// (alive, [NodeReady], with an API address; see [Member.Routable]), sorted
// by id. The local node is among them, marked [Member.Local], when it
// advertises the disruptor. Suspect, dead and left members are never
// returned.
func (n *Node) Owners(disruptor string) []Member {
	var out []Member
	for _, m := range n.table.snapshot() {
		if m.Routable() && m.Hosts(disruptor) {
			out = append(out, m)
		}
	}
	return out
}

// HealthScore returns memberlist's local health score ("awareness"): 0
// when this node meets the protocol's soft real-time needs, higher (up to
// 7) when its probes go unanswered in ways that suggest the problem is
// here, in which case it also slows its probing down. 0 before Start.
func (n *Node) HealthScore() int {
	if ml := n.ml.Load(); ml != nil {
		return ml.GetHealthScore()
	}
	return 0
}

// HealthStatus is the cluster's overall health as one node sees it.
type HealthStatus string

// The health statuses.
const (
	// Healthy: every member this node knows is alive or has left.
	Healthy HealthStatus = "healthy"
	// Degraded: some member is suspect or dead, or the node is not
	// running.
	Degraded HealthStatus = "degraded"
)

// Health summarises the cluster as this node sees it.
type Health struct {
	// Status is Degraded when a member is suspect or dead (until the dead
	// one is forgotten, after the dead timeout) or the node is not
	// running; else Healthy.
	Status HealthStatus `json:"status"`
	// NodeID is this node's id.
	NodeID string `json:"node_id"`
	// Running is false before Start and after Leave or Shutdown: this
	// node is then no member of the cluster.
	Running bool `json:"running"`
	// The members by state, this node included.
	Alive   int `json:"alive"`
	Suspect int `json:"suspect"`
	Dead    int `json:"dead"`
	Left    int `json:"left"`
	// HealthScore is [Node.HealthScore].
	HealthScore int `json:"health_score"`
	// Problems say why the status is Degraded.
	Problems []string `json:"problems,omitempty"`
	// Warnings are worth a look but do not degrade the status: a positive
	// health score; seeds configured but no other member alive.
	Warnings []string `json:"warnings,omitempty"`
	// Timings are the failure detector's figures for the current size.
	Timings Timings `json:"-"`
}

// Health summarises the cluster as this node sees it.
func (n *Node) Health() Health {
	h := Health{NodeID: n.cfg.NodeID, HealthScore: n.HealthScore()}
	ms := n.table.snapshot()
	others := 0
	for _, m := range ms {
		switch m.State {
		case StateAlive:
			h.Alive++
			if !m.Local {
				others++
			}
		case StateSuspect:
			h.Suspect++
			h.Problems = append(h.Problems, fmt.Sprintf("%s is suspect since %s", m.ID, m.Since.Format(time.RFC3339Nano)))
		case StateDead:
			h.Dead++
			h.Problems = append(h.Problems, fmt.Sprintf("%s is dead since %s", m.ID, m.Since.Format(time.RFC3339Nano)))
		case StateLeft:
			h.Left++
		}
	}
	running := n.running.Load()
	h.Running = running
	if !running {
		h.Problems = append(h.Problems, "cluster node is not running")
	}
	if h.HealthScore > 0 {
		h.Warnings = append(h.Warnings, fmt.Sprintf("local health score %d: this node's probes are struggling", h.HealthScore))
	}
	if running && others == 0 && len(n.seeds) > 0 {
		h.Warnings = append(h.Warnings, "no other member alive; seeds: "+strings.Join(n.seeds, ", "))
	}
	h.Status = Healthy
	if len(h.Problems) > 0 {
		h.Status = Degraded
	}
	h.Timings = n.cfg.Timings(len(ms))
	return h
}

// Timings returns the failure detector's figures for the cluster's
// current size.
func (n *Node) Timings() Timings { return n.cfg.Timings(len(n.table.snapshot())) }
