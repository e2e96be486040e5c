package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/badbatch/badbatch/api"
	"github.com/badbatch/badbatch/client"
	"github.com/badbatch/badbatch/config"
)

// ---- badbatch server --cluster ----

// clusterFlags are the cluster flags of `badbatch server`. Each sets a
// configuration key, over the file and the environment.
type clusterFlags struct {
	enabled   bool     // server.cluster_mode
	bind      string   // cluster.bind_addr
	advertise string   // cluster.advertise_addr
	seeds     []string // cluster.seed_nodes
	nodeID    string   // cluster.node_id
	insecure  bool     // cluster.insecure
	repl      replicationFlags
}

func (cf *clusterFlags) add(f *pflag.FlagSet) {
	f.BoolVar(&cf.enabled, "cluster", false, "join a cluster (server.cluster_mode); see docs/cluster.md")
	f.StringVar(&cf.bind, "cluster-bind", "", "gossip address, IP:port for TCP and UDP (cluster.bind_addr, default 0.0.0.0:7946)")
	f.StringVar(&cf.advertise, "cluster-advertise", "", "host[:port] other nodes reach this one's gossip at (cluster.advertise_addr)")
	f.StringSliceVar(&cf.seeds, "seed", nil, "gossip address of a node to join, host[:port]; repeat or separate with commas (cluster.seed_nodes)")
	f.StringVar(&cf.nodeID, "node-id", "", "unique, stable name of this node (cluster.node_id, default the host name)")
	f.BoolVar(&cf.insecure, "insecure-cluster", false, "allow gossip without an encryption key and Raft without mutual TLS off loopback (cluster.insecure); anyone who reaches those ports can join, read forwarded credentials and rewrite the log")
	cf.repl.add(f)
}

// values returns the configuration keys of the cluster flags given on the
// command line.
func (cf *clusterFlags) values(f *pflag.FlagSet) map[string]any {
	out := map[string]any{}
	set := func(flag, key string, v any) {
		if f.Changed(flag) {
			out[key] = v
		}
	}
	set("cluster", "server.cluster_mode", cf.enabled)
	set("cluster-bind", "cluster.bind_addr", cf.bind)
	set("cluster-advertise", "cluster.advertise_addr", cf.advertise)
	set("seed", "cluster.seed_nodes", cf.seeds)
	set("node-id", "cluster.node_id", cf.nodeID)
	set("insecure-cluster", "cluster.insecure", cf.insecure)
	cf.repl.values(f, set)
	return out
}

// loadClusterConfig loads the configuration of src, whose Flags hold the
// cluster flags among others. Cluster flags without cluster mode are a
// usage error.
func loadClusterConfig(src config.Source) (config.Config, error) {
	cfg, err := config.Load(src)
	if err != nil {
		if errors.Is(err, config.ErrInvalid) {
			return cfg, usageError{err}
		}
		return cfg, err
	}
	if !cfg.Server.ClusterMode {
		for key := range src.Flags {
			if strings.HasPrefix(key, "cluster.") {
				return cfg, usageError{fmt.Errorf("the cluster flags need --cluster (or server.cluster_mode: true); %s was given", key)}
			}
		}
	}
	return cfg, nil
}

// ---- badbatch cluster ----

