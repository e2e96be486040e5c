package journal_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/hashicorp/raft"
	raftwal "github.com/hashicorp/raft-wal"
	"github.com/tidwall/wal"

	"github.com/badbatch/badbatch/journal"
)

// BenchmarkCompare appends the same events through our journal and the
// two Go write-ahead logs we compared it with (docs/durability.md):
// github.com/tidwall/wal, one entry per event written with WriteBatch,
// and github.com/hashicorp/raft-wal, one raft.Log per event written with
// StoreLogs (it always fsyncs). Each is addressed by sequence, which is
// what replay needs. "sync=on" fsyncs every call; "sync=off" leaves it to
// the OS (ours: SyncNever). One op is one batch.
func BenchmarkCompare(b *testing.B) {
	for _, n := range batchSizes {
		for _, sync := range []bool{true, false} {
			syncName := map[bool]string{true: "on", false: "off"}[sync]
			b.Run(fmt.Sprintf("batch=%d/sync=%s/ours", n, syncName), func(b *testing.B) {
				o := journal.DefaultOptions()
				o.Sync = journal.SyncNever
				if sync {
					o.Sync = journal.SyncAlways
				}
				_, j := benchJournal(b, o)
				batch := journal.Batch{Events: benchEvents(n)}
				compareLoop(b, n, func() error {
					batch.First = j.Next()
					return j.Append(batch)
				})
			})
			b.Run(fmt.Sprintf("batch=%d/sync=%s/tidwall-wal", n, syncName), func(b *testing.B) {
				log, err := wal.Open(b.TempDir(), &wal.Options{NoSync: !sync, SegmentSize: 64 << 20, LogFormat: wal.Binary, NoCopy: true})
				if err != nil {
					b.Fatal(err)
				}
				defer log.Close()
				next := uint64(1) // tidwall/wal numbers from 1
				var batch wal.Batch
				compareLoop(b, n, func() error {
					for range n {
						batch.Write(next, benchPayload)
						next++
					}
					return log.WriteBatch(&batch)
				})
			})
			if !sync {
				continue // raft-wal has no way to skip the fsync
			}
			b.Run(fmt.Sprintf("batch=%d/sync=%s/raft-wal", n, syncName), func(b *testing.B) {
				w, err := raftwal.Open(b.TempDir())
				if err != nil {
					b.Fatal(err)
				}
				defer w.Close()
				next := uint64(1)
				logs := make([]*raft.Log, n)
				for i := range logs {
					logs[i] = &raft.Log{Term: 1, Type: raft.LogCommand, Data: benchPayload}
				}
				compareLoop(b, n, func() error {
					for _, l := range logs {
						l.Index = next
						next++
					}
					return w.StoreLogs(logs)
				})
			})
		}
	}
}

func compareLoop(b *testing.B, n int, appendBatch func() error) {
	b.Helper()
	b.SetBytes(int64(n * len(benchPayload)))
	b.ReportAllocs()
	done := quiet(b)
	b.ResetTimer()
	start := time.Now()
	for range b.N {
		if err := appendBatch(); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	done()
	b.ReportMetric(float64(b.N*n)/time.Since(start).Seconds(), "events/s")
}
