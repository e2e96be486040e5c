package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/badbatch/badbatch/api"
	"github.com/badbatch/badbatch/client"
)

func newDisruptorCommand(g *globals) *cobra.Command {
	cmd := group("disruptor", "Create, list, show, delete disruptors and move them through their lifecycle",
		`Manage the disruptors a server hosts. A disruptor's lifecycle is
created -> running <-> paused -> stopped; delete removes it from any state.`)
	cmd.Aliases = []string{"disruptors", "d"}
	cmd.AddCommand(newCreateCommand(g), newListCommand(g), newShowCommand(g), newDeleteCommand(g))
	for _, st := range []struct{ use, state, short string }{
		{"start", "running", "Start a created disruptor: its consumers run and it accepts events"},
		{"pause", "paused", "Pause a running disruptor: publishes are refused while its consumers drain"},
		{"resume", "running", "Resume a paused disruptor"},
		{"stop", "stopped", "Stop a disruptor for good, after its consumers drain; its events stay readable"},
	} {
		cmd.AddCommand(&cobra.Command{
			Use:               st.use + " NAME",
			Short:             st.short,
			Args:              args(1, "a disruptor NAME"),
			ValidArgsFunction: g.completeDisruptors,
			RunE: func(cmd *cobra.Command, a []string) error {
				c, err := g.newClient(cmd)
				if err != nil {
					return err
				}
				defer c.Close()
				d, err := c.SetState(cmd.Context(), a[0], st.state)
				if err != nil {
					return err
				}
				return g.emit(cmd.OutOrStdout(), d, func(tw *tabwriter.Writer) {
					fmt.Fprintf(tw, "%s is %s\n", d.Name, d.State)
				})
			},
		})
	}
	return cmd
}

