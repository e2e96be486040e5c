package engine

import (
	"runtime"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// ConsumerMetrics describes one built-in consumer.
type ConsumerMetrics struct {
	Name     string `json:"name"`
	Sequence int64  `json:"sequence"`
	Lag      int64  `json:"lag"`
	Running  bool   `json:"running"`
}

// Metrics are a disruptor's figures, as GET .../metrics serves them and
// /metrics exposes them to Prometheus.
type Metrics struct {
	Disruptor string `json:"disruptor"`
	State     State  `json:"state"`
	// Published and Consumed count events since creation; Consumed is
	// what the metrics consumer has seen. Both count the sequences before
	// the disruptor's first sequence as published and consumed (see
	// [Info].Published).
	Published int64 `json:"published"`
	Consumed  int64 `json:"consumed"`
	// Batches counts successful publishes.
	Batches int64 `json:"batches"`
	// PublishRate is events per second over the last ten seconds.
	PublishRate float64 `json:"publish_rate"`
	// Latency is publish-to-consume latency, since creation.
	Latency Latency `json:"latency"`
	// BufferSize is the ring's size; Cursor the latest sequence claimed.
	BufferSize int   `json:"buffer_size"`
	Cursor     int64 `json:"cursor"`
	// FillRatio is the share of the ring holding events some consumer has
	// not handled yet: what stands between publishers and RING_FULL.
	FillRatio float64 `json:"fill_ratio"`
	// Consumers are the built-in consumers, with their lag behind the
	// cursor.
	Consumers   []ConsumerMetrics `json:"consumers"`
	Subscribers int               `json:"subscribers"`
	// Errors counts failed publishes by code.
	Errors map[string]int64 `json:"errors"`
}

func (h *hosted) metrics() Metrics {
	now := h.eng.now()
	cursor := h.ring.Cursor()
	published := h.eventsPublished.Load()
	m := Metrics{
		Disruptor:   h.name,
		State:       h.State(),
		Published:   published,
		Consumed:    h.met.consumed.Load(),
		Batches:     h.batches.Load(),
		BufferSize:  int(h.size),
		Cursor:      cursor,
		Subscribers: int(h.subscribers.Load()),
		Errors:      make(map[string]int64),
	}
	h.rateMu.Lock()
	m.PublishRate = h.rate.rate(now, published)
	h.rateMu.Unlock()
	h.met.mu.Lock()
	m.Latency = h.met.lat.summary()
	h.met.mu.Unlock()
	minSeq := cursor
	for i, p := range h.procs {
		seq := p.Sequence().Get()
		minSeq = min(minSeq, seq)
		m.Consumers = append(m.Consumers, ConsumerMetrics{
			Name: processorName(i), Sequence: seq, Lag: max(0, cursor-seq), Running: p.IsRunning(),
		})
	}
	m.FillRatio = float64(cursor-minSeq) / float64(h.size)
	for code, c := range h.errCounts {
		if n := c.Load(); n > 0 {
			m.Errors[code] = n
		}
	}
	return m
}

// Metrics returns the figures of the disruptor name, or [ErrNotFound].
func (e *Engine) Metrics(name string) (Metrics, error) {
	h, err := e.lookup(name)
	if err != nil {
		return Metrics{}, err
	}
	return h.metrics(), nil
}

// AllMetrics returns the figures of every disruptor, sorted by name.
func (e *Engine) AllMetrics() []Metrics {
	out := make([]Metrics, 0)
	for _, info := range e.List() {
		if m, err := e.Metrics(info.Name); err == nil {
			out = append(out, m)
		}
	}
	return out
}

// ComponentHealth is the health of one disruptor.
type ComponentHealth struct {
	Name       string            `json:"name"`
	State      State             `json:"state"`
	Healthy    bool              `json:"healthy"`
	Error      string            `json:"error,omitempty"`
	Processors []ConsumerMetrics `json:"processors"`
}

// Health is the engine's health: up unless closed, and each disruptor's
// consumers running as their state says they should.
type Health struct {
	Up         bool              `json:"up"`
	Uptime     time.Duration     `json:"uptime_ns"`
	Goroutines int               `json:"goroutines"`
	Disruptors []ComponentHealth `json:"disruptors"`
}

// Ready reports whether the engine is up and every disruptor healthy.
func (h Health) Ready() bool {
	if !h.Up {
		return false
	}
	for _, d := range h.Disruptors {
		if !d.Healthy {
			return false
		}
	}
	return true
}

// Health checks the engine and every disruptor.
func (e *Engine) Health() Health {
	out := Health{
		Up:         !e.closed.Load(),
		Uptime:     e.now().Sub(e.started),
		Goroutines: runtime.NumGoroutine(),
		Disruptors: []ComponentHealth{},
	}
	e.mu.RLock()
	hs := make([]*hosted, 0, len(e.hosted))
	for _, h := range e.hosted {
		hs = append(hs, h)
	}
	e.mu.RUnlock()
	for _, h := range hs {
		ok, err := h.processorsAlive()
		c := ComponentHealth{Name: h.name, State: h.State(), Healthy: ok}
		if err != nil {
			c.Error = err.Error()
		}
		cursor := h.ring.Cursor()
		for i, p := range h.procs {
			seq := p.Sequence().Get()
			c.Processors = append(c.Processors, ConsumerMetrics{
				Name: processorName(i), Sequence: seq, Lag: max(0, cursor-seq), Running: p.IsRunning(),
			})
		}
		out.Disruptors = append(out.Disruptors, c)
	}
	sortByName(out.Disruptors)
	return out
}

func sortByName(cs []ComponentHealth) {
	for i := 1; i < len(cs); i++ {
		for j := i; j > 0 && cs[j].Name < cs[j-1].Name; j-- {
			cs[j], cs[j-1] = cs[j-1], cs[j]
		}
	}
}

// Collector returns a Prometheus collector of every disruptor's figures.
// It reads them at scrape time, so disruptors come and go with no
// registration; register it once (New does when [Config.Registerer] is
// set).
func (e *Engine) Collector() prometheus.Collector { return &collector{e: e} }

var (
	labels = []string{"disruptor"}

	descPublished = prometheus.NewDesc("badbatch_events_published_total",
		"Events published to the disruptor.", labels, nil)
	descConsumed = prometheus.NewDesc("badbatch_events_consumed_total",
		"Events handled by the disruptor's metrics consumer.", labels, nil)
	descBatches = prometheus.NewDesc("badbatch_publish_batches_total",
		"Successful publishes (batches) to the disruptor.", labels, nil)
	descRate = prometheus.NewDesc("badbatch_publish_rate",
		"Events published per second over the last ten seconds.", labels, nil)
	descLatency = prometheus.NewDesc("badbatch_event_latency_seconds",
		"Publish-to-consume latency of events.", labels, nil)
	descFill = prometheus.NewDesc("badbatch_ring_fill_ratio",
		"Share of the ring holding events not yet handled by every consumer.", labels, nil)
	descSize = prometheus.NewDesc("badbatch_ring_buffer_size",
		"Slots in the disruptor's ring.", labels, nil)
	descCursor = prometheus.NewDesc("badbatch_ring_cursor",
		"Latest sequence claimed in the ring.", labels, nil)
	descLag = prometheus.NewDesc("badbatch_consumer_lag",
		"Events between the ring's cursor and a consumer.", []string{"disruptor", "consumer"}, nil)
	descSubscribers = prometheus.NewDesc("badbatch_subscribers",
		"Live subscribers following the disruptor.", labels, nil)
	descErrors = prometheus.NewDesc("badbatch_publish_errors_total",
		"Failed publishes by error code.", []string{"disruptor", "code"}, nil)
	descState = prometheus.NewDesc("badbatch_disruptor_state",
		"1 for the state the disruptor is in.", []string{"disruptor", "state"}, nil)
	descUp = prometheus.NewDesc("badbatch_disruptor_up",
		"1 when the disruptor's consumers run as its state says they should.", labels, nil)

	descJournalBytes = prometheus.NewDesc("badbatch_journal_bytes",
		"Size of a journaled disruptor's segment files.", labels, nil)
	descJournalSegments = prometheus.NewDesc("badbatch_journal_segments",
		"Segment files of a journaled disruptor's journal.", labels, nil)
	descJournalOldest = prometheus.NewDesc("badbatch_journal_oldest_sequence",
		"Oldest sequence a journaled disruptor's journal keeps.", labels, nil)
	descJournalAppends = prometheus.NewDesc("badbatch_journal_appends_total",
		"Successful writes to a journaled disruptor's journal since it was opened (one per publish).", labels, nil)
	descJournalEvents = prometheus.NewDesc("badbatch_journal_events_total",
		"Events written to a journaled disruptor's journal since it was opened.", labels, nil)
	descJournalSyncs = prometheus.NewDesc("badbatch_journal_fsyncs_total",
		"Fsyncs of a journaled disruptor's journal since it was opened (group commits and seals).", labels, nil)
	descJournalErrors = prometheus.NewDesc("badbatch_journal_write_errors_total",
		"Failed writes and fsyncs of a journaled disruptor's journal since it was opened.", labels, nil)
)

type collector struct{ e *Engine }

func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descPublished, descConsumed, descBatches, descRate, descLatency,
		descFill, descSize, descCursor, descLag, descSubscribers, descErrors, descState, descUp,
		descJournalBytes, descJournalSegments, descJournalOldest, descJournalAppends, descJournalEvents,
		descJournalSyncs, descJournalErrors} {
		ch <- d
	}
}

