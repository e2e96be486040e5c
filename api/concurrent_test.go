package api

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
)

// TestPublishReplayTail publishes N events from several concurrent HTTP
// clients while an SSE and an NDJSON subscriber follow the disruptor:
// both subscribers and a paged replay see every event exactly once, in
// sequence order, each client's events in the order it sent them.
func TestPublishReplayTail(t *testing.T) {
	clients, perClient, batch := 6, 400, 8
	if testing.Short() {
		clients, perClient = 4, 200
	}
	total := clients * perClient
	ts := newTestServer(t)
	r := ts.do(t, request{method: "POST", path: "/api/v1/disruptors", body: map[string]any{"name": "tail", "buffer_size": 1 << 14}})
	if r.status != 201 {
		t.Fatal(r.status, string(r.body))
	}

	type seen struct {
		seq     int64
		client  int
		counter int
	}
	check := func(what string, got []seen) {
		t.Helper()
		if len(got) != total {
			t.Fatalf("%s: %d events, want %d", what, len(got), total)
		}
		next := make([]int, clients)
		for i, s := range got {
			if s.seq != int64(i) {
				t.Fatalf("%s: event %d has sequence %d", what, i, s.seq)
			}
			if s.counter != next[s.client] {
				t.Fatalf("%s: client %d's event %d arrived when %d was due", what, s.client, s.counter, next[s.client])
			}
			next[s.client]++
		}
	}
	parse := func(data []byte) (seen, error) {
		var ev struct {
			Sequence int64 `json:"sequence"`
			Payload  struct {
				C int `json:"c"`
				N int `json:"n"`
			} `json:"payload"`
		}
		err := json.Unmarshal(data, &ev)
		return seen{ev.Sequence, ev.Payload.C, ev.Payload.N}, err
	}

	subscribe := func(accept string) (<-chan []seen, func()) {
		req, _ := http.NewRequest("GET", ts.url+"/api/v1/disruptors/tail/events/stream?from=0", nil)
		req.Header.Set("Accept", accept)
		res, err := ts.client.Do(req)
		if err != nil || res.StatusCode != 200 {
			t.Fatalf("subscribe %s: %v %v", accept, err, res)
		}
		out := make(chan []seen, 1)
		go func() {
			var got []seen
			defer func() { out <- got }()
			if accept == "text/event-stream" {
				_ = readSSE(res.Body, func(ev sseEvent) bool {
					s, err := parse([]byte(ev.data))
					if err != nil {
						t.Errorf("sse: %v", err)
						return false
					}
					got = append(got, s)
					return len(got) < total
				})
				return
			}
			sc := bufio.NewScanner(res.Body)
			for len(got) < total && sc.Scan() {
				if strings.Contains(sc.Text(), `"type"`) {
					continue
				}
				s, err := parse(sc.Bytes())
				if err != nil {
					t.Errorf("ndjson: %v", err)
					return
				}
				got = append(got, s)
			}
		}()
		return out, func() { res.Body.Close() }
	}
	sse, closeSSE := subscribe("text/event-stream")
	defer closeSSE()
	nd, closeND := subscribe("application/x-ndjson")
	defer closeND()

	var wg sync.WaitGroup
	for c := range clients {
		wg.Go(func() {
			for n := 0; n < perClient; n += batch {
				var b strings.Builder
				b.WriteString(`{"events":[`)
				for k := range batch {
					if k > 0 {
						b.WriteByte(',')
					}
					fmt.Fprintf(&b, `{"payload":{"c":%d,"n":%d}}`, c, n+k)
				}
				b.WriteString(`]}`)
				r := ts.do(t, request{method: "POST", path: "/api/v1/disruptors/tail/events", raw: []byte(b.String())})
				if r.status != 200 {
					t.Errorf("publish: %d %s", r.status, r.body)
					return
				}
			}
		})
	}
	wg.Wait()
	check("sse", <-sse)
	check("ndjson", <-nd)

	var replay []seen
	for from := 0; from < total; {
		r := ts.do(t, request{method: "GET", path: fmt.Sprintf("/api/v1/disruptors/tail/events?from=%d&limit=777", from)})
		if r.status != 200 {
			t.Fatalf("replay: %d %s", r.status, r.body)
		}
		var page struct {
			Events []json.RawMessage `json:"events"`
			Next   int               `json:"next_sequence"`
		}
		if err := json.Unmarshal(r.body, &page); err != nil {
			t.Fatal(err)
		}
		for _, raw := range page.Events {
			s, err := parse(raw)
			if err != nil {
				t.Fatal(err)
			}
			replay = append(replay, s)
		}
		from = page.Next
	}
	check("replay", replay)
}