func newCreateCommand(g *globals) *cobra.Command {
	var (
		req        api.CreateRequest
		schemaFile string
		timeout    time.Duration
		noStart    bool
		files      []string
	)
	cmd := &cobra.Command{
		Use:   "create NAME | -f FILE",
		Short: "Create a disruptor (and start it, unless --no-start), or each one a file specifies",
		Long: `Create a disruptor. Settings not given take the server's defaults
(disruptor.default_* in its configuration).

With -f FILE (repeatable; - for standard input), create the disruptors the
file specifies, declaratively, as kubectl apply -f does: YAML documents
(or JSON), each a spec or a list of specs, a spec being the body of POST
/api/v1/disruptors (name, buffer_size, producer_type, wait_strategy,
max_event_size, overflow, publish_timeout_ms, schema, start, replication,
first_sequence, durability, sync, retention). Keys are strict: an unknown, duplicate or mis-cased key
or a value of the wrong type is an error naming the file and line, and
nothing is created. Each spec is then reported: created; unchanged (the
disruptor exists with every setting the spec gives; settings it leaves
out, start and first_sequence are not compared); conflict (it exists with
other settings, which are listed: settings do not change in place); or
error (the server's). The command exits 1 when any spec is a conflict or
an error, 0 otherwise, so it can run again and again.`,
		Example: `  badbatch disruptor create orders --size 4096 --producer multi --wait-strategy yielding
  badbatch disruptor create audit --schema audit.schema.json --overflow reject
  badbatch disruptor create payments --replication quorum   # Raft-replicated, on a --replication cluster
  badbatch disruptor create -f disruptors.yaml`,
		Args: func(cmd *cobra.Command, a []string) error {
			if len(files) > 0 {
				if len(a) > 0 {
					return usagef("%s -f takes no NAME: the names are in the file", cmd.CommandPath())
				}
				var set []string
				local := cmd.LocalNonPersistentFlags()
				cmd.Flags().Visit(func(f *pflag.Flag) {
					if f.Name != "filename" && local.Lookup(f.Name) != nil {
						set = append(set, "--"+f.Name)
					}
				})
				if len(set) > 0 {
					return usagef("-f and %s: give the settings in the file", strings.Join(set, ", "))
				}
				return nil
			}
			return args(1, "the NAME of the new disruptor (or -f FILE)")(cmd, a)
		},
		RunE: func(cmd *cobra.Command, a []string) error {
			if len(files) > 0 {
				return g.applySpecs(cmd, files)
			}
			req.Name = a[0]
			if req.Replication != "" && req.Replication != "none" && req.Replication != "quorum" {
				return usagef("--replication %q: want none or quorum", req.Replication)
			}
			if timeout < 0 {
				return usagef("--publish-timeout %v: must not be negative", timeout)
			}
			if req.FirstSequence < 0 {
				return usagef("--first-sequence %d: must not be negative", req.FirstSequence)
			}
			if req.Durability != "" && req.Durability != "journal" && req.Durability != "memory" {
				return usagef("--durability %q: want journal or memory", req.Durability)
			}
			if req.Sync != "" && req.Sync != "interval" && req.Sync != "always" && req.Sync != "never" {
				return usagef("--sync %q: want interval, always or never", req.Sync)
			}
			req.PublishTimeoutMS = timeout.Milliseconds()
			if noStart {
				no := false
				req.Start = &no
			}
			if schemaFile != "" {
				b, err := os.ReadFile(schemaFile)
				if err != nil {
					return usagef("--schema: %v", err)
				}
				if !json.Valid(b) {
					return usagef("--schema %s: not a JSON document", schemaFile)
				}
				req.Schema = json.RawMessage(b)
			}
			c, err := g.newClient(cmd)
			if err != nil {
				return err
			}
			defer c.Close()
			d, err := c.CreateDisruptor(cmd.Context(), req)
			if err != nil {
				return err
			}
			return g.emit(cmd.OutOrStdout(), d, func(tw *tabwriter.Writer) { disruptorDetail(tw, d) })
		},
	}
	f := cmd.Flags()
	f.IntVar(&req.BufferSize, "size", 0, "ring size, a power of 2; also the replay window (default: the server's, 1024)")
	f.StringVar(&req.ProducerType, "producer", "", "producer type: single or multi")
	f.StringVar(&req.WaitStrategy, "wait-strategy", "", "consumers' wait strategy: busy_spin, yielding, sleeping, blocking, lite_blocking, timeout_blocking or phased_backoff")
	f.IntVar(&req.MaxEventSize, "max-event-size", 0, "largest event in bytes, payload and metadata")
	f.StringVar(&req.Overflow, "overflow", "", "when the ring is full: block (wait up to --publish-timeout) or reject")
	f.DurationVar(&timeout, "publish-timeout", 0, "how long a publish waits for room under --overflow block")
	f.StringVar(&schemaFile, "schema", "", "JSON Schema file every JSON payload must match")
	f.BoolVar(&noStart, "no-start", false, "leave the disruptor created, not running")
	f.Int64Var(&req.FirstSequence, "first-sequence", 0, "sequence of the first event, to continue an earlier disruptor's numbering (not with --replication quorum)")
	f.StringVar(&req.Replication, "replication", "", "none (this node only, the default) or quorum (replicated with Raft on every node; needs a server run with --cluster --replication)")
	f.StringArrayVarP(&files, "filename", "f", nil, "create the disruptors this YAML or JSON file specifies (repeatable; - for standard input)")
	f.StringVar(&req.Durability, "durability", "", "journal (every publish written to the disruptor's journal before it is answered; back after a restart) or memory (the ring only) (default: the server's, journal)")
	f.StringVar(&req.Sync, "sync", "", "a journal's fsync: interval (every 100ms or 1 MiB, the default), always (before every answer) or never")
	enumFlag(cmd, "durability", "journal", "memory")
	enumFlag(cmd, "sync", "interval", "always", "never")
	_ = cmd.RegisterFlagCompletionFunc("replication", cobra.FixedCompletions([]string{"none", "quorum"}, cobra.ShellCompDirectiveNoFileComp))
	_ = cmd.RegisterFlagCompletionFunc("producer", cobra.FixedCompletions([]string{"single", "multi"}, cobra.ShellCompDirectiveNoFileComp))
	_ = cmd.RegisterFlagCompletionFunc("overflow", cobra.FixedCompletions([]string{"block", "reject"}, cobra.ShellCompDirectiveNoFileComp))
	_ = cmd.RegisterFlagCompletionFunc("wait-strategy", cobra.FixedCompletions([]string{"busy_spin", "yielding", "sleeping",
		"blocking", "lite_blocking", "timeout_blocking", "phased_backoff"}, cobra.ShellCompDirectiveNoFileComp))
	return cmd
}

