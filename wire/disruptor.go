package wire

import "time"

// Replication modes of [CreateRequest.Replication] and
// [Disruptor.Replication].
const (
	// ReplicationNone is a node-local disruptor, the default.
	ReplicationNone = "none"
	// ReplicationQuorum is a disruptor replicated with Raft on every node
	// of the cluster.
	ReplicationQuorum = "quorum"
)

// HeaderAppliedIndex is the response header of a read of a replicated
// disruptor: the index of the last Raft entry the answering node applied.
const HeaderAppliedIndex = "X-Raft-Applied-Index"

// CreateRequest is the body of POST /api/v1/disruptors. Zero fields are
// left out on the wire and take the server's defaults.
//
// The wire tags are the server's strict rules: a field tagged nonzero
// may not be given as 0 (leave it out for the default), and one tagged
// oneof must be one of the values listed, spelled exactly so.
type CreateRequest struct {
	Name             string `json:"name" yaml:"name"`
	BufferSize       int    `json:"buffer_size,omitempty" yaml:"buffer_size,omitempty" wire:"nonzero"`
	ProducerType     string `json:"producer_type,omitempty" yaml:"producer_type,omitempty" wire:"oneof=single multi"`
	WaitStrategy     string `json:"wait_strategy,omitempty" yaml:"wait_strategy,omitempty" wire:"oneof=busy_spin yielding sleeping blocking lite_blocking timeout_blocking phased_backoff"`
	MaxEventSize     int    `json:"max_event_size,omitempty" yaml:"max_event_size,omitempty" wire:"nonzero"`
	Overflow         string `json:"overflow,omitempty" yaml:"overflow,omitempty" wire:"oneof=block reject"`
	PublishTimeoutMS int64  `json:"publish_timeout_ms,omitempty" yaml:"publish_timeout_ms,omitempty" wire:"nonzero"`
	// Schema is a JSON Schema document every JSON payload must match: a
	// decoded document (map[string]any) or, from the client, JSON text.
	Schema any `json:"schema,omitempty" yaml:"schema,omitempty"`
	// Start, true when absent, starts the disruptor at once; false leaves
	// it created.
	Start *bool `json:"start,omitempty" yaml:"start,omitempty"`
	// Replication is ReplicationNone (the default) or ReplicationQuorum
	// (replicated with Raft across the cluster; needs
	// cluster.replication.enabled).
	Replication string `json:"replication,omitempty" yaml:"replication,omitempty" wire:"oneof=none quorum"`
	// FirstSequence is the sequence of the first event (default 0), for a
	// disruptor that continues the numbering of an earlier one (after a
	// move or a restart), so that readers' saved sequences stay valid:
	// sequences before it read as evicted. Not for quorum disruptors,
	// which the Raft log numbers.
	FirstSequence int64 `json:"first_sequence,omitempty" yaml:"first_sequence,omitempty"`
	// Durability is DurabilityMemory or DurabilityJournal; left out, the
	// server's default (disruptor.default_durability: journal in
	// `badbatch server`). A quorum disruptor is never journaled (its record
	// is the Raft log): "journal" with "quorum" is refused.
	Durability string `json:"durability,omitempty" yaml:"durability,omitempty" wire:"oneof=memory journal"`
	// Sync is a journaled disruptor's sync mode: SyncAlways, SyncInterval
	// or SyncNever; left out, the server's default (interval).
	Sync string `json:"sync,omitempty" yaml:"sync,omitempty" wire:"oneof=always interval never"`
	// Retention bounds what a journaled disruptor's journal keeps; left
	// out, everything.
	Retention *Retention `json:"retention,omitempty" yaml:"retention,omitempty"`
}

// Durabilities of [CreateRequest.Durability] and [Disruptor.Durability].
const (
	// DurabilityMemory keeps events in the ring only.
	DurabilityMemory = "memory"
	// DurabilityJournal writes every publish to the disruptor's journal
	// before it is answered; the disruptor survives restarts.
	DurabilityJournal = "journal"
)

// Sync modes of [CreateRequest.Sync]: when a journal fsyncs. See
// docs/durability.md for what each survives.
const (
	SyncAlways   = "always"
	SyncInterval = "interval"
	SyncNever    = "never"
)

// Retention bounds what a journal keeps; a zero field is no bound. Whole
// segments are dropped, oldest first.
type Retention struct {
	// MaxAgeMS drops events older than this many milliseconds.
	MaxAgeMS int64 `json:"max_age_ms,omitempty" yaml:"max_age_ms,omitempty"`
	// MaxBytes keeps at least the newest MaxBytes bytes (and at most a
	// segment more).
	MaxBytes int64 `json:"max_bytes,omitempty" yaml:"max_bytes,omitempty"`
	// MaxEvents keeps at least the newest MaxEvents events (and at most a
	// segment more).
	MaxEvents int64 `json:"max_events,omitempty" yaml:"max_events,omitempty"`
}

