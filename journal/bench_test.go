package journal_test

import (
	"context"
	"fmt"
	"io"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/badbatch/badbatch/disruptor"
	"github.com/badbatch/badbatch/internal/procstat"
	"github.com/badbatch/badbatch/journal"
)

// benchPayload is a typical event of the server's benchmarks: a small
// JSON document, 100 bytes.
var benchPayload = []byte(`{"id":1234567,"symbol":"BADB","side":"buy","price":10042,"qty":7,"note":"` + strings.Repeat("x", 25) + `"}`)

func init() {
	if len(benchPayload) != 100 {
		panic(fmt.Sprintf("benchPayload is %d bytes", len(benchPayload)))
	}
}

var batchSizes = []int{1, 100, 1000}

var syncModes = []journal.SyncMode{journal.SyncAlways, journal.SyncInterval, journal.SyncNever}

// quiet records the CPU that other processes used while the benchmark
// ran, as the metric others-%: a run with more than a few percent was on
// a busy machine and must be rerun.
func quiet(b *testing.B) func() {
	b.Helper()
	before, err := procstat.Read()
	if err != nil {
		return func() {}
	}
	return func() {
		if after, err := procstat.Read(); err == nil {
			b.ReportMetric(100*procstat.Others(before, after), "others-%")
		}
	}
}

func benchJournal(b *testing.B, o journal.Options) (*journal.Dir, *journal.Journal) {
	b.Helper()
	d, err := journal.OpenDir(b.TempDir(), journal.DirOptions{})
	if err != nil {
		b.Fatal(err)
	}
	j, err := d.Create("bench", 0, nil, o)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { d.Close() })
	return d, j
}

func benchEvents(n int) []journal.Event {
	evs := make([]journal.Event, n)
	for i := range evs {
		evs[i] = journal.Event{Payload: benchPayload}
	}
	return evs
}

func reportEvents(b *testing.B, events int64, start time.Time, j *journal.Journal) {
	el := time.Since(start).Seconds()
	b.ReportMetric(float64(events)/el, "events/s")
	if st := j.Stats(); st.Syncs > 0 {
		b.ReportMetric(float64(st.Events)/float64(st.Syncs), "events/fsync")
	}
	if st := j.Stats(); st.Writes > 0 {
		b.ReportMetric(float64(st.Events)/float64(st.Writes), "events/write")
	}
}

// BenchmarkAppend is one goroutine appending batches of 1, 100 and 1000
// events of 100 bytes, each Append returning at the durability point of
// the sync mode. One op is one batch.
func BenchmarkAppend(b *testing.B) {
	for _, mode := range syncModes {
		for _, n := range batchSizes {
			b.Run(fmt.Sprintf("sync=%s/batch=%d", mode, n), func(b *testing.B) {
				o := journal.DefaultOptions()
				o.Sync = mode
				_, j := benchJournal(b, o)
				batch := journal.Batch{Events: benchEvents(n)}
				b.SetBytes(int64(n * len(benchPayload)))
				b.ReportAllocs()
				done := quiet(b)
				b.ResetTimer()
				start := time.Now()
				for range b.N {
					batch.First = j.Next()
					if err := j.Append(batch); err != nil {
						b.Fatal(err)
					}
				}
				b.StopTimer()
				done()
				reportEvents(b, int64(b.N*n), start, j)
			})
		}
	}
}

// BenchmarkAppendConcurrent is four goroutines appending with
// sync=always: each orders its write under a shared lock and waits for
// its fsync outside it, so waiting appends share fsyncs (group commit).
// One op is one batch.
func BenchmarkAppendConcurrent(b *testing.B) {
	const writers = 4
	for _, n := range batchSizes {
		b.Run(fmt.Sprintf("sync=always/batch=%d/writers=%d", n, writers), func(b *testing.B) {
			o := journal.DefaultOptions()
			o.Sync = journal.SyncAlways
			_, j := benchJournal(b, o)
			b.SetBytes(int64(n * len(benchPayload)))
			var left atomic.Int64
			left.Store(int64(b.N))
			var order sync.Mutex
			done := quiet(b)
			b.ResetTimer()
			start := time.Now()
			var wg sync.WaitGroup
			for range writers {
				wg.Go(func() {
					batch := journal.Batch{Events: benchEvents(n)}
					for left.Add(-1) >= 0 {
						order.Lock()
						batch.First = j.Next()
						last, err := j.Write(batch)
						order.Unlock()
						if err == nil {
							err = j.WaitDurable(last)
						}
						if err != nil {
							b.Error(err)
							return
						}
					}
				})
			}
			wg.Wait()
			b.StopTimer()
			done()
			reportEvents(b, int64(b.N*n), start, j)
		})
	}
}