func (c *collector) Collect(ch chan<- prometheus.Metric) {
	c.e.mu.RLock()
	hs := make([]*hosted, 0, len(c.e.hosted))
	for _, h := range c.e.hosted {
		hs = append(hs, h)
	}
	c.e.mu.RUnlock()
	for _, h := range hs {
		m := h.metrics()
		n := h.name
		ch <- prometheus.MustNewConstMetric(descPublished, prometheus.CounterValue, float64(m.Published), n)
		ch <- prometheus.MustNewConstMetric(descConsumed, prometheus.CounterValue, float64(m.Consumed), n)
		ch <- prometheus.MustNewConstMetric(descBatches, prometheus.CounterValue, float64(m.Batches), n)
		ch <- prometheus.MustNewConstMetric(descRate, prometheus.GaugeValue, m.PublishRate, n)
		ch <- prometheus.MustNewConstMetric(descFill, prometheus.GaugeValue, m.FillRatio, n)
		ch <- prometheus.MustNewConstMetric(descSize, prometheus.GaugeValue, float64(m.BufferSize), n)
		ch <- prometheus.MustNewConstMetric(descCursor, prometheus.GaugeValue, float64(m.Cursor), n)
		ch <- prometheus.MustNewConstMetric(descSubscribers, prometheus.GaugeValue, float64(m.Subscribers), n)
		for _, cm := range m.Consumers {
			ch <- prometheus.MustNewConstMetric(descLag, prometheus.GaugeValue, float64(cm.Lag), n, cm.Name)
		}
		for code, cnt := range h.errCounts {
			ch <- prometheus.MustNewConstMetric(descErrors, prometheus.CounterValue, float64(cnt.Load()), n, code)
		}
		for _, s := range States[:4] {
			v := 0.0
			if m.State == s {
				v = 1
			}
			ch <- prometheus.MustNewConstMetric(descState, prometheus.GaugeValue, v, n, s.String())
		}
		up, _ := h.processorsAlive()
		ch <- prometheus.MustNewConstMetric(descUp, prometheus.GaugeValue, b2f(up), n)
		h.met.mu.Lock()
		count, sum, buckets := h.met.lat.count, h.met.lat.sum, h.met.lat.buckets()
		h.met.mu.Unlock()
		ch <- prometheus.MustNewConstHistogram(descLatency, count, sum, buckets, n)
		if h.j != nil {
			st := h.j.Stats()
			ch <- prometheus.MustNewConstMetric(descJournalBytes, prometheus.GaugeValue, float64(h.j.Bytes()), n)
			ch <- prometheus.MustNewConstMetric(descJournalSegments, prometheus.GaugeValue, float64(st.Segments), n)
			ch <- prometheus.MustNewConstMetric(descJournalOldest, prometheus.GaugeValue, float64(h.j.Oldest()), n)
			ch <- prometheus.MustNewConstMetric(descJournalAppends, prometheus.CounterValue, float64(st.Writes), n)
			ch <- prometheus.MustNewConstMetric(descJournalEvents, prometheus.CounterValue, float64(st.Events), n)
			ch <- prometheus.MustNewConstMetric(descJournalSyncs, prometheus.CounterValue, float64(st.Syncs), n)
			ch <- prometheus.MustNewConstMetric(descJournalErrors, prometheus.CounterValue, float64(st.Failures), n)
		}
	}
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
