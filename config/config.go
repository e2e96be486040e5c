package config

import (
	_ "embed"
	"errors"
	"fmt"
	"net"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/badbatch/badbatch/api"
	"github.com/badbatch/badbatch/cluster"
	"github.com/badbatch/badbatch/engine"
	"github.com/badbatch/badbatch/internal/errwalk"
	"github.com/badbatch/badbatch/journal"
)

// Config is the whole configuration. Each field's koanf tag is its key in
// the file.
type Config struct {
	Server    Server    `koanf:"server"`
	Cluster   Cluster   `koanf:"cluster"`
	Disruptor Disruptor `koanf:"disruptor"`
	Logging   Logging   `koanf:"logging"`
	Limits    Limits    `koanf:"limits"`
	Security  Security  `koanf:"security"`
}

// Server is the HTTP server.
type Server struct {
	// BindAddr is host:port to listen on.
	BindAddr string `koanf:"bind_addr"`
	// ClusterMode turns on the cluster section.
	ClusterMode bool `koanf:"cluster_mode"`
	// ReadHeaderTimeout bounds reading a request's headers (slowloris).
	ReadHeaderTimeout time.Duration `koanf:"read_header_timeout"`
	// ReadTimeout bounds reading a whole request, 0 for none (streams
	// upload nothing after their headers).
	ReadTimeout time.Duration `koanf:"read_timeout"`
	// IdleTimeout closes idle keep-alive connections.
	IdleTimeout time.Duration `koanf:"idle_timeout"`
	// ShutdownTimeout bounds the drain on SIGINT/SIGTERM.
	ShutdownTimeout time.Duration `koanf:"shutdown_timeout"`
	// DataDir holds the server's durable state: the journals of its
	// journaled disruptors, in DataDir/journal (locked against a second
	// server). Empty: no journal, and durability "journal" is refused.
	DataDir string `koanf:"data_dir"`
	// JournalRepair names disruptors whose journal is opened with repair
	// at start: a corrupt record and everything after it are cut off
	// (docs/durability.md). Copy the stream's directory first.
	JournalRepair []string `koanf:"journal_repair"`
}

// JournalDir is where the server keeps its journals: DataDir/journal, or
// "" without a data directory.
func (s Server) JournalDir() string {
	if strings.TrimSpace(s.DataDir) == "" {
		return ""
	}
	return filepath.Join(s.DataDir, "journal")
}

// Cluster is the gossip membership of the node (see the cluster
// package's Config for what each key does).
type Cluster struct {
	NodeID             string   `koanf:"node_id"`
	BindAddr           string   `koanf:"bind_addr"`
	AdvertiseAddr      string   `koanf:"advertise_addr"`
	SeedNodes          []string `koanf:"seed_nodes"`
	GossipIntervalMS   int      `koanf:"gossip_interval_ms"`
	ProbeIntervalMS    int      `koanf:"probe_interval_ms"`
	ProbeTimeoutMS     int      `koanf:"probe_timeout_ms"`
	SuspicionTimeoutMS int      `koanf:"suspicion_timeout_ms"`
	DeadTimeoutMS      int      `koanf:"dead_timeout_ms"`
	PushPullIntervalMS int      `koanf:"push_pull_interval_ms"`
	RejoinIntervalMS   int      `koanf:"rejoin_interval_ms"`
	Compression        bool     `koanf:"compression"`
	// EncryptionKey is the shared gossip key, base64 of 16, 24 or 32
	// bytes. Secret: redacted by [Config.Redacted].
	EncryptionKey string `koanf:"encryption_key"`
	// SecondaryKeys decrypt but do not encrypt: key rotation. Secret.
	SecondaryKeys []string `koanf:"secondary_encryption_keys"`
	// Label keeps clusters apart: nodes with different labels never merge.
	Label string `koanf:"label"`
	// Insecure allows gossip without encryption_key, and Raft without
	// replication.tls, on addresses other than loopback, which the server
	// otherwise refuses: anyone who reaches those ports could join the
	// cluster, receive clients' credentials through forwarding, or read
	// and rewrite the replicated log. `badbatch server --insecure-cluster`
	// sets it; the server logs a warning for each port it leaves open.
	Insecure bool `koanf:"insecure"`
	// Forward is how this node forwards requests to other members.
	Forward Forward `koanf:"forward"`
	// Replication is the Raft group of the quorum disruptors.
	Replication Replication `koanf:"replication"`
}