// slot is a ring event of the journaller benchmarks.
type slot struct {
	payload []byte
	head    journal.Head
}

func encodeSlot(ev *journal.Event, s *slot, _ int64) journal.Head {
	ev.Payload = s.payload // the journal copies it before the slot is reused
	return s.head
}

// BenchmarkJournaller is the LMAX pattern end to end: one producer
// publishes batches of 1, 100 or 1000 events (one claim, one
// PublishRange each) into a ring of 64Ki slots; the journaller writes
// them and a business-logic stage after it consumes them. "memory" is the
// same ring without the journaller; "channel" hands the same batches to a
// goroutine that appends them, through a buffered channel. The producer
// does not wait for durability (see BenchmarkJournallerAcked). One op is
// one event.
func BenchmarkJournaller(b *testing.B) {
	variants := []string{"memory", "channel/sync=interval", "journaller/sync=never", "journaller/sync=interval", "journaller/sync=always"}
	for _, n := range batchSizes {
		for _, v := range variants {
			b.Run(fmt.Sprintf("batch=%d/%s", n, v), func(b *testing.B) {
				if strings.HasPrefix(v, "channel") {
					benchChannel(b, n)
					return
				}
				benchRing(b, n, v, 1, false)
			})
		}
	}
}

// BenchmarkJournallerAcked has four producers that each wait for their
// batch to be journaled (fsynced, with sync=always) before publishing the
// next, as a server acknowledging only durable events does. One op is one
// event.
func BenchmarkJournallerAcked(b *testing.B) {
	for _, n := range batchSizes {
		for _, v := range []string{"journaller/sync=interval", "journaller/sync=always"} {
			b.Run(fmt.Sprintf("batch=%d/%s/producers=4", n, v), func(b *testing.B) {
				benchRing(b, n, v, 4, true)
			})
		}
	}
}

func benchRing(b *testing.B, n int, variant string, producers int, acked bool) {
	d, err := disruptor.NewBuilder(func() slot { return slot{} }).BufferSize(1 << 16).MultiProducer().BlockingWaitStrategy().Build()
	if err != nil {
		b.Fatal(err)
	}
	ring := d.RingBuffer()
	var jr *journal.Journaller[slot]
	var j *journal.Journal
	var consumed atomic.Int64
	var wakeups atomic.Int64
	logic := disruptor.EventHandlerFunc[slot](func(_ *slot, seq int64, end bool) error {
		if end {
			consumed.Store(seq + 1)
			wakeups.Add(1)
		}
		return nil
	})
	if variant == "memory" {
		d.HandleEventsWith(logic)
	} else {
		mode, err := journal.ParseSyncMode(strings.TrimPrefix(variant, "journaller/sync="))
		if err != nil {
			b.Fatal(err)
		}
		o := journal.DefaultOptions()
		o.Sync = mode
		_, j = benchJournal(b, o)
		if jr, err = journal.NewJournaller(j, ring, encodeSlot); err != nil {
			b.Fatal(err)
		}
		d.HandleEventsWith(jr).Then(logic)
	}
	if err := d.Start(); err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(benchPayload)))
	b.ReportAllocs()
	total := int64(b.N)
	var left atomic.Int64
	left.Store(total)
	done := quiet(b)
	b.ResetTimer()
	start := time.Now()
	var wg sync.WaitGroup
	ctx := context.Background()
	for range producers {
		wg.Go(func() {
			for {
				k := min(int64(n), left.Add(-int64(n))+int64(n))
				if k <= 0 {
					return
				}
				hi := ring.NextN(int(k))
				lo := hi - k + 1
				for s := lo; s <= hi; s++ {
					*ring.Get(s) = slot{payload: benchPayload}
				}
				ring.Get(lo).head = journal.Head{Count: int(k)}
				ring.PublishRange(lo, hi)
				if acked {
					if _, err := jr.WaitFor(ctx, hi); err != nil {
						b.Error(err)
						return
					}
				}
			}
		})
	}
	wg.Wait()
	for consumed.Load() < total {
		time.Sleep(10 * time.Microsecond)
	}
	b.StopTimer()
	done()
	el := time.Since(start).Seconds()
	b.ReportMetric(float64(total)/el, "events/s")
	b.ReportMetric(float64(total)/float64(max(wakeups.Load(), 1)), "events/wakeup")
	if j != nil {
		st := j.Stats()
		b.ReportMetric(float64(st.Events)/float64(max(st.Writes, 1)), "events/write")
		if st.Syncs > 0 {
			b.ReportMetric(float64(st.Events)/float64(st.Syncs), "events/fsync")
		}
	}
	if err := d.Shutdown(ctx); err != nil {
		b.Fatal(err)
	}
}

