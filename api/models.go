package api

import (
	"encoding/json"
	"time"

	"github.com/vmihailenco/msgpack/v5"
	"go.yaml.in/yaml/v3"

	"github.com/badbatch/badbatch/engine"
)

// The request and response bodies other than events. Each field carries
// a json tag (also used for MessagePack) and a yaml tag.

// CreateRequest is the body of POST /api/v1/disruptors. Zero fields take
// the server's defaults.
type CreateRequest struct {
	Name             string `json:"name" yaml:"name"`
	BufferSize       int    `json:"buffer_size,omitempty" yaml:"buffer_size,omitempty"`
	ProducerType     string `json:"producer_type,omitempty" yaml:"producer_type,omitempty"`
	WaitStrategy     string `json:"wait_strategy,omitempty" yaml:"wait_strategy,omitempty"`
	MaxEventSize     int    `json:"max_event_size,omitempty" yaml:"max_event_size,omitempty"`
	Overflow         string `json:"overflow,omitempty" yaml:"overflow,omitempty"`
	PublishTimeoutMS int64  `json:"publish_timeout_ms,omitempty" yaml:"publish_timeout_ms,omitempty"`
	// Schema is a JSON Schema document every JSON payload must match.
	Schema any `json:"schema,omitempty" yaml:"schema,omitempty"`
	// Start, true when absent, starts the disruptor at once; false leaves
	// it created.
	Start *bool `json:"start,omitempty" yaml:"start,omitempty"`
	// Replication is none (node-local, the default) or quorum (replicated
	// with Raft across the cluster; needs cluster.replication.enabled).
	Replication string `json:"replication,omitempty" yaml:"replication,omitempty"`
	// FirstSequence is the sequence of the first event (default 0), for a
	// disruptor that continues the numbering of an earlier one (after a
	// move or a restart), so that readers' saved sequences stay valid:
	// sequences before it read as evicted. Not for quorum disruptors,
	// which the Raft log numbers.
	FirstSequence int64 `json:"first_sequence,omitempty" yaml:"first_sequence,omitempty"`
}

// StateRequest is the body of PUT /api/v1/disruptors/{name}/state.
type StateRequest struct {
	State string `json:"state" yaml:"state"`
}

// StateResponse is the body of GET /api/v1/disruptors/{name}/state.
type StateResponse struct {
	Disruptor string `json:"disruptor" yaml:"disruptor"`
	State     string `json:"state" yaml:"state"`
}

// Disruptor describes a hosted disruptor.
type Disruptor struct {
	Name             string  `json:"name" yaml:"name"`
	State            string  `json:"state" yaml:"state"`
	BufferSize       int     `json:"buffer_size" yaml:"buffer_size"`
	ProducerType     string  `json:"producer_type" yaml:"producer_type"`
	WaitStrategy     string  `json:"wait_strategy" yaml:"wait_strategy"`
	MaxEventSize     int     `json:"max_event_size" yaml:"max_event_size"`
	Overflow         string  `json:"overflow" yaml:"overflow"`
	PublishTimeoutMS int64   `json:"publish_timeout_ms" yaml:"publish_timeout_ms"`
	Schema           rawJSON `json:"schema,omitempty" yaml:"schema,omitempty"`
	// Replication is "none" (this node's own disruptor) or "quorum"
	// (replicated with Raft on every node of the cluster).
	Replication string    `json:"replication" yaml:"replication"`
	CreatedAt   time.Time `json:"created_at" yaml:"created_at"`
	// OldestSequence and LatestSequence bound the replay window;
	// LatestSequence is -1 while nothing is published.
	OldestSequence int64 `json:"oldest_sequence" yaml:"oldest_sequence"`
	LatestSequence int64 `json:"latest_sequence" yaml:"latest_sequence"`
	Published      int64 `json:"published" yaml:"published"`
	Subscribers    int   `json:"subscribers" yaml:"subscribers"`
}

// disruptor describes the disruptor of info, replicated or not.
func (s *Server) disruptor(i engine.Info) Disruptor {
	d := toDisruptor(i)
	if s.replicated(i.Name) != nil {
		d.Replication = ReplicationQuorum
	}
	return d
}

func toDisruptor(i engine.Info) Disruptor {
	return Disruptor{
		Replication:      ReplicationNone,
		Name:             i.Name,
		State:            i.State.String(),
		BufferSize:       i.BufferSize,
		ProducerType:     i.ProducerType,
		WaitStrategy:     i.WaitStrategy,
		MaxEventSize:     i.MaxEventSize,
		Overflow:         i.Overflow.String(),
		PublishTimeoutMS: i.PublishTimeout.Milliseconds(),
		Schema:           rawJSON(i.Schema),
		CreatedAt:        i.CreatedAt.UTC(),
		OldestSequence:   i.Oldest,
		LatestSequence:   i.Latest,
		Published:        i.Published,
		Subscribers:      i.Subscribers,
	}
}

