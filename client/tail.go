package client

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"iter"
	"net/http"
	"net/url"
	"strconv"
	"time"
)

// Framing is how a live stream is framed on the wire. Both carry the same
// JSON objects.
type Framing uint8

// The framings of [Client.Tail].
const (
	FramingSSE    Framing = iota // text/event-stream, the default
	FramingNDJSON                // application/x-ndjson
)

// FromNext, as [TailOptions.From], starts a stream with the next event
// published.
const FromNext = -1

// TailOptions say where a stream starts and how it is carried.
type TailOptions struct {
	// From is the first sequence to deliver; FromNext (any negative) means
	// the next one published. Note that zero is sequence 0.
	From int64
	// Framing is SSE (the default) or NDJSON.
	Framing Framing
	// SkipOnLag asks the server to skip ahead (with a [MessageGap]) when
	// the stream falls more than a ring behind, instead of ending it with
	// a [MessageLagged].
	SkipOnLag bool
	// MaxReconnects is how many times in a row a broken stream is
	// reopened after the last sequence it delivered; zero means 5 and a
	// negative number means never.
	MaxReconnects int
	// Consistent streams a replicated disruptor from the Raft leader
	// (consistent=true; see [Consistent]).
	Consistent bool
}

// MessageKind tells what a [Message] is.
type MessageKind uint8

// The kinds of stream messages.
const (
	// MessageEvent carries an event.
	MessageEvent MessageKind = iota + 1
	// MessageGap says the server skipped sequences From to To (Count of
	// them) because the stream fell a ring behind (SkipOnLag).
	MessageGap
	// MessageLagged ends a stream that fell a ring behind: LastSequence is
	// the last delivered, OldestSequence where the ring now starts.
	MessageLagged
	// MessageEnd ends a stream: Reason is "stopped" (every event published
	// before the stop was delivered), "deleted", "shutdown", or "replaced"
	// (the node replaced its copy of a quorum disruptor with the leader's
	// snapshot: resume after LastSequence, there or on any node).
	MessageEnd
)

func (k MessageKind) String() string {
	switch k {
	case MessageEvent:
		return "event"
	case MessageGap:
		return "gap"
	case MessageLagged:
		return "lagged"
	case MessageEnd:
		return "end"
	}
	return "MessageKind(" + strconv.Itoa(int(k)) + ")"
}

// Message is one message of a live stream.
type Message struct {
	Kind MessageKind
	// Event is the event of a MessageEvent.
	Event Event
	// From, To and Count are the sequences a MessageGap skipped.
	From, To, Count int64
	// LastSequence is the last sequence delivered before a MessageLagged
	// or MessageEnd (-1 for none).
	LastSequence int64
	// OldestSequence is where the ring starts, in a MessageLagged.
	OldestSequence int64
	// Reason says why a MessageEnd ended the stream.
	Reason string
}