// benchChannel is the channel baseline of BenchmarkJournaller: batches go
// through a buffered channel to a goroutine that appends them.
func benchChannel(b *testing.B, n int) {
	o := journal.DefaultOptions()
	_, j := benchJournal(b, o)
	ch := make(chan []journal.Event, 64)
	b.SetBytes(int64(len(benchPayload)))
	b.ReportAllocs()
	total := int64(b.N)
	done := quiet(b)
	b.ResetTimer()
	start := time.Now()
	var wg sync.WaitGroup
	wg.Go(func() {
		for evs := range ch {
			if err := j.Append(journal.Batch{First: j.Next(), Events: evs}); err != nil {
				b.Error(err)
			}
		}
	})
	events := benchEvents(n)
	for left := total; left > 0; left -= int64(n) {
		ch <- events[:min(int64(n), left)]
	}
	close(ch)
	wg.Wait()
	b.StopTimer()
	done()
	reportEvents(b, total, start, j)
}

// BenchmarkRecovery opens a stream of a million events of 100 bytes
// (1000 batches of 1000; 20,000 events with -short) as a restart does,
// and reads back what the engine needs: "open" recovers the stream (the
// active segment read whole, the sealed ones checked from their index),
// "open+verify" checks every record's checksum, "open+window" also reads
// the newest 65,536 events (a ring's worth), "open+replay" every event.
// One op is one whole recovery.
func BenchmarkRecovery(b *testing.B) {
	events := 1_000_000
	if testing.Short() {
		events = 20_000
	}
	path := b.TempDir()
	d, err := journal.OpenDir(path, journal.DirOptions{})
	if err != nil {
		b.Fatal(err)
	}
	o := journal.DefaultOptions()
	j, err := d.Create("big", 0, nil, o)
	if err != nil {
		b.Fatal(err)
	}
	batch := journal.Batch{Events: benchEvents(1000)}
	for seq := 0; seq < events; seq += 1000 {
		batch.First = int64(seq)
		batch.Key = fmt.Sprintf("key-%d", seq)
		if err := j.Append(batch); err != nil {
			b.Fatal(err)
		}
	}
	bytes := j.Bytes()
	if err := d.Close(); err != nil {
		b.Fatal(err)
	}
	for _, v := range []string{"open", "open+verify", "open+window", "open+replay"} {
		b.Run(fmt.Sprintf("events=%d/%s", events, v), func(b *testing.B) {
			o := journal.DefaultOptions()
			o.Verify = v == "open+verify"
			b.SetBytes(bytes)
			done := quiet(b)
			b.ResetTimer()
			for range b.N {
				d, err := journal.OpenDir(path, journal.DirOptions{})
				if err != nil {
					b.Fatal(err)
				}
				j, err := d.Open("big", o)
				if err != nil {
					b.Fatal(err)
				}
				if j.Next() != int64(events) {
					b.Fatalf("recovered %d events, want %d", j.Next(), events)
				}
				var from int64 = -1
				switch v {
				case "open+window":
					from = max(j.Oldest(), j.Next()-65536)
				case "open+replay":
					from = j.Oldest()
				}
				if from >= 0 {
					read := readFrom(b, j, from)
					if read < j.Next()-from {
						b.Fatalf("read %d events from %d", read, from)
					}
				}
				if err := d.Close(); err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			done()
			b.ReportMetric(float64(events)/(b.Elapsed().Seconds()/float64(b.N)), "events/s")
		})
	}
}

func readFrom(b *testing.B, j *journal.Journal, from int64) int64 {
	r, err := j.NewReader(from)
	if err != nil {
		b.Fatal(err)
	}
	defer r.Close()
	var n int64
	for {
		batch, err := r.Next()
		if err == io.EOF {
			return n
		}
		if err != nil {
			b.Fatal(err)
		}
		n += int64(len(batch.Events))
	}
}
