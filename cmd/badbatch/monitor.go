package main

import (
	"bytes"
	"context"
	"encoding/csv"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/badbatch/badbatch/api"
	"github.com/badbatch/badbatch/client"
)

func newMonitorCommand(g *globals) *cobra.Command {
	cmd := group("monitor", "Show a server's metrics: once, refreshing, or exported to a file",
		`Show throughput, publish-to-consume latency percentiles, ring fill and
consumer lag: of the whole server (system), of one disruptor, as a
refreshing view (watch), or written to a file (export).`)
	cmd.Aliases = []string{"m"}
	cmd.AddCommand(newMonitorSystemCommand(g), newMonitorDisruptorCommand(g), newWatchCommand(g), newExportCommand(g))
	return cmd
}

func newMonitorSystemCommand(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "system",
		Short: "The server's process figures and every disruptor's metrics",
		Args:  args(0, ""),
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := g.newClient(cmd)
			if err != nil {
				return err
			}
			defer c.Close()
			m, err := c.SystemMetrics(cmd.Context())
			if err != nil {
				return err
			}
			if g.output == "json" || g.output == "yaml" {
				return g.emit(cmd.OutOrStdout(), m, nil)
			}
			w := cmd.OutOrStdout()
			fmt.Fprintf(w, "uptime %s, %d goroutines, heap %s, %d GC cycles, %d disruptors\n\n",
				humanDuration(time.Duration(m.UptimeSeconds*float64(time.Second))), m.Goroutines, bytesSize(m.HeapBytes), m.GCCycles, len(m.Disruptors))
			t := g.newTable(w)
			metricsTable(t, m.Disruptors)
			return t.flush()
		},
	}
}

// maxLag is the largest lag of a disruptor's consumers.
func maxLag(m api.Metrics) int64 {
	var lag int64
	for _, c := range m.Consumers {
		lag = max(lag, c.Lag)
	}
	return lag
}

// metricsTable writes one row per disruptor. EVENTS/S is the server's
// publish_rate (events published over the last 10 s), so every view and
// rate(badbatch_events_published_total[10s]) tell the same figure.
func metricsTable(t *table, ms []api.Metrics) {
	t.columns(column{name: "DISRUPTOR"}, column{name: "STATE"}, column{name: "PUBLISHED"}, column{name: "EVENTS/S"},
		column{name: "P50"}, column{name: "P95", wide: true}, column{name: "P99"}, column{name: "MAX", wide: true},
		column{name: "FILL"}, column{name: "LAG"}, column{name: "SUBSCRIBERS", wide: true}, column{name: "ERRORS"})
	for _, m := range ms {
		t.add(m.Disruptor, m.State, m.Published, rate(m.PublishRate), nanos(m.Latency.P50), nanos(m.Latency.P95), nanos(m.Latency.P99),
			nanos(m.Latency.Max), percent(m.FillRatio), maxLag(m), m.Subscribers, errorCount(m))
	}
}

func errorCount(m api.Metrics) int64 {
	var n int64
	for _, v := range m.Errors {
		n += v
	}
	return n
}

func newMonitorDisruptorCommand(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:               "disruptor NAME",
		Short:             "One disruptor's metrics, consumers and errors",
		Args:              args(1, "a disruptor NAME"),
		ValidArgsFunction: g.completeDisruptors,
		RunE: func(cmd *cobra.Command, a []string) error {
			c, err := g.newClient(cmd)
			if err != nil {
				return err
			}
			defer c.Close()
			m, err := c.DisruptorMetrics(cmd.Context(), a[0])
			if err != nil {
				return err
			}
			return g.emit(cmd.OutOrStdout(), m, func(tw *tabwriter.Writer) {
				row(tw, "DISRUPTOR", m.Disruptor)
				row(tw, "STATE", m.State)
				row(tw, "PUBLISHED", m.Published)
				row(tw, "CONSUMED", m.Consumed)
				row(tw, "BATCHES", m.Batches)
				row(tw, "EVENTS/S", rate(m.PublishRate))
				row(tw, "LATENCY", fmt.Sprintf("p50 %s  p95 %s  p99 %s  max %s  mean %s  (%d events)",
					nanos(m.Latency.P50), nanos(m.Latency.P95), nanos(m.Latency.P99), nanos(m.Latency.Max), nanos(m.Latency.Mean), m.Latency.Count))
				row(tw, "BUFFER SIZE", m.BufferSize)
				row(tw, "CURSOR", m.Cursor)
				row(tw, "FILL", percent(m.FillRatio))
				row(tw, "SUBSCRIBERS", m.Subscribers)
				_ = tw.Flush()
				fmt.Fprintln(tw)
				row(tw, "CONSUMER", "SEQUENCE", "LAG", "RUNNING")
				for _, cs := range m.Consumers {
					row(tw, cs.Name, cs.Sequence, cs.Lag, cs.Running)
				}
				if len(m.Errors) > 0 {
					_ = tw.Flush()
					fmt.Fprintln(tw)
					row(tw, "ERROR", "COUNT")
					codes := make([]string, 0, len(m.Errors))
					for k := range m.Errors {
						codes = append(codes, k)
					}
					sort.Strings(codes)
					for _, k := range codes {
						row(tw, k, m.Errors[k])
					}
				}
			})
		},
	}
}