// ClusterConfig returns the cluster package's form of the section.
func (c Cluster) ClusterConfig() cluster.Config {
	ms := func(n int) time.Duration { return time.Duration(n) * time.Millisecond }
	return cluster.Config{
		NodeID:           c.NodeID,
		BindAddr:         c.BindAddr,
		AdvertiseAddr:    c.AdvertiseAddr,
		SeedNodes:        c.SeedNodes,
		GossipInterval:   ms(c.GossipIntervalMS),
		ProbeInterval:    ms(c.ProbeIntervalMS),
		ProbeTimeout:     ms(c.ProbeTimeoutMS),
		SuspicionTimeout: ms(c.SuspicionTimeoutMS),
		DeadTimeout:      ms(c.DeadTimeoutMS),
		PushPullInterval: ms(c.PushPullIntervalMS),
		RejoinInterval:   ms(c.RejoinIntervalMS),
		Compression:      c.Compression,
		EncryptionKey:    c.EncryptionKey,
		SecondaryKeys:    c.SecondaryKeys,
		Label:            c.Label,
	}
}

// ClusterSection returns the section for a cluster package configuration
// (the inverse of [Cluster.ClusterConfig]), with the default replication
// section: a program or test that starts from [cluster.LoopbackConfig]
// writes it into a [Config] with it.
func ClusterSection(c cluster.Config) Cluster {
	ms := func(d time.Duration) int { return int(d / time.Millisecond) }
	return Cluster{
		NodeID:             c.NodeID,
		BindAddr:           c.BindAddr,
		AdvertiseAddr:      c.AdvertiseAddr,
		SeedNodes:          c.SeedNodes,
		GossipIntervalMS:   ms(c.GossipInterval),
		ProbeIntervalMS:    ms(c.ProbeInterval),
		ProbeTimeoutMS:     ms(c.ProbeTimeout),
		SuspicionTimeoutMS: ms(c.SuspicionTimeout),
		DeadTimeoutMS:      ms(c.DeadTimeout),
		PushPullIntervalMS: ms(c.PushPullInterval),
		RejoinIntervalMS:   ms(c.RejoinInterval),
		Compression:        c.Compression,
		EncryptionKey:      c.EncryptionKey,
		SecondaryKeys:      c.SecondaryKeys,
		Label:              c.Label,
		Replication:        replicationSection(),
	}
}

// Disruptor holds the defaults of hosted disruptors and the disruptors to
// create at start.
type Disruptor struct {
	DefaultBufferSize   int           `koanf:"default_buffer_size"`
	DefaultWaitStrategy string        `koanf:"default_wait_strategy"`
	DefaultProducerType string        `koanf:"default_producer_type"`
	DefaultMaxEventSize int           `koanf:"default_max_event_size"`
	OverflowPolicy      string        `koanf:"overflow_policy"`
	PublishTimeout      time.Duration `koanf:"publish_timeout"`
	// DefaultDurability is "journal" (the server's default: kept in
	// server.data_dir, back after a restart) or "memory".
	DefaultDurability string `koanf:"default_durability"`
	// DefaultSync is a journal's sync mode: "interval" (fsync every 100ms
	// or 1 MiB), "always" (before every answer) or "never".
	DefaultSync string `koanf:"default_sync"`
	// Disruptors are created when the server starts.
	Disruptors []DisruptorSpec `koanf:"disruptors"`
}