// Tail follows the disruptor name live, from opts.From, and yields each
// message as it comes: events, and the control messages gap, lagged and
// end (after lagged and end the iteration ends). Heartbeats are not
// yielded.
//
// When the connection breaks, Tail reopens the stream after the last
// sequence it delivered (so nothing is lost or repeated), up to
// opts.MaxReconnects times in a row with backoff. An error ends the
// iteration: the server's (such as [ErrDisruptorNotFound], or
// [ErrSequenceEvicted] when the ring moved past the resume point), a
// network error after the reconnects, or the context's error when ctx
// ends. Breaking out of the loop closes the stream.
//
//	for msg, err := range c.Tail(ctx, "orders", client.TailOptions{From: client.FromNext}) {
//		if err != nil { return err }
//		if msg.Kind == client.MessageEvent { handle(msg.Event) }
//	}
func (c *Client) Tail(ctx context.Context, name string, opts TailOptions) iter.Seq2[Message, error] {
	return func(yield func(Message, error) bool) {
		next := opts.From
		if next < 0 {
			next = FromNext
		}
		maxReconnects := opts.MaxReconnects
		if maxReconnects == 0 {
			maxReconnects = 5
		}
		for failures := 0; ; {
			s, err := c.openStream(ctx, name, next, opts)
			if err != nil {
				var apiErr *Error
				retry := failures < max(maxReconnects, c.cfg.MaxRetries) && ctx.Err() == nil &&
					(!errors.As(err, &apiErr) || retryAnswer(apiErr))
				if !retry {
					yield(Message{}, err)
					return
				}
				var ra time.Duration
				if apiErr != nil {
					ra = apiErr.RetryAfter
				}
				if c.wait(ctx, failures, ra) != nil {
					yield(Message{}, ctx.Err())
					return
				}
				failures++
				continue
			}
			done, delivered, err := s.run(yield, &next)
			s.close()
			if done {
				return
			}
			if delivered {
				failures = 0
			}
			if ctx.Err() != nil {
				yield(Message{}, ctx.Err())
				return
			}
			if maxReconnects < 0 || failures >= maxReconnects {
				yield(Message{}, fmt.Errorf("client: stream of %s broke: %w", name, err))
				return
			}
			if c.wait(ctx, failures, 0) != nil {
				yield(Message{}, ctx.Err())
				return
			}
			failures++
		}
	}
}

// stream is one open stream response.
type stream struct {
	body    io.ReadCloser
	r       *bufio.Reader
	framing Framing
	cancel  context.CancelFunc
}

func (s *stream) close() {
	s.cancel()
	s.body.Close()
}

// openStream connects, within the client's timeout, from the sequence
// from (negative: the next published).
func (c *Client) openStream(ctx context.Context, name string, from int64, opts TailOptions) (*stream, error) {
	q := url.Values{}
	accept := "text/event-stream"
	if opts.Framing == FramingNDJSON {
		accept = "application/x-ndjson"
		q.Set("format", "ndjson")
	} else {
		q.Set("format", "sse")
	}
	if from >= 0 {
		q.Set("from", strconv.FormatInt(from, 10))
	}
	if opts.SkipOnLag {
		q.Set("on_lag", "skip")
	}
	if opts.Consistent {
		q = readQuery(q, []ReadOption{Consistent()})
	}
	sctx, cancel := context.WithCancel(ctx)
	r := &request{method: http.MethodGet, path: disruptorPath(name) + "/events/stream", query: q, accept: accept}
	req, err := c.newHTTPRequest(sctx, r)
	if err != nil {
		cancel()
		return nil, fmt.Errorf("client: %w", err)
	}
	// Streams are not compressed: each message must arrive when sent.
	req.Header.Set("Accept-Encoding", "identity")
	var timer *time.Timer
	if c.cfg.Timeout > 0 {
		timer = time.AfterFunc(c.cfg.Timeout, cancel)
	}
	res, err := c.hc.Do(req)
	if timer != nil && !timer.Stop() {
		if err == nil {
			res.Body.Close()
		}
		cancel()
		return nil, fmt.Errorf("client: GET %s: %w", r.path, context.DeadlineExceeded)
	}
	if err != nil {
		cancel()
		if ctx.Err() != nil {
			return nil, fmt.Errorf("client: GET %s: %w", r.path, ctx.Err())
		}
		return nil, fmt.Errorf("client: GET %s: %w", r.path, unwrapURLError(err))
	}
	if res.StatusCode != http.StatusOK {
		e := readError(res)
		res.Body.Close()
		cancel()
		return nil, e
	}
	return &stream{body: res.Body, r: bufio.NewReaderSize(res.Body, 64<<10), framing: opts.Framing, cancel: cancel}, nil
}

// maxLine bounds one line of a stream: the largest event, base64
// encoded, with room to spare.
const maxLine = 16 << 20