func newListCommand(g *globals) *cobra.Command {
	var opts client.ListOptions
	cmd := &cobra.Command{
		Use:     "list",
		Aliases: []string{"ls"},
		Short:   "List the disruptors, by name",
		Args:    args(0, ""),
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := g.newClient(cmd)
			if err != nil {
				return err
			}
			defer c.Close()
			list := api.DisruptorList{Disruptors: []api.Disruptor{}}
			for d, err := range c.AllDisruptors(cmd.Context(), opts) {
				if err != nil {
					return err
				}
				list.Disruptors = append(list.Disruptors, d)
			}
			now := time.Now()
			return g.emitTable(cmd.OutOrStdout(), list, func(t *table) {
				t.columns(column{name: "NAME"}, column{name: "STATE"}, column{name: "SIZE"}, column{name: "PUBLISHED"},
					column{name: "OLDEST", wide: true}, column{name: "LATEST"}, column{name: "SUBSCRIBERS"},
					column{name: "PRODUCER", wide: true}, column{name: "WAIT STRATEGY", wide: true}, column{name: "OVERFLOW", wide: true},
					column{name: "REPLICATION", wide: true}, column{name: "CREATED", wide: true}, column{name: "AGE"})
				for _, d := range list.Disruptors {
					oldest, latest := any(d.OldestSequence), any(d.LatestSequence)
					if d.LatestSequence < d.OldestSequence {
						oldest, latest = "-", "-" // nothing held
					}
					t.add(d.Name, d.State, d.BufferSize, d.Published, oldest, latest, d.Subscribers,
						d.ProducerType, d.WaitStrategy, d.Overflow, cmpOr(d.Replication, "none"), timestamp(d.CreatedAt), age(d.CreatedAt, now))
				}
			})
		},
	}
	cmd.Flags().StringSliceVar(&opts.States, "state", nil, "only these states: created, running, paused, stopped (repeat or comma-separate)")
	enumFlag(cmd, "state", "created", "running", "paused", "stopped")
	cmd.Flags().StringVar(&opts.Name, "name", "", "only names matching this glob, e.g. 'orders-*'")
	return cmd
}

func newShowCommand(g *globals) *cobra.Command {
	var rf readFlags
	cmd := &cobra.Command{
		Use:               "show NAME",
		Aliases:           []string{"describe", "get"},
		Short:             "Show a disruptor's settings, state and replay window",
		Args:              args(1, "a disruptor NAME"),
		ValidArgsFunction: g.completeDisruptors,
		RunE: func(cmd *cobra.Command, a []string) error {
			c, err := g.newClient(cmd)
			if err != nil {
				return err
			}
			defer c.Close()
			d, err := c.Disruptor(cmd.Context(), a[0], rf.options()...)
			if err != nil {
				return err
			}
			return g.emit(cmd.OutOrStdout(), d, func(tw *tabwriter.Writer) { disruptorDetail(tw, d) })
		},
	}
	rf.add(cmd)
	return cmd
}

