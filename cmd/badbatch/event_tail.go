package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/spf13/cobra"

	"github.com/badbatch/badbatch/api"
	"github.com/badbatch/badbatch/client"
	"github.com/badbatch/badbatch/wire"
)

func newTailCommand(g *globals) *cobra.Command {
	var (
		from        int64
		ndjson      bool
		skipOnLag   bool
		noReconnect bool
		rf          readFlags
	)
	cmd := &cobra.Command{
		Use:   "tail DISRUPTOR [--from SEQ]",
		Short: "Follow a disruptor's events live until Ctrl-C",
		Long: `Print a disruptor's events as they are published, from --from (default:
the next one published), until Ctrl-C or until the disruptor stops.

When the connection breaks or the server shuts down (a restart, say),
tail reconnects, with backoff (up to 5 s apart), for as long as it takes,
and resumes after the last event it printed, so that nothing is lost or
printed twice; it says so on stderr. While the server does not have the
disruptor it waits for it, as tail -F waits for a file; one created anew
meanwhile (a server that keeps no events came back with a new one of
that name) is followed from its oldest event, with a warning.
--no-reconnect ends at the first break instead.

It exits 0 after Ctrl-C and when the disruptor stops (every event
published before the stop was printed), and 1 when the stream ends for an
error: the disruptor was deleted, this reader fell a ring behind (see
--skip-on-lag), the server shut down or the connection broke under
--no-reconnect, or the server answered an error.

With --output table (and wide) the events are an aligned table, a header
first (unless --no-headers): SEQUENCE, TIME, METADATA, PAYLOAD; the narrow
table cuts metadata and payloads to the width, wide prints them whole.
With json each event is a JSON object on its own line (NDJSON); with yaml
each is a YAML document.`,
		Example: `  badbatch event tail orders --from 0
  badbatch event tail orders -o json | jq .payload`,
		Args:              args(1, "a DISRUPTOR"),
		ValidArgsFunction: g.completeDisruptors,
		RunE: func(cmd *cobra.Command, a []string) error {
			opts := client.TailOptions{From: client.FromNext, SkipOnLag: skipOnLag, Consistent: rf.consistent, MaxReconnects: -1}
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
			t := &tailer{g: g, c: c, name: a[0], opts: opts, reconnect: !noReconnect, read: rf.options(),
				out: bufio.NewWriter(cmd.OutOrStdout()), errw: cmd.ErrOrStderr()}
			t.rows = g.newTailRows(cmd.OutOrStdout())
			defer t.out.Flush()
			return t.run(cmd.Context())
		},
	}
	cmd.Flags().Int64Var(&from, "from", 0, "first sequence (default: the next one published)")
	cmd.Flags().BoolVar(&ndjson, "ndjson", false, "use the NDJSON stream rather than Server-Sent Events")
	cmd.Flags().BoolVar(&skipOnLag, "skip-on-lag", false, "when this reader falls a ring behind, skip ahead instead of stopping")
	cmd.Flags().BoolVar(&noReconnect, "no-reconnect", false, "end (exit 1) when the connection breaks or the server shuts down, instead of reconnecting")
	rf.add(cmd)
	return cmd
}

// tailer follows one disruptor, reconnecting as needed. Its methods run
// on the command's goroutine.
type tailer struct {
	g         *globals
	c         *client.Client
	name      string
	opts      client.TailOptions
	reconnect bool
	read      []client.ReadOption
	out       *bufio.Writer
	errw      io.Writer
	rows      *tailRows // nil unless table output
	// created is when the disruptor followed was created: a different
	// time after a reconnect means a new disruptor of the same name.
	created time.Time
}

// The tail's reconnection backoff: from reconnectMin, doubling, up to
// reconnectMax between attempts.
const (
	reconnectMin = 100 * time.Millisecond
	reconnectMax = 5 * time.Second
)

