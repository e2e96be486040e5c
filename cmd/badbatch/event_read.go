package main

import (
	"strconv"

	"github.com/spf13/cobra"

	"github.com/badbatch/badbatch/client"
)

func newGetCommand(g *globals) *cobra.Command {
	var rf readFlags
	cmd := &cobra.Command{
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
			ev, err := c.Event(cmd.Context(), a[0], seq, rf.options()...)
			if err != nil {
				return err
			}
			return g.emitTable(cmd.OutOrStdout(), ev, func(t *table) { eventTable(t, []client.Event{ev}) })
		},
	}
	rf.add(cmd)
	return cmd
}

func newReplayCommand(g *globals) *cobra.Command {
	var (
		from  int64
		limit int
		rf    readFlags
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
			for ev, err := range c.ReplayAll(cmd.Context(), a[0], from, limit, min(limit, 1000), rf.options()...) {
				if err != nil {
					return err
				}
				out.Events = append(out.Events, ev)
			}
			d, err := c.Disruptor(cmd.Context(), a[0], rf.options()...)
			if err != nil {
				return err
			}
			out.OldestSequence, out.LatestSequence = d.OldestSequence, d.LatestSequence
			out.NextSequence = max(from, d.OldestSequence)
			if n := len(out.Events); n > 0 {
				out.NextSequence = out.Events[n-1].Sequence + 1
			}
			return g.emitTable(cmd.OutOrStdout(), out, func(t *table) { eventTable(t, out.Events) })
		},
	}
	cmd.Flags().Int64Var(&from, "from", 0, "first sequence (default: the oldest held)")
	cmd.Flags().IntVarP(&limit, "limit", "n", 100, "most events to show")
	rf.add(cmd)
	return cmd
}