// DisruptorSpec declares one disruptor; empty fields take the defaults.
type DisruptorSpec struct {
	Name           string        `koanf:"name"`
	BufferSize     int           `koanf:"buffer_size"`
	ProducerType   string        `koanf:"producer_type"`
	WaitStrategy   string        `koanf:"wait_strategy"`
	MaxEventSize   int           `koanf:"max_event_size"`
	OverflowPolicy string        `koanf:"overflow_policy"`
	PublishTimeout time.Duration `koanf:"publish_timeout"`
	// Replication is "none" (the default: this node only) or "quorum"
	// (replicated with Raft; needs cluster.replication.enabled). A quorum
	// disruptor is created by whichever node leads the Raft group, once,
	// when it is missing from the replicated catalog.
	Replication string `koanf:"replication"`
	// Durability, Sync and Retention are the journal settings; empty: the
	// defaults. A quorum disruptor is never journaled.
	Durability string        `koanf:"durability"`
	Sync       string        `koanf:"sync"`
	Retention  RetentionSpec `koanf:"retention"`
}

// RetentionSpec bounds what a journaled disruptor's journal keeps; zero
// fields are no bound.
type RetentionSpec struct {
	MaxAge    time.Duration `koanf:"max_age"`
	MaxBytes  int64         `koanf:"max_bytes"`
	MaxEvents int64         `koanf:"max_events"`
}

// Quorum reports whether the disruptor is declared "replication: quorum".
func (d DisruptorSpec) Quorum() bool { return d.Replication == "quorum" }

// Logging is the server's log output.
type Logging struct {
	Level  string `koanf:"level"`  // debug, info, warn, error
	Format string `koanf:"format"` // json or text
}

// Limits bound what clients may ask of the server.
type Limits struct {
	MaxDisruptors  int           `koanf:"max_disruptors"`
	MaxBufferSize  int           `koanf:"max_buffer_size"`
	MaxEventSize   int           `koanf:"max_event_size"`
	MaxBatchEvents int           `koanf:"max_batch_events"`
	MaxBodyBytes   int64         `koanf:"max_body_bytes"`
	MaxSubscribers int           `koanf:"max_subscribers"`
	DedupWindow    time.Duration `koanf:"dedup_window"`
	// MaxCompressionRatio and MaxInflightBodyBytes are the API's
	// ([api.Config]): how much a gzip body may decompress, and the memory
	// budget of request bodies in flight.
	MaxCompressionRatio  int64 `koanf:"max_compression_ratio"`
	MaxInflightBodyBytes int64 `koanf:"max_inflight_body_bytes"`
}

// Default returns the built-in configuration: a standalone server on
// 127.0.0.1:8080 with the engine's defaults.
func Default() Config {
	e := engine.DefaultConfig()
	a := api.DefaultConfig()
	return Config{
		Server: Server{
			BindAddr:          "127.0.0.1:8080",
			ReadHeaderTimeout: 10 * time.Second,
			ReadTimeout:       time.Minute,
			IdleTimeout:       2 * time.Minute,
			ShutdownTimeout:   30 * time.Second,
			DataDir:           "./data",
		},
		Cluster: ClusterSection(cluster.DefaultConfig()),
		Disruptor: Disruptor{
			DefaultBufferSize:   e.Defaults.BufferSize,
			DefaultWaitStrategy: e.Defaults.WaitStrategy,
			DefaultProducerType: e.Defaults.ProducerType,
			DefaultMaxEventSize: e.Defaults.MaxEventSize,
			OverflowPolicy:      e.Defaults.Overflow.String(),
			PublishTimeout:      e.Defaults.PublishTimeout,
			// the server journals by default; the engine alone does not
			DefaultDurability: engine.DurabilityJournal.String(),
			DefaultSync:       e.Defaults.Sync,
		},
		Logging: Logging{Level: "info", Format: "text"},
		Limits: Limits{
			MaxDisruptors:        e.MaxDisruptors,
			MaxBufferSize:        e.MaxBufferSize,
			MaxEventSize:         e.MaxEventSize,
			MaxBatchEvents:       e.MaxBatchEvents,
			MaxBodyBytes:         a.MaxBodyBytes,
			MaxSubscribers:       e.MaxSubscribers,
			DedupWindow:          e.DedupWindow,
			MaxCompressionRatio:  a.MaxCompressionRatio,
			MaxInflightBodyBytes: a.MaxInflightBodyBytes,
		},
		Security: DefaultSecurity(),
	}
}