func newWatchCommand(g *globals) *cobra.Command {
	var (
		interval time.Duration
		count    int
	)
	cmd := &cobra.Command{
		Use:   "watch [NAME...]",
		Short: "A refreshing view of rates, latency percentiles, fill and lag until Ctrl-C",
		Long: `Show every disruptor's (or the named ones') throughput (events published
over the last 10 s, the server's publish_rate), publish-to-consume latency percentiles, ring fill and the lag
of the slowest consumer, refreshed every --interval until Ctrl-C.

On a terminal the view redraws in place. Otherwise (a pipe, a file) each
refresh is printed after the last as plain text, with no escape codes.`,
		ValidArgsFunction: g.completeDisruptors,
		RunE: func(cmd *cobra.Command, a []string) error {
			if interval < 100*time.Millisecond {
				return usagef("--interval %v: must be at least 100ms", interval)
			}
			if count < 0 {
				return usagef("--count %d: must not be negative", count)
			}
			c, err := g.newClient(cmd)
			if err != nil {
				return err
			}
			defer c.Close()
			return g.watch(cmd, c, a, interval, count)
		},
	}
	cmd.Flags().DurationVarP(&interval, "interval", "i", 2*time.Second, "time between refreshes")
	cmd.Flags().IntVarP(&count, "count", "n", 0, "stop after this many refreshes (0: until Ctrl-C)")
	return cmd
}

// watch draws the view every interval.
func (g *globals) watch(cmd *cobra.Command, c *client.Client, names []string, interval time.Duration, count int) error {
	ctx := cmd.Context()
	w := cmd.OutOrStdout()
	tty := isTerminal(w)
	if tty {
		io.WriteString(w, escHideCursor+escClear)
		defer io.WriteString(w, escShowCursor)
	}
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for n := 1; ; n++ {
		sm, err := c.SystemMetrics(ctx)
		if err != nil {
			if interrupted(ctx, err) {
				return nil
			}
			return err
		}
		now := time.Now()
		ms := filterMetrics(sm.Disruptors, names)
		width := termWidth(w, 80)
		t := g.newTable(nil)
		if !t.wide {
			t.width = width
		}
		frame := watchFrame(t, c.Endpoint(), sm, ms, now, interval)
		if tty {
			var b strings.Builder
			b.WriteString(escHome)
			for _, line := range strings.Split(strings.TrimRight(frame, "\n"), "\n") {
				b.WriteString(cut(line, width-1) + escClearLine + "\r\n")
			}
			b.WriteString(escClearBelow)
			io.WriteString(w, b.String())
		} else {
			if n > 1 {
				io.WriteString(w, "\n")
			}
			io.WriteString(w, frame)
		}
		if count > 0 && n >= count {
			return nil
		}
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
	}
}

func filterMetrics(ms []api.Metrics, names []string) []api.Metrics {
	if len(names) == 0 {
		return ms
	}
	var out []api.Metrics
	for _, m := range ms {
		for _, n := range names {
			if m.Disruptor == n {
				out = append(out, m)
			}
		}
	}
	return out
}

