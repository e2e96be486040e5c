package main

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/badbatch/badbatch/api"
	"github.com/badbatch/badbatch/client"
)

func newEventCommand(g *globals) *cobra.Command {
	cmd := group("event", "Publish, read, replay and tail events",
		`Publish events to a disruptor and read them back. An event is a JSON
payload with optional string metadata; the ring holds the last
buffer-size events for replay.`)
	cmd.Aliases = []string{"events", "e"}
	cmd.AddCommand(newPublishCommand(g), newBatchCommand(g), newPublishFileCommand(g),
		newGetCommand(g), newReplayCommand(g), newTailCommand(g))
	return cmd
}

// eventFlags are the flags of the publishing commands.
type eventFlags struct {
	meta     []string // k=v
	key      string   // Idempotency-Key
	envelope bool     // items are {"payload", "metadata"} objects
}

func (ef *eventFlags) add(cmd *cobra.Command, withKey bool) {
	cmd.Flags().StringArrayVarP(&ef.meta, "meta", "m", nil, "metadata key=value for every event (repeatable)")
	cmd.Flags().BoolVar(&ef.envelope, "envelope", false, `each item is an event object {"payload": ..., "payload_base64": ..., "metadata": {...}}, not a bare payload`)
	if withKey {
		cmd.Flags().StringVarP(&ef.key, "idempotency-key", "k", "", "publish at most once per key within the server's dedup window; makes retries safe")
	}
}

// metadata parses --meta.
func (ef *eventFlags) metadata() (map[string]string, error) {
	if len(ef.meta) == 0 {
		return nil, nil
	}
	m := make(map[string]string, len(ef.meta))
	for _, kv := range ef.meta {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return nil, usagef("--meta %q: want key=value", kv)
		}
		m[k] = v
	}
	return m, nil
}

// event makes one event of a JSON item: a payload, or with --envelope an
// event object. what names the item in errors.
func (ef *eventFlags) event(item json.RawMessage, meta map[string]string, what string) (client.EventData, error) {
	if !ef.envelope {
		return client.EventData{Payload: item, Metadata: meta}, nil
	}
	var env struct {
		Payload       json.RawMessage   `json:"payload"`
		PayloadBase64 []byte            `json:"payload_base64"`
		Metadata      map[string]string `json:"metadata"`
	}
	d := json.NewDecoder(bytes.NewReader(item))
	d.DisallowUnknownFields()
	if err := d.Decode(&env); err != nil {
		return client.EventData{}, usagef("%s is not an event object: %v", what, err)
	}
	ev := client.EventData{Payload: env.Payload, Binary: env.PayloadBase64, Metadata: env.Metadata}
	for k, v := range meta {
		if ev.Metadata == nil {
			ev.Metadata = map[string]string{}
		}
		if _, ok := ev.Metadata[k]; !ok {
			ev.Metadata[k] = v
		}
	}
	return ev, nil
}

// publishResult prints a publish result.
func (g *globals) publishResult(cmd *cobra.Command, r api.PublishResult) error {
	return g.emit(cmd.OutOrStdout(), r, func(tw *tabwriter.Writer) {
		row(tw, "DISRUPTOR", "FIRST", "LAST", "COUNT", "DUPLICATE")
		row(tw, r.Disruptor, r.FirstSequence, r.LastSequence, r.Count, r.Duplicate)
	})
}

func newPublishCommand(g *globals) *cobra.Command {
	var ef eventFlags
	cmd := &cobra.Command{
		Use:   "publish DISRUPTOR JSON",
		Short: "Publish one event whose payload is the JSON argument",
		Example: `  badbatch event publish orders '{"id":1,"item":"book"}' --meta source=shop
  badbatch event publish orders '{"id":1}' --idempotency-key order-1`,
		Args:              args(2, "a DISRUPTOR and a JSON payload"),
		ValidArgsFunction: g.completeDisruptors,
		RunE: func(cmd *cobra.Command, a []string) error {
			if !json.Valid([]byte(a[1])) {
				return usagef("the JSON argument is not valid JSON: %s", jsonError(a[1]))
			}
			meta, err := ef.metadata()
			if err != nil {
				return err
			}
			ev, err := ef.event(json.RawMessage(a[1]), meta, "the JSON argument")
			if err != nil {
				return err
			}
			c, err := g.newClient(cmd)
			if err != nil {
				return err
			}
			defer c.Close()
			r, err := c.Publish(cmd.Context(), a[0], ev, client.PublishOptions{IdempotencyKey: ef.key})
			if err != nil {
				return err
			}
			return g.publishResult(cmd, r)
		},
	}
	ef.add(cmd, true)
	return cmd
}