// PurgeRequest is the body of POST /api/v1/disruptors/{name}/purge.
type PurgeRequest struct {
	// Before drops every event below this sequence (at most the next
	// sequence to be published).
	Before *int64 `json:"before" yaml:"before"`
}

// JournalInfo is [Disruptor.Journal]: what a journaled disruptor's
// journal holds.
type JournalInfo struct {
	// OldestSequence is the oldest sequence kept.
	OldestSequence int64 `json:"oldest_sequence" yaml:"oldest_sequence"`
	// Bytes is the size of its segment files.
	Bytes int64 `json:"bytes" yaml:"bytes"`
	// Segments is the number of segment files.
	Segments int `json:"segments" yaml:"segments"`
}

// StateRequest is the body of PUT /api/v1/disruptors/{name}/state.
type StateRequest struct {
	// State is running, paused or stopped, in lower case.
	State string `json:"state" yaml:"state" wire:"oneof=created running paused stopped"`
}

// StateResponse is the body of GET /api/v1/disruptors/{name}/state.
type StateResponse struct {
	Disruptor string `json:"disruptor" yaml:"disruptor"`
	State     string `json:"state" yaml:"state"`
}

// Disruptor describes a hosted disruptor.
type Disruptor struct {
	Name         string `json:"name" yaml:"name"`
	State        string `json:"state" yaml:"state"`
	BufferSize   int    `json:"buffer_size" yaml:"buffer_size"`
	ProducerType string `json:"producer_type" yaml:"producer_type"`
	WaitStrategy string `json:"wait_strategy" yaml:"wait_strategy"`
	// IdleCost says what the wait strategy costs while no events arrive
	// (busy_spin and yielding burn a core per consumer).
	IdleCost         string  `json:"idle_cost,omitempty" yaml:"idle_cost,omitempty"`
	MaxEventSize     int     `json:"max_event_size" yaml:"max_event_size"`
	Overflow         string  `json:"overflow" yaml:"overflow"`
	PublishTimeoutMS int64   `json:"publish_timeout_ms" yaml:"publish_timeout_ms"`
	Schema           RawJSON `json:"schema,omitempty" yaml:"schema,omitempty"`
	// Replication is ReplicationNone (this node's own disruptor) or
	// ReplicationQuorum (replicated with Raft on every node of the
	// cluster).
	Replication string    `json:"replication" yaml:"replication"`
	CreatedAt   time.Time `json:"created_at" yaml:"created_at"`
	// OldestSequence and LatestSequence bound the replay window;
	// LatestSequence is OldestSequence-1 while nothing is published.
	OldestSequence int64 `json:"oldest_sequence" yaml:"oldest_sequence"`
	LatestSequence int64 `json:"latest_sequence" yaml:"latest_sequence"`
	Published      int64 `json:"published" yaml:"published"`
	Subscribers    int   `json:"subscribers" yaml:"subscribers"`
	// Durability is DurabilityMemory or DurabilityJournal; Sync and
	// Retention are set for a journaled disruptor only, as is Journal.
	// For a journaled disruptor OldestSequence is its journal's oldest:
	// reads below the ring are served from the journal.
	Durability string       `json:"durability" yaml:"durability"`
	Sync       string       `json:"sync,omitempty" yaml:"sync,omitempty"`
	Retention  *Retention   `json:"retention,omitempty" yaml:"retention,omitempty"`
	Journal    *JournalInfo `json:"journal,omitempty" yaml:"journal,omitempty"`
}

// DisruptorList is the body of GET /api/v1/disruptors.
type DisruptorList struct {
	Disruptors []Disruptor `json:"disruptors" yaml:"disruptors"`
	// Next, when set, is the after= value of the next page.
	Next string `json:"next,omitempty" yaml:"next,omitempty"`
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
	// Cluster is this node's view of the cluster, on a clustered server
	// (GET /api/v1/health only). It is not this node's readiness: a dead
	// peer degrades the cluster (and Status) while every healthy node
	// stays ready.
	Cluster *HealthCluster `json:"cluster,omitempty" yaml:"cluster,omitempty"`
}

// HealthCluster is the cluster part of GET /api/v1/health: the status of
// GET /api/v1/cluster/health and the members by state. Problems are
// listed only to callers who may view the cluster.
type HealthCluster struct {
	// Status is degraded when a member is suspect or dead, or this node
	// is not running; else healthy.
	Status   string   `json:"status" yaml:"status"`
	Alive    int      `json:"alive" yaml:"alive"`
	Suspect  int      `json:"suspect" yaml:"suspect"`
	Dead     int      `json:"dead" yaml:"dead"`
	Left     int      `json:"left" yaml:"left"`
	Problems []string `json:"problems,omitempty" yaml:"problems,omitempty"`
}

// Version is the body of GET /api/v1/version.
type Version struct {
	Version    string `json:"version" yaml:"version"`
	Commit     string `json:"commit,omitempty" yaml:"commit,omitempty"`
	GoVersion  string `json:"go_version" yaml:"go_version"`
	APIVersion string `json:"api_version" yaml:"api_version"`
}
