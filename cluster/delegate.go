package cluster

import (
	"bytes"
	"context"
	"log/slog"
	"time"

	"github.com/hashicorp/memberlist"
)

// hooks is what memberlist calls: the node's metadata, membership events,
// probe acks and name conflicts. Memberlist calls the event methods with
// its node lock held, so they only record into the table and queue events:
// they never call back into memberlist.
type hooks struct {
	n *Node
}

var (
	_ memberlist.Delegate         = hooks{}
	_ memberlist.EventDelegate    = hooks{}
	_ memberlist.PingDelegate     = hooks{}
	_ memberlist.ConflictDelegate = hooks{}
)

// NodeMeta returns the encoded local metadata, which [EncodeMeta] already
// checked against the limit.
func (h hooks) NodeMeta(limit int) []byte {
	b := *h.n.metaBytes.Load()
	if len(b) > limit { // cannot happen: MetaMaxSize is the only limit used
		return nil
	}
	return b
}

// NotifyMsg, GetBroadcasts, LocalState and MergeRemoteState carry user
// messages and state. BadBatch sends none yet; replication may.
func (hooks) NotifyMsg([]byte)                       {}
func (hooks) GetBroadcasts(int, int) [][]byte        { return nil }
func (hooks) LocalState(bool) []byte                 { return nil }
func (hooks) MergeRemoteState(buf []byte, join bool) {}

func info(n *memberlist.Node) nodeInfo {
	return nodeInfo{name: n.Name, addr: hostPort(n.Addr, n.Port), meta: bytes.Clone(n.Meta)}
}

// NotifyJoin: memberlist counts the node in (first sight, or back from
// dead or left).
func (h hooks) NotifyJoin(n *memberlist.Node) {
	h.n.emit(h.n.table.join(info(n), time.Now()))
}

// NotifyLeave: memberlist counts the node out. Its Node.State field is not
// filled in (memberlist keeps the state elsewhere), so dead and left are
// told apart by the node's last metadata.
func (h hooks) NotifyLeave(n *memberlist.Node) {
	h.n.emit(h.n.table.leave(info(n), time.Now()))
}

// NotifyUpdate: the node's metadata or address changed.
func (h hooks) NotifyUpdate(n *memberlist.Node) {
	h.n.emit(h.n.table.update(info(n), time.Now()))
}

// AckPayload adds nothing to acks.
func (hooks) AckPayload() []byte { return nil }

// NotifyPingComplete: memberlist's probe of the node was answered directly.
func (h hooks) NotifyPingComplete(other *memberlist.Node, rtt time.Duration, _ []byte) {
	h.n.emit(h.n.table.ack(other.Name, rtt, time.Now()))
}

// NotifyConflict: another node claims this node's id, or a member's id
// from another address while that member is alive.
func (h hooks) NotifyConflict(existing, other *memberlist.Node) {
	h.n.log.LogAttrs(context.Background(), slog.LevelWarn, "cluster: node id conflict: two nodes claim the same id",
		slog.String("id", existing.Name),
		slog.String("existing_addr", hostPort(existing.Addr, existing.Port)),
		slog.String("other_addr", hostPort(other.Addr, other.Port)))
}