// KeyError is one invalid value, naming its key.
type KeyError struct {
	Key    string // e.g. "disruptor.default_buffer_size"
	Value  any
	Reason string // what is allowed
}

func (e *KeyError) Error() string {
	if e.Value == nil {
		return fmt.Sprintf("%s: %s", e.Key, e.Reason)
	}
	return fmt.Sprintf("%s: invalid value %v: %s", e.Key, e.Value, e.Reason)
}

// ErrInvalid is wrapped by every error of [Load] and [Config.Validate]
// about the configuration's content (as opposed to a missing file).
var ErrInvalid = errors.New("invalid configuration")

type keyErrors []error

func (k *keyErrors) add(key string, value any, reason string, args ...any) {
	*k = append(*k, &KeyError{Key: key, Value: value, Reason: fmt.Sprintf(reason, args...)})
}

func (k keyErrors) err() error {
	if len(k) == 0 {
		return nil
	}
	return fmt.Errorf("%w:\n%w", ErrInvalid, errors.Join(k...))
}

// KeyErrors lists the [*KeyError]s in err.
func KeyErrors(err error) []*KeyError { return errwalk.All[*KeyError](err) }

// Validate returns every problem at once, or nil.
func (c Config) Validate() error {
	var errs keyErrors
	checkHostPort(&errs, "server.bind_addr", c.Server.BindAddr, false)
	nonNegative(&errs, "server.read_header_timeout", c.Server.ReadHeaderTimeout)
	nonNegative(&errs, "server.read_timeout", c.Server.ReadTimeout)
	nonNegative(&errs, "server.idle_timeout", c.Server.IdleTimeout)
	if c.Server.ShutdownTimeout <= 0 {
		errs.add("server.shutdown_timeout", c.Server.ShutdownTimeout, "must be positive")
	}
	if c.Server.JournalDir() == "" && strings.EqualFold(c.Disruptor.DefaultDurability, "journal") {
		errs.add("server.data_dir", c.Server.DataDir, `must be set while disruptor.default_durability is "journal"`)
	}
	for i, name := range c.Server.JournalRepair {
		if !engine.ValidName(name) {
			errs.add(fmt.Sprintf("server.journal_repair[%d]", i), name, "must be a disruptor name")
		}
	}
	if c.Server.ClusterMode {
		c.Cluster.validate(&errs)
		c.Cluster.Replication.validate(&errs)
	} else if c.Cluster.Replication.Enabled {
		errs.add("cluster.replication.enabled", true, "needs server.cluster_mode: true")
	}
	if !slices.Contains([]string{"debug", "info", "warn", "error"}, strings.ToLower(c.Logging.Level)) {
		errs.add("logging.level", c.Logging.Level, "must be one of debug, info, warn, error")
	}
	if !slices.Contains([]string{"json", "text"}, strings.ToLower(c.Logging.Format)) {
		errs.add("logging.format", c.Logging.Format, "must be json or text")
	}
	if c.Limits.MaxBodyBytes <= 0 {
		errs.add("limits.max_body_bytes", c.Limits.MaxBodyBytes, "must be positive")
	}
	if c.Limits.MaxCompressionRatio < 0 {
		errs.add("limits.max_compression_ratio", c.Limits.MaxCompressionRatio, "must not be negative (0 for no bound)")
	}
	if b := c.Limits.MaxInflightBodyBytes; b < -1 || b > 0 && b < 3*c.Limits.MaxBodyBytes {
		errs.add("limits.max_inflight_body_bytes", b, "must be at least 3 times max_body_bytes (0: 4 times it, -1: no budget)")
	}
	c.Security.validate(&errs, c.Server.BindAddr)
	ecfg, err := c.engineConfig()
	if err != nil {
		for _, ke := range KeyErrors(err) {
			errs = append(errs, ke)
		}
	} else if err := ecfg.Validate(); err != nil {
		for _, ce := range engine.ConfigErrors(err) {
			errs.add(engineKey(ce.Field), ce.Value, "%s", ce.Reason)
		}
	}
	seen := map[string]bool{}
	for i, d := range c.Disruptor.Disruptors {
		key := fmt.Sprintf("disruptor.disruptors[%d]", i)
		if seen[d.Name] {
			errs.add(key+".name", d.Name, "is declared twice")
		}
		seen[d.Name] = true
		switch d.Replication {
		case "", "none":
		case "quorum":
			if !c.Cluster.Replication.Enabled {
				errs.add(key+".replication", d.Replication, "needs cluster.replication.enabled: true")
			}
			if strings.EqualFold(d.Durability, "journal") {
				errs.add(key+".durability", d.Durability, "a quorum disruptor is not journaled: its record is the Raft log (leave durability out)")
			}
			if d.Sync != "" || d.Retention != (RetentionSpec{}) {
				errs.add(key+".sync", d.Sync, "a quorum disruptor has no journal (leave sync and retention out)")
			}
		default:
			errs.add(key+".replication", d.Replication, "must be none or quorum")
		}
		if strings.EqualFold(d.Durability, "memory") && (d.Sync != "" || d.Retention != (RetentionSpec{})) {
			errs.add(key+".durability", d.Durability, "has no journal: leave sync and retention out")
		}
		dc, err := d.engineConfig()
		if err != nil {
			for _, ke := range KeyErrors(err) {
				errs.add(key+"."+ke.Key, ke.Value, "%s", ke.Reason)
			}
			continue
		}
		if err := ecfg.ValidateDisruptor(dc); err != nil {
			for _, ce := range engine.ConfigErrors(err) {
				errs.add(key+"."+ce.Field, ce.Value, "%s", ce.Reason)
			}
		}
	}
	return errs.err()
}

