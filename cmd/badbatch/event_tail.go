package main

import (
	"bufio"
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/badbatch/badbatch/client"
)

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
