package client

import (
	"net/url"
	"strconv"
)

// ReadOption asks for more than the answering node's own copy in a read
// of a replicated ("quorum") disruptor: [Client.Disruptor], [Client.State],
// [Client.Replay], [Client.ReplayAll] and [Client.Event] take them. A
// disruptor that is not replicated ignores them. The zero ReadOption does
// nothing.
type ReadOption struct {
	key, value string
}

// Consistent makes the read linearizable (consistent=true): the Raft
// leader confirms it still leads and answers with everything acknowledged
// before the call; a follower passes the read to the leader. Without a
// known leader the read fails with [ErrNoQuorum].
func Consistent() ReadOption { return ReadOption{"consistent", "true"} }

// MinIndex makes the answering node wait until its copy reflects the Raft
// log up to index (min_index), as a write's X-Raft-Applied-Index tells, so
// that a client reads its own write on any node; [ErrCatchingUp] when it
// does not get there in time.
func MinIndex(index uint64) ReadOption {
	return ReadOption{"min_index", strconv.FormatUint(index, 10)}
}

// readQuery adds opts to q (a new one when nil) and returns it.
func readQuery(q url.Values, opts []ReadOption) url.Values {
	for _, o := range opts {
		if o.key == "" {
			continue
		}
		if q == nil {
			q = url.Values{}
		}
		q.Set(o.key, o.value)
	}
	return q
}
