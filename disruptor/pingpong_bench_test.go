package disruptor_test

import (
	"context"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"

	"github.com/badbatch/badbatch/disruptor"
)

// BenchmarkPingPong is latency: one op is a round trip of one event
// through two disruptors (ping ring → ponger → pong ring → pinger → ping
// ring ...), so ns/op is the mean round trip; p50, p99 and p99.9 come from
// an HdrHistogram of every round trip. Beside it: the same round trip over
// two bare atomics (the floor of any shared-memory handoff on this machine)
// and over two channels.
func BenchmarkPingPong(b *testing.B) {
	b.Run("atomic", benchPingPongAtomic)
	b.Run("channel", benchPingPongChannel)
	for _, ws := range benchWaitStrategies {
		b.Run("disruptor/"+ws.name, func(b *testing.B) { benchPingPongDisruptor(b, ws) })
	}
}

// benchPingPongRingSize is small: only one event is ever in flight.
const benchPingPongRingSize = 1024

// benchRoundTrips times the round trips of one run: each is the time
// between two arrivals at the pinger, which sends the next ping in between.
// The pinger reads the clock once per round trip, and records the previous
// round trip after sending the next ping, so the histogram's cost overlaps
// the flight. Every peer does the same, so the clock's cost is in each
// figure alike.
type benchRoundTrips struct {
	hist *hdrhistogram.Histogram
	last time.Time
	n    int // round trips to run
	seen int // round trips completed
	bad  int // echoes that came back with the wrong value
	done chan struct{}
}

// benchRoundTripMax is the longest round trip the histogram resolves;
// longer ones are recorded as it.
const benchRoundTripMax = int64(time.Second)

func newBenchRoundTrips(n int) *benchRoundTrips {
	return &benchRoundTrips{
		hist: hdrhistogram.New(1, benchRoundTripMax, 3),
		n:    n,
		done: make(chan struct{}),
	}
}

// start marks the send of the first ping.
func (r *benchRoundTrips) start() { r.last = time.Now() }

// arrive is called on the pinger's goroutine when the echo of ping value
// arrives. It calls send with the next value unless the run is over, then
// records the round trip.
func (r *benchRoundTrips) arrive(value int64, send func(int64)) {
	now := time.Now()
	if value != int64(r.seen) {
		r.bad++
	}
	r.seen++
	if r.seen < r.n {
		send(int64(r.seen))
	}
	rtt := min(now.Sub(r.last).Nanoseconds(), benchRoundTripMax)
	_ = r.hist.RecordValue(max(rtt, 1))
	r.last = now
	if r.seen == r.n {
		close(r.done)
	}
}

// report checks the run and reports its percentiles.
func (r *benchRoundTrips) report(b *testing.B) {
	b.Helper()
	if r.seen != r.n || r.bad != 0 {
		b.Fatalf("%d round trips, %d with the wrong value; want %d, none wrong", r.seen, r.bad, r.n)
	}
	b.ReportMetric(float64(r.hist.ValueAtQuantile(50)), "p50-ns")
	b.ReportMetric(float64(r.hist.ValueAtQuantile(99)), "p99-ns")
	b.ReportMetric(float64(r.hist.ValueAtQuantile(99.9)), "p99.9-ns")
}

// benchPingPongAtomic is the floor: the pinger stores the ping in one
// padded atomic and spins on another for the echo, which the ponger
// stores after spinning on the first.
func benchPingPongAtomic(b *testing.B) {
	var ping, pong struct {
		_ [128]byte
		v atomic.Int64
		_ [120]byte
	}
	ping.v.Store(-1)
	pong.v.Store(-1)
	r := newBenchRoundTrips(b.N)
	ponged := make(chan struct{})
	go func() {
		defer close(ponged)
		for i := range int64(b.N) {
			benchSpinUntil(&ping.v, i)
			pong.v.Store(i)
		}
	}()
	b.ReportAllocs()
	b.ResetTimer()
	r.start()
	ping.v.Store(0)
	send := func(v int64) { ping.v.Store(v) }
	for i := range int64(b.N) {
		benchSpinUntil(&pong.v, i)
		r.arrive(i, send)
	}
	b.StopTimer()
	<-ponged
	r.report(b)
}

// benchSpinUntil spins until v holds want, yielding now and then in case the
// goroutines outnumber the cores.
func benchSpinUntil(v *atomic.Int64, want int64) {
	for i := 1; v.Load() != want; i++ {
		if i&4095 == 0 {
			runtime.Gosched()
		}
	}
}

func benchPingPongChannel(b *testing.B) {
	ping, pong := make(chan int64, 1), make(chan int64, 1)
	r := newBenchRoundTrips(b.N)
	go func() {
		for v := range ping {
			pong <- v
		}
		close(pong)
	}()
	b.ReportAllocs()
	b.ResetTimer()
	r.start()
	ping <- 0
	send := func(v int64) { ping <- v }
	for range b.N {
		r.arrive(<-pong, send)
	}
	b.StopTimer()
	close(ping)
	<-pong
	r.report(b)
}

// benchPonger is the ponger: it echoes every ping to the pong ring.
type benchPonger struct {
	out *disruptor.RingBuffer[benchEvent]
}

func (p *benchPonger) OnEvent(e *benchEvent, _ int64, _ bool) error {
	seq := p.out.Next()
	p.out.Get(seq).Value = e.Value
	p.out.Publish(seq)
	return nil
}

// benchPinger is the pinger: it times each echo and sends the next ping.
type benchPinger struct {
	r    *benchRoundTrips
	send func(int64)
}

func (p *benchPinger) OnEvent(e *benchEvent, _ int64, _ bool) error {
	p.r.arrive(e.Value, p.send)
	return nil
}

func benchPingPongDisruptor(b *testing.B, ws benchWaitStrategy) {
	pingD := newBenchDisruptor(b, benchPingPongRingSize, disruptor.SingleProducer, ws.make())
	pongD := newBenchDisruptor(b, benchPingPongRingSize, disruptor.SingleProducer, ws.make())
	pingRing := pingD.RingBuffer()
	send := func(v int64) {
		seq := pingRing.Next()
		pingRing.Get(seq).Value = v
		pingRing.Publish(seq)
	}
	r := newBenchRoundTrips(b.N)
	pingD.HandleEventsWith(&benchPonger{out: pongD.RingBuffer()})
	pongD.HandleEventsWith(&benchPinger{r: r, send: send})
	if err := pongD.Start(); err != nil {
		b.Fatal(err)
	}
	// The benchmark goroutine sends the first ping; the pinger sends the
	// rest. The ring's single producer changes hands through the round
	// trip itself, which orders the two.
	benchStart(b, pingD, func() {
		r.start()
		send(0)
	}, r.done)
	if err := pongD.Shutdown(context.Background()); err != nil {
		b.Fatal(err)
	}
	r.report(b)
}
