package engine

import (
	"sort"
	"time"

	hdrhistogram "github.com/HdrHistogram/hdrhistogram-go"
	"github.com/prometheus/client_golang/prometheus"
)

// latencyBounds are the upper bounds, in seconds, of the Prometheus buckets
// of publish-to-consume latency: 1µs to 10s.
var latencyBounds = prometheus.ExponentialBucketsRange(1e-6, 10, 22)

// latencyStats records publish-to-consume latencies twice: into Prometheus
// style cumulative buckets, and into an HDR histogram for exact-enough
// percentiles. It is a plain structure; the metrics consumer serialises
// access with a mutex.
type latencyStats struct {
	counts []uint64 // counts[i]: latencies <= latencyBounds[i] and above the previous bound; last: above all
	sum    float64  // seconds
	count  uint64
	hdr    *hdrhistogram.Histogram // nanoseconds
}

func newLatencyStats() *latencyStats {
	return &latencyStats{
		counts: make([]uint64, len(latencyBounds)+1),
		// 1ns to 1 minute at 2 significant digits: about 30 KiB.
		hdr: hdrhistogram.New(1, int64(time.Minute), 2),
	}
}

// record adds n latencies of ns nanoseconds each.
func (l *latencyStats) record(ns int64, n int) {
	if ns < 0 {
		ns = 0
	}
	s := float64(ns) / 1e9
	i := sort.SearchFloat64s(latencyBounds, s)
	l.counts[i] += uint64(n)
	l.sum += s * float64(n)
	l.count += uint64(n)
	if ns > l.hdr.HighestTrackableValue() {
		ns = l.hdr.HighestTrackableValue()
	}
	_ = l.hdr.RecordValues(max(ns, 1), int64(n))
}

// buckets returns the cumulative bucket counts Prometheus wants.
func (l *latencyStats) buckets() map[float64]uint64 {
	m := make(map[float64]uint64, len(latencyBounds))
	var cum uint64
	for i, b := range latencyBounds {
		cum += l.counts[i]
		m[b] = cum
	}
	return m
}

// Latency summarises publish-to-consume latencies since the disruptor was
// created.
type Latency struct {
	Count int64         `json:"count"`
	Mean  time.Duration `json:"mean_ns"`
	P50   time.Duration `json:"p50_ns"`
	P95   time.Duration `json:"p95_ns"`
	P99   time.Duration `json:"p99_ns"`
	Max   time.Duration `json:"max_ns"`
}

func (l *latencyStats) summary() Latency {
	if l.count == 0 {
		return Latency{}
	}
	p := l.hdr.ValueAtPercentilesSlice([]float64{50, 95, 99})
	return Latency{
		Count: int64(l.count),
		Mean:  time.Duration(l.hdr.Mean()),
		P50:   time.Duration(p[0]),
		P95:   time.Duration(p[1]),
		P99:   time.Duration(p[2]),
		Max:   time.Duration(l.hdr.Max()),
	}
}

// rateWindow estimates an event rate over the last window from samples
// of a monotonic counter taken at most once per interval, each taken just
// before the counter moves. It is a plain structure: the caller passes
// times in and serialises access.
type rateWindow struct {
	window, interval time.Duration
	samples          [32]rateSample // a ring, oldest at next-n
	n, next          int            // samples held; where the next goes
}

type rateSample struct {
	at    time.Time
	count int64
}

// newRateWindow starts with the counter at count at origin.
func newRateWindow(origin time.Time, count int64) rateWindow {
	r := rateWindow{window: 10 * time.Second, interval: time.Second}
	r.add(rateSample{at: origin, count: count})
	return r
}

func (r *rateWindow) add(s rateSample) {
	r.samples[r.next] = s
	r.next = (r.next + 1) % len(r.samples)
	r.n = min(r.n+1, len(r.samples))
}

// at returns the i-th sample held, oldest first.
func (r *rateWindow) at(i int) rateSample {
	return r.samples[(r.next-r.n+i+len(r.samples))%len(r.samples)]
}

// due reports whether a sample taken at now would be kept.
func (r *rateWindow) due(now time.Time) bool {
	return now.Sub(r.at(r.n-1).at) >= r.interval
}

// observe offers a sample: the counter was count at now. It is kept if
// the last one is an interval old.
func (r *rateWindow) observe(now time.Time, count int64) {
	if r.due(now) {
		r.add(rateSample{at: now, count: count})
	}
}

// rate is the events per second over the window before now, when the
// counter is count: count less the counter's value a window ago, over the
// window. A sample is taken just before the counter moves and at most
// once per interval, so between two samples the counter moved within an
// interval of the earlier one (a later move would have taken a sample)
// and stood still after that; the value a window ago is interpolated on
// that basis. So the rate falls to 0 a window after the last publish,
// rather than spreading the last burst over all the time since.
func (r *rateWindow) rate(now time.Time, count int64) float64 {
	cut := now.Add(-r.window)
	prev := r.at(0)
	if !prev.at.Before(cut) {
		// Younger than the window: the rate since the first sample.
		d := now.Sub(prev.at).Seconds()
		if d <= 0 {
			return 0
		}
		return float64(count-prev.count) / d
	}
	base := float64(count)
	for i := 1; i <= r.n; i++ {
		next := rateSample{at: now, count: count}
		if i < r.n {
			next = r.at(i)
		}
		// The counter went from prev.count to next.count between
		// prev.at and end.
		end := next.at
		if e := prev.at.Add(r.interval); e.Before(end) {
			end = e
		}
		if cut.Before(end) {
			frac := 0.0
			if span := end.Sub(prev.at).Seconds(); span > 0 && cut.After(prev.at) {
				frac = cut.Sub(prev.at).Seconds() / span
			}
			base = float64(prev.count) + frac*float64(next.count-prev.count)
			break
		}
		prev = next
	}
	return (float64(count) - base) / r.window.Seconds()
}
