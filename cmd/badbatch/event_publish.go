package main

import (
	"encoding/json"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/badbatch/badbatch/client"
)

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
