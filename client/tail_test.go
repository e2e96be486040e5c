package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/badbatch/badbatch/api"
)

func framings() []Framing { return []Framing{FramingSSE, FramingNDJSON} }

func (f Framing) String() string {
	if f == FramingNDJSON {
		return "ndjson"
	}
	return "sse"
}

func publishN(t *testing.T, c *Client, name string, from, n int) {
	t.Helper()
	for i := from; i < from+n; i++ {
		must[api.PublishResult](t)(c.Publish(ctxT(t), name, EventData{Payload: json.RawMessage(fmt.Sprintf(`{"n":%d}`, i))}, PublishOptions{}))
	}
}

// TestTailToEnd follows a disruptor from sequence 0 until it stops: every
// event once, in order, then the end message.
func TestTailToEnd(t *testing.T) {
	s := startServer(t, serverOptions{})
	c := newClient(t, s)
	for _, fr := range framings() {
		t.Run(fr.String(), func(t *testing.T) {
			ctx := ctxT(t)
			name := "tail-" + fr.String()
			must[api.Disruptor](t)(c.CreateDisruptor(ctx, api.CreateRequest{Name: name, BufferSize: 64}))
			publishN(t, c, name, 0, 3)
			var got []int64
			var end Message
			for msg, err := range c.Tail(ctx, name, TailOptions{From: 0, Framing: fr}) {
				if err != nil {
					t.Fatal(err)
				}
				switch msg.Kind {
				case MessageEvent:
					got = append(got, msg.Event.Sequence)
					var p struct{ N int }
					if err := json.Unmarshal(msg.Event.Payload, &p); err != nil || p.N != int(msg.Event.Sequence) {
						t.Errorf("payload %s", msg.Event.Payload)
					}
					if len(got) == 3 {
						publishN(t, c, name, 3, 2)
						must[api.Disruptor](t)(c.Stop(ctx, name))
					}
				case MessageEnd:
					end = msg
				default:
					t.Errorf("unexpected %v", msg.Kind)
				}
			}
			if fmt.Sprint(got) != "[0 1 2 3 4]" || end.Kind != MessageEnd || end.Reason != "stopped" || end.LastSequence != 4 {
				t.Errorf("got %v, end %+v", got, end)
			}
		})
	}
}

// cutter drops the connection of the first stream when it is about to
// write its cutAt-th event, and records the from= of every stream.
type cutter struct {
	cutAt int
	mu    sync.Mutex
	froms []string
}

func (c *cutter) wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !strings.HasSuffix(r.URL.Path, "/events/stream") {
			next.ServeHTTP(w, r)
			return
		}
		c.mu.Lock()
		c.froms = append(c.froms, r.URL.Query().Get("from"))
		first := len(c.froms) == 1
		c.mu.Unlock()
		if first {
			w = &cuttingWriter{ResponseWriter: w, left: c.cutAt}
		}
		next.ServeHTTP(w, r)
	})
}

type cuttingWriter struct {
	http.ResponseWriter
	left int
}

func (w *cuttingWriter) Write(p []byte) (int, error) {
	s := string(p)
	if strings.Contains(s, `"n":`) {
		if w.left == 0 {
			panic(http.ErrAbortHandler) // the connection drops
		}
		w.left--
	}
	return w.ResponseWriter.Write(p)
}

func (w *cuttingWriter) Flush() { w.ResponseWriter.(http.Flusher).Flush() }

