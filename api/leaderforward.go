package api

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"sync"
	"time"
)

// Forwarding to the Raft leader, and what happens when the leader changes
// while a request is on its way there.
//
// A follower forwards a change of a quorum disruptor (and a consistent
// read) to the node it knows as the leader. When that node stops leading
// (it froze, was cut off, handed over, died) the follower learns it within
// its heartbeat timeout, long before the forwarder's response timeout: the
// forward in flight is then cancelled at once, unless its answer has
// started to come back. A request that may be sent again (a read, or a
// change with an Idempotency-Key, whose retry the leader deduplicates) is
// sent to the next leader once one is known, or handled here if this node
// is it; any other change is answered OUTCOME_UNKNOWN at once, since the
// old leader may have committed it.

// leaderRetryBody is the largest request body kept so that a request
// forwarded to a leader that stops leading can be sent to the next one;
// a request with a larger body is answered OUTCOME_UNKNOWN instead.
const leaderRetryBody = 4 << 20

// leaderWait bounds how long a request whose leader stopped leading
// waits for the next leader: an election takes one to two heartbeat
// timeouts.
const leaderWait = 10 * time.Second

// leaderAttempts bounds how many leaders one request is sent to.
const leaderAttempts = 3

// leaderPoll is how often the leader is looked at when the replication
// node cannot say when it changes.
const leaderPoll = 50 * time.Millisecond

// leaderWatcher is implemented by *replication.Node: a channel closed at
// the next change of the leader the node knows.
type leaderWatcher interface {
	LeaderChange() <-chan struct{}
}

// forwardToLeader sends r, about the disruptor name, to the Raft leader
// leader, and reports whether it answered the request; false means the
// leader changed to this node and the handler goes on locally, with r's
// body as it came.
func (s *Server) forwardToLeader(w http.ResponseWriter, r *http.Request, name, leader string) bool {
	retry := r.Method == http.MethodGet || r.Method == http.MethodHead || r.Header.Get("Idempotency-Key") != ""
	var body []byte
	if r.Body != nil && r.Body != http.NoBody {
		if retry {
			b, err := io.ReadAll(io.LimitReader(r.Body, leaderRetryBody+1))
			switch {
			case err != nil:
				c := &call{s: s, w: w, r: r, out: formatJSON}
				if f, ok := negotiate(r.Header.Get("Accept")); ok {
					c.out = f
				}
				c.fail(newError(CodeMalformedBody, "the request body could not be read", nil))
				return true
			case len(b) > leaderRetryBody: // sent once
				retry = false
				r.Body = struct {
					io.Reader
					io.Closer
				}{io.MultiReader(bytes.NewReader(b), r.Body), r.Body}
			default:
				body = b
			}
		}
	}
	header := w.Header().Clone()
	for attempt := 1; ; attempt++ {
		if body != nil {
			r.Body, r.ContentLength = io.NopCloser(bytes.NewReader(body)), int64(len(body))
		}
		if !s.forwardToLeaderOnce(w, r, name, leader) {
			return true // answered, by the leader or the forwarder
		}
		// The leader changed before it answered.
		if r.Context().Err() != nil {
			return true // the client is gone
		}
		clear(w.Header())
		for k, v := range header {
			w.Header()[k] = v
		}
		c := &call{s: s, w: w, r: r, out: formatJSON}
		if f, ok := negotiate(r.Header.Get("Accept")); ok {
			c.out = f
		}
		if !retry || attempt == leaderAttempts {
			s.log.Info("replication: the leader changed with a forwarded change in flight", "disruptor", name, "leader", leader, "retried", false)
			c.fail(newError(CodeOutcomeUnknown, "the Raft leader changed while the change was forwarded to it, and it may have committed it; retry with the same idempotency key",
				map[string]any{"disruptor": name, "node": leader}))
			return true
		}
		next := s.nextLeader(r.Context(), leader)
		s.log.Info("replication: the leader changed with a forwarded request in flight", "disruptor", name, "leader", leader, "next", next)
		switch {
		case next == "":
			c.fail(newError(CodeOutcomeUnknown, "the Raft leader changed while the request was forwarded to it, and no other leader was elected in time; retry with the same idempotency key",
				map[string]any{"disruptor": name, "node": leader}))
			return true
		case next == s.repl.ID():
			if body != nil {
				r.Body, r.ContentLength = io.NopCloser(bytes.NewReader(body)), int64(len(body))
			}
			return false // this node leads now
		}
		leader = next
	}
}