// watchFrame is one refresh of the view, as plain text.
// t is the (empty) table to draw the metrics in.
func watchFrame(t *table, endpoint string, sm api.SystemMetrics, ms []api.Metrics, now time.Time, interval time.Duration) string {
	var buf bytes.Buffer
	fmt.Fprintf(&buf, "badbatch monitor  %s  %s  every %v (Ctrl-C to quit)\n", endpoint, timestamp(now), interval)
	fmt.Fprintf(&buf, "uptime %s  goroutines %d  heap %s  disruptors %d\n\n",
		humanDuration(time.Duration(sm.UptimeSeconds*float64(time.Second))), sm.Goroutines, bytesSize(sm.HeapBytes), len(sm.Disruptors))
	t.w = &buf
	metricsTable(t, ms)
	_ = t.flush()
	if len(ms) == 0 {
		buf.WriteString("(no disruptors)\n")
	}
	return buf.String()
}

func newExportCommand(g *globals) *cobra.Command {
	var format string
	cmd := &cobra.Command{
		Use:   "export FILE",
		Short: "Write a snapshot of every metric to FILE (- for stdout) as json, yaml or csv",
		Long: `Write the server's metrics (GET /api/v1/metrics) to FILE: as JSON or
YAML (the whole document), or as CSV (one row per disruptor, with the
time of the snapshot). The format is --format, else FILE's extension,
else JSON.`,
		Args: args(1, "a FILE to write (or - for stdout)"),
		RunE: func(cmd *cobra.Command, a []string) error {
			f := format
			if f == "" {
				f = strings.TrimPrefix(strings.ToLower(filepath.Ext(a[0])), ".")
				if f == "yml" {
					f = "yaml"
				}
				if f != "json" && f != "yaml" && f != "csv" {
					f = "json"
				}
			}
			if f != "json" && f != "yaml" && f != "csv" {
				return usagef("--format %q: want json, yaml or csv", format)
			}
			c, err := g.newClient(cmd)
			if err != nil {
				return err
			}
			defer c.Close()
			return export(cmd.Context(), c, a[0], f, cmd.OutOrStdout())
		},
	}
	cmd.Flags().StringVarP(&format, "format", "f", "", "json, yaml or csv (default: by FILE's extension, else json)")
	_ = cmd.RegisterFlagCompletionFunc("format", cobra.FixedCompletions([]string{"json", "yaml", "csv"}, cobra.ShellCompDirectiveNoFileComp))
	return cmd
}

func export(ctx context.Context, c *client.Client, file, format string, stdout io.Writer) error {
	sm, err := c.SystemMetrics(ctx)
	if err != nil {
		return err
	}
	var buf bytes.Buffer
	switch format {
	case "json":
		err = writeJSON(&buf, sm, true)
	case "yaml":
		err = writeYAML(&buf, sm)
	case "csv":
		err = writeCSV(&buf, sm, time.Now())
	}
	if err != nil {
		return err
	}
	if file == "-" {
		_, err = stdout.Write(buf.Bytes())
		return err
	}
	if err := os.WriteFile(file, buf.Bytes(), 0o644); err != nil {
		return usagef("%v", err)
	}
	return nil
}

// csvHeader are the columns of the CSV export.
var csvHeader = []string{"time", "disruptor", "state", "published", "consumed", "batches", "publish_rate",
	"latency_count", "latency_mean_ns", "latency_p50_ns", "latency_p95_ns", "latency_p99_ns", "latency_max_ns",
	"buffer_size", "cursor", "fill_ratio", "max_consumer_lag", "subscribers", "errors"}

func writeCSV(w io.Writer, sm api.SystemMetrics, at time.Time) error {
	cw := csv.NewWriter(w)
	if err := cw.Write(csvHeader); err != nil {
		return err
	}
	ts := timestamp(at)
	i := func(v int64) string { return strconv.FormatInt(v, 10) }
	fl := func(v float64) string { return strconv.FormatFloat(v, 'f', -1, 64) }
	for _, m := range sm.Disruptors {
		if err := cw.Write([]string{ts, m.Disruptor, m.State, i(m.Published), i(m.Consumed), i(m.Batches), fl(m.PublishRate),
			i(m.Latency.Count), i(m.Latency.Mean), i(m.Latency.P50), i(m.Latency.P95), i(m.Latency.P99), i(m.Latency.Max),
			i(int64(m.BufferSize)), i(m.Cursor), fl(m.FillRatio), i(maxLag(m)), i(int64(m.Subscribers)), i(errorCount(m))}); err != nil {
			return err
		}
	}
	cw.Flush()
	return cw.Error()
}