// DisruptorList is the body of GET /api/v1/disruptors.
type DisruptorList struct {
	Disruptors []Disruptor `json:"disruptors" yaml:"disruptors"`
	// Next, when set, is the after= value of the next page.
	Next string `json:"next,omitempty" yaml:"next,omitempty"`
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

func toPublishResult(name string, seqs []int64, dup bool) PublishResult {
	r := PublishResult{Disruptor: name, Count: len(seqs), Duplicate: dup}
	if len(seqs) > 0 {
		r.FirstSequence, r.LastSequence = seqs[0], seqs[len(seqs)-1]
	}
	return r
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

// Latency is a latency summary in nanoseconds.
type Latency struct {
	Count int64 `json:"count" yaml:"count"`
	Mean  int64 `json:"mean_ns" yaml:"mean_ns"`
	P50   int64 `json:"p50_ns" yaml:"p50_ns"`
	P95   int64 `json:"p95_ns" yaml:"p95_ns"`
	P99   int64 `json:"p99_ns" yaml:"p99_ns"`
	Max   int64 `json:"max_ns" yaml:"max_ns"`
}

// Consumer describes a built-in consumer.
type Consumer struct {
	Name     string `json:"name" yaml:"name"`
	Sequence int64  `json:"sequence" yaml:"sequence"`
	Lag      int64  `json:"lag" yaml:"lag"`
	Running  bool   `json:"running" yaml:"running"`
}

// Metrics is the body of GET /api/v1/disruptors/{name}/metrics: the
// figures /metrics exposes, with latency percentiles computed.
type Metrics struct {
	Disruptor   string           `json:"disruptor" yaml:"disruptor"`
	State       string           `json:"state" yaml:"state"`
	Published   int64            `json:"published" yaml:"published"`
	Consumed    int64            `json:"consumed" yaml:"consumed"`
	Batches     int64            `json:"batches" yaml:"batches"`
	PublishRate float64          `json:"publish_rate" yaml:"publish_rate"`
	Latency     Latency          `json:"latency" yaml:"latency"`
	BufferSize  int              `json:"buffer_size" yaml:"buffer_size"`
	Cursor      int64            `json:"cursor" yaml:"cursor"`
	FillRatio   float64          `json:"fill_ratio" yaml:"fill_ratio"`
	Consumers   []Consumer       `json:"consumers" yaml:"consumers"`
	Subscribers int              `json:"subscribers" yaml:"subscribers"`
	Errors      map[string]int64 `json:"errors" yaml:"errors"`
}

func toConsumers(cs []engine.ConsumerMetrics) []Consumer {
	out := make([]Consumer, len(cs))
	for i, c := range cs {
		out[i] = Consumer{Name: c.Name, Sequence: c.Sequence, Lag: c.Lag, Running: c.Running}
	}
	return out
}

func toMetrics(m engine.Metrics) Metrics {
	return Metrics{
		Disruptor:   m.Disruptor,
		State:       m.State.String(),
		Published:   m.Published,
		Consumed:    m.Consumed,
		Batches:     m.Batches,
		PublishRate: m.PublishRate,
		Latency: Latency{
			Count: m.Latency.Count, Mean: int64(m.Latency.Mean), P50: int64(m.Latency.P50),
			P95: int64(m.Latency.P95), P99: int64(m.Latency.P99), Max: int64(m.Latency.Max),
		},
		BufferSize:  m.BufferSize,
		Cursor:      m.Cursor,
		FillRatio:   m.FillRatio,
		Consumers:   toConsumers(m.Consumers),
		Subscribers: m.Subscribers,
		Errors:      m.Errors,
	}
}

// SystemMetrics is the body of GET /api/v1/metrics.
type SystemMetrics struct {
	UptimeSeconds float64   `json:"uptime_seconds" yaml:"uptime_seconds"`
	Goroutines    int       `json:"goroutines" yaml:"goroutines"`
	HeapBytes     uint64    `json:"heap_bytes" yaml:"heap_bytes"`
	GCCycles      uint32    `json:"gc_cycles" yaml:"gc_cycles"`
	Disruptors    []Metrics `json:"disruptors" yaml:"disruptors"`
}

// Component is one disruptor in GET /api/v1/health.
type Component struct {
	Name       string     `json:"name" yaml:"name"`
	State      string     `json:"state" yaml:"state"`
	Healthy    bool       `json:"healthy" yaml:"healthy"`
	Error      string     `json:"error,omitempty" yaml:"error,omitempty"`
	Processors []Consumer `json:"processors" yaml:"processors"`
}

// Health is the body of GET /api/v1/health (and, without components, of
// /health and /health/ready).
type Health struct {
	Status        string      `json:"status" yaml:"status"`
	Ready         bool        `json:"ready" yaml:"ready"`
	UptimeSeconds float64     `json:"uptime_seconds" yaml:"uptime_seconds"`
	Version       string      `json:"version,omitempty" yaml:"version,omitempty"`
	Goroutines    int         `json:"goroutines,omitempty" yaml:"goroutines,omitempty"`
	Disruptors    []Component `json:"disruptors,omitempty" yaml:"disruptors,omitempty"`
}

// Version is the body of GET /api/v1/version.
type Version struct {
	Version    string `json:"version" yaml:"version"`
	Commit     string `json:"commit,omitempty" yaml:"commit,omitempty"`
	GoVersion  string `json:"go_version" yaml:"go_version"`
	APIVersion string `json:"api_version" yaml:"api_version"`
}

// rawJSON is a JSON document kept as text (a schema). It encodes as itself
// in JSON and as the value it holds in YAML and MessagePack.
type rawJSON []byte

func (r rawJSON) MarshalJSON() ([]byte, error) {
	if len(r) == 0 {
		return []byte("null"), nil
	}
	return r, nil
}

func (r rawJSON) MarshalYAML() (any, error) {
	if len(r) == 0 {
		return nil, nil
	}
	return jsonToYAML(r)
}

func (r rawJSON) EncodeMsgpack(e *msgpack.Encoder) error {
	if len(r) == 0 {
		return e.EncodeNil()
	}
	b, err := jsonToMsgpack(nil, r)
	if err != nil {
		return err
	}
	_, err = e.Writer().Write(b)
	return err
}

var (
	_ json.Marshaler        = rawJSON(nil)
	_ yaml.Marshaler        = rawJSON(nil)
	_ msgpack.CustomEncoder = rawJSON(nil)
)
