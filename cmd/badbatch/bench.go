package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"text/tabwriter"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/spf13/cobra"

	"github.com/badbatch/badbatch/api"
	"github.com/badbatch/badbatch/client"
	"github.com/badbatch/badbatch/engine"
)

// benchOptions are the bench command's flags.
type benchOptions struct {
	embedded    bool
	disruptor   string
	duration    time.Duration
	events      int64
	batch       int
	payload     int
	concurrency int
	encoding    string
	bufferSize  int
	keep        bool
	replication string
	idempotent  bool
	retries     int
	acked       string
}

func newBenchCommand(g *globals) *cobra.Command {
	o := benchOptions{}
	cmd := &cobra.Command{
		Use:   "bench",
		Short: "Load-test a server over HTTP: events/s and publish latency percentiles",
		Long: `Publish events as fast as --concurrency workers can, each sending
batches of --batch-size events of --payload-size bytes, for --duration
(or until --events are published), and report the throughput and the
latency of the publish requests (HdrHistogram percentiles, measured by
the client: encoding, HTTP and the server's publish).

It runs against the server at --endpoint, or with --embedded against a
server it starts in this process on a loopback port. The disruptor
--disruptor is created (multi-producer, --buffer-size) when it does not
exist, and deleted afterwards unless --keep. A progress bar shows on a
terminal. Ctrl-C stops early and reports what was done.

With --idempotent every batch carries its own Idempotency-Key and each
event's payload names its batch and place in it ("id": "<key>.<i>"), and a
publish that fails in a way that is safe to retry (429, 502, 503, 504, or
a network error: the answer of a node that lost its Raft leader, say) is
sent again with the same key, up to --retries times; a batch still failing
is counted as an error and the bench goes on. --acked writes one JSON line
per acknowledged batch (key, first sequence, count, duplicate), so that
what was acknowledged can be checked against what the server holds.`,
		Example: `  badbatch bench --embedded
  badbatch bench --concurrency 8 --batch-size 100 --payload-size 256 --duration 30s
  badbatch bench --events 100000 --encoding msgpack -o json
  badbatch bench --replication quorum --idempotent --acked acked.ndjson --duration 1m`,
		Args: args(0, ""),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := o.check(); err != nil {
				return err
			}
			return runBench(cmd, g, o)
		},
	}
	f := cmd.Flags()
	f.BoolVar(&o.embedded, "embedded", false, "start a server in this process (on a free loopback port) and bench it")
	f.StringVarP(&o.disruptor, "disruptor", "d", "bench", "disruptor to publish to (created if missing)")
	f.DurationVar(&o.duration, "duration", 10*time.Second, "how long to run (unless --events is given)")
	f.Int64Var(&o.events, "events", 0, "publish this many events, then stop (instead of --duration)")
	f.IntVarP(&o.batch, "batch-size", "b", 100, "events per publish request")
	f.IntVar(&o.payload, "payload-size", 128, "bytes of each event's JSON payload")
	f.IntVarP(&o.concurrency, "concurrency", "c", 4, "concurrent publishers")
	f.StringVar(&o.encoding, "encoding", "json", "request body encoding: json or msgpack")
	f.IntVar(&o.bufferSize, "buffer-size", 16384, "ring size of a disruptor the bench creates")
	f.BoolVar(&o.keep, "keep", false, "keep a disruptor the bench created")
	f.StringVar(&o.replication, "replication", "none", `replication of a disruptor the bench creates: none or quorum (Raft)`)
	f.BoolVar(&o.idempotent, "idempotent", false, "give every batch its own Idempotency-Key and retry failures that are safe to retry")
	f.IntVar(&o.retries, "retries", 10, "with --idempotent, how many times a failed batch is sent again")
	f.StringVar(&o.acked, "acked", "", `write each acknowledged batch to this file as a JSON line ("-" for stdout)`)
	_ = cmd.RegisterFlagCompletionFunc("replication", cobra.FixedCompletions([]string{"none", "quorum"}, cobra.ShellCompDirectiveNoFileComp))
	_ = cmd.RegisterFlagCompletionFunc("encoding", cobra.FixedCompletions([]string{"json", "msgpack"}, cobra.ShellCompDirectiveNoFileComp))
	return cmd
}