func newClusterCommand(g *globals) *cobra.Command {
	cmd := group("cluster", "Show and change a server's cluster membership",
		`Ask a clustered server (badbatch server --cluster) about its cluster, as
its node sees it, through the REST API (/api/v1/cluster/*). Any node
answers for the whole cluster; views are eventually consistent.`)
	run := func(call func(context.Context, *client.Client) (any, func(io.Writer), error)) func(*cobra.Command, []string) error {
		return func(cmd *cobra.Command, _ []string) error { return g.runCluster(cmd, call) }
	}
	cmd.AddCommand(&cobra.Command{
		Use:   "status",
		Short: "The cluster's health and members",
		Args:  args(0, ""),
		RunE: run(func(ctx context.Context, c *client.Client) (any, func(io.Writer), error) {
			h, err := c.ClusterHealth(ctx)
			if err != nil {
				return nil, nil, err
			}
			ms, err := c.ClusterMembers(ctx)
			if err != nil {
				return nil, nil, err
			}
			out := struct {
				Health  api.ClusterHealth  `json:"health" yaml:"health"`
				Members api.ClusterMembers `json:"members" yaml:"members"`
			}{h, ms}
			return out, func(w io.Writer) {
				writeHealth(w, h)
				fmt.Fprintln(w)
				g.writeMembers(w, ms)
			}, nil
		}),
	})
	cmd.AddCommand(&cobra.Command{
		Use:   "members",
		Short: "The cluster's members: state, addresses, disruptors",
		Args:  args(0, ""),
		RunE: run(func(ctx context.Context, c *client.Client) (any, func(io.Writer), error) {
			ms, err := c.ClusterMembers(ctx)
			return ms, func(w io.Writer) { g.writeMembers(w, ms) }, err
		}),
	})
	cmd.AddCommand(&cobra.Command{
		Use:   "health",
		Short: "The cluster's health: healthy, or degraded when a member is suspect or dead",
		Args:  args(0, ""),
		RunE: run(func(ctx context.Context, c *client.Client) (any, func(io.Writer), error) {
			h, err := c.ClusterHealth(ctx)
			return h, func(w io.Writer) { writeHealth(w, h) }, err
		}),
	})
	cmd.AddCommand(&cobra.Command{
		Use:   "raft",
		Short: "The Raft group replicating the quorum disruptors: state, term, leader, log indexes, servers",
		Args:  args(0, ""),
		RunE: run(func(ctx context.Context, c *client.Client) (any, func(io.Writer), error) {
			st, err := c.ClusterRaft(ctx)
			return st, func(w io.Writer) { g.writeRaft(w, st) }, err
		}),
	})
	cmd.AddCommand(&cobra.Command{
		Use:   "join SEED...",
		Short: "Have the server's node join the nodes at these gossip addresses (host[:port])",
		Args: func(cmd *cobra.Command, a []string) error {
			if len(a) == 0 {
				return usagef("%s needs at least one gossip address, host[:port]; see --help", cmd.CommandPath())
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, seeds []string) error {
			return g.runCluster(cmd, func(ctx context.Context, c *client.Client) (any, func(io.Writer), error) {
				res, err := c.ClusterJoin(ctx, seeds...)
				return res, func(w io.Writer) {
					fmt.Fprintf(w, "joined: %d of %d addresses answered\n", res.Contacted, len(seeds))
				}, err
			})
		},
	})
	cmd.AddCommand(&cobra.Command{
		Use:   "leave",
		Short: "Have the server's node leave the cluster gracefully (members see it left)",
		Args:  args(0, ""),
		RunE: run(func(ctx context.Context, c *client.Client) (any, func(io.Writer), error) {
			res, err := c.ClusterLeave(ctx)
			return res, func(w io.Writer) {
				fmt.Fprintf(w, "%s left the cluster; it serves its own disruptors until stopped\n", res.NodeID)
				for _, warning := range res.Warnings {
					fmt.Fprintln(w, "warning:", warning)
				}
			}, err
		}),
	})
	return cmd
}

// runCluster makes the client the global flags describe, calls call and
// writes its result in the --output format: the value as JSON or YAML, or
// the table call returned.
func (g *globals) runCluster(cmd *cobra.Command, call func(context.Context, *client.Client) (any, func(io.Writer), error)) error {
	c, err := g.newClient(cmd)
	if err != nil {
		return err
	}
	defer c.Close()
	v, table, err := call(cmd.Context(), c)
	if err != nil {
		return err
	}
	w := cmd.OutOrStdout()
	switch g.output {
	case "json":
		return writeJSON(w, v, true)
	case "yaml":
		return writeYAML(w, v)
	}
	table(w)
	return nil
}

// writeMembers writes the members as a table.
func (g *globals) writeMembers(w io.Writer, ms api.ClusterMembers) {
	t := g.newTable(w)
	t.columns(column{name: "NODE"}, column{name: "STATE"}, column{name: "SINCE", wide: true}, column{name: "AGE"},
		column{name: "GOSSIP", wide: true}, column{name: "API"}, column{name: "NODE STATE"}, column{name: "DISRUPTORS", cut: true},
		column{name: "FORWARDING", wide: true})
	now := time.Now()
	for _, m := range ms.Members {
		id := m.ID
		if m.Local {
			id += " (this)"
		}
		apiURL := "-"
		if m.APIAddr != "" {
			apiURL = m.APIScheme + "://" + m.APIAddr
		}
		ds := strings.Join(m.Disruptors, ",")
		if ds == "" {
			ds = "-"
		}
		fwd := m.Circuit
		if fwd == "" {
			fwd = "-"
		} else if m.ForwardFailures > 0 {
			fwd += fmt.Sprintf(" (%d failures)", m.ForwardFailures)
		}
		t.add(id, m.State, timestamp(m.Since), age(m.Since, now), m.GossipAddr, apiURL, m.NodeState, ds, fwd)
	}
	_ = t.flush()
}

// writeHealth writes the health as a few lines.
func writeHealth(w io.Writer, h api.ClusterHealth) {
	fmt.Fprintf(w, "cluster %s, seen from %s: %d alive, %d suspect, %d dead, %d left; health score %d\n",
		h.Status, h.NodeID, h.Alive, h.Suspect, h.Dead, h.Left, h.HealthScore)
	for _, p := range h.Problems {
		fmt.Fprintln(w, "problem:", p)
	}
	for _, p := range h.Warnings {
		fmt.Fprintln(w, "warning:", p)
	}
	ms := func(n int64) time.Duration { return time.Duration(n) * time.Millisecond }
	fmt.Fprintf(w, "failure detection: suspect within %v, dead within %v, forgotten after %v\n",
		ms(h.Timings.SuspectAfterMS), ms(h.Timings.DeadAfterMS), ms(h.Timings.ForgetAfterMS))
}

// writeRaft writes a node's Raft status: a few lines, then its servers as
// a table.
func (g *globals) writeRaft(w io.Writer, st api.RaftStatus) {
	leader := "none known"
	if st.LeaderID != "" {
		leader = st.LeaderID + " (" + st.LeaderRaftAddr + ")"
	}
	fmt.Fprintf(w, "raft: %s is %s at %s, term %d, leader %s\n", st.NodeID, st.State, st.RaftAddr, st.Term, leader)
	fmt.Fprintf(w, "log: commit index %d, applied index %d, last index %d\n", st.CommitIndex, st.AppliedIndex, st.LastIndex)
	if st.LastContact != nil {
		fmt.Fprintf(w, "last contact with the leader: %s\n", when(*st.LastContact, time.Now()))
	}
	if st.Stalled {
		fmt.Fprintln(w, "warning: applying a committed entry is stalled")
	}
	fmt.Fprintln(w)
	t := g.newTable(w)
	t.columns(column{name: "SERVER"}, column{name: "RAFT ADDR"}, column{name: "SUFFRAGE"}, column{name: "ROLE"})
	for _, sv := range st.Servers {
		id := sv.ID
		if sv.Local {
			id += " (this)"
		}
		role := "-"
		if sv.Leader {
			role = "leader"
		}
		t.add(id, sv.RaftAddr, sv.Suffrage, role)
	}
	_ = t.flush()
}