// disruptorDetail writes one disruptor as a two-column table.
func disruptorDetail(tw *tabwriter.Writer, d api.Disruptor) {
	row(tw, "NAME", d.Name)
	row(tw, "STATE", d.State)
	row(tw, "BUFFER SIZE", d.BufferSize)
	row(tw, "PRODUCER", d.ProducerType)
	row(tw, "WAIT STRATEGY", d.WaitStrategy)
	row(tw, "MAX EVENT SIZE", d.MaxEventSize)
	row(tw, "OVERFLOW", d.Overflow)
	row(tw, "PUBLISH TIMEOUT", time.Duration(d.PublishTimeoutMS)*time.Millisecond)
	row(tw, "REPLICATION", cmpOr(d.Replication, "none"))
	row(tw, "DURABILITY", cmpOr(d.Durability, "memory"))
	if d.Journal != nil {
		row(tw, "SYNC", d.Sync)
		if r := d.Retention; r != nil && *r != (api.Retention{}) {
			row(tw, "RETENTION", fmt.Sprintf("max_age %v, max_bytes %d, max_events %d",
				time.Duration(r.MaxAgeMS)*time.Millisecond, r.MaxBytes, r.MaxEvents))
		}
		row(tw, "JOURNAL", fmt.Sprintf("from %d, %d bytes in %d segments", d.Journal.OldestSequence, d.Journal.Bytes, d.Journal.Segments))
	}
	row(tw, "PUBLISHED", d.Published)
	window := "empty"
	if d.LatestSequence >= d.OldestSequence {
		window = fmt.Sprintf("%d..%d", d.OldestSequence, d.LatestSequence)
	}
	row(tw, "REPLAY WINDOW", window)
	row(tw, "SUBSCRIBERS", d.Subscribers)
	row(tw, "CREATED", when(d.CreatedAt, time.Now()))
	if len(d.Schema) > 0 {
		row(tw, "SCHEMA", compactJSON(d.Schema))
	}
}

func newDeleteCommand(g *globals) *cobra.Command {
	var force bool
	cmd := &cobra.Command{
		Use:     "delete NAME",
		Aliases: []string{"rm"},
		Short:   "Delete a disruptor and its events (asks first on a terminal, unless --force)",
		Long: `Delete a disruptor from any state: it drains, then it and its events are
gone. On a terminal it asks for confirmation unless --force is given; an
answer other than y or yes deletes nothing and exits with code 3.`,
		Args:              args(1, "a disruptor NAME"),
		ValidArgsFunction: g.completeDisruptors,
		RunE: func(cmd *cobra.Command, a []string) error {
			c, err := g.newClient(cmd)
			if err != nil {
				return err
			}
			defer c.Close()
			name := a[0]
			if !force && isTerminal(cmd.InOrStdin()) && isTerminal(cmd.ErrOrStderr()) {
				d, err := c.Disruptor(cmd.Context(), name)
				if err != nil {
					return err
				}
				fmt.Fprintf(cmd.ErrOrStderr(), "Delete disruptor %q (%s, %d events published)? Its events are lost. [y/N] ", d.Name, d.State, d.Published)
				answer, _ := bufio.NewReader(cmd.InOrStdin()).ReadString('\n')
				if a := strings.ToLower(strings.TrimSpace(answer)); a != "y" && a != "yes" {
					return declinedError{"not deleted: " + name}
				}
			}
			if err := c.DeleteDisruptor(cmd.Context(), name); err != nil {
				return err
			}
			out := struct {
				Disruptor string `json:"disruptor"`
				Deleted   bool   `json:"deleted"`
			}{name, true}
			return g.emit(cmd.OutOrStdout(), out, func(tw *tabwriter.Writer) { fmt.Fprintf(tw, "deleted %s\n", name) })
		},
	}
	cmd.Flags().BoolVarP(&force, "force", "f", false, "do not ask for confirmation")
	return cmd
}

// completeDisruptors completes disruptor names from the server.
func (g *globals) completeDisruptors(cmd *cobra.Command, a []string, prefix string) ([]string, cobra.ShellCompDirective) {
	if len(a) > 0 {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	g.timeout = 2 * time.Second
	c, err := g.newClient(cmd)
	if err != nil {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	defer c.Close()
	var names []string
	for d, err := range c.AllDisruptors(cmd.Context(), client.ListOptions{Name: prefix + "*"}) {
		if err != nil {
			break
		}
		names = append(names, d.Name)
	}
	return names, cobra.ShellCompDirectiveNoFileComp
}