func (w *cuttingWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// TestTailResumes cuts the connection mid-stream: the iterator reconnects
// after the last event it delivered, and yields every event exactly once.
func TestTailResumes(t *testing.T) {
	for _, fr := range framings() {
		t.Run(fr.String(), func(t *testing.T) {
			cut := &cutter{cutAt: 3}
			s := startServer(t, serverOptions{wrap: cut.wrap})
			c := newClient(t, s)
			ctx := ctxT(t)
			must[api.Disruptor](t)(c.CreateDisruptor(ctx, api.CreateRequest{Name: "r", BufferSize: 64}))
			publishN(t, c, "r", 0, 1)
			var got []int64
			for msg, err := range c.Tail(ctx, "r", TailOptions{From: 0, Framing: fr}) {
				if err != nil {
					t.Fatal(err)
				}
				got = append(got, msg.Event.Sequence)
				if len(got) == 8 {
					break
				}
				publishN(t, c, "r", len(got), 1) // one event per write
			}
			if fmt.Sprint(got) != "[0 1 2 3 4 5 6 7]" {
				t.Errorf("events %v", got)
			}
			cut.mu.Lock()
			defer cut.mu.Unlock()
			if fmt.Sprint(cut.froms) != "[0 3]" {
				t.Errorf("streams opened from %v, want [0 3]", cut.froms)
			}
		})
	}
}

func TestTailErrors(t *testing.T) {
	s := startServer(t, serverOptions{})
	c := newClient(t, s)
	ctx := ctxT(t)
	first := func(opts TailOptions, name string) (Message, error) {
		for msg, err := range c.Tail(ctx, name, opts) {
			return msg, err
		}
		return Message{}, errors.New("no message")
	}
	if _, err := first(TailOptions{From: FromNext}, "missing"); !errors.Is(err, ErrDisruptorNotFound) {
		t.Errorf("missing disruptor: %v", err)
	}
	must[api.Disruptor](t)(c.CreateDisruptor(ctx, api.CreateRequest{Name: "small", BufferSize: 4}))
	publishN(t, c, "small", 0, 10)
	_, err := first(TailOptions{From: 0}, "small")
	var e *Error
	if !errors.Is(err, ErrSequenceEvicted) || !errors.As(err, &e) || e.Details["oldest_sequence"] != 6.0 {
		t.Errorf("evicted start: %v %+v", err, e)
	}

	// Breaking out of the loop closes the stream on the server.
	msg, err := first(TailOptions{From: 7, Framing: FramingNDJSON}, "small")
	if err != nil || msg.Event.Sequence != 7 {
		t.Fatalf("%+v %v", msg, err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for must[api.Disruptor](t)(c.Disruptor(ctx, "small")).Subscribers != 0 {
		if time.Now().After(deadline) {
			t.Fatal("the stream stayed open after break")
		}
		time.Sleep(10 * time.Millisecond)
	}

	// The context ends a stream that waits.
	cctx, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
	defer cancel()
	for _, err := range c.Tail(cctx, "small", TailOptions{From: FromNext}) {
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("context end: %v", err)
		}
	}

	// Deleting the disruptor ends the stream.
	done := make(chan Message, 1)
	go func() {
		for msg, err := range c.Tail(ctx, "small", TailOptions{From: 9}) {
			if err != nil {
				t.Error(err)
			}
			if msg.Kind == MessageEnd {
				done <- msg
			}
		}
		close(done)
	}()
	time.Sleep(100 * time.Millisecond)
	if err := c.DeleteDisruptor(ctx, "small"); err != nil {
		t.Fatal(err)
	}
	if m := <-done; m.Kind != MessageEnd || m.Reason != "deleted" {
		t.Errorf("after delete: %+v", m)
	}
}

// TestTailResumesFromNext cuts an SSE stream opened at the next event
// before it delivered anything: the reconnect starts where the first
// stream started (its opening comment says where), so nothing published
// in between is lost.
func TestTailResumesFromNext(t *testing.T) {
	cut := &cutter{cutAt: 0}
	s := startServer(t, serverOptions{wrap: cut.wrap})
	c := newClient(t, s)
	ctx := ctxT(t)
	must[api.Disruptor](t)(c.CreateDisruptor(ctx, api.CreateRequest{Name: "n", BufferSize: 64}))
	publishN(t, c, "n", 0, 2) // before the stream: not delivered
	published := make(chan struct{})
	defer func() { <-published }() // the publisher's last POST may answer after its event streamed
	go func() {
		defer close(published)
		for {
			d, err := c.Disruptor(ctx, "n")
			if err != nil {
				t.Error(err)
				return
			}
			if d.Subscribers > 0 {
				break
			}
			time.Sleep(5 * time.Millisecond)
		}
		for i := 2; i < 5; i++ {
			if _, err := c.Publish(ctx, "n", EventData{Payload: json.RawMessage(fmt.Sprintf(`{"n":%d}`, i))}, PublishOptions{}); err != nil {
				t.Error(err)
			}
		}
	}()
	var got []int64
	for msg, err := range c.Tail(ctx, "n", TailOptions{From: FromNext}) {
		if err != nil {
			t.Fatal(err)
		}
		if got = append(got, msg.Event.Sequence); len(got) == 3 {
			break
		}
	}
	cut.mu.Lock()
	defer cut.mu.Unlock()
	if fmt.Sprint(got) != "[2 3 4]" || fmt.Sprint(cut.froms) != "[ 2]" {
		t.Errorf("events %v from streams %q", got, cut.froms)
	}
}

// TestParseMessage decodes the control messages, which the other tests
// meet rarely.
func TestParseMessage(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want Message
		ok   bool
	}{
		{`{"type":"gap","from":10,"to":41,"count":32}`, Message{Kind: MessageGap, From: 10, To: 41, Count: 32, LastSequence: 9}, true},
		{`{"type":"lagged","code":"SUBSCRIBER_LAGGED","last_sequence":9,"oldest_sequence":42,"message":"m"}`,
			Message{Kind: MessageLagged, LastSequence: 9, OldestSequence: 42}, true},
		{`{"type":"end","reason":"shutdown","last_sequence":-1}`, Message{Kind: MessageEnd, Reason: "shutdown", LastSequence: -1}, true},
		{`{"type":"heartbeat","time":"2025-01-01T00:00:00Z"}`, Message{}, false},
		{`{"type":"future-kind"}`, Message{}, false},
	} {
		got, ok, err := parseMessage([]byte(tc.in))
		if err != nil || ok != tc.ok || fmt.Sprintf("%+v", got) != fmt.Sprintf("%+v", tc.want) {
			t.Errorf("%s: %+v %v %v", tc.in, got, ok, err)
		}
	}
	if _, _, err := parseMessage([]byte(`{"time":"x"}`)); err == nil {
		t.Error("an event without a sequence parsed")
	}
}