// run reads messages and yields them, keeping *next at the sequence to
// resume from. done is true when the iteration is over (a final message,
// or the consumer stopped); otherwise err says why the stream broke.
func (s *stream) run(yield func(Message, error) bool, next *int64) (done, delivered bool, err error) {
	var data []byte // SSE: the data of the message being read
	for {
		line, err := s.readLine()
		if err != nil {
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return false, delivered, err
		}
		if s.framing == FramingNDJSON {
			if len(line) == 0 {
				continue
			}
			data = line
		} else {
			switch {
			case len(line) == 0: // end of an SSE message
				if len(data) == 0 {
					continue
				}
			case line[0] == ':':
				// A comment: the stream's opening one says where it starts.
				if rest, ok := bytes.CutPrefix(line, []byte(": stream of ")); ok && *next < 0 {
					if i := bytes.LastIndex(rest, []byte(" from ")); i >= 0 {
						if n, err := strconv.ParseInt(string(rest[i+6:]), 10, 64); err == nil {
							*next = n
						}
					}
				}
				continue
			default:
				if v, ok := bytes.CutPrefix(line, []byte("data:")); ok {
					if len(data) > 0 {
						data = append(data, '\n')
					}
					data = append(data, bytes.TrimPrefix(v, []byte(" "))...)
				}
				continue // id, event, retry: the data says it all
			}
		}
		msg, ok, err := parseMessage(data)
		data = data[:0]
		if err != nil {
			return false, delivered, err
		}
		if !ok {
			continue // heartbeat
		}
		switch msg.Kind {
		case MessageEvent:
			*next = msg.Event.Sequence + 1
		case MessageGap:
			*next = msg.To + 1
		}
		delivered = true
		if !yield(msg, nil) || msg.Kind == MessageEnd || msg.Kind == MessageLagged {
			return true, delivered, nil
		}
	}
}

// readLine reads one line without its line ending.
func (s *stream) readLine() ([]byte, error) {
	var line []byte
	for {
		part, err := s.r.ReadSlice('\n')
		line = append(line, part...)
		if err == bufio.ErrBufferFull {
			if len(line) > maxLine {
				return nil, errors.New("a stream line is too long")
			}
			continue
		}
		if err != nil {
			return nil, err
		}
		line = bytes.TrimSuffix(line, []byte{'\n'})
		return bytes.TrimSuffix(line, []byte{'\r'}), nil
	}
}

// wireMessage is any message of a stream: an event (no type) or a control
// message.
type wireMessage struct {
	Type           string            `json:"type"`
	Sequence       *int64            `json:"sequence"`
	Time           time.Time         `json:"time"`
	Payload        json.RawMessage   `json:"payload"`
	PayloadBase64  []byte            `json:"payload_base64"`
	Metadata       map[string]string `json:"metadata"`
	From           int64             `json:"from"`
	To             int64             `json:"to"`
	Count          int64             `json:"count"`
	Reason         string            `json:"reason"`
	LastSequence   int64             `json:"last_sequence"`
	OldestSequence int64             `json:"oldest_sequence"`
}

// parseMessage decodes one message; ok is false for a heartbeat or a
// message of a kind this client does not know.
func parseMessage(data []byte) (Message, bool, error) {
	var w wireMessage
	if err := json.Unmarshal(data, &w); err != nil {
		return Message{}, false, fmt.Errorf("a stream message does not decode: %w", err)
	}
	switch w.Type {
	case "":
		if w.Sequence == nil {
			return Message{}, false, errors.New("a stream event has no sequence")
		}
		return Message{Kind: MessageEvent, LastSequence: *w.Sequence, Event: Event{
			Sequence: *w.Sequence, Time: w.Time, Payload: w.Payload, Binary: w.PayloadBase64, Metadata: w.Metadata,
		}}, true, nil
	case "gap":
		return Message{Kind: MessageGap, From: w.From, To: w.To, Count: w.Count, LastSequence: w.From - 1}, true, nil
	case "lagged":
		return Message{Kind: MessageLagged, LastSequence: w.LastSequence, OldestSequence: w.OldestSequence}, true, nil
	case "end":
		return Message{Kind: MessageEnd, LastSequence: w.LastSequence, Reason: w.Reason}, true, nil
	}
	return Message{}, false, nil
}
