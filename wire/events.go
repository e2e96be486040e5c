package wire

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/vmihailenco/msgpack/v5"
)

// The publish bodies, in every format (docs/api.md):
//
//	one event:  {"payload": <any>, "payload_base64": "...", "metadata": {"k": "v"}}
//	a batch:    {"events": [<event>, ...]}
//	several:    {"batches": [{"disruptor": "a", "idempotency_key": "k", "events": [...]}, ...]}

// EventData is an event to publish: exactly one of Payload (a JSON
// document) and Binary (bytes), with optional metadata. It encodes as the
// API reads it, in JSON and in MessagePack (where Binary is a bin payload).
type EventData struct {
	// Payload is the event's JSON document, stored by the server as
	// compact JSON text.
	Payload json.RawMessage
	// Binary is an opaque payload, for events that are not JSON; nil when
	// Payload is used.
	Binary []byte
	// Metadata are string pairs stored with the event (keys are unique).
	Metadata map[string]string
}

// MarshalJSON writes the event as the API reads it: payload or
// payload_base64, and metadata.
func (d EventData) MarshalJSON() ([]byte, error) {
	b := []byte{'{'}
	sep := func() {
		if len(b) > 1 {
			b = append(b, ',')
		}
	}
	if d.Payload != nil {
		if !json.Valid(d.Payload) {
			return nil, errors.New("payload is not a JSON document")
		}
		b = append(b, `"payload":`...)
		b = append(b, d.Payload...)
	}
	if d.Binary != nil {
		sep()
		b = append(b, `"payload_base64":"`...)
		b = base64.StdEncoding.AppendEncode(b, d.Binary)
		b = append(b, '"')
	}
	if len(d.Metadata) > 0 {
		m, err := json.Marshal(d.Metadata)
		if err != nil {
			return nil, err
		}
		sep()
		b = append(b, `"metadata":`...)
		b = append(b, m...)
	}
	return append(b, '}'), nil
}

// EncodeMsgpack writes the event as the API reads MessagePack: the payload
// as a native value (objects in their order), or bin for Binary.
func (d EventData) EncodeMsgpack(e *msgpack.Encoder) error {
	n := 0
	if d.Payload != nil {
		n++
	}
	if d.Binary != nil {
		n++
	}
	if len(d.Metadata) > 0 {
		n++
	}
	if err := e.EncodeMapLen(n); err != nil {
		return err
	}
	if d.Payload != nil {
		v, err := MsgpackValue(d.Payload)
		if err != nil {
			return fmt.Errorf("payload is not JSON: %w", err)
		}
		if err := e.EncodeString("payload"); err != nil {
			return err
		}
		if err := e.Encode(v); err != nil {
			return err
		}
	}
	if d.Binary != nil {
		key := "payload"
		if d.Payload != nil {
			key = "payload_base64" // both given: let the server refuse it
		}
		if err := e.EncodeString(key); err != nil {
			return err
		}
		if err := e.EncodeBytes(d.Binary); err != nil {
			return err
		}
	}
	if len(d.Metadata) > 0 {
		if err := e.EncodeString("metadata"); err != nil {
			return err
		}
		return e.Encode(d.Metadata)
	}
	return nil
}

var (
	_ json.Marshaler        = EventData{}
	_ msgpack.CustomEncoder = EventData{}
)

// Event is a published event, as replay, get and the live tail return it.
type Event struct {
	Sequence int64     `json:"sequence" yaml:"sequence"`
	Time     time.Time `json:"time" yaml:"time"`
	// Payload is the JSON payload; nil for a binary event.
	Payload json.RawMessage `json:"payload,omitempty" yaml:"payload,omitempty"`
	// Binary is a binary event's payload (payload_base64 in JSON and
	// YAML, a bin payload in MessagePack); nil for a JSON event.
	Binary   []byte            `json:"payload_base64,omitempty" yaml:"payload_base64,omitempty"`
	Metadata map[string]string `json:"metadata,omitempty" yaml:"metadata,omitempty"`
}

// Data returns the event's content, to publish it again.
func (e Event) Data() EventData {
	return EventData{Payload: e.Payload, Binary: e.Binary, Metadata: e.Metadata}
}

// ReplayPage is the body of GET /api/v1/disruptors/{name}/events.
type ReplayPage struct {
	Disruptor string  `json:"disruptor" yaml:"disruptor"`
	Events    []Event `json:"events" yaml:"events"`
	// NextSequence is the from of the next page.
	NextSequence int64 `json:"next_sequence" yaml:"next_sequence"`
	// OldestSequence and LatestSequence bound what the ring holds;
	// LatestSequence is OldestSequence-1 while nothing is published.
	OldestSequence int64 `json:"oldest_sequence" yaml:"oldest_sequence"`
	LatestSequence int64 `json:"latest_sequence" yaml:"latest_sequence"`
}

// Batch is one disruptor's part of a multi-disruptor publish
// ([MultiRequest]).
type Batch struct {
	Disruptor string `json:"disruptor" yaml:"disruptor"`
	// IdempotencyKey, when set, deduplicates this batch (it wins over the
	// request's Idempotency-Key header).
	IdempotencyKey string      `json:"idempotency_key,omitempty" yaml:"idempotency_key,omitempty"`
	Events         []EventData `json:"events" yaml:"events"`
}

// PublishRequest is the body of a batch publish, POST
// /api/v1/disruptors/{name}/events; a single event may also be sent as
// its [EventData] alone.
type PublishRequest struct {
	Events []EventData `json:"events" yaml:"events"`
}

// MultiRequest is the body of POST /api/v1/events.
type MultiRequest struct {
	Batches []Batch `json:"batches" yaml:"batches"`
}

// PublishResult is the body of a successful publish. A batch gets
// consecutive sequences, so they are FirstSequence to LastSequence, Count
// of them: a list would cost a thousand numbers for a batch of a thousand.
type PublishResult struct {
	Disruptor     string `json:"disruptor" yaml:"disruptor"`
	FirstSequence int64  `json:"first_sequence" yaml:"first_sequence"`
	LastSequence  int64  `json:"last_sequence" yaml:"last_sequence"`
	Count         int    `json:"count" yaml:"count"`
	// Duplicate is true when an Idempotency-Key matched an earlier
	// publish: these are its sequences, and nothing was published.
	Duplicate bool `json:"duplicate" yaml:"duplicate"`
}

// MultiResult is one disruptor's outcome in POST /api/v1/events: a result
// or an error, never neither.
type MultiResult struct {
	Disruptor     string `json:"disruptor" yaml:"disruptor"`
	FirstSequence *int64 `json:"first_sequence,omitempty" yaml:"first_sequence,omitempty"`
	LastSequence  *int64 `json:"last_sequence,omitempty" yaml:"last_sequence,omitempty"`
	Count         int    `json:"count" yaml:"count"`
	Duplicate     bool   `json:"duplicate,omitempty" yaml:"duplicate,omitempty"`
	Error         *Error `json:"error,omitempty" yaml:"error,omitempty"`
}

// MultiResponse is the body of POST /api/v1/events: one result per batch,
// in the order given. Its status is 200 when every batch succeeded and 207
// otherwise.
type MultiResponse struct {
	Results   []MultiResult `json:"results" yaml:"results"`
	Succeeded int           `json:"succeeded" yaml:"succeeded"`
	Failed    int           `json:"failed" yaml:"failed"`
}
