package replication

import (
	"context"
	"fmt"
	"runtime"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/badbatch/badbatch/engine"
)

// benchCases are BenchmarkPublish's batch sizes, each with how many
// goroutines per GOMAXPROCS publish at once. A quorum publish waits a few
// milliseconds for its commit, so (Little's law) throughput is publishers
// × batch ÷ latency: small batches need many publishers in flight, as a
// server with many clients has. The first case, with one publisher per
// CPU, shows the latency of a commit on its own.
var benchCases = []struct{ size, parallelism int }{{1, 1}, {1, 1024}, {100, 32}, {1000, 8}}

// BenchmarkPublish compares, in one run, a publish to a local disruptor
// (the engine alone, replication "none") with a quorum publish through a
// 3-node in-process Raft group on loopback TCP with durable (fsynced)
// logs, for batches of 1, 100 and 1000 events of about 64 bytes, from
// concurrent publishers (see benchCases). It reports events/s and the
// latency of one publish call (p50, p99): on the quorum side, from the
// call to the batch committed on a majority and applied on the leader.
func BenchmarkPublish(b *testing.B) {
	c := newCluster(b, 3, false, func(cfg *Config) {
		d := DefaultConfig()
		cfg.HeartbeatTimeout, cfg.ElectionTimeout, cfg.LeaderLeaseTimeout = d.HeartbeatTimeout, d.ElectionTimeout, d.LeaderLeaseTimeout
		cfg.Logger = nil
	})
	// Publishers queue for the single-producer ring: let them wait.
	ring := engine.DisruptorConfig{PublishTimeout: 30 * time.Second}
	ring.Name = "quorum"
	c.create(ring)
	local := newTestEngine(b)
	b.Cleanup(func() { _ = local.Close(context.Background()) })
	ring.Name = "local"
	if _, err := local.Create(ring, true); err != nil {
		b.Fatal(err)
	}
	for _, bc := range benchCases {
		size := bc.size
		events := make([]engine.Event, size)
		for i := range events {
			events[i] = engine.Event{Payload: fmt.Appendf(nil, `{"order":%08d,"item":"widget","qty":3,"price":12.50}`, i)}
		}
		suffix := fmt.Sprintf("batch=%d/publishers=%d", size, bc.parallelism*runtime.GOMAXPROCS(0))
		b.Run("Local/"+suffix, func(b *testing.B) {
			benchPublish(b, size, bc.parallelism, func() error {
				_, err := local.Publish(context.Background(), "local", &engine.Batch{Events: events})
				return err
			})
		})
		b.Run("Quorum/"+suffix, func(b *testing.B) {
			benchPublish(b, size, bc.parallelism, func() error {
				_, err := c.publish(nil, "quorum", &engine.Batch{Events: events})
				return err
			})
		})
	}
}

// benchPublish runs publish b.N times from concurrent goroutines and
// reports events/s and per-call latency percentiles.
func benchPublish(b *testing.B, size, parallelism int, publish func() error) {
	b.ReportAllocs()
	b.SetParallelism(parallelism)
	var mu sync.Mutex
	var all []time.Duration
	start := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		var lat []time.Duration
		for pb.Next() {
			t0 := time.Now()
			if err := publish(); err != nil {
				b.Error(err)
				return
			}
			lat = append(lat, time.Since(t0))
		}
		mu.Lock()
		all = append(all, lat...)
		mu.Unlock()
	})
	elapsed := time.Since(start)
	if len(all) == 0 {
		return
	}
	slices.Sort(all)
	pct := func(p float64) float64 { return float64(all[int(p*float64(len(all)-1))]) / float64(time.Millisecond) }
	b.ReportMetric(float64(b.N*size)/elapsed.Seconds(), "events/s")
	b.ReportMetric(pct(0.50), "p50-ms")
	b.ReportMetric(pct(0.99), "p99-ms")
}
