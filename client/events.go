package client

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"iter"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/vmihailenco/msgpack/v5"

	"github.com/badbatch/badbatch/api"
)

// The events model. The api package writes events by hand (they are its
// hot path) and has no types for them, so they are here, matching
// docs/api.md: an event is a JSON payload or opaque bytes, with string
// metadata.

// EventData is an event to publish: exactly one of Payload (a JSON
// document) and Binary (bytes), with optional metadata.
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

// JSONEvent returns an event whose payload is v encoded as JSON.
func JSONEvent(v any, metadata map[string]string) (EventData, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return EventData{}, fmt.Errorf("client: encoding the payload: %w", err)
	}
	return EventData{Payload: b, Metadata: metadata}, nil
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
// as a native value, or bin for Binary.
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
		v, err := jsonToMsgpackValue(d.Payload)
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

// Event is a published event, as replay, get and tail return it.
type Event struct {
	Sequence int64     `json:"sequence" yaml:"sequence"`
	Time     time.Time `json:"time" yaml:"time"`
	// Payload is the JSON payload; nil for a binary event.
	Payload json.RawMessage `json:"payload,omitempty" yaml:"payload,omitempty"`
	// Binary is a binary event's payload; nil for a JSON event.
	Binary   []byte            `json:"payload_base64,omitempty" yaml:"payload_base64,omitempty"`
	Metadata map[string]string `json:"metadata,omitempty" yaml:"metadata,omitempty"`
}

// Data returns the event's content, to publish it again.
func (e Event) Data() EventData {
	return EventData{Payload: e.Payload, Binary: e.Binary, Metadata: e.Metadata}
}

// ReplayPage is a page of [Client.Replay].
type ReplayPage struct {
	Disruptor string  `json:"disruptor" yaml:"disruptor"`
	Events    []Event `json:"events" yaml:"events"`
	// NextSequence is the from of the next page.
	NextSequence int64 `json:"next_sequence" yaml:"next_sequence"`
	// OldestSequence and LatestSequence bound what the ring holds;
	// LatestSequence is -1 while nothing is published.
	OldestSequence int64 `json:"oldest_sequence" yaml:"oldest_sequence"`
	LatestSequence int64 `json:"latest_sequence" yaml:"latest_sequence"`
}

// Batch is one disruptor's part of [Client.PublishMulti].
type Batch struct {
	Disruptor string `json:"disruptor"`
	// IdempotencyKey, when set, deduplicates this batch (it wins over
	// the call's key).
	IdempotencyKey string      `json:"idempotency_key,omitempty"`
	Events         []EventData `json:"events"`
}

// PublishOptions are the rare settings of a publish.
type PublishOptions struct {
	// IdempotencyKey (1 to 255 printable ASCII characters) makes the
	// publish safe to retry: the server publishes a key's batch once
	// within its dedup window and answers retries with the first
	// publish's sequences (Duplicate set). With a key, the client retries
	// the publish after network errors and 429/503 answers; without one,
	// never.
	IdempotencyKey string
}

// Publish publishes one event to the disruptor name.
func (c *Client) Publish(ctx context.Context, name string, ev EventData, opts PublishOptions) (api.PublishResult, error) {
	return c.publish(ctx, name, ev, opts)
}

// PublishBatch publishes events to the disruptor name, at consecutive
// sequences, all or none.
func (c *Client) PublishBatch(ctx context.Context, name string, events []EventData, opts PublishOptions) (api.PublishResult, error) {
	if len(events) == 0 {
		return api.PublishResult{}, errors.New("client: PublishBatch needs at least one event")
	}
	return c.publish(ctx, name, struct {
		Events []EventData `json:"events"`
	}{events}, opts)
}

func (c *Client) publish(ctx context.Context, name string, body any, opts PublishOptions) (api.PublishResult, error) {
	var out api.PublishResult
	r, err := c.bodyRequest(http.MethodPost, "/api/v1/disruptors/"+url.PathEscape(name)+"/events", body)
	if err != nil {
		return out, err
	}
	r.idempotencyKey = opts.IdempotencyKey
	_, err = c.do(ctx, r, &out)
	return out, err
}

// PublishMulti publishes batches to several disruptors in one request.
// Each batch succeeds or fails on its own: the response reports each, in
// order, and the error is nil when the request itself succeeded (even if
// some batches failed; see MultiResponse.Failed). opts.IdempotencyKey
// applies to the batches without their own.
func (c *Client) PublishMulti(ctx context.Context, batches []Batch, opts PublishOptions) (api.MultiResponse, error) {
	var out api.MultiResponse
	r, err := c.bodyRequest(http.MethodPost, "/api/v1/events", struct {
		Batches []Batch `json:"batches"`
	}{batches})
	if err != nil {
		return out, err
	}
	r.idempotencyKey = opts.IdempotencyKey
	_, err = c.do(ctx, r, &out)
	return out, err
}

// FromOldest, as the from of [Client.Replay], starts at the oldest event
// the ring holds.
const FromOldest = -2

// Replay returns up to limit events of the disruptor name from the
// sequence from on (FromOldest, or any negative from, for the oldest
// held). A limit of zero takes the server's default page size (100); the
// server allows at most 10000. Reading past the latest event returns no
// events.
func (c *Client) Replay(ctx context.Context, name string, from int64, limit int) (ReplayPage, error) {
	q := url.Values{}
	if from >= 0 {
		q.Set("from", strconv.FormatInt(from, 10))
	}
	if limit > 0 {
		q.Set("limit", strconv.Itoa(limit))
	}
	var out ReplayPage
	_, err := c.do(ctx, &request{method: http.MethodGet, path: "/api/v1/disruptors/" + url.PathEscape(name) + "/events", query: q}, &out)
	return out, err
}

// ReplayAll yields the events of the disruptor name from the sequence
// from (negative: the oldest held) up to the latest published when it
// started, at most limit of them (zero: no limit), fetching pages of
// pageSize (zero: the server's default). It ends after the first error.
func (c *Client) ReplayAll(ctx context.Context, name string, from int64, limit, pageSize int) iter.Seq2[Event, error] {
	return func(yield func(Event, error) bool) {
		n, end := 0, int64(-1)
		for first := true; ; first = false {
			size := pageSize
			if limit > 0 && (size == 0 || limit-n < size) {
				size = limit - n
			}
			page, err := c.Replay(ctx, name, from, size)
			if err != nil {
				yield(Event{}, err)
				return
			}
			if first {
				end = page.LatestSequence
			}
			for _, ev := range page.Events {
				if ev.Sequence > end {
					return
				}
				if !yield(ev, nil) {
					return
				}
				n++
				if limit > 0 && n >= limit {
					return
				}
			}
			if len(page.Events) == 0 || page.NextSequence > end {
				return
			}
			from = page.NextSequence
		}
	}
}

// Event returns the event at sequence seq of the disruptor name.
func (c *Client) Event(ctx context.Context, name string, seq int64) (Event, error) {
	var out Event
	_, err := c.do(ctx, &request{method: http.MethodGet,
		path: "/api/v1/disruptors/" + url.PathEscape(name) + "/events/" + strconv.FormatInt(seq, 10)}, &out)
	return out, err
}

// bodyRequest builds a request with v encoded in the client's encoding.
func (c *Client) bodyRequest(method, path string, v any) (*request, error) {
	b, err := marshal(c.cfg.Encoding, v)
	if err != nil {
		return nil, fmt.Errorf("client: encoding the request: %w", err)
	}
	return &request{method: method, path: path, body: b, ctype: c.cfg.Encoding.mediaType()}, nil
}
