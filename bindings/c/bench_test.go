package main

import (
	"context"
	"fmt"
	"regexp"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/badbatch/badbatch/bindings/internal/bindingtest"
	"github.com/badbatch/badbatch/bindings/internal/bytering"
)

// The cgo crossing, measured: one producer publishes 32-byte events to one
// counting consumer, in claims of 1 and of 64, through the C API (a C
// program: a C thread calls in, the consumer is a C callback called out)
// and through the same core from Go (no crossing), with a Go channel as
// the baseline, all in one run. One op is one event. events/batch is
// events per consumer wake-up; other-cpu-% is the share of the machine
// other processes used meanwhile.
//
//	go test -run='^$' -bench=. -benchtime=2000000x -count=6 ./bindings/c/

const (
	benchWait      = "yielding"
	benchEventSize = 32
)

var batchSizes = []int{1, 64}

var benchOut = regexp.MustCompile(`ns=(\d+) batches=(\d+)`)

func BenchmarkCAPI(b *testing.B) {
	exe := program(b, "badbatch_bench.c", "c-shared", nil, nil, nil)
	for _, api := range []string{"claim", "copy"} {
		for _, batch := range batchSizes {
			b.Run(fmt.Sprintf("%s/batch=%d", api, batch), func(b *testing.B) {
				load := bindingtest.StartLoad()
				out := bindingtest.Run(b, 10*time.Minute, nil, exe, strconv.Itoa(b.N), strconv.Itoa(batch), api, benchWait)
				m := benchOut.FindStringSubmatch(out)
				if m == nil {
					b.Fatalf("output: %s", out)
				}
				ns, _ := strconv.ParseFloat(m[1], 64)
				batches, _ := strconv.ParseFloat(m[2], 64)
				// The program times its own loop: that, not the process's
				// start, is the op.
				b.ReportMetric(ns/float64(b.N), "ns/op")
				b.ReportMetric(float64(b.N)/(ns/1e9), "events/s")
				b.ReportMetric(float64(b.N)/max(batches, 1), "events/batch")
				b.ReportMetric(load.Others(), "other-cpu-%")
			})
		}
	}
}

func BenchmarkGo(b *testing.B) {
	for _, api := range []string{"claim", "copy"} {
		for _, batch := range batchSizes {
			b.Run(fmt.Sprintf("%s/batch=%d", api, batch), func(b *testing.B) {
				r, err := bytering.New(bytering.Config{Slots: 1024, EventSize: benchEventSize, Producer: "single", Wait: benchWait})
				if err != nil {
					b.Fatal(err)
				}
				defer r.Free()
				var consumed atomic.Int64
				var batches, sum uint64
				if err := r.HandleEvents(func(_ int64, data []byte, lens []uint32) error {
					for k := range lens {
						sum += uint64(data[k*benchEventSize])
					}
					batches++
					consumed.Add(int64(len(lens)))
					return nil
				}); err != nil {
					b.Fatal(err)
				}
				if err := r.Start(); err != nil {
					b.Fatal(err)
				}
				src := make([]byte, 64*benchEventSize)
				data, lens := r.Data(), r.Lengths()
				load := bindingtest.StartLoad()
				b.ResetTimer()
				for k := 0; k < b.N; {
					n := min(b.N-k, batch)
					var err error
					if api == "claim" {
						var hi int64
						if hi, err = r.Next(n); err == nil {
							for s := hi - int64(n) + 1; s <= hi; s++ {
								i := int(s) & 1023
								data[i*benchEventSize] = byte(s)
								lens[i] = benchEventSize
							}
							err = r.PublishRange(hi-int64(n)+1, hi)
						}
					} else if n == 1 {
						_, err = r.PublishCopy(src[:benchEventSize], true)
					} else {
						_, err = r.PublishMany(src[:n*benchEventSize], nil, true)
					}
					if err != nil {
						b.Fatal(err)
					}
					k += n
				}
				for consumed.Load() < int64(b.N) {
				}
				b.StopTimer()
				others := load.Others()
				if err := r.Shutdown(context.Background()); err != nil {
					b.Fatal(err)
				}
				b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
				b.ReportMetric(float64(b.N)/float64(max(batches, 1)), "events/batch")
				b.ReportMetric(others, "other-cpu-%")
				_ = sum
			})
		}
	}
}

// BenchmarkChannel is the baseline: the same events through a buffered Go
// channel of 1024, one send and one receive per event.
func BenchmarkChannel(b *testing.B) {
	ch := make(chan [benchEventSize]byte, 1024)
	done := make(chan uint64)
	go func() {
		var sum uint64
		for ev := range ch {
			sum += uint64(ev[0])
		}
		done <- sum
	}()
	var ev [benchEventSize]byte
	load := bindingtest.StartLoad()
	b.ResetTimer()
	for k := range b.N {
		ev[0] = byte(k)
		ch <- ev
	}
	close(ch)
	<-done
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
	b.ReportMetric(load.Others(), "other-cpu-%")
}
