package engine

import (
	"fmt"
	"log/slog"
	"regexp"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/badbatch/badbatch/disruptor"
	"github.com/badbatch/badbatch/journal"
)

// OverflowPolicy is what a publish does when the ring has no room for its
// batch.
type OverflowPolicy uint8

// The overflow policies. The zero value means "the engine's default".
const (
	// OverflowBlock waits for room up to the disruptor's publish timeout,
	// then fails with [ErrRingFull].
	OverflowBlock OverflowPolicy = iota + 1
	// OverflowReject fails with [ErrRingFull] at once.
	OverflowReject
)

// String returns the policy's config name: "block" or "reject".
func (p OverflowPolicy) String() string {
	switch p {
	case OverflowBlock:
		return "block"
	case OverflowReject:
		return "reject"
	}
	return fmt.Sprintf("OverflowPolicy(%d)", uint8(p))
}

// ParseOverflowPolicy maps "block" and "reject" (any case) to a policy.
func ParseOverflowPolicy(s string) (OverflowPolicy, error) {
	switch strings.ToLower(s) {
	case "block":
		return OverflowBlock, nil
	case "reject":
		return OverflowReject, nil
	}
	return 0, fmt.Errorf("engine: unknown overflow policy %q (want block or reject)", s)
}

// Durability is where a local disruptor keeps its events: in its ring
// only, or in a journal as well.
type Durability uint8

// The durabilities. The zero value means "the engine's default".
const (
	// DurabilityMemory keeps events in the ring only: a restart loses
	// them, and the disruptor itself.
	DurabilityMemory Durability = iota + 1
	// DurabilityJournal writes every batch to the disruptor's journal
	// (under [Config.Journal]) before it enters the ring, and answers a
	// publish only once the journal has it (fsynced with sync "always").
	// The disruptor, its state, its events and its idempotency keys come
	// back at restart ([Engine.Recover]); reads below the ring are served
	// from the journal. A replicated disruptor is never journaled: its
	// record is the Raft log.
	DurabilityJournal
)

// String returns the durability's config name: "memory" or "journal".
func (d Durability) String() string {
	switch d {
	case DurabilityMemory:
		return "memory"
	case DurabilityJournal:
		return "journal"
	}
	return fmt.Sprintf("Durability(%d)", uint8(d))
}

// ParseDurability maps "memory" and "journal" (any case) to a durability.
func ParseDurability(s string) (Durability, error) {
	switch strings.ToLower(s) {
	case "memory":
		return DurabilityMemory, nil
	case "journal":
		return DurabilityJournal, nil
	}
	return 0, fmt.Errorf("engine: unknown durability %q (want memory or journal)", s)
}

// DisruptorConfig describes one hosted disruptor. Zero fields take the
// engine's defaults ([Config.Defaults]).
type DisruptorConfig struct {
	// Name identifies the disruptor: 1 to 128 letters, digits, '.', '_'
	// or '-', starting with a letter or digit, so it is safe in a URL path.
	Name string
	// BufferSize is the number of slots: a power of 2 up to
	// [Config.MaxBufferSize]. The ring is also the replay window: the last
	// BufferSize events stay readable.
	BufferSize int
	// ProducerType is "single" (publishes are serialised by the engine, the
	// single-writer principle) or "multi" (publishers claim slots
	// concurrently).
	ProducerType string
	// WaitStrategy is the consumers' wait strategy by its config name (see
	// [disruptor.ParseWaitStrategy]).
	WaitStrategy string
	// MaxEventSize is the largest event accepted, payload and metadata
	// together, in bytes, up to [Config.MaxEventSize].
	MaxEventSize int
	// Overflow is what a publish does when the ring is full.
	Overflow OverflowPolicy
	// PublishTimeout is how long a publish waits for room under
	// [OverflowBlock], up to [Config.MaxPublishTimeout].
	PublishTimeout time.Duration
	// Schema is an optional JSON Schema document (JSON text) every JSON
	// payload must match. Schemas may not load other documents.
	Schema []byte
	// FirstSequence is the sequence of the first event published, from 0
	// to [disruptor.MaxFirstSequence]; 0 by default, and never taken from
	// [Config.Defaults]. The sequences before it count as evicted: never
	// readable, and a read, a get or a subscription from one of them gets
	// an [*EvictedError] naming FirstSequence as the oldest; the counts of
	// events published and consumed start at FirstSequence, as if they
	// had been. Before the first publish, [Info] reports Oldest =
	// FirstSequence and Latest = FirstSequence-1, an empty window. A ring
	// restored from a snapshot starts at the oldest sequence the snapshot
	// holds.
	FirstSequence int64
	// Durability is [DurabilityMemory] or [DurabilityJournal].
	Durability Durability
	// Sync is a journaled disruptor's sync mode by its config name
	// ("always", "interval" or "never"; see [journal.SyncMode]). It must
	// be empty for a memory disruptor.
	Sync string
	// Retention bounds what a journaled disruptor's journal keeps; the
	// zero value keeps everything. It must be zero for a memory
	// disruptor.
	Retention journal.Retention
}