func (c Cluster) validate(errs *keyErrors) {
	if c.GossipIntervalMS < 50 {
		errs.add("cluster.gossip_interval_ms", c.GossipIntervalMS, "must be at least 50")
	}
	for _, ce := range cluster.ConfigErrors(c.ClusterConfig().Validate()) {
		if ce.Field == "gossip_interval_ms" {
			continue // reported above
		}
		errs.add("cluster."+ce.Field, ce.Value, "%s", ce.Reason)
	}
	c.Forward.loadTLS(errs)
}

func nonNegative(errs *keyErrors, key string, d time.Duration) {
	if d < 0 {
		errs.add(key, d, "must not be negative")
	}
}

// checkHostPort checks a host:port; a usable address for peers to dial
// must not have an unspecified host.
func checkHostPort(errs *keyErrors, key, addr string, dialable bool) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		errs.add(key, addr, "must be host:port")
		return
	}
	if p, err := strconv.Atoi(port); err != nil || p < 0 || p > 65535 {
		errs.add(key, addr, "port must be a number from 0 to 65535")
		return
	}
	if dialable && (host == "" || host == "0.0.0.0" || host == "::") {
		errs.add(key, addr, "must name a reachable host, not an unspecified address")
	}
}

// engineKey maps an engine config field to its key in the file.
func engineKey(field string) string {
	if rest, ok := strings.CutPrefix(field, "defaults."); ok {
		switch rest {
		case "buffer_size", "wait_strategy", "producer_type", "max_event_size", "durability", "sync":
			return "disruptor.default_" + rest
		case "overflow":
			return "disruptor.overflow_policy"
		}
		return "disruptor." + rest
	}
	return "limits." + field
}

