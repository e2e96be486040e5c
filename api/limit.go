package api

import (
	"math"
	"strconv"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// limiters holds a token bucket per client: per key, per certificate
// identity, or per remote address for requests without credentials.
//
// A bucket that is full holds nothing a new one would not, so sweeping
// full buckets out of the map loses no state: the map stays as small as
// the set of clients active within about burst/rate seconds.
type limiters struct {
	rate  rate.Limit
	burst int

	mu      sync.Mutex
	buckets map[string]*rate.Limiter
	sweepAt int // sweep when the map reaches this size
}

const minSweep = 1024

func newLimiters(perSecond float64, burst int) *limiters {
	if perSecond <= 0 {
		return nil
	}
	return &limiters{rate: rate.Limit(perSecond), burst: burst, buckets: map[string]*rate.Limiter{}, sweepAt: minSweep}
}

// wait takes a token from bucket's limiter and returns 0, or, when there
// is none, takes nothing and returns how long until there will be one.
// A nil *limiters allows everything.
func (l *limiters) wait(bucket string, now time.Time) time.Duration {
	if l == nil {
		return 0
	}
	l.mu.Lock()
	lim := l.buckets[bucket]
	if lim == nil {
		if len(l.buckets) >= l.sweepAt {
			l.sweep(now)
		}
		lim = rate.NewLimiter(l.rate, l.burst)
		l.buckets[bucket] = lim
	}
	l.mu.Unlock()
	r := lim.ReserveN(now, 1)
	if !r.OK() {
		return time.Second
	}
	if d := r.DelayFrom(now); d > 0 {
		r.CancelAt(now)
		return d
	}
	return 0
}

// sweep drops full buckets. Called with mu held.
func (l *limiters) sweep(now time.Time) {
	for k, lim := range l.buckets {
		if lim.TokensAt(now) >= float64(l.burst) {
			delete(l.buckets, k)
		}
	}
	l.sweepAt = max(2*len(l.buckets), minSweep)
}

// retryAfterSeconds is a Retry-After value for a wait: whole seconds,
// rounded up, at least 1.
func retryAfterSeconds(d time.Duration) string {
	return strconv.Itoa(max(1, int(math.Ceil(d.Seconds()))))
}

// streamQuota counts the live streams of each client.
type streamQuota struct {
	max int // 0: no limit

	mu sync.Mutex
	n  map[string]int
}

// acquire takes a stream slot for bucket, or reports there is none.
func (q *streamQuota) acquire(bucket string) bool {
	if q.max <= 0 {
		return true
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.n[bucket] >= q.max {
		return false
	}
	q.n[bucket]++
	return true
}

// release gives back a slot acquire took.
func (q *streamQuota) release(bucket string) {
	if q.max <= 0 {
		return
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.n[bucket]--; q.n[bucket] <= 0 {
		delete(q.n, bucket)
	}
}