// TestIdempotency retries a batch with the same key, serially and
// concurrently: it is published once, every retry gets its sequences.
func TestIdempotency(t *testing.T) {
	ts := newTestServer(t)
	ts.do(t, request{method: "POST", path: "/api/v1/disruptors", body: map[string]any{"name": "idem"}})
	body := []byte(`{"events":[{"payload":{"order":1}},{"payload":{"order":2}},{"payload":{"order":3}}]}`)
	key := map[string]string{"Idempotency-Key": "order-batch-1"}
	first := ts.do(t, request{method: "POST", path: "/api/v1/disruptors/idem/events", raw: body, header: key})
	if first.status != 200 || get(first.v, "duplicate") != false || first.header.Get("Idempotent-Replayed") != "" {
		t.Fatalf("first: %d %s", first.status, first.body)
	}
	var wg sync.WaitGroup
	for _, f := range formats {
		for range 4 {
			wg.Go(func() {
				var raw []byte
				if f == formatJSON {
					raw = body
				}
				var v any
				_ = json.Unmarshal(body, &v)
				r := ts.do(t, request{method: "POST", path: "/api/v1/disruptors/idem/events", raw: raw, body: v, f: f, header: key})
				if r.status != 200 || get(r.v, "duplicate") != true || r.header.Get("Idempotent-Replayed") != "true" ||
					get(r.v, "first_sequence") != get(first.v, "first_sequence") || get(r.v, "count") != 3.0 {
					t.Errorf("retry (%s): %d %v", f, r.status, r.v)
				}
			})
		}
	}
	wg.Wait()
	r := ts.do(t, request{method: "GET", path: "/api/v1/disruptors/idem"})
	if get(r.v, "published") != 3.0 {
		t.Fatalf("published %v events, want 3", get(r.v, "published"))
	}
	// Concurrent first attempts with a fresh key: one publish.
	key2 := map[string]string{"Idempotency-Key": "order-batch-2"}
	for range 8 {
		wg.Go(func() {
			r := ts.do(t, request{method: "POST", path: "/api/v1/disruptors/idem/events", raw: body, header: key2})
			if r.status != 200 || get(r.v, "first_sequence") != 3.0 {
				t.Errorf("concurrent: %d %v", r.status, r.v)
			}
		})
	}
	wg.Wait()
	r = ts.do(t, request{method: "GET", path: "/api/v1/disruptors/idem"})
	if get(r.v, "published") != 6.0 {
		t.Fatalf("published %v events, want 6", get(r.v, "published"))
	}
	// The multi-disruptor publish deduplicates too.
	multi := []byte(`{"batches":[{"disruptor":"idem","idempotency_key":"m1","events":[{"payload":1}]}]}`)
	a := ts.do(t, request{method: "POST", path: "/api/v1/events", raw: multi})
	b := ts.do(t, request{method: "POST", path: "/api/v1/events", raw: multi})
	if get(a.v, "results", 0, "first_sequence") != 6.0 || get(b.v, "results", 0, "first_sequence") != 6.0 || get(b.v, "results", 0, "duplicate") != true {
		t.Fatalf("multi: %v / %v", a.v, b.v)
	}
}
