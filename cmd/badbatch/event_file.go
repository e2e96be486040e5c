package main

import (
	"bufio"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strconv"
	"time"

	"github.com/spf13/cobra"

	"github.com/badbatch/badbatch/client"
)

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
published twice. On a terminal a progress bar shows the events sent
and the MiB read (of the file's size, with the time left).`,
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
	Bytes         int64   `json:"bytes"`
	Batches       int     `json:"batches"`
	Duplicates    int     `json:"duplicate_batches"`
	FirstSequence int64   `json:"first_sequence"`
	LastSequence  int64   `json:"last_sequence"`
	Seconds       float64 `json:"seconds"`
	EventsPerSec  float64 `json:"events_per_second"`
	MiBPerSec     float64 `json:"mib_per_second"`
}

// mib formats a byte count in MiB.
func mib(n int64) string { return fmt.Sprintf("%.1f", float64(n)/(1<<20)) }

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
	start := time.Now()
	sum := fileSummary{Disruptor: name, FirstSequence: -1, LastSequence: -1}
	// The bar moves by bytes when the file's size is known, by events when
	// not (standard input); it shows both, events and MiB.
	bar := newProgress(cmd.ErrOrStderr(), "publishing "+name, "events", total)
	done := func() int64 { return cr.n - int64(br.Buffered()) } // bytes consumed
	if bar != nil {
		bar.count = func() string {
			if total > 0 {
				return fmt.Sprintf("%d events  %s/%s MiB", sum.Events, mib(done()), mib(total))
			}
			return fmt.Sprintf("%d events  %s MiB", sum.Events, mib(done()))
		}
		bar.speed = func(el time.Duration) string {
			s := max(el.Seconds(), 1e-9)
			return fmt.Sprintf("%s events/s  %.1f MiB/s", rate(float64(sum.Events)/s), float64(done())/(1<<20)/s)
		}
	}
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
			bar.set(done())
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
	sum.Bytes = done()
	sum.Seconds = time.Since(start).Seconds()
	if sum.Seconds > 0 {
		sum.EventsPerSec = float64(sum.Events) / sum.Seconds
		sum.MiBPerSec = float64(sum.Bytes) / (1 << 20) / sum.Seconds
	}
	return g.emitTable(cmd.OutOrStdout(), sum, func(t *table) {
		t.columns(column{name: "DISRUPTOR"}, column{name: "EVENTS"}, column{name: "MIB"}, column{name: "BATCHES"},
			column{name: "DUPLICATES", wide: true}, column{name: "FIRST", wide: true}, column{name: "LAST", wide: true},
			column{name: "SECONDS"}, column{name: "EVENTS/S"}, column{name: "MIB/S"})
		t.add(sum.Disruptor, sum.Events, mib(sum.Bytes), sum.Batches, sum.Duplicates, sum.FirstSequence, sum.LastSequence,
			fmt.Sprintf("%.2f", sum.Seconds), rate(sum.EventsPerSec), fmt.Sprintf("%.1f", sum.MiBPerSec))
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