// forwardToLeaderOnce forwards r to leader, cancelling the forward if the
// leader changes before its answer starts; it reports whether it did.
func (s *Server) forwardToLeaderOnce(w http.ResponseWriter, r *http.Request, name, leader string) (cancelled bool) {
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	fw, fr := s.forwarding(w, r.WithContext(ctx), true)
	gw := &leaderWriter{ResponseWriter: fw}
	stop := make(chan struct{})
	defer close(stop)
	gone := s.leaderGone(ctx, leader)
	go func() {
		select {
		case <-gone:
			if gw.cancel() {
				cancel()
			}
		case <-stop:
		}
	}()
	s.cluster.fwd.ForwardTo(gw, fr, name, leader)
	return gw.cancelled()
}

// leaderGone returns a channel closed once the leader this node knows is
// no longer leader (another one, or none), or never if ctx ends first.
func (s *Server) leaderGone(ctx context.Context, leader string) <-chan struct{} {
	out := make(chan struct{})
	lw, _ := s.repl.(leaderWatcher)
	go func() {
		t := time.NewTicker(leaderPoll)
		defer t.Stop()
		for {
			var changed <-chan struct{}
			if lw != nil {
				changed = lw.LeaderChange() // before looking, so no change is missed
			}
			if id, _ := s.repl.Leader(); id != leader {
				close(out)
				return
			}
			select {
			case <-changed:
			case <-t.C:
			case <-ctx.Done():
				return
			}
		}
	}()
	return out
}

// nextLeader waits (up to leaderWait, or ctx) for a leader other than old
// that requests can go to: this node, or a routable member. It returns ""
// if none comes.
func (s *Server) nextLeader(ctx context.Context, old string) string {
	ctx, cancel := context.WithTimeout(ctx, leaderWait)
	defer cancel()
	lw, _ := s.repl.(leaderWatcher)
	t := time.NewTicker(leaderPoll)
	defer t.Stop()
	for {
		var changed <-chan struct{}
		if lw != nil {
			changed = lw.LeaderChange()
		}
		if id, _ := s.repl.Leader(); id != "" && id != old {
			if id == s.repl.ID() {
				return id
			}
			for _, m := range s.cluster.node.Members() {
				if m.ID == id && !m.Local && m.Routable() {
					return id
				}
			}
		}
		select {
		case <-changed:
		case <-t.C:
		case <-ctx.Done():
			return ""
		}
	}
}

// leaderWriter is the response writer of a request forwarded to the
// leader: once the leader changes, cancel stops it unless the leader's
// answer has begun, and from then on nothing is written, so the request
// can be answered (or sent again) cleanly.
type leaderWriter struct {
	http.ResponseWriter
	mu      sync.Mutex
	started bool // a final status or body was written
	stopped bool // cancelled before that
}

// cancel stops the writer unless the answer has started, and reports
// whether it did.
func (w *leaderWriter) cancel() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.started {
		return false
	}
	w.stopped = true
	return true
}

func (w *leaderWriter) cancelled() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.stopped
}

func (w *leaderWriter) WriteHeader(code int) {
	w.mu.Lock()
	if w.stopped {
		w.mu.Unlock()
		return
	}
	w.started = w.started || code >= 200
	w.mu.Unlock()
	w.ResponseWriter.WriteHeader(code)
}

func (w *leaderWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	if w.stopped {
		w.mu.Unlock()
		return len(p), nil
	}
	w.started = true
	w.mu.Unlock()
	return w.ResponseWriter.Write(p)
}

// FlushError flushes what was written, if the writer is not stopped.
func (w *leaderWriter) FlushError() error {
	w.mu.Lock()
	stopped := w.stopped
	w.mu.Unlock()
	if stopped {
		return nil
	}
	return http.NewResponseController(w.ResponseWriter).Flush()
}

func (w *leaderWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
