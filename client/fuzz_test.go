package client

import (
	"bufio"
	"bytes"
	"io"
	"reflect"
	"testing"
	"testing/iotest"
)

// FuzzStream feeds arbitrary stream bodies, SSE and NDJSON, to the stream
// reader, whole and split (a byte per read, iotest.OneByteReader; half of
// each read, iotest.HalfReader; the data and EOF together,
// iotest.DataErrReader), as nats-server's fuzzers split their input: it
// must not panic, must only yield well-formed messages, must keep the
// resume point after the last event it yielded, and must read the same
// messages however the bytes arrive.
func FuzzStream(f *testing.F) {
	f.Add([]byte("retry: 2000\n: stream of d from 7\n\nid: 7\ndata: {\"sequence\":7,\"time\":\"2025-01-02T03:04:05Z\",\"payload\":{\"a\":1}}\n\n"), false)
	f.Add([]byte("id: 41\nevent: gap\ndata: {\"type\":\"gap\",\"from\":10,\"to\":41,\"count\":32}\n\n: keepalive\n\n"), false)
	f.Add([]byte("event: end\ndata: {\"type\":\"end\",\"reason\":\"stopped\",\"last_sequence\":3}\n\n"), false)
	f.Add([]byte("{\"sequence\":0,\"time\":\"2025-01-02T03:04:05Z\",\"payload_base64\":\"AAE=\",\"metadata\":{\"k\":\"v\"}}\n{\"type\":\"heartbeat\",\"time\":\"x\"}\n"), true)
	f.Add([]byte("{\"type\":\"lagged\",\"last_sequence\":9,\"oldest_sequence\":42}\n"), true)
	f.Add([]byte("data: {\"sequence\":1,\r\ndata: \"time\":\"2025-01-02T03:04:05Z\",\"payload\":1}\r\n\r\n"), false)
	f.Fuzz(func(t *testing.T, body []byte, ndjson bool) {
		fr := FramingSSE
		if ndjson {
			fr = FramingNDJSON
		}
		whole := readStream(t, bytes.NewReader(body), fr)
		for name, split := range map[string]func(io.Reader) io.Reader{
			"one byte": iotest.OneByteReader, "half": iotest.HalfReader, "data and EOF": iotest.DataErrReader,
		} {
			if got := readStream(t, split(bytes.NewReader(body)), fr); !reflect.DeepEqual(got, whole) {
				t.Fatalf("%s at a time, the stream reads\n%+v\nwhole it reads\n%+v", name, got, whole)
			}
		}
	})
}

// streamRead is what the stream reader made of a body.
type streamRead struct {
	msgs []Message
	next int64
	done bool
	err  string
}

func readStream(t *testing.T, r io.Reader, fr Framing) streamRead {
	s := &stream{body: io.NopCloser(r), r: bufio.NewReader(r), framing: fr, cancel: func() {}}
	out := streamRead{next: FromNext}
	done, _, err := s.run(func(m Message, err error) bool {
		if err != nil {
			t.Fatalf("yielded an error: %v", err)
		}
		if m.Kind < MessageEvent || m.Kind > MessageEnd {
			t.Fatalf("yielded kind %v", m.Kind)
		}
		out.msgs = append(out.msgs, m)
		return true
	}, &out.next)
	if !done && err == nil {
		t.Fatal("the stream stopped without a reason")
	}
	out.done = done
	if err != nil {
		out.err = err.Error()
	}
	if n := len(out.msgs); n > 0 {
		switch last := out.msgs[n-1]; last.Kind {
		case MessageEvent:
			if out.next != last.Event.Sequence+1 {
				t.Fatalf("resume point %d after event %d", out.next, last.Event.Sequence)
			}
		case MessageGap:
			if out.next != last.To+1 {
				t.Fatalf("resume point %d after a gap to %d", out.next, last.To)
			}
		}
	}
	return out
}
