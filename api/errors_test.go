package api

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/badbatch/badbatch/engine"
	"github.com/badbatch/badbatch/replication"
	"github.com/badbatch/badbatch/wire"
)

// TestErrorMapper: every sentinel of the layers below maps to a code of
// the wire table, through wrapping; the engine's own error counters
// (badbatch_*_errors_total{code}) use the same codes; the replication
// errors win over the context or engine errors they wrap.
func TestErrorMapper(t *testing.T) {
	for _, s := range sentinels {
		if _, ok := wire.Lookup(s.code); !ok {
			t.Errorf("%v maps to %s, not in the wire table", s.err, s.code)
		}
		wrapped := fmt.Errorf("wrapped: %w", s.err)
		if got := fromEngine(wrapped); got.Code != s.code || got.Message == "" || got.Details == nil {
			t.Errorf("%v: %+v", s.err, got)
		}
		if !strings.HasPrefix(s.err.Error(), "engine: ") {
			continue
		}
		if got := engine.Code(s.err); got != s.code {
			t.Errorf("engine.Code(%v) = %s, the API says %s", s.err, got, s.code)
		}
	}
	cases := []struct {
		err  error
		code string
	}{
		{&replication.OutcomeError{Cause: context.DeadlineExceeded}, CodeOutcomeUnknown},
		{&replication.LeaderError{Err: replication.ErrNoQuorum}, CodeNoQuorum},
		{&replication.LeaderError{Err: replication.ErrNotLeader, LeaderID: "n1"}, CodeNotLeader},
		{&engine.RingFullError{Disruptor: "d"}, CodeRingFull},
		{context.Canceled, CodeRequestCanceled},
		{errors.New("something else"), CodeInternal},
	}
	for _, c := range cases {
		if got := fromEngine(c.err); got.Code != c.code {
			t.Errorf("%v: %s, want %s", c.err, got.Code, c.code)
		}
	}
	if got := fromEngine(errors.New("secret internals")); got.Message != "internal error" {
		t.Errorf("an internal error shows %q", got.Message)
	}
	if got := fromEngine(&engine.EvictedError{Sequence: 3, Oldest: 9}); got.Details["oldest_sequence"] != int64(9) {
		t.Errorf("evicted details %v", got.Details)
	}
	if engine.CodeLagged != wire.CodeSubscriberLagged {
		t.Errorf("the lagged stream message's code: engine %s, wire %s", engine.CodeLagged, wire.CodeSubscriberLagged)
	}
}