// Config is the engine's configuration. Start from [DefaultConfig].
type Config struct {
	// MaxDisruptors is how many disruptors the engine hosts at most.
	MaxDisruptors int
	// MaxBufferSize is the largest buffer_size a disruptor may have.
	MaxBufferSize int
	// MaxEventSize is the largest max_event_size a disruptor may have.
	MaxEventSize int
	// MaxRingBytes bounds a ring's memory: buffer_size × max_event_size
	// must not exceed it.
	MaxRingBytes int64
	// MaxBatchEvents is the most events one publish may carry.
	MaxBatchEvents int
	// MaxMetadata is the most metadata entries an event may carry.
	MaxMetadata int
	// MaxPublishTimeout is the longest publish_timeout a disruptor may set.
	MaxPublishTimeout time.Duration
	// SlotBytes is the payload capacity preallocated per slot; a slot
	// whose event is larger grows its own buffer once and keeps it.
	SlotBytes int
	// Defaults fills the zero fields of every [DisruptorConfig].
	Defaults DisruptorConfig
	// DedupWindow is how long an idempotency key is remembered.
	DedupWindow time.Duration
	// DedupMaxKeys bounds the keys remembered per disruptor: a key is
	// never forgotten before DedupWindow ends, so while this many are
	// within the window a publish with a new key is refused
	// ([ErrDedupWindowFull]) until the oldest expires.
	DedupMaxKeys int
	// MaxSubscribers is the most live subscribers per disruptor.
	MaxSubscribers int
	// Logger receives lifecycle events and consumer failures. Nil means
	// silent.
	Logger *slog.Logger
	// Registerer, when set, gets the engine's Prometheus collector.
	Registerer prometheus.Registerer
	// Clock tells the time of publishes and dedup expiry. Nil means
	// time.Now.
	Clock func() time.Time
	// Journal is the data directory of journaled disruptors; nil means
	// none, and a disruptor with [DurabilityJournal] is refused. The
	// engine creates, opens, closes and deletes the streams in it; the
	// caller opens and closes the directory itself.
	Journal *journal.Dir
}

// DefaultConfig returns the embedded defaults: 1024-slot rings whose
// publishes the engine serialises (single producer) with blocking consumers, 64 KiB events, batches of up to 10000
// events, publishes that wait up to a second for room, and a five-minute
// dedup window. Disruptors are in memory only; a journaled one (which
// needs [Config.Journal]) syncs at the "interval" default of its journal
// and keeps everything.
func DefaultConfig() Config {
	return Config{
		MaxDisruptors:     1024,
		MaxBufferSize:     1 << 20,
		MaxEventSize:      1 << 20,
		MaxRingBytes:      1 << 30,
		MaxBatchEvents:    10_000,
		MaxMetadata:       64,
		MaxPublishTimeout: time.Minute,
		SlotBytes:         256,
		Defaults: DisruptorConfig{
			BufferSize:     1024,
			ProducerType:   "single",
			WaitStrategy:   disruptor.BlockingName,
			MaxEventSize:   64 << 10,
			Overflow:       OverflowBlock,
			PublishTimeout: time.Second,
			Durability:     DurabilityMemory,
			Sync:           journal.SyncInterval.String(),
		},
		DedupWindow:    5 * time.Minute,
		DedupMaxKeys:   100_000,
		MaxSubscribers: 1024,
	}
}