// run follows the disruptor until it stops, ctx ends or an error.
func (t *tailer) run(ctx context.Context) error {
	d, err := t.c.Disruptor(ctx, t.name, t.read...)
	if err != nil {
		return quiet(ctx, err)
	}
	t.created = d.CreatedAt
	next := t.opts.From
	if next < 0 {
		// The next one published, as a sequence, so that a reconnect
		// before the first event misses nothing.
		next = d.LatestSequence + 1
	}
	if t.rows != nil {
		t.rows.header(t.out)
	}
	for wait := reconnectMin; ; {
		why, err := t.follow(ctx, &next, &wait)
		if err != nil || why == "" {
			return quiet(ctx, err)
		}
		if !t.reconnect {
			return errors.New(why + "; not reconnecting (--no-reconnect)")
		}
		t.notice("%s; reconnecting to resume at sequence %d", why, next)
		if err := t.await(ctx, &next, &wait); err != nil {
			return quiet(ctx, err)
		}
	}
}

// quiet is err, or nil when it is the end of ctx (Ctrl-C).
func quiet(ctx context.Context, err error) error {
	if err != nil && interrupted(ctx, err) {
		return nil
	}
	return err
}

// follow streams from *next until the stream ends, keeping *next at the
// sequence to resume from. It returns why the stream should be reopened
// ("" with a nil error when it is over), or the error that ends the tail.
func (t *tailer) follow(ctx context.Context, next *int64, wait *time.Duration) (string, error) {
	opts := t.opts
	opts.From = *next
	for msg, err := range t.c.Tail(ctx, t.name, opts) {
		if err != nil {
			t.out.Flush()
			if ctx.Err() != nil || !recoverable(err) {
				return "", err
			}
			return "the stream broke (" + errorLines(err, t.c.Endpoint())[0] + ")", nil
		}
		switch msg.Kind {
		case client.MessageEvent:
			*next = msg.Event.Sequence + 1
			*wait = reconnectMin
			if err := t.print(msg.Event); err != nil {
				return "", err
			}
		case client.MessageGap:
			*next = msg.To + 1
			t.out.Flush()
			t.notice("skipped %d events (%d..%d): this reader fell a ring behind", msg.Count, msg.From, msg.To)
		case client.MessageLagged:
			t.out.Flush()
			return "", fmt.Errorf("this reader fell more than a ring behind after sequence %d and was disconnected; the ring now starts at %d (resume with --from %d, or use --skip-on-lag)",
				msg.LastSequence, msg.OldestSequence, msg.OldestSequence)
		case client.MessageEnd:
			t.out.Flush()
			switch msg.Reason {
			case "stopped":
				t.notice("the stream ended: disruptor %s was stopped (last sequence %d)", t.name, msg.LastSequence)
				return "", nil
			case "shutdown":
				return "the server is shutting down", nil
			case "replaced":
				return "the node replaced its copy of the quorum disruptor with the leader's", nil
			case "deleted":
				return "", fmt.Errorf("the stream ended: disruptor %s was deleted (last sequence %d)", t.name, msg.LastSequence)
			}
			return "", fmt.Errorf("the stream ended: disruptor %s: %s (last sequence %d)", t.name, msg.Reason, msg.LastSequence)
		}
		if err := t.out.Flush(); err != nil {
			return "", err
		}
	}
	return "", nil
}