func newBatchCommand(g *globals) *cobra.Command {
	var ef eventFlags
	cmd := &cobra.Command{
		Use:               "batch DISRUPTOR JSON_ARRAY",
		Short:             "Publish a batch, all or nothing, at consecutive sequences: one event per item of the JSON array",
		Example:           `  badbatch event batch orders '[{"id":1},{"id":2},{"id":3}]'`,
		Args:              args(2, "a DISRUPTOR and a JSON array"),
		ValidArgsFunction: g.completeDisruptors,
		RunE: func(cmd *cobra.Command, a []string) error {
			var items []json.RawMessage
			if err := json.Unmarshal([]byte(a[1]), &items); err != nil {
				return usagef("the JSON_ARRAY argument is not a JSON array: %s", jsonError(a[1]))
			}
			if len(items) == 0 {
				return usagef("the JSON_ARRAY argument is empty: a batch needs at least one event")
			}
			meta, err := ef.metadata()
			if err != nil {
				return err
			}
			events := make([]client.EventData, len(items))
			for i, it := range items {
				if events[i], err = ef.event(it, meta, fmt.Sprintf("item %d", i)); err != nil {
					return err
				}
			}
			c, err := g.newClient(cmd)
			if err != nil {
				return err
			}
			defer c.Close()
			r, err := c.PublishBatch(cmd.Context(), a[0], events, client.PublishOptions{IdempotencyKey: ef.key})
			if err != nil {
				return err
			}
			return g.publishResult(cmd, r)
		},
	}
	ef.add(cmd, true)
	return cmd
}

// jsonError says where a JSON text goes wrong.
func jsonError(s string) string {
	var v any
	err := json.Unmarshal([]byte(s), &v)
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return fmt.Sprintf("%v (at byte %d)", se, se.Offset)
	}
	if err != nil {
		return err.Error()
	}
	return "not what was expected"
}

func newPublishFileCommand(g *globals) *cobra.Command {
	var (
		ef        eventFlags
		batchSize int
	)
	cmd := &cobra.Command{
		Use:   "publish-file DISRUPTOR FILE|-",
		Short: "Publish every item of a JSON array or NDJSON file (or stdin), in batches",
		Long: `Publish a file of events: a JSON array, or NDJSON (one JSON value per
line). "-" reads standard input. Each item is a payload (or, with
--envelope, an event object). Items are sent in batches of --batch-size,
each with its own idempotency key, so a batch that is retried is not
published twice. A progress bar shows on a terminal.`,
		Example: `  badbatch event publish-file orders orders.ndjson --batch-size 500
  generate-orders | badbatch event publish-file orders -`,
		Args:              args(2, "a DISRUPTOR and a FILE (or - for stdin)"),
		ValidArgsFunction: g.completeDisruptors,
		RunE: func(cmd *cobra.Command, a []string) error {
			if batchSize < 1 {
				return usagef("--batch-size %d: must be at least 1", batchSize)
			}
			meta, err := ef.metadata()
			if err != nil {
				return err
			}
			var in io.Reader
			var total int64
			if a[1] == "-" {
				in = cmd.InOrStdin()
			} else {
				f, err := os.Open(a[1])
				if err != nil {
					return usagef("%v", err)
				}
				defer f.Close()
				if st, err := f.Stat(); err == nil && st.Mode().IsRegular() {
					total = st.Size()
				}
				in = f
			}
			c, err := g.newClient(cmd)
			if err != nil {
				return err
			}
			defer c.Close()
			return publishFile(cmd, g, c, a[0], a[1], in, total, batchSize, &ef, meta)
		},
	}
	ef.add(cmd, false)
	cmd.Flags().IntVarP(&batchSize, "batch-size", "b", 100, "events per request")
	return cmd
}

