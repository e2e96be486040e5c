package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"iter"
	"net/http"
	"net/url"
	"strconv"

	"github.com/badbatch/badbatch/wire"
)

// The event bodies are the wire package's; these are their names here.
type (
	// EventData is an event to publish: exactly one of Payload (a JSON
	// document) and Binary (bytes), with optional metadata.
	EventData = wire.EventData
	// Event is a published event, as replay, get and tail return it.
	Event = wire.Event
	// ReplayPage is a page of [Client.Replay].
	ReplayPage = wire.ReplayPage
	// Batch is one disruptor's part of [Client.PublishMulti].
	Batch = wire.Batch
)

// JSONEvent returns an event whose payload is v encoded as JSON.
func JSONEvent(v any, metadata map[string]string) (EventData, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return EventData{}, fmt.Errorf("client: encoding the payload: %w", err)
	}
	return EventData{Payload: b, Metadata: metadata}, nil
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
func (c *Client) Publish(ctx context.Context, name string, ev EventData, opts PublishOptions) (wire.PublishResult, error) {
	return c.publish(ctx, name, ev, opts)
}

// PublishBatch publishes events to the disruptor name, at consecutive
// sequences, all or none.
func (c *Client) PublishBatch(ctx context.Context, name string, events []EventData, opts PublishOptions) (wire.PublishResult, error) {
	if len(events) == 0 {
		return wire.PublishResult{}, errors.New("client: PublishBatch needs at least one event")
	}
	return c.publish(ctx, name, wire.PublishRequest{Events: events}, opts)
}

// EncodedBatch is a batch of events encoded once, in the encoding of the
// client that made it ([Client.EncodeBatch]), to be published any number
// of times with [Client.PublishEncoded]: it takes the encoding off the hot
// path of a load generator or a producer that replays a fixed batch. It is
// immutable and safe to share between goroutines.
type EncodedBatch struct {
	body  []byte
	ctype string
	n     int
}

// Len is the number of events in the batch.
func (b EncodedBatch) Len() int { return b.n }

// Size is the size of the encoded body in bytes.
func (b EncodedBatch) Size() int { return len(b.body) }

// EncodeBatch encodes events as PublishBatch sends them.
func (c *Client) EncodeBatch(events []EventData) (EncodedBatch, error) {
	if len(events) == 0 {
		return EncodedBatch{}, errors.New("client: EncodeBatch needs at least one event")
	}
	b, err := marshal(c.cfg.Encoding, wire.PublishRequest{Events: events})
	if err != nil {
		return EncodedBatch{}, fmt.Errorf("client: encoding the request: %w", err)
	}
	return EncodedBatch{body: b, ctype: c.cfg.Encoding.mediaType(), n: len(events)}, nil
}

// PublishEncoded publishes an encoded batch to the disruptor name, as
// PublishBatch publishes the events it was made from. The body is sent
// as it is, in the encoding of the client that encoded it.
func (c *Client) PublishEncoded(ctx context.Context, name string, b EncodedBatch, opts PublishOptions) (wire.PublishResult, error) {
	var out wire.PublishResult
	if b.n == 0 {
		return out, errors.New("client: PublishEncoded needs a batch from EncodeBatch")
	}
	r := &request{method: http.MethodPost, path: "/api/v1/disruptors/" + url.PathEscape(name) + "/events",
		body: b.body, ctype: b.ctype, idempotencyKey: opts.IdempotencyKey}
	_, err := c.do(ctx, r, &out)
	return out, err
}

func (c *Client) publish(ctx context.Context, name string, body any, opts PublishOptions) (wire.PublishResult, error) {
	var out wire.PublishResult
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
func (c *Client) PublishMulti(ctx context.Context, batches []Batch, opts PublishOptions) (wire.MultiResponse, error) {
	var out wire.MultiResponse
	r, err := c.bodyRequest(http.MethodPost, "/api/v1/events", wire.MultiRequest{Batches: batches})
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
func (c *Client) Replay(ctx context.Context, name string, from int64, limit int, opts ...ReadOption) (ReplayPage, error) {
	q := url.Values{}
	if from >= 0 {
		q.Set("from", strconv.FormatInt(from, 10))
	}
	if limit > 0 {
		q.Set("limit", strconv.Itoa(limit))
	}
	var out ReplayPage
	_, err := c.do(ctx, &request{method: http.MethodGet, path: "/api/v1/disruptors/" + url.PathEscape(name) + "/events", query: readQuery(q, opts)}, &out)
	return out, err
}

// ReplayAll yields the events of the disruptor name from the sequence
// from (negative: the oldest held) up to the latest published when it
// started, at most limit of them (zero: no limit), fetching pages of
// pageSize (zero: the server's default). It ends after the first error.
func (c *Client) ReplayAll(ctx context.Context, name string, from int64, limit, pageSize int, opts ...ReadOption) iter.Seq2[Event, error] {
	return func(yield func(Event, error) bool) {
		n, end := 0, int64(-1)
		for first := true; ; first = false {
			size := pageSize
			if limit > 0 && (size == 0 || limit-n < size) {
				size = limit - n
			}
			page, err := c.Replay(ctx, name, from, size, opts...)
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
func (c *Client) Event(ctx context.Context, name string, seq int64, opts ...ReadOption) (Event, error) {
	var out Event
	_, err := c.do(ctx, &request{method: http.MethodGet,
		path: "/api/v1/disruptors/" + url.PathEscape(name) + "/events/" + strconv.FormatInt(seq, 10), query: readQuery(nil, opts)}, &out)
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