// EngineConfig returns the engine's configuration. The caller adds its
// logger and metrics registerer.
func (c Config) EngineConfig() (engine.Config, error) {
	ec, err := c.engineConfig()
	if err != nil {
		return engine.Config{}, err
	}
	return ec, nil
}

func (c Config) engineConfig() (engine.Config, error) {
	var errs keyErrors
	e := engine.DefaultConfig()
	e.MaxDisruptors = c.Limits.MaxDisruptors
	e.MaxBufferSize = c.Limits.MaxBufferSize
	e.MaxEventSize = c.Limits.MaxEventSize
	e.MaxBatchEvents = c.Limits.MaxBatchEvents
	e.MaxSubscribers = c.Limits.MaxSubscribers
	e.DedupWindow = c.Limits.DedupWindow
	e.Defaults.BufferSize = c.Disruptor.DefaultBufferSize
	e.Defaults.WaitStrategy = c.Disruptor.DefaultWaitStrategy
	e.Defaults.ProducerType = c.Disruptor.DefaultProducerType
	e.Defaults.MaxEventSize = c.Disruptor.DefaultMaxEventSize
	e.Defaults.PublishTimeout = c.Disruptor.PublishTimeout
	if p, err := engine.ParseOverflowPolicy(c.Disruptor.OverflowPolicy); err != nil {
		errs.add("disruptor.overflow_policy", c.Disruptor.OverflowPolicy, "must be block or reject")
	} else {
		e.Defaults.Overflow = p
	}
	if d, err := engine.ParseDurability(c.Disruptor.DefaultDurability); err != nil {
		errs.add("disruptor.default_durability", c.Disruptor.DefaultDurability, "must be journal or memory")
	} else {
		e.Defaults.Durability = d
	}
	e.Defaults.Sync = c.Disruptor.DefaultSync
	return e, errs.err()
}

// EngineConfig returns the engine's form of the spec.
func (d DisruptorSpec) EngineConfig() (engine.DisruptorConfig, error) { return d.engineConfig() }

func (d DisruptorSpec) engineConfig() (engine.DisruptorConfig, error) {
	dc := engine.DisruptorConfig{
		Name:           d.Name,
		BufferSize:     d.BufferSize,
		ProducerType:   d.ProducerType,
		WaitStrategy:   d.WaitStrategy,
		MaxEventSize:   d.MaxEventSize,
		PublishTimeout: d.PublishTimeout,
		Sync:           d.Sync,
		Retention: journal.Retention{MaxAge: d.Retention.MaxAge, MaxBytes: d.Retention.MaxBytes,
			MaxEvents: d.Retention.MaxEvents},
	}
	var errs keyErrors
	if d.OverflowPolicy != "" {
		p, err := engine.ParseOverflowPolicy(d.OverflowPolicy)
		if err != nil {
			errs.add("overflow_policy", d.OverflowPolicy, "must be block or reject")
		}
		dc.Overflow = p
	}
	if d.Durability != "" {
		p, err := engine.ParseDurability(d.Durability)
		if err != nil {
			errs.add("durability", d.Durability, "must be journal or memory")
		}
		dc.Durability = p
	}
	return dc, errs.err()
}

// Redacted returns a copy with secrets replaced, for display.
func (c Config) Redacted() Config {
	if c.Cluster.EncryptionKey != "" {
		c.Cluster.EncryptionKey = redacted
	}
	if len(c.Cluster.SecondaryKeys) > 0 {
		keys := make([]string, len(c.Cluster.SecondaryKeys))
		for i := range keys {
			keys[i] = redacted
		}
		c.Cluster.SecondaryKeys = keys
	}
	c.Security = c.Security.redacted()
	return c
}

const redacted = "<redacted>"

//go:embed example.yaml
var example string

// Example returns a complete, commented configuration file that loads.
func Example() string { return example }