func (o *benchOptions) check() error {
	switch {
	case o.duration <= 0 && o.events <= 0:
		return usagef("--duration %v: must be positive (or give --events)", o.duration)
	case o.events < 0:
		return usagef("--events %d: must not be negative", o.events)
	case o.batch < 1:
		return usagef("--batch-size %d: must be at least 1", o.batch)
	case o.payload < 16:
		return usagef("--payload-size %d: must be at least 16", o.payload)
	case o.concurrency < 1 || o.concurrency > 1024:
		return usagef("--concurrency %d: must be from 1 to 1024", o.concurrency)
	case o.disruptor == "":
		return usagef("--disruptor: must not be empty")
	case o.replication != "none" && o.replication != "quorum":
		return usagef("--replication %q: want none or quorum", o.replication)
	case o.retries < 0 || o.retries > 1000:
		return usagef("--retries %d: must be from 0 to 1000", o.retries)
	}
	if _, err := client.ParseEncoding(o.encoding); err != nil {
		return usagef("--encoding %q: want json or msgpack", o.encoding)
	}
	return nil
}

// benchResult is what bench reports; latencies are in microseconds.
type benchResult struct {
	Endpoint       string           `json:"endpoint"`
	Disruptor      string           `json:"disruptor"`
	Encoding       string           `json:"encoding"`
	Concurrency    int              `json:"concurrency"`
	BatchSize      int              `json:"batch_size"`
	PayloadBytes   int              `json:"payload_bytes"`
	Seconds        float64          `json:"seconds"`
	Requests       int64            `json:"requests"`
	Events         int64            `json:"events"`
	Errors         int64            `json:"errors"`
	ErrorsByCode   map[string]int64 `json:"errors_by_code,omitempty"`
	EventsPerSec   float64          `json:"events_per_second"`
	RequestsPerSec float64          `json:"requests_per_second"`
	PayloadMBPerS  float64          `json:"payload_mb_per_second"`
	Latency        benchLatency     `json:"publish_latency_us"`
	Interrupted    bool             `json:"interrupted,omitempty"`
	// Duplicates counts the batches (with --idempotent) the server
	// answered as duplicates of an earlier attempt that had succeeded.
	Duplicates int64 `json:"duplicates,omitempty"`
}

// ackedBatch is a line of --acked: an acknowledged batch.
type ackedBatch struct {
	Key       string `json:"key,omitempty"`
	First     int64  `json:"first"`
	Count     int    `json:"count"`
	Duplicate bool   `json:"duplicate,omitempty"`
}

type benchLatency struct {
	Mean float64 `json:"mean"`
	P50  int64   `json:"p50"`
	P90  int64   `json:"p90"`
	P99  int64   `json:"p99"`
	P999 int64   `json:"p99_9"`
	Max  int64   `json:"max"`
}

