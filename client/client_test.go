package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/badbatch/badbatch/api"
	"github.com/badbatch/badbatch/wire"
)

// TestCodesMatchAPI checks that the sentinels are the codes of the wire
// table, one each.
func TestCodesMatchAPI(t *testing.T) {
	var want, got []string
	for _, c := range wire.Codes() {
		want = append(want, c.Code)
	}
	for _, c := range codes {
		got = append(got, string(c))
	}
	slices.Sort(want)
	slices.Sort(got)
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("sentinels (-wire +client):\n%s", diff)
	}
}

func encodings() []Encoding { return []Encoding{EncodingJSON, EncodingMsgpack} }

func TestDisruptorLifecycle(t *testing.T) {
	s := startServer(t, serverOptions{})
	for _, enc := range encodings() {
		t.Run(enc.String(), func(t *testing.T) {
			c := newClient(t, s, func(cfg *Config) { cfg.Encoding = enc })
			ctx := ctxT(t)
			name := "life-" + enc.String()
			schema := json.RawMessage(`{"type":"object","required":["id"]}`)
			no := false
			d := must[api.Disruptor](t)(c.CreateDisruptor(ctx, api.CreateRequest{
				Name: name, BufferSize: 64, ProducerType: "multi", WaitStrategy: "yielding", Schema: schema, Start: &no}))
			if d.Name != name || d.State != "created" || d.BufferSize != 64 || d.ProducerType != "multi" ||
				d.WaitStrategy != "yielding" || d.LatestSequence != -1 {
				t.Errorf("created %+v", d)
			}
			var sch map[string]any
			if err := json.Unmarshal(d.Schema, &sch); err != nil || sch["type"] != "object" {
				t.Errorf("schema %s: %v", d.Schema, err)
			}

			_, err := c.CreateDisruptor(ctx, api.CreateRequest{Name: name})
			if !errors.Is(err, ErrDisruptorExists) {
				t.Fatalf("second create: %v", err)
			}
			var ce *Error
			if !errors.As(err, &ce) || ce.Status != http.StatusConflict || ce.RequestID == "" || ce.Message == "" {
				t.Errorf("as *Error: %+v", ce)
			}
			var ae *api.Error
			if !errors.As(err, &ae) || ae.Code != api.CodeDisruptorExists {
				t.Errorf("as *api.Error: %+v", ae)
			}
			if CodeOf(err) != api.CodeDisruptorExists || errors.Is(err, ErrDisruptorNotFound) {
				t.Errorf("CodeOf %q", CodeOf(err))
			}

			_, err = c.Publish(ctx, name, EventData{Payload: json.RawMessage(`{"id":1}`)}, PublishOptions{})
			if !errors.Is(err, ErrDisruptorNotRunning) {
				t.Errorf("publish to created: %v", err)
			}
			for _, step := range []struct {
				call func(context.Context, string) (api.Disruptor, error)
				want string
			}{{c.Start, "running"}, {c.Pause, "paused"}, {c.Resume, "running"}, {c.Stop, "stopped"}} {
				d, err := step.call(ctx, name)
				if err != nil || d.State != step.want {
					t.Fatalf("to %s: %+v %v", step.want, d, err)
				}
				st := must[api.StateResponse](t)(c.State(ctx, name))
				if st.State != step.want || st.Disruptor != name {
					t.Errorf("state %+v", st)
				}
			}
			_, err = c.Start(ctx, name)
			if !errors.Is(err, ErrInvalidStateTransition) {
				t.Errorf("stopped to running: %v", err)
			}
			var e *Error
			if errors.As(err, &e); e == nil || e.Details["from"] != "stopped" {
				t.Errorf("details: %+v", e)
			}
			if err := c.DeleteDisruptor(ctx, name); err != nil {
				t.Fatal(err)
			}
			if _, err := c.Disruptor(ctx, name); !errors.Is(err, ErrDisruptorNotFound) {
				t.Errorf("after delete: %v", err)
			}
			if err := c.DeleteDisruptor(ctx, name); !errors.Is(err, ErrDisruptorNotFound) {
				t.Errorf("second delete: %v", err)
			}
		})
	}
}