// countingReader counts the bytes read, for the progress bar.
type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// fileSummary is the result of publish-file.
type fileSummary struct {
	Disruptor     string  `json:"disruptor"`
	Events        int     `json:"events"`
	Batches       int     `json:"batches"`
	Duplicates    int     `json:"duplicate_batches"`
	FirstSequence int64   `json:"first_sequence"`
	LastSequence  int64   `json:"last_sequence"`
	Seconds       float64 `json:"seconds"`
	EventsPerSec  float64 `json:"events_per_second"`
}

func publishFile(cmd *cobra.Command, g *globals, c *client.Client, name, file string, in io.Reader, total int64,
	batchSize int, ef *eventFlags, meta map[string]string) error {
	cr := &countingReader{r: in}
	br := bufio.NewReaderSize(cr, 256<<10)
	d := json.NewDecoder(br)
	array := false
	if b, err := peekNonSpace(br); err == nil && b == '[' {
		array = true
		if _, err := d.Token(); err != nil {
			return usagef("%s: %v", file, err)
		}
	}
	run := make([]byte, 6)
	_, _ = rand.Read(run)
	prefix := "publish-file-" + hex.EncodeToString(run) + "-"
	unit := "bytes"
	if total == 0 {
		unit = "events"
	}
	bar := newProgress(cmd.ErrOrStderr(), "publishing "+name, unit, total)
	start := time.Now()
	sum := fileSummary{Disruptor: name, FirstSequence: -1, LastSequence: -1}
	batch := make([]client.EventData, 0, batchSize)
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		r, err := c.PublishBatch(cmd.Context(), name, batch, client.PublishOptions{IdempotencyKey: prefix + strconv.Itoa(sum.Batches)})
		if err != nil {
			bar.finish()
			return fmt.Errorf("after %d events: %w", sum.Events, err)
		}
		if sum.FirstSequence < 0 {
			sum.FirstSequence = r.FirstSequence
		}
		sum.LastSequence = r.LastSequence
		sum.Events += r.Count
		sum.Batches++
		if r.Duplicate {
			sum.Duplicates++
		}
		batch = batch[:0]
		if total > 0 {
			bar.set(cr.n - int64(br.Buffered()))
		} else {
			bar.set(int64(sum.Events))
		}
		return nil
	}
	for item := 0; ; item++ {
		if array && !d.More() {
			if _, err := d.Token(); err != nil {
				return usagef("%s: %v", file, err)
			}
			break
		}
		var raw json.RawMessage
		if err := d.Decode(&raw); err == io.EOF && !array {
			break
		} else if err != nil {
			bar.finish()
			return usagef("%s: item %d (after byte %d): %v", file, item, d.InputOffset(), err)
		}
		ev, err := ef.event(raw, meta, fmt.Sprintf("%s: item %d", file, item))
		if err != nil {
			bar.finish()
			return err
		}
		if batch = append(batch, ev); len(batch) == batchSize {
			if err := flush(); err != nil {
				return err
			}
		}
	}
	if array {
		if _, err := d.Token(); err != io.EOF {
			return usagef("%s: trailing data after the JSON array", file)
		}
	}
	if err := flush(); err != nil {
		return err
	}
	if total > 0 {
		bar.set(total)
	}
	bar.finish()
	sum.Seconds = time.Since(start).Seconds()
	if sum.Seconds > 0 {
		sum.EventsPerSec = float64(sum.Events) / sum.Seconds
	}
	return g.emit(cmd.OutOrStdout(), sum, func(tw *tabwriter.Writer) {
		row(tw, "DISRUPTOR", "EVENTS", "BATCHES", "FIRST", "LAST", "SECONDS", "EVENTS/S")
		row(tw, sum.Disruptor, sum.Events, sum.Batches, sum.FirstSequence, sum.LastSequence,
			fmt.Sprintf("%.2f", sum.Seconds), rate(sum.EventsPerSec))
	})
}