// Validate returns every problem with c at once, joined with
// [ErrInvalidConfig], or nil.
func (c Config) Validate() error {
	var errs configErrors
	positive := func(field string, v int) {
		if v <= 0 {
			errs.add(field, v, "must be positive")
		}
	}
	positive("max_disruptors", c.MaxDisruptors)
	positive("max_event_size", c.MaxEventSize)
	positive("max_batch_events", c.MaxBatchEvents)
	positive("max_metadata", c.MaxMetadata)
	positive("dedup_max_keys", c.DedupMaxKeys)
	positive("max_subscribers", c.MaxSubscribers)
	if c.SlotBytes < 0 || c.SlotBytes > 1<<16 {
		errs.add("slot_bytes", c.SlotBytes, "must be between 0 and 65536")
	}
	if c.MaxBufferSize <= 0 || c.MaxBufferSize > disruptor.MaxBufferSize || !isPowerOf2(c.MaxBufferSize) {
		errs.add("max_buffer_size", c.MaxBufferSize, fmt.Sprintf("must be a power of 2 from 1 to %d", disruptor.MaxBufferSize))
	}
	if c.MaxRingBytes <= 0 {
		errs.add("max_ring_bytes", c.MaxRingBytes, "must be positive")
	}
	if c.MaxPublishTimeout <= 0 {
		errs.add("max_publish_timeout", c.MaxPublishTimeout, "must be positive")
	}
	if c.DedupWindow <= 0 {
		errs.add("dedup_window", c.DedupWindow, "must be positive")
	}
	if len(errs) == 0 {
		// The defaults must be a valid disruptor themselves.
		d := c.Defaults
		d.Name = "defaults"
		if _, err := c.resolve(d); err != nil {
			for _, ce := range ConfigErrors(err) {
				errs.add("defaults."+ce.Field, ce.Value, ce.Reason)
			}
		}
	}
	return errs.err()
}

var nameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$`)

// ValidName reports whether name is a valid disruptor name.
func ValidName(name string) bool { return nameRE.MatchString(name) }

func isPowerOf2(n int) bool { return n > 0 && n&(n-1) == 0 }

// resolved is a DisruptorConfig with defaults applied and names parsed.
type resolved struct {
	DisruptorConfig
	producer disruptor.ProducerType
}

// resolve applies the defaults to d and validates it, returning every
// problem at once.
func (c Config) resolve(d DisruptorConfig) (resolved, error) {
	def := c.Defaults
	if d.BufferSize == 0 {
		d.BufferSize = def.BufferSize
	}
	if d.ProducerType == "" {
		d.ProducerType = def.ProducerType
	}
	if d.WaitStrategy == "" {
		d.WaitStrategy = def.WaitStrategy
	}
	if d.MaxEventSize == 0 {
		d.MaxEventSize = def.MaxEventSize
	}
	if d.Overflow == 0 {
		d.Overflow = def.Overflow
	}
	if d.PublishTimeout == 0 {
		d.PublishTimeout = def.PublishTimeout
	}
	if d.Durability == 0 {
		d.Durability = def.Durability
	}
	var errs configErrors
	if !ValidName(d.Name) {
		errs.add("name", d.Name, "must be 1 to 128 letters, digits, '.', '_' or '-', starting with a letter or digit")
	}
	if !isPowerOf2(d.BufferSize) || d.BufferSize > c.MaxBufferSize {
		errs.add("buffer_size", d.BufferSize, fmt.Sprintf("must be a power of 2 from 1 to %d", c.MaxBufferSize))
	}
	pt, err := disruptor.ParseProducerType(d.ProducerType)
	if err != nil {
		errs.add("producer_type", d.ProducerType, `must be "single" or "multi"`)
	} else {
		d.ProducerType = pt.String()
	}
	if ws, err := disruptor.ParseWaitStrategy(d.WaitStrategy); err != nil {
		errs.add("wait_strategy", d.WaitStrategy, "must be one of "+strings.Join(disruptor.WaitStrategyNames, ", "))
	} else {
		d.WaitStrategy = waitStrategyName(ws, d.WaitStrategy)
	}
	if d.MaxEventSize <= 0 || d.MaxEventSize > c.MaxEventSize {
		errs.add("max_event_size", d.MaxEventSize, fmt.Sprintf("must be from 1 to %d bytes", c.MaxEventSize))
	}
	if d.BufferSize > 0 && d.MaxEventSize > 0 && int64(d.BufferSize)*int64(d.MaxEventSize) > c.MaxRingBytes {
		errs.add("max_event_size", d.MaxEventSize, fmt.Sprintf("buffer_size × max_event_size must not exceed %d bytes", c.MaxRingBytes))
	}
	if d.Overflow != OverflowBlock && d.Overflow != OverflowReject {
		errs.add("overflow", d.Overflow, `must be "block" or "reject"`)
	}
	if d.PublishTimeout < 0 || d.PublishTimeout > c.MaxPublishTimeout {
		errs.add("publish_timeout", d.PublishTimeout, fmt.Sprintf("must be from 1ms to %v", c.MaxPublishTimeout))
	}
	if d.FirstSequence < 0 || d.FirstSequence > disruptor.MaxFirstSequence {
		errs.add("first_sequence", d.FirstSequence, fmt.Sprintf("must be from 0 to %d", int64(disruptor.MaxFirstSequence)))
	}
	d.resolveJournal(def, &errs)
	if err := errs.err(); err != nil {
		return resolved{}, err
	}
	return resolved{DisruptorConfig: d, producer: pt}, nil
}

// waitStrategyName returns the canonical config name of ws.
func waitStrategyName(ws disruptor.WaitStrategy, given string) string {
	if s, ok := ws.(fmt.Stringer); ok {
		name := s.String()
		for _, n := range disruptor.WaitStrategyNames {
			if n == name {
				return n
			}
		}
	}
	return strings.ReplaceAll(strings.ToLower(given), "-", "_")
}

// resolveJournal fills and checks the journal settings of d, whose
// durability is resolved: a journaled disruptor gets def's sync mode and
// retention when it gives none; a memory one may give neither.
func (d *DisruptorConfig) resolveJournal(def DisruptorConfig, errs *configErrors) {
	switch d.Durability {
	case DurabilityJournal:
		if d.Sync == "" {
			d.Sync = def.Sync
		}
		if d.Retention == (journal.Retention{}) {
			d.Retention = def.Retention
		}
		if m, err := journal.ParseSyncMode(d.Sync); err != nil {
			errs.add("sync", d.Sync, `must be "always", "interval" or "never"`)
		} else {
			d.Sync = m.String()
		}
		if d.Retention.MaxAge < 0 {
			errs.add("retention.max_age", d.Retention.MaxAge, "must not be negative (0: no bound)")
		}
		if d.Retention.MaxBytes < 0 {
			errs.add("retention.max_bytes", d.Retention.MaxBytes, "must not be negative (0: no bound)")
		}
		if d.Retention.MaxEvents < 0 {
			errs.add("retention.max_events", d.Retention.MaxEvents, "must not be negative (0: no bound)")
		}
	case DurabilityMemory:
		if d.Sync != "" && d.Sync != def.Sync {
			errs.add("sync", d.Sync, `needs durability "journal"`)
		}
		if d.Retention != (journal.Retention{}) && d.Retention != def.Retention {
			errs.add("retention", d.Retention, `needs durability "journal"`)
		}
		d.Sync, d.Retention = "", journal.Retention{}
	default:
		errs.add("durability", d.Durability, `must be "memory" or "journal"`)
	}
}