func TestListPages(t *testing.T) {
	s := startServer(t, serverOptions{})
	c := newClient(t, s)
	ctx := ctxT(t)
	var want []string
	for i := range 5 {
		name := fmt.Sprintf("page-%d", i)
		want = append(want, name)
		must[api.Disruptor](t)(c.CreateDisruptor(ctx, api.CreateRequest{Name: name, BufferSize: 8}))
	}
	must[api.Disruptor](t)(c.CreateDisruptor(ctx, api.CreateRequest{Name: "other", BufferSize: 8}))
	first := must[api.DisruptorList](t)(c.ListDisruptors(ctx, ListOptions{Name: "page-*", Limit: 2}))
	if len(first.Disruptors) != 2 || first.Next != "page-1" {
		t.Errorf("first page %+v", first)
	}
	var got []string
	for d, err := range c.AllDisruptors(ctx, ListOptions{Name: "page-*", Limit: 2, States: []string{"running"}}) {
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, d.Name)
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("all pages (-want +got):\n%s", d)
	}
	_, err := c.ListDisruptors(ctx, ListOptions{States: []string{"sideways"}})
	if !errors.Is(err, ErrInvalidParameter) {
		t.Errorf("bad state filter: %v", err)
	}
}

func TestPublishAndRead(t *testing.T) {
	s := startServer(t, serverOptions{})
	for _, enc := range encodings() {
		t.Run(enc.String(), func(t *testing.T) {
			c := newClient(t, s, func(cfg *Config) { cfg.Encoding = enc })
			ctx := ctxT(t)
			name := "pub-" + enc.String()
			must[api.Disruptor](t)(c.CreateDisruptor(ctx, api.CreateRequest{Name: name, BufferSize: 16}))

			one, err := JSONEvent(map[string]any{"id": 1, "item": "book", "price": 12.5, "tags": []string{"a"}}, map[string]string{"source": "shop"})
			if err != nil {
				t.Fatal(err)
			}
			r := must[api.PublishResult](t)(c.Publish(ctx, name, one, PublishOptions{}))
			if r.FirstSequence != 0 || r.Count != 1 || r.Disruptor != name {
				t.Errorf("publish %+v", r)
			}
			batch := []EventData{
				{Payload: json.RawMessage(`{"id": 2}`)},
				{Binary: []byte{0, 1, 2, 255}, Metadata: map[string]string{"kind": "raw"}},
				{Payload: json.RawMessage(`"text"`)},
			}
			r = must[api.PublishResult](t)(c.PublishBatch(ctx, name, batch, PublishOptions{IdempotencyKey: "b-1"}))
			if r.FirstSequence != 1 || r.LastSequence != 3 || r.Count != 3 || r.Duplicate {
				t.Errorf("batch %+v", r)
			}
			r = must[api.PublishResult](t)(c.PublishBatch(ctx, name, batch, PublishOptions{IdempotencyKey: "b-1"}))
			if r.FirstSequence != 1 || !r.Duplicate {
				t.Errorf("duplicate batch %+v", r)
			}
			_, err = c.PublishBatch(ctx, name, batch[:1], PublishOptions{IdempotencyKey: "b-1"})
			if !errors.Is(err, ErrIdempotencyKeyReused) {
				t.Errorf("key reused: %v", err)
			}
			if _, err := c.Publish(ctx, name, EventData{}, PublishOptions{}); !errors.Is(err, ErrValidation) {
				t.Errorf("empty event: %v", err)
			}

			page := must[ReplayPage](t)(c.Replay(ctx, name, FromOldest, 0))
			if len(page.Events) != 4 || page.NextSequence != 4 || page.OldestSequence != 0 || page.LatestSequence != 3 {
				t.Fatalf("replay %+v", page)
			}
			ev := page.Events[0]
			var p map[string]any
			if err := json.Unmarshal(ev.Payload, &p); err != nil || p["item"] != "book" || p["price"] != 12.5 || ev.Metadata["source"] != "shop" {
				t.Errorf("event 0: %s %v %v", ev.Payload, ev.Metadata, err)
			}
			if ev.Time.IsZero() || time.Since(ev.Time) > time.Minute {
				t.Errorf("event time %v", ev.Time)
			}
			if b := page.Events[2]; !bytes.Equal(b.Binary, []byte{0, 1, 2, 255}) || b.Payload != nil || b.Metadata["kind"] != "raw" {
				t.Errorf("binary event %+v", b)
			}
			if string(page.Events[3].Payload) != `"text"` {
				t.Errorf("string payload %s", page.Events[3].Payload)
			}
			got := must[Event](t)(c.Event(ctx, name, 2))
			if d := cmp.Diff(page.Events[2], got); d != "" {
				t.Errorf("get differs from replay:\n%s", d)
			}
			if _, err := c.Event(ctx, name, 99); !errors.Is(err, ErrSequenceNotFound) {
				t.Errorf("unpublished: %v", err)
			}

			// Pages: ReplayAll stops at the latest event and at the limit.
			for range 6 {
				must[api.PublishResult](t)(c.Publish(ctx, name, EventData{Payload: json.RawMessage(`0`)}, PublishOptions{}))
			}
			var seqs []int64
			for ev, err := range c.ReplayAll(ctx, name, 1, 7, 2) {
				if err != nil {
					t.Fatal(err)
				}
				seqs = append(seqs, ev.Sequence)
			}
			if d := cmp.Diff([]int64{1, 2, 3, 4, 5, 6, 7}, seqs); d != "" {
				t.Errorf("ReplayAll (-want +got):\n%s", d)
			}
			seqs = seqs[:0]
			for ev, err := range c.ReplayAll(ctx, name, FromOldest, 0, 3) {
				if err != nil {
					t.Fatal(err)
				}
				seqs = append(seqs, ev.Sequence)
			}
			if len(seqs) != 10 || seqs[9] != 9 {
				t.Errorf("ReplayAll to the end: %v", seqs)
			}

			// Several disruptors at once: one batch fails, the other lands.
			res := must[api.MultiResponse](t)(c.PublishMulti(ctx, []Batch{
				{Disruptor: name, Events: []EventData{{Payload: json.RawMessage(`1`)}}},
				{Disruptor: "missing", Events: []EventData{{Payload: json.RawMessage(`2`)}}},
			}, PublishOptions{}))
			if res.Succeeded != 1 || res.Failed != 1 || res.Results[1].Error == nil || res.Results[1].Error.Code != api.CodeDisruptorNotFound ||
				*res.Results[0].FirstSequence != 10 {
				t.Errorf("multi %+v", res)
			}
		})
	}
}

