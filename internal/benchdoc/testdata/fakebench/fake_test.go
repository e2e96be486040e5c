// Package fakebench is a tiny benchmark suite for benchdoc's tests.
package fakebench

import "testing"

var sink int

func BenchmarkTopo(b *testing.B) {
	b.Run("channel", func(b *testing.B) {
		for i := range b.N {
			sink += i
		}
	})
	b.Run("disruptor/blocking", func(b *testing.B) {
		for i := range b.N {
			sink += i
		}
		b.ReportMetric(64, "events/wakeup")
	})
	// A prefix of the other one: the case patterns must keep them apart.
	b.Run("disruptor", func(b *testing.B) {
		for i := range b.N {
			sink -= i
		}
	})
}