// await waits, with backoff, until the server answers for the disruptor
// again. A disruptor not found is waited for too (as tail -F waits for a
// file): a server that keeps no disruptors comes back without it until it
// is created again. One created anew meanwhile is followed from its
// oldest event, with a warning.
func (t *tailer) await(ctx context.Context, next *int64, wait *time.Duration) error {
	for missing := false; ; {
		timer := time.NewTimer(*wait)
		select {
		case <-ctx.Done():
			timer.Stop()
			return ctx.Err()
		case <-timer.C:
		}
		*wait = min(2**wait, reconnectMax)
		d, err := t.c.Disruptor(ctx, t.name, t.read...)
		if errors.Is(err, client.ErrDisruptorNotFound) {
			if !missing {
				t.notice("disruptor %s is not on the server now; waiting for it", t.name)
				missing = true
			}
			continue
		}
		if err != nil {
			if ctx.Err() != nil || !recoverable(err) {
				return err
			}
			continue
		}
		// A new disruptor of the name: it holds fewer events than were
		// printed, or (one that is not replicated, whose creation time
		// is its own) it was created at another time. A replicated one
		// keeps its events and numbering through restarts, in the Raft
		// log (its creation time is the applying node's).
		if d.LatestSequence < *next-1 || (d.Replication != api.ReplicationQuorum && !d.CreatedAt.Equal(t.created)) {
			t.notice("warning: disruptor %s was created anew at %s (the server kept no events): following it from its oldest event, %d",
				t.name, timestamp(d.CreatedAt), d.OldestSequence)
			t.created = d.CreatedAt
			*next = d.OldestSequence
		}
		t.notice("reconnected to %s; resuming at sequence %d", t.c.Endpoint(), *next)
		return nil
	}
}

// recoverable reports whether the tail may get past err by reconnecting:
// a network error, or an answer the API says to retry (503 SHUTTING_DOWN,
// NOT_READY, CATCHING_UP, NO_QUORUM, 502, 504, ...).
func recoverable(err error) bool {
	var ce *client.Error
	if errors.As(err, &ce) {
		if ce.Code != "" {
			return wire.Retryable(ce.Code)
		}
		return ce.Status == 429 || ce.Status == 502 || ce.Status == 503 || ce.Status == 504
	}
	var ue usageError
	return !errors.As(err, &ue)
}

// notice writes a line on stderr.
func (t *tailer) notice(format string, a ...any) {
	fmt.Fprintf(t.errw, "badbatch: "+format+"\n", a...)
}

// print writes one event in the output format.
func (t *tailer) print(ev client.Event) error {
	switch t.g.output {
	case "json":
		return writeJSON(t.out, ev, false)
	case "yaml":
		io.WriteString(t.out, "---\n")
		return writeYAML(t.out, ev)
	}
	t.rows.row(t.out, ev)
	return nil
}

// tailRows is the tail's table: it streams, so its columns have fixed
// widths (a longer cell pushes the rest of its line right), and the
// narrow one cuts metadata and payloads to the width.
type tailRows struct {
	width    int // 0: no limit (wide)
	noHeader bool
}

// The widths of the tail's columns, two spaces apart; PAYLOAD takes the
// rest of the line.
const (
	tailSeqWidth  = 10
	tailTimeWidth = len(timeFormat) - 5 // "2006-01-02T15:04:05.000Z"
	tailMetaWidth = 16
)

func (g *globals) newTailRows(w io.Writer) *tailRows {
	if g.output != "table" && g.output != "wide" {
		return nil
	}
	r := &tailRows{noHeader: g.noHeaders}
	if g.output == "table" {
		r.width = termWidth(w, 80)
	}
	return r
}

func (r *tailRows) header(w io.Writer) {
	if !r.noHeader {
		r.line(w, "SEQUENCE", "TIME", "METADATA", "PAYLOAD")
	}
}

func (r *tailRows) row(w io.Writer, ev client.Event) {
	r.line(w, fmt.Sprint(ev.Sequence), timestamp(ev.Time), cell(metaString(ev.Metadata)), cell(payloadString(ev)))
}

func (r *tailRows) line(w io.Writer, seq, at, meta, payload string) {
	if r.width > 0 {
		meta = cut(meta, tailMetaWidth)
		rest := r.width - 1 - (tailSeqWidth + 2 + tailTimeWidth + 2 + tailMetaWidth + 2)
		payload = cut(payload, max(rest, len("PAYLOAD")))
	}
	pad := func(s string, n int) string { return s + strings.Repeat(" ", max(n-utf8.RuneCountInString(s), 0)+2) }
	io.WriteString(w, pad(seq, tailSeqWidth)+pad(at, tailTimeWidth)+pad(meta, tailMetaWidth)+payload+"\n")
}