func TestObservability(t *testing.T) {
	s := startServer(t, serverOptions{})
	for _, enc := range encodings() {
		t.Run(enc.String(), func(t *testing.T) {
			c := newClient(t, s, func(cfg *Config) { cfg.Encoding = enc })
			ctx := ctxT(t)
			name := "obs-" + enc.String()
			must[api.Disruptor](t)(c.CreateDisruptor(ctx, api.CreateRequest{Name: name}))
			must[api.PublishResult](t)(c.Publish(ctx, name, EventData{Payload: json.RawMessage(`{}`)}, PublishOptions{}))
			if h := must[api.Health](t)(c.Health(ctx)); h.Status != "ok" {
				t.Errorf("health %+v", h)
			}
			if h := must[api.Health](t)(c.Ready(ctx)); !h.Ready {
				t.Errorf("ready %+v", h)
			}
			h := must[api.Health](t)(c.HealthDetail(ctx))
			if len(h.Disruptors) == 0 || h.Version == "" {
				t.Errorf("health detail %+v", h)
			}
			if v := must[api.Version](t)(c.Version(ctx)); v.APIVersion != "v1" || v.GoVersion == "" {
				t.Errorf("version %+v", v)
			}
			m := must[api.Metrics](t)(c.DisruptorMetrics(ctx, name))
			if m.Disruptor != name || m.Published != 1 || m.BufferSize != 1024 {
				t.Errorf("metrics %+v", m)
			}
			sm := must[api.SystemMetrics](t)(c.SystemMetrics(ctx))
			if sm.Goroutines == 0 || len(sm.Disruptors) == 0 {
				t.Errorf("system metrics %+v", sm)
			}
			doc := must[[]byte](t)(c.OpenAPI(ctx))
			if !json.Valid(doc) || !bytes.Contains(doc, []byte(`"openapi"`)) {
				t.Errorf("openapi %.100s", doc)
			}
			prom := must[[]byte](t)(c.PrometheusMetrics(ctx))
			if !bytes.Contains(prom, []byte("badbatch_events_published_total")) {
				t.Errorf("prometheus %.200s", prom)
			}
		})
	}
}

// flaky fails the requests it is told to with 503 (or by cutting the
// connection), counting every request by method and path.
type flaky struct {
	failures atomic.Int32 // requests still to fail
	cut      atomic.Bool  // fail by dropping the connection
	seen     atomic.Int32
}

func (f *flaky) wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.seen.Add(1)
		if f.failures.Add(-1) >= 0 {
			if f.cut.Load() {
				panic(http.ErrAbortHandler)
			}
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusServiceUnavailable)
			fmt.Fprint(w, `{"error":{"code":"SHUTTING_DOWN","message":"try later","details":{}}}`)
			return
		}
		next.ServeHTTP(w, r)
	})
}

