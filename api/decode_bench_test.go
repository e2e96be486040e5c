package api

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"testing"

	"github.com/vmihailenco/msgpack/v5"
	"go.yaml.in/yaml/v3"

	"github.com/badbatch/badbatch/engine"
	"github.com/badbatch/badbatch/internal/procstat"
)

// BenchmarkDecode compares the server's decoders (ours: the hand-written
// JSON and MessagePack readers, the node-tree reader for YAML, under one
// grammar) with the libraries doing the same job (library: decode into
// structs with encoding/json, vmihailenco/msgpack and yaml.v3, then build
// the same engine events, with payloads as JSON text), on a batch of 1,000
// small events. Each run reports others_cpu, the share of the machine's
// CPU other processes used meanwhile (docs/benchmarks.md: rerun when it is
// not near 0).
//
//	go test -run '^$' -bench BenchmarkDecode -benchmem -count 6 ./api/
func BenchmarkDecode(b *testing.B) {
	const n = 1000
	limits := decodeLimits{maxEvents: 10_000, maxMeta: 64, maxPayload: 1 << 20, maxArena: 16 << 20}
	for _, f := range []format{formatJSON, formatMsgpack, formatYAML} {
		body := benchEvents(b, f, n)
		b.Run(fmt.Sprintf("ours/%s", f), func(b *testing.B) {
			measure(b, len(body), func() {
				d := getDecoder(limits)
				if err := d.decode(f, body, false); err != nil || len(d.events) != n {
					b.Fatal(err, len(d.events))
				}
				d.release()
			})
		})
		b.Run(fmt.Sprintf("library/%s", f), func(b *testing.B) {
			measure(b, len(body), func() {
				evs, err := libraryDecode(f, body)
				if err != nil || len(evs) != n {
					b.Fatal(err, len(evs))
				}
			})
		})
	}
}

// benchEvents is a batch of n events with a small JSON object payload
// and a metadata entry each.
func benchEvents(b *testing.B, f format, n int) []byte {
	evs := make([]any, n)
	for i := range evs {
		evs[i] = map[string]any{"payload": map[string]any{"id": i, "user": "u-1234", "amount": 12.5, "ok": true},
			"metadata": map[string]any{"source": "bench"}}
	}
	return encodeAs(b, f, map[string]any{"events": evs})
}

func measure(b *testing.B, size int, op func()) {
	b.SetBytes(int64(size))
	b.ReportAllocs()
	before, err := procstat.Read()
	for b.Loop() {
		op()
	}
	if after, err2 := procstat.Read(); err == nil && err2 == nil {
		b.ReportMetric(procstat.Others(before, after), "others_cpu")
	}
}

// libEvent is an event as the libraries decode it.
type libEvent struct {
	Payload       any               `json:"payload" yaml:"payload" msgpack:"payload"`
	PayloadBase64 *string           `json:"payload_base64" yaml:"payload_base64" msgpack:"payload_base64"`
	Metadata      map[string]string `json:"metadata" yaml:"metadata" msgpack:"metadata"`
}

type libJSONEvent struct {
	Payload       json.RawMessage   `json:"payload"`
	PayloadBase64 *string           `json:"payload_base64"`
	Metadata      map[string]string `json:"metadata"`
}

// libraryDecode decodes a batch with the libraries and builds the engine
// events the server needs: payloads as JSON text, binary payloads as
// bytes, metadata as a list.
func libraryDecode(f format, body []byte) ([]engine.Event, error) {
	var evs []engine.Event
	add := func(payload []byte, b64 *string, meta map[string]string) error {
		ev := engine.Event{Payload: payload}
		if b64 != nil {
			p, err := base64.StdEncoding.DecodeString(*b64)
			if err != nil {
				return err
			}
			ev.Payload, ev.Binary = p, true
		}
		for k, v := range meta {
			ev.Metadata = append(ev.Metadata, engine.Metadata{Key: k, Value: v})
		}
		evs = append(evs, ev)
		return nil
	}
	switch f {
	case formatJSON:
		var batch struct {
			Events []libJSONEvent `json:"events"`
		}
		d := json.NewDecoder(bytes.NewReader(body))
		d.DisallowUnknownFields()
		if err := d.Decode(&batch); err != nil {
			return nil, err
		}
		for _, e := range batch.Events {
			if err := add(e.Payload, e.PayloadBase64, e.Metadata); err != nil {
				return nil, err
			}
		}
		return evs, nil
	default:
		var batch struct {
			Events []libEvent `yaml:"events" msgpack:"events"`
		}
		var err error
		if f == formatYAML {
			err = yaml.Unmarshal(body, &batch)
		} else {
			err = msgpack.Unmarshal(body, &batch)
		}
		if err != nil {
			return nil, err
		}
		for _, e := range batch.Events {
			p, err := json.Marshal(e.Payload)
			if err != nil {
				return nil, err
			}
			if err := add(p, e.PayloadBase64, e.Metadata); err != nil {
				return nil, err
			}
		}
		return evs, nil
	}
}