// peekNonSpace returns the first byte that is not white space, unread.
func peekNonSpace(br *bufio.Reader) (byte, error) {
	for {
		b, err := br.Peek(1)
		if err != nil {
			return 0, err
		}
		switch b[0] {
		case ' ', '\t', '\r', '\n':
			_, _ = br.ReadByte()
			continue
		}
		return b[0], nil
	}
}

func newGetCommand(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:               "get DISRUPTOR SEQ",
		Short:             "Show the event at a sequence",
		Args:              args(2, "a DISRUPTOR and a sequence number SEQ"),
		ValidArgsFunction: g.completeDisruptors,
		RunE: func(cmd *cobra.Command, a []string) error {
			seq, err := strconv.ParseInt(a[1], 10, 64)
			if err != nil || seq < 0 {
				return usagef("SEQ %q: want a sequence number, an integer >= 0", a[1])
			}
			c, err := g.newClient(cmd)
			if err != nil {
				return err
			}
			defer c.Close()
			ev, err := c.Event(cmd.Context(), a[0], seq)
			if err != nil {
				return err
			}
			return g.emit(cmd.OutOrStdout(), ev, func(tw *tabwriter.Writer) { eventTable(tw, []client.Event{ev}) })
		},
	}
}

// eventTable writes events as a table.
func eventTable(tw *tabwriter.Writer, events []client.Event) {
	row(tw, "SEQUENCE", "TIME", "METADATA", "PAYLOAD")
	for _, ev := range events {
		row(tw, ev.Sequence, timestamp(ev.Time), metaString(ev.Metadata), payloadString(ev))
	}
}

// payloadString is an event's payload on one line.
func payloadString(ev client.Event) string {
	if ev.Payload == nil {
		return fmt.Sprintf("(%d bytes, base64) %s", len(ev.Binary), base64String(ev.Binary))
	}
	return compactJSON(ev.Payload)
}

func base64String(b []byte) string {
	s, _ := json.Marshal(b)
	return strings.Trim(string(s), `"`)
}

func newReplayCommand(g *globals) *cobra.Command {
	var (
		from  int64
		limit int
	)
	cmd := &cobra.Command{
		Use:   "replay DISRUPTOR [--from SEQ] [--limit N]",
		Short: "Replay events the ring still holds, from a sequence on",
		Long: `Replay up to --limit events from sequence --from (default: the oldest
the ring still holds). A sequence the ring has overwritten fails with
SEQUENCE_EVICTED, whose message says where the ring now starts.`,
		Args:              args(1, "a DISRUPTOR"),
		ValidArgsFunction: g.completeDisruptors,
		RunE: func(cmd *cobra.Command, a []string) error {
			if !cmd.Flags().Changed("from") {
				from = client.FromOldest
			} else if from < 0 {
				return usagef("--from %d: want a sequence number, an integer >= 0", from)
			}
			if limit < 1 {
				return usagef("--limit %d: must be at least 1", limit)
			}
			c, err := g.newClient(cmd)
			if err != nil {
				return err
			}
			defer c.Close()
			out := client.ReplayPage{Disruptor: a[0], Events: []client.Event{}}
			for ev, err := range c.ReplayAll(cmd.Context(), a[0], from, limit, min(limit, 1000)) {
				if err != nil {
					return err
				}
				out.Events = append(out.Events, ev)
			}
			d, err := c.Disruptor(cmd.Context(), a[0])
			if err != nil {
				return err
			}
			out.OldestSequence, out.LatestSequence = d.OldestSequence, d.LatestSequence
			out.NextSequence = max(from, d.OldestSequence)
			if n := len(out.Events); n > 0 {
				out.NextSequence = out.Events[n-1].Sequence + 1
			}
			return g.emit(cmd.OutOrStdout(), out, func(tw *tabwriter.Writer) { eventTable(tw, out.Events) })
		},
	}
	cmd.Flags().Int64Var(&from, "from", 0, "first sequence (default: the oldest held)")
	cmd.Flags().IntVarP(&limit, "limit", "n", 100, "most events to show")
	return cmd
}