func (f *flaky) reset(failures int, cut bool) {
	f.failures.Store(int32(failures))
	f.cut.Store(cut)
	f.seen.Store(0)
}

func TestRetries(t *testing.T) {
	f := &flaky{}
	s := startServer(t, serverOptions{wrap: f.wrap})
	c := newClient(t, s)
	ctx := ctxT(t)
	must[api.Disruptor](t)(c.CreateDisruptor(ctx, api.CreateRequest{Name: "r"}))
	ev := EventData{Payload: json.RawMessage(`1`)}
	for _, cut := range []bool{false, true} {
		t.Run(fmt.Sprintf("cut=%v", cut), func(t *testing.T) {
			// After a dropped connection net/http itself may resend a
			// request that is safe to repeat, so count at least.
			f.reset(2, cut)
			if _, err := c.Disruptor(ctx, "r"); err != nil || f.seen.Load() < 3 {
				t.Errorf("GET after two failures: %v, %d requests", err, f.seen.Load())
			}
			f.reset(2, cut)
			if _, err := c.SetState(ctx, "r", "running"); err != nil || f.seen.Load() < 3 {
				t.Errorf("PUT after two failures: %v, %d requests", err, f.seen.Load())
			}
			f.reset(1, cut)
			before := must[api.Disruptor](t)(c.Disruptor(ctx, "r")).Published
			f.reset(1, cut)
			_, err := c.Publish(ctx, "r", ev, PublishOptions{})
			if err == nil || f.seen.Load() != 1 {
				t.Errorf("POST without a key was retried: %v, %d requests", err, f.seen.Load())
			}
			if !cut && !errors.Is(err, ErrShuttingDown) {
				t.Errorf("POST error: %v", err)
			}
			f.reset(2, cut)
			key := fmt.Sprintf("k-%v", cut)
			r, err := c.Publish(ctx, "r", ev, PublishOptions{IdempotencyKey: key})
			if err != nil || f.seen.Load() < 3 || r.Duplicate {
				t.Errorf("POST with a key: %+v %v, %d requests", r, err, f.seen.Load())
			}
			if after := must[api.Disruptor](t)(c.Disruptor(ctx, "r")).Published; after != before+1 {
				t.Errorf("published %d events, want 1", after-before)
			}
			f.reset(10, cut)
			// A dropped connection may also be retried once by net/http
			// itself, under each of ours.
			if _, err := c.Disruptor(ctx, "r"); err == nil || f.seen.Load() < 4 || f.seen.Load() > 8 {
				t.Errorf("retries not bounded: %v, %d requests", err, f.seen.Load())
			}
			f.reset(0, cut)
		})
	}
	t.Run("create is never retried", func(t *testing.T) {
		f.reset(1, false)
		if _, err := c.CreateDisruptor(ctx, api.CreateRequest{Name: "r2"}); !errors.Is(err, ErrShuttingDown) || f.seen.Load() != 1 {
			t.Errorf("create: %v, %d requests", err, f.seen.Load())
		}
	})
	t.Run("context ends the waits", func(t *testing.T) {
		slow := newClient(t, s, func(cfg *Config) { cfg.RetryWait, cfg.RetryMaxWait, cfg.MaxRetries = time.Hour, time.Hour, 5 })
		f.reset(10, false)
		cctx, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
		defer cancel()
		start := time.Now()
		_, err := slow.Disruptor(cctx, "r")
		if err == nil || time.Since(start) > 5*time.Second {
			t.Errorf("%v after %v", err, time.Since(start))
		}
		f.reset(0, false)
	})
	t.Run("timeout", func(t *testing.T) {
		tc := newClient(t, s, func(cfg *Config) { cfg.Timeout = time.Nanosecond })
		if _, err := tc.Health(ctx); !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("timeout: %v", err)
		}
	})
}

func TestAPIKeyHeader(t *testing.T) {
	var got atomic.Value
	s := startServer(t, serverOptions{wrap: func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			got.Store(r.Header.Get("Authorization"))
			if r.Header.Get("Authorization") != "Bearer s3cret" {
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(http.StatusUnauthorized)
				fmt.Fprint(w, `{"error":{"code":"UNAUTHORIZED","message":"who are you?","details":{}}}`)
				return
			}
			next.ServeHTTP(w, r)
		})
	}})
	ctx := ctxT(t)
	c := newClient(t, s, func(cfg *Config) { cfg.APIKey = "s3cret" })
	if _, err := c.Health(ctx); err != nil || got.Load() != "Bearer s3cret" {
		t.Errorf("with key: %v, header %q", err, got.Load())
	}
	anon := newClient(t, s)
	_, err := anon.Health(ctx)
	if !errors.Is(err, ErrUnauthorized) || strings.Contains(err.Error(), "s3cret") {
		t.Errorf("without key: %v", err)
	}
}

