package api

import (
	"github.com/badbatch/badbatch/engine"
	"github.com/badbatch/badbatch/wire"
)

// The request and response bodies are the wire package's, so that the
// client shares them without importing the server; these are their names
// in this package.
type (
	CreateRequest  = wire.CreateRequest
	StateRequest   = wire.StateRequest
	StateResponse  = wire.StateResponse
	Disruptor      = wire.Disruptor
	DisruptorList  = wire.DisruptorList
	PublishResult  = wire.PublishResult
	MultiResult    = wire.MultiResult
	MultiResponse  = wire.MultiResponse
	Latency        = wire.Latency
	Consumer       = wire.Consumer
	Metrics        = wire.Metrics
	SystemMetrics  = wire.SystemMetrics
	Component      = wire.Component
	Health         = wire.Health
	Version        = wire.Version
	ClusterMember  = wire.ClusterMember
	ClusterMembers = wire.ClusterMembers
	ClusterTimings = wire.ClusterTimings
	ClusterHealth  = wire.ClusterHealth
	HealthCluster  = wire.HealthCluster
	JoinRequest    = wire.JoinRequest
	JoinResponse   = wire.JoinResponse
	LeaveResponse  = wire.LeaveResponse
	RaftStatus     = wire.RaftStatus
	RaftServer     = wire.RaftServer
	Retention      = wire.Retention
	PurgeRequest   = wire.PurgeRequest
	JournalInfo    = wire.JournalInfo
)

// disruptor describes the disruptor of info, replicated or not.
func (s *Server) disruptor(i engine.Info) Disruptor {
	d := toDisruptor(i)
	if i.Owned {
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
		IdleCost:         idleCosts[i.WaitStrategy],
		MaxEventSize:     i.MaxEventSize,
		Overflow:         i.Overflow.String(),
		PublishTimeoutMS: i.PublishTimeout.Milliseconds(),
		Schema:           wire.RawJSON(i.Schema),
		CreatedAt:        i.CreatedAt.UTC(),
		OldestSequence:   i.Oldest,
		LatestSequence:   i.Latest,
		Published:        i.Published,
		Subscribers:      i.Subscribers,
		Durability:       i.Durability.String(),
		Sync:             i.Sync,
		Retention:        toRetention(i),
		Journal:          toJournalInfo(i.Journal),
	}
}

func toRetention(i engine.Info) *Retention {
	if i.Durability != engine.DurabilityJournal {
		return nil
	}
	return &Retention{MaxAgeMS: i.Retention.MaxAge.Milliseconds(), MaxBytes: i.Retention.MaxBytes, MaxEvents: i.Retention.MaxEvents}
}

func toJournalInfo(j *engine.JournalInfo) *JournalInfo {
	if j == nil {
		return nil
	}
	return &JournalInfo{OldestSequence: j.Oldest, Bytes: j.Bytes, Segments: j.Stats.Segments}
}

func toPublishResult(name string, first int64, count int, dup bool) PublishResult {
	return PublishResult{Disruptor: name, FirstSequence: first, LastSequence: first + int64(count) - 1, Count: count, Duplicate: dup}
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
