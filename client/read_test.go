package client

import (
	"context"
	"encoding/json"
	"net/http"
	"sync"
	"testing"

	"github.com/badbatch/badbatch/api"
)

// TestReadOptions: each read sends the read options as its query
// parameters (which a disruptor that is not replicated takes and
// ignores), and the tail sends consistent=true.
func TestReadOptions(t *testing.T) {
	var mu sync.Mutex
	seen := map[string]string{} // path -> query
	s := startServer(t, serverOptions{wrap: func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			mu.Lock()
			seen[r.URL.Path] = r.URL.RawQuery
			mu.Unlock()
			h.ServeHTTP(w, r)
		})
	}})
	c := newClient(t, s)
	ctx := ctxT(t)
	must[api.Disruptor](t)(c.CreateDisruptor(ctx, api.CreateRequest{Name: "r"}))
	must[api.PublishResult](t)(c.Publish(ctx, "r", EventData{Payload: json.RawMessage(`1`)}, PublishOptions{}))
	query := func(path string) string {
		mu.Lock()
		defer mu.Unlock()
		return seen[path]
	}
	must[api.Disruptor](t)(c.Disruptor(ctx, "r", Consistent()))
	must[api.StateResponse](t)(c.State(ctx, "r", MinIndex(7)))
	must[Event](t)(c.Event(ctx, "r", 0, Consistent(), ReadOption{}))
	must[ReplayPage](t)(c.Replay(ctx, "r", 0, 10, Consistent()))
	for path, want := range map[string]string{
		"/api/v1/disruptors/r":          "consistent=true",
		"/api/v1/disruptors/r/state":    "min_index=7",
		"/api/v1/disruptors/r/events/0": "consistent=true",
		"/api/v1/disruptors/r/events":   "consistent=true&from=0&limit=10",
	} {
		if got := query(path); got != want {
			t.Errorf("%s: query %q, want %q", path, got, want)
		}
	}
	n := 0
	for ev, err := range c.ReplayAll(ctx, "r", FromOldest, 0, 0, Consistent()) {
		if err != nil || ev.Sequence != 0 {
			t.Fatalf("ReplayAll: %v %v", ev, err)
		}
		n++
	}
	if n != 1 || query("/api/v1/disruptors/r/events") != "consistent=true" {
		t.Errorf("ReplayAll: %d events, query %q", n, query("/api/v1/disruptors/r/events"))
	}
	tctx, cancel := context.WithCancel(ctx)
	defer cancel()
	for msg, err := range c.Tail(tctx, "r", TailOptions{From: 0, Consistent: true}) {
		if err != nil || msg.Kind != MessageEvent {
			t.Fatalf("tail: %v %v", msg, err)
		}
		break
	}
	if q := query("/api/v1/disruptors/r/events/stream"); q != "consistent=true&format=sse&from=0" {
		t.Errorf("tail query %q", q)
	}
}