func TestNotAnEnvelope(t *testing.T) {
	s := startServer(t, serverOptions{wrap: func(http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			http.Error(w, "<html>bad gateway</html>", http.StatusBadGateway)
		})
	}})
	c := newClient(t, s, func(cfg *Config) { cfg.MaxRetries = 0 })
	_, err := c.Health(ctxT(t))
	var e *Error
	if !errors.As(err, &e) || e.Status != http.StatusBadGateway || e.Code != "" || !strings.Contains(err.Error(), "bad gateway") {
		t.Errorf("%v", err)
	}
	if errors.Is(err, ErrInternal) {
		t.Error("a codeless error matched a code")
	}
}

func TestConfigErrors(t *testing.T) {
	for _, tc := range []struct {
		name  string
		cfg   Config
		field string
	}{
		{"scheme", Config{Endpoint: "ftp://x"}, "Endpoint"},
		{"no host", Config{Endpoint: "http://"}, "Endpoint"},
		{"query", Config{Endpoint: "http://h:1/?a=b"}, "Endpoint"},
		{"timeout", Config{Timeout: -1}, "Timeout"},
		{"cert without key", Config{TLS: TLSConfig{CertFile: "c.pem"}}, "TLS.KeyFile"},
		{"key without cert", Config{TLS: TLSConfig{KeyFile: "k.pem"}}, "TLS.CertFile"},
		{"missing CA", Config{TLS: TLSConfig{CAFile: "/nonexistent/ca.pem"}}, "TLS.CAFile"},
		{"TLS with an HTTP client", Config{HTTPClient: http.DefaultClient, TLS: TLSConfig{InsecureSkipVerify: true}}, "TLS"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := New(tc.cfg)
			var ce *ConfigError
			if !errors.As(err, &ce) || ce.Field != tc.field {
				t.Errorf("%v, want a ConfigError for %s", err, tc.field)
			}
		})
	}
	c, err := New(Config{Endpoint: "127.0.0.1:9/base/"})
	if err != nil || c.Endpoint() != "http://127.0.0.1:9/base" || c.url("/health", nil) != "http://127.0.0.1:9/base/health" {
		t.Errorf("endpoint without scheme: %v %v", c, err)
	}
}

// TestPublishEncoded: a batch encoded once publishes like PublishBatch,
// in either encoding, as often as it is sent; the events read back are
// the ones encoded.
func TestPublishEncoded(t *testing.T) {
	s := startServer(t, serverOptions{})
	for _, enc := range encodings() {
		t.Run(enc.String(), func(t *testing.T) {
			c := newClient(t, s, func(cfg *Config) { cfg.Encoding = enc })
			ctx := ctxT(t)
			name := "encoded-" + enc.String()
			must[api.Disruptor](t)(c.CreateDisruptor(ctx, api.CreateRequest{Name: name, BufferSize: 16}))
			if _, err := c.EncodeBatch(nil); err == nil {
				t.Error("EncodeBatch of no events succeeded")
			}
			if _, err := c.PublishEncoded(ctx, name, EncodedBatch{}, PublishOptions{}); err == nil {
				t.Error("PublishEncoded of a zero EncodedBatch succeeded")
			}
			b := must[EncodedBatch](t)(c.EncodeBatch([]EventData{
				{Payload: json.RawMessage(`{"id":1}`)},
				{Binary: []byte{7}, Metadata: map[string]string{"k": "v"}},
			}))
			if b.Len() != 2 || b.Size() == 0 {
				t.Errorf("encoded batch: %d events, %d bytes", b.Len(), b.Size())
			}
			for i := range int64(3) {
				r := must[api.PublishResult](t)(c.PublishEncoded(ctx, name, b, PublishOptions{}))
				if r.FirstSequence != 2*i || r.Count != 2 {
					t.Errorf("publish %d: %+v", i, r)
				}
			}
			page := must[ReplayPage](t)(c.Replay(ctx, name, FromOldest, 0))
			if len(page.Events) != 6 || string(page.Events[4].Payload) != `{"id":1}` || !bytes.Equal(page.Events[5].Binary, []byte{7}) || page.Events[5].Metadata["k"] != "v" {
				t.Errorf("replayed %+v", page.Events)
			}
		})
	}
}