func newTailCommand(g *globals) *cobra.Command {
	var (
		from      int64
		ndjson    bool
		skipOnLag bool
	)
	cmd := &cobra.Command{
		Use:   "tail DISRUPTOR [--from SEQ]",
		Short: "Follow a disruptor's events live until Ctrl-C",
		Long: `Print a disruptor's events as they are published, from --from (default:
the next one published), until Ctrl-C or until the disruptor stops or is
deleted. A broken connection is resumed after the last event printed.

With --output table each event is a line "SEQUENCE TIME METADATA
PAYLOAD"; with json each is a JSON object on its own line (NDJSON); with
yaml each is a YAML document.`,
		Args:              args(1, "a DISRUPTOR"),
		ValidArgsFunction: g.completeDisruptors,
		RunE: func(cmd *cobra.Command, a []string) error {
			opts := client.TailOptions{From: client.FromNext, SkipOnLag: skipOnLag}
			if cmd.Flags().Changed("from") {
				if from < 0 {
					return usagef("--from %d: want a sequence number, an integer >= 0", from)
				}
				opts.From = from
			}
			if ndjson {
				opts.Framing = client.FramingNDJSON
			}
			c, err := g.newClient(cmd)
			if err != nil {
				return err
			}
			defer c.Close()
			return g.tail(cmd, c, a[0], opts)
		},
	}
	cmd.Flags().Int64Var(&from, "from", 0, "first sequence (default: the next one published)")
	cmd.Flags().BoolVar(&ndjson, "ndjson", false, "use the NDJSON stream rather than Server-Sent Events")
	cmd.Flags().BoolVar(&skipOnLag, "skip-on-lag", false, "when this reader falls a ring behind, skip ahead instead of stopping")
	return cmd
}

func (g *globals) tail(cmd *cobra.Command, c *client.Client, name string, opts client.TailOptions) error {
	ctx := cmd.Context()
	out := bufio.NewWriter(cmd.OutOrStdout())
	defer out.Flush()
	errw := cmd.ErrOrStderr()
	for msg, err := range c.Tail(ctx, name, opts) {
		if err != nil {
			out.Flush()
			if interrupted(ctx, err) {
				return nil
			}
			return err
		}
		switch msg.Kind {
		case client.MessageEvent:
			ev := msg.Event
			switch g.output {
			case "json":
				if err := writeJSON(out, ev, false); err != nil {
					return err
				}
			case "yaml":
				io.WriteString(out, "---\n")
				if err := writeYAML(out, ev); err != nil {
					return err
				}
			default:
				fmt.Fprintf(out, "%-8d  %s  %s  %s\n", ev.Sequence, timestamp(ev.Time), cell(metaString(ev.Metadata)), payloadString(ev))
			}
		case client.MessageGap:
			out.Flush()
			fmt.Fprintf(errw, "badbatch: skipped %d events (%d..%d): this reader fell a ring behind\n", msg.Count, msg.From, msg.To)
		case client.MessageLagged:
			out.Flush()
			return fmt.Errorf("this reader fell more than a ring behind after sequence %d and was disconnected; the ring now starts at %d (resume with --from %d, or use --skip-on-lag)",
				msg.LastSequence, msg.OldestSequence, msg.OldestSequence)
		case client.MessageEnd:
			out.Flush()
			fmt.Fprintf(errw, "badbatch: the stream ended: disruptor %s %s (last sequence %d)\n", name, endReason(msg.Reason), msg.LastSequence)
			return nil
		}
		if err := out.Flush(); err != nil {
			return err
		}
	}
	return nil
}

func endReason(r string) string {
	switch r {
	case "stopped":
		return "was stopped"
	case "deleted":
		return "was deleted"
	case "shutdown":
		return "is unavailable: the server is shutting down"
	}
	return r
}
