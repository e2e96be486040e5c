package client

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"reflect"
	"strconv"
	"testing"

	"github.com/vmihailenco/msgpack/v5"

	"github.com/badbatch/badbatch/wire"
)

// FuzzStream feeds arbitrary stream bodies, SSE and NDJSON, to the stream
// reader: it must not panic, must only yield well-formed messages, and
// must keep the resume point after the last event it yielded.
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
		s := &stream{body: io.NopCloser(bytes.NewReader(body)), r: bufio.NewReader(bytes.NewReader(body)), framing: fr, cancel: func() {}}
		next := int64(FromNext)
		var last *Message
		done, _, err := s.run(func(m Message, err error) bool {
			if err != nil {
				t.Fatalf("yielded an error: %v", err)
			}
			if m.Kind < MessageEvent || m.Kind > MessageEnd {
				t.Fatalf("yielded kind %v", m.Kind)
			}
			last = &m
			return true
		}, &next)
		if !done && err == nil {
			t.Fatal("the stream stopped without a reason")
		}
		if last != nil {
			switch last.Kind {
			case MessageEvent:
				if next != last.Event.Sequence+1 {
					t.Fatalf("resume point %d after event %d", next, last.Event.Sequence)
				}
			case MessageGap:
				if next != last.To+1 {
					t.Fatalf("resume point %d after a gap to %d", next, last.To)
				}
			}
		}
	})
}

// FuzzJSONToMsgpack checks that a JSON payload converted for MessagePack
// decodes back to the same document.
func FuzzJSONToMsgpack(f *testing.F) {
	for _, s := range []string{`{"id":1,"item":"book","price":12.5,"tags":["a","b"],"ok":true,"none":null}`,
		`[1,-2,3.25e10,18446744073709551615,-9223372036854775808]`, `"text"`, `0`, `{"a":{"b":{"c":[{}]}}}`, `{"z":1,"a":2}`, `{bad`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, src []byte) {
		v, err := wire.MsgpackValue(src)
		if !json.Valid(src) {
			if err == nil {
				t.Fatalf("converted invalid JSON %q", src)
			}
			return
		}
		if err != nil {
			if errors.Is(err, strconv.ErrRange) {
				return // a number beyond float64: refused
			}
			t.Fatalf("valid JSON %q: %v", src, err)
		}
		b, err := msgpack.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		var back any
		if err := msgpack.Unmarshal(b, &back); err != nil {
			t.Fatal(err)
		}
		j, err := json.Marshal(jsonable(back))
		if err != nil {
			t.Fatal(err)
		}
		var want, got any
		if json.Unmarshal(src, &want) != nil || json.Unmarshal(j, &got) != nil || !reflect.DeepEqual(want, got) {
			t.Fatalf("%s came back as %s", src, j)
		}
	})
}