func runBench(cmd *cobra.Command, g *globals, o benchOptions) error {
	ctx := cmd.Context()
	enc, _ := client.ParseEncoding(o.encoding)
	if o.embedded {
		if cmd.Flags().Changed("endpoint") {
			return usagef("--embedded and --endpoint: give one or the other")
		}
		ep, stop, err := startEmbedded()
		if err != nil {
			return err
		}
		defer stop()
		g.endpoint = ep
		_ = cmd.Flags().Set("endpoint", ep)
	}
	cfg, err := g.clientConfig(cmd)
	if err != nil {
		return err
	}
	c, err := g.clientOf(cmd, cfg)
	if err != nil {
		return err
	}
	defer c.Close()
	// The publishers' client: the bench's encoding, and retries for keyed
	// publishes (one without a key is never retried).
	cfg.Encoding, cfg.MaxRetries = enc, 0
	if o.idempotent {
		cfg.MaxRetries = o.retries
	}
	bc, err := client.New(cfg)
	if err != nil {
		return usageError{err}
	}
	defer bc.Close()

	created := false
	d, err := c.Disruptor(ctx, o.disruptor)
	if errors.Is(err, client.ErrDisruptorNotFound) {
		// Its events are the bench's, of a known size: a small max_event_size
		// keeps a large ring under the server's memory bound per ring.
		d, err = c.CreateDisruptor(ctx, api.CreateRequest{Name: o.disruptor, BufferSize: o.bufferSize, ProducerType: "multi",
			MaxEventSize: max(512, 2*o.payload+256), Replication: o.replication})
		created = err == nil
	}
	if err != nil {
		return err
	}
	if d.State != "running" {
		return fmt.Errorf("disruptor %s is %s, not running", d.Name, d.State)
	}
	if created && !o.keep {
		defer func() {
			cctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			if err := c.DeleteDisruptor(cctx, o.disruptor); err != nil {
				fmt.Fprintf(cmd.ErrOrStderr(), "badbatch: deleting %s: %v\n", o.disruptor, err)
			}
		}()
	}

	acked, closeAcked, err := openAcked(cmd, o.acked)
	if err != nil {
		return err
	}
	defer closeAcked()
	events := make([]client.EventData, o.batch)
	pad := strings.Repeat("x", max(o.payload-len(`{"bench":true,"pad":""}`), 0))
	payload := json.RawMessage(`{"bench":true,"pad":"` + pad + `"}`)
	for i := range events {
		events[i] = client.EventData{Payload: payload}
	}
	// Every batch but the last of an --events run is the same: encode it
	// once, so that the publishers spend their time on the requests, not
	// on encoding the same body again (the last, shorter batch is encoded
	// when it comes). Idempotent batches differ, and are encoded each time.
	var full client.EncodedBatch
	if !o.idempotent {
		if full, err = bc.EncodeBatch(events); err != nil {
			return err
		}
	}
	run := fmt.Sprintf("bench-%08x", rand.Uint32())

	var total int64
	unit := "ms"
	if o.events > 0 {
		total, unit = o.events, "events"
	} else {
		total = o.duration.Milliseconds()
	}
	bar := newProgress(cmd.ErrOrStderr(), "benchmarking "+o.disruptor, unit, total)

	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	if o.events == 0 {
		var tcancel context.CancelFunc
		wctx, tcancel = context.WithTimeout(wctx, o.duration)
		defer tcancel()
	}
	var (
		claimed, published, requests, failed, dups atomic.Int64
		mu                                         sync.Mutex
		byCode                                     = map[string]int64{}
		fatal                                      error
		wg                                         sync.WaitGroup
	)
	hists := make([]*hdrhistogram.Histogram, o.concurrency)
	start := time.Now()
	for w := range o.concurrency {
		hists[w] = hdrhistogram.New(1, 60_000_000, 3) // 1 µs to 60 s
		wg.Go(func() {
			h := hists[w]
			batch := events
			var opts client.PublishOptions
			var seq int64
			if o.idempotent {
				batch = make([]client.EventData, o.batch)
			}
			for wctx.Err() == nil {
				n := int64(o.batch)
				if o.events > 0 {
					end := claimed.Add(n)
					if end-n >= o.events {
						return
					}
					n = min(n, o.events-(end-n))
				}
				if o.idempotent {
					seq++
					opts.IdempotencyKey = fmt.Sprintf("%s-%d-%d", run, w, seq)
					for i := range batch[:n] {
						id := fmt.Sprintf("%s.%d", opts.IdempotencyKey, i)
						p := pad[:max(len(pad)-len(id)-8, 0)] // the payload keeps its size
						batch[i] = client.EventData{Payload: json.RawMessage(`{"bench":true,"id":"` + id + `","pad":"` + p + `"}`)}
					}
				}
				t0 := time.Now()
				var res api.PublishResult
				var err error
				switch {
				case !o.idempotent && n == int64(o.batch):
					res, err = bc.PublishEncoded(wctx, o.disruptor, full, opts)
				case n == 1:
					res, err = bc.Publish(wctx, o.disruptor, batch[0], opts)
				default:
					res, err = bc.PublishBatch(wctx, o.disruptor, batch[:n], opts)
				}
				if err != nil {
					if wctx.Err() != nil {
						return // the end of the run, not a failure
					}
					failed.Add(1)
					code := client.CodeOf(err)
					mu.Lock()
					byCode[cmpOr(code, "NETWORK")]++
					if !o.tolerable(err) && fatal == nil {
						fatal = err
						cancel()
					}
					mu.Unlock()
					continue
				}
				_ = h.RecordValue(max(time.Since(t0).Microseconds(), 1))
				requests.Add(1)
				published.Add(n)
				if res.Duplicate {
					dups.Add(1)
				}
				if acked != nil {
					acked(ackedBatch{Key: opts.IdempotencyKey, First: res.FirstSequence, Count: res.Count, Duplicate: res.Duplicate})
				}
			}
		})
	}
	if bar != nil {
		bar.speed = func(el time.Duration) string {
			if el <= 0 {
				return "- events/s"
			}
			return rate(float64(published.Load())/el.Seconds()) + " events/s"
		}
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
wait:
	for {
		select {
		case <-done:
			break wait
		case <-tick.C:
			if o.events > 0 {
				bar.set(published.Load())
			} else {
				bar.set(min(time.Since(start).Milliseconds(), total))
			}
		}
	}
	elapsed := time.Since(start)
	closeAcked() // before the result, which may go to the same stdout
	if o.events > 0 {
		bar.set(published.Load())
	} else {
		bar.set(min(elapsed.Milliseconds(), total))
	}
	bar.finish()
	if fatal != nil {
		return fmt.Errorf("bench stopped: %w", fatal)
	}

	h := hists[0]
	for _, o := range hists[1:] {
		h.Merge(o)
	}
	res := benchResult{
		Endpoint: c.Endpoint(), Disruptor: o.disruptor, Encoding: enc.String(), Concurrency: o.concurrency,
		BatchSize: o.batch, PayloadBytes: len(payload), Seconds: elapsed.Seconds(),
		Requests: requests.Load(), Events: published.Load(), Errors: failed.Load(), Interrupted: ctx.Err() != nil,
		Duplicates: dups.Load(),
		Latency: benchLatency{Mean: h.Mean(), P50: h.ValueAtQuantile(50), P90: h.ValueAtQuantile(90), P99: h.ValueAtQuantile(99),
			P999: h.ValueAtQuantile(99.9), Max: h.Max()},
	}
	if len(byCode) > 0 {
		res.ErrorsByCode = byCode
	}
	if s := res.Seconds; s > 0 {
		res.EventsPerSec = float64(res.Events) / s
		res.RequestsPerSec = float64(res.Requests) / s
		res.PayloadMBPerS = float64(res.Events) * float64(len(payload)) / s / 1e6
	}
	return g.emit(cmd.OutOrStdout(), res, func(tw *tabwriter.Writer) {
		us := func(v int64) string { return nanos(v * 1000) }
		row(tw, "ENDPOINT", res.Endpoint)
		row(tw, "DISRUPTOR", res.Disruptor)
		row(tw, "SETUP", fmt.Sprintf("%d publishers, batches of %d, %d-byte payloads, %s", res.Concurrency, res.BatchSize, res.PayloadBytes, res.Encoding))
		row(tw, "DURATION", fmt.Sprintf("%.2fs", res.Seconds))
		row(tw, "EVENTS", res.Events)
		row(tw, "REQUESTS", res.Requests)
		row(tw, "ERRORS", strings.TrimSpace(fmt.Sprintf("%d %s", res.Errors, codesString(res.ErrorsByCode))))
		if o.idempotent {
			row(tw, "DUPLICATES", res.Duplicates)
		}
		row(tw, "EVENTS/S", rate(res.EventsPerSec))
		row(tw, "REQUESTS/S", rate(res.RequestsPerSec))
		row(tw, "PAYLOAD MB/S", fmt.Sprintf("%.2f", res.PayloadMBPerS))
		row(tw, "PUBLISH LATENCY", fmt.Sprintf("p50 %s  p90 %s  p99 %s  p99.9 %s  max %s  mean %s",
			us(res.Latency.P50), us(res.Latency.P90), us(res.Latency.P99), us(res.Latency.P999), us(res.Latency.Max), nanos(int64(res.Latency.Mean*1000))))
		if res.Interrupted {
			row(tw, "NOTE", "interrupted: partial results")
		}
	})
}

// tolerable reports whether a failed publish leaves the bench going: a
// full ring or a rate limit, and with --idempotent any failure the client
// retries (it gave up on this batch, which is not acknowledged).
func (o *benchOptions) tolerable(err error) bool {
	if errors.Is(err, client.ErrRingFull) || errors.Is(err, client.ErrRateLimited) {
		return true
	}
	if !o.idempotent {
		return false
	}
	var ae *client.Error
	if errors.As(err, &ae) {
		switch ae.Status {
		case http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
			return true
		}
		return false
	}
	return true // a network error
}

// openAcked opens the --acked file; the first function it returns writes
// one acknowledged batch (safe for concurrent use; nil when path is ""),
// the second flushes and closes the file (once; later calls do nothing).
func openAcked(cmd *cobra.Command, path string) (func(ackedBatch), func(), error) {
	if path == "" {
		return nil, func() {}, nil
	}
	var out io.Writer = cmd.OutOrStdout()
	var f *os.File
	if path != "-" {
		var err error
		if f, err = os.Create(path); err != nil {
			return nil, nil, usagef("--acked %s: %v", path, err)
		}
		out = f
	}
	bw := bufio.NewWriter(out)
	enc := json.NewEncoder(bw)
	var mu sync.Mutex
	write := func(b ackedBatch) {
		mu.Lock()
		_ = enc.Encode(b)
		mu.Unlock()
	}
	var once sync.Once
	return write, func() {
		once.Do(func() {
			mu.Lock()
			defer mu.Unlock()
			if err := bw.Flush(); err != nil {
				fmt.Fprintf(cmd.ErrOrStderr(), "badbatch: --acked: %v\n", err)
			}
			if f != nil {
				if err := f.Close(); err != nil {
					fmt.Fprintf(cmd.ErrOrStderr(), "badbatch: --acked: %v\n", err)
				}
			}
		})
	}, nil
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

func codesString(m map[string]int64) string {
	if len(m) == 0 {
		return ""
	}
	parts := make([]string, 0, len(m))
	for k, v := range m {
		parts = append(parts, fmt.Sprintf("%s=%d", k, v))
	}
	return "(" + strings.Join(parts, ", ") + ")"
}

// startEmbedded runs a server with the built-in defaults on a free
// loopback port, quiet, and returns its URL and what stops it.
func startEmbedded() (string, func(), error) {
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	ecfg := engine.DefaultConfig()
	ecfg.Logger = log
	eng, err := engine.New(ecfg)
	if err != nil {
		return "", nil, err
	}
	acfg := api.DefaultConfig()
	acfg.Logger = log
	acfg.Registry = prometheus.NewRegistry()
	srv, err := api.New(acfg, eng)
	if err != nil {
		_ = eng.Close(context.Background())
		return "", nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		_ = eng.Close(context.Background())
		return "", nil, err
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	return "http://" + ln.Addr().String(), func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
		if err := <-served; err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("embedded server", "err", err)
		}
	}, nil
}
