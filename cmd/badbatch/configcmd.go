package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"reflect"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/badbatch/badbatch/config"
)

func newConfigCommand(g *globals) *cobra.Command {
	cmd := group("config", "Show, validate and generate configuration files",
		`The server's configuration comes from built-in defaults, then a YAML or
JSON file (--config), then BADBATCH_* environment variables
(server.bind_addr is BADBATCH_SERVER_BIND_ADDR), then flags; each layer
overrides the one before.`)
	cmd.AddCommand(newConfigShowCommand(g), newConfigValidateCommand(g), newConfigExampleCommand(), newConfigHashKeyCommand())
	return cmd
}

func newConfigShowCommand(g *globals) *cobra.Command {
	var sf serverFlags
	cmd := &cobra.Command{
		Use:   "show",
		Short: "Show the effective configuration: defaults, --config file, environment and flags merged; secrets redacted",
		Long: `Show the configuration "badbatch server" would run with, given the same
--config file, environment and server flags: every key, secrets
(gossip keys, API key hashes) redacted. --output table lists one key per
line; json and yaml show the file's structure.`,
		Args: args(0, ""),
		RunE: func(cmd *cobra.Command, _ []string) error {
			keys := sf.keys(cmd)
			if g.configFile != "" {
				if _, err := os.Stat(g.configFile); err != nil {
					return usagef("--config: %v", err)
				}
			}
			cfg, err := config.Load(config.Source{File: g.configFile, Flags: keys})
			if err != nil {
				return explainConfigError(g.configFile, err, func(key string) string {
					if _, set := keys[key]; set {
						return flagKeys[key]
					}
					return ""
				})
			}
			tree := configTree(reflect.ValueOf(cfg.Redacted()))
			return g.emitTable(cmd.OutOrStdout(), tree, func(t *table) {
				t.columns(column{name: "KEY"}, column{name: "VALUE", cut: true})
				for _, kv := range flatten(tree, "") {
					t.add(kv[0], kv[1])
				}
			})
		},
	}
	sf.add(cmd)
	return cmd
}

func newConfigValidateCommand(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "validate FILE",
		Short: "Check a configuration file: every problem is listed, each naming its key",
		Long: `Check a configuration file on its own (defaults, then the file; the
environment is ignored): unknown keys (with a "did you mean" hint), wrong
types and invalid values are all reported, one line each naming the key
and what is allowed. Exit code 0 when valid, 2 when not.`,
		Args: args(1, "a configuration FILE"),
		RunE: func(cmd *cobra.Command, a []string) error {
			data, err := os.ReadFile(a[0])
			if err != nil {
				return usagef("%v", err)
			}
			if _, err := config.Load(config.Source{File: a[0], Data: data, Env: []string{}}); err != nil {
				return configError(a[0], err)
			}
			out := struct {
				File  string `json:"file"`
				Valid bool   `json:"valid"`
			}{a[0], true}
			return g.emit(cmd.OutOrStdout(), out, func(tw *tabwriter.Writer) { fmt.Fprintf(tw, "%s: valid\n", a[0]) })
		},
	}
}

func newConfigExampleCommand() *cobra.Command {
	var typ string
	cmd := &cobra.Command{
		Use:   "example",
		Short: "Print a complete, commented configuration file that validates",
		Long: `Print a complete configuration file, every key with its default and a
comment. --type cluster prints the same for a node of a cluster
(server.cluster_mode: true, a node_id to change per node).`,
		Example: `  badbatch config example > badbatch.yaml
  badbatch config example --type cluster > node-1.yaml`,
		Args: args(0, ""),
		RunE: func(cmd *cobra.Command, _ []string) error {
			var out string
			switch typ {
			case "server":
				out = config.Example()
			case "cluster":
				var err error
				if out, err = clusterExample(config.Example()); err != nil {
					return err
				}
			default:
				return usagef("--type %q: want server or cluster", typ)
			}
			_, err := fmt.Fprint(cmd.OutOrStdout(), out)
			return err
		},
	}
	cmd.Flags().StringVarP(&typ, "type", "t", "server", "server (standalone) or cluster (a cluster node)")
	_ = cmd.RegisterFlagCompletionFunc("type", cobra.FixedCompletions([]string{"server", "cluster"}, cobra.ShellCompDirectiveNoFileComp))
	return cmd
}

// clusterExample turns the example into a cluster node's: cluster_mode on
// and a node_id, keeping every comment. It edits the two lines in place
// and checks that the result loads in cluster mode.
func clusterExample(example string) (string, error) {
	lines := strings.Split(example, "\n")
	section := ""
	setMode, setID := false, false
	for i, line := range lines {
		if line != "" && line[0] != ' ' && line[0] != '#' {
			section = strings.TrimSuffix(strings.TrimSpace(line), ":")
			continue
		}
		key, _, ok := strings.Cut(strings.TrimSpace(line), ":")
		if !ok || strings.HasPrefix(key, "#") || !strings.HasPrefix(line, "  ") || strings.HasPrefix(line, "   ") {
			continue
		}
		indent := line[:len(line)-len(strings.TrimLeft(line, " "))]
		comment := ""
		if j := strings.Index(line, " #"); j >= 0 {
			comment = "  " + strings.TrimSpace(line[j:])
		}
		switch {
		case section == "server" && key == "cluster_mode":
			lines[i], setMode = indent+"cluster_mode: true"+comment, true
		case section == "cluster" && key == "node_id":
			lines[i], setID = indent+`node_id: "node-1"`+comment+"  # unique per node", true
		}
	}
	if !setMode || !setID {
		return "", fmt.Errorf("the example has no server.cluster_mode or cluster.node_id line to set")
	}
	out := "# A cluster node: give each node its own node_id, and seed_nodes the\n" +
		"# gossip addresses (cluster.bind_addr) of one or more other nodes.\n" + strings.Join(lines, "\n")
	cfg, err := config.Parse([]byte(out))
	if err != nil {
		return "", fmt.Errorf("the cluster example does not load: %w", err)
	}
	if !cfg.Server.ClusterMode || cfg.Cluster.NodeID == "" {
		return "", fmt.Errorf("the cluster example is not in cluster mode")
	}
	return out, nil
}

// serverFlags are the flags of `badbatch server` that set configuration
// keys; `config show` takes them too, to show their effect.
type serverFlags struct {
	bind, logLevel, logFormat string
	shutdownTimeout           time.Duration
}

func (sf *serverFlags) add(cmd *cobra.Command) {
	f := cmd.Flags()
	f.StringVar(&sf.bind, "bind", "", "address to listen on, host:port (server.bind_addr; default 127.0.0.1:8080)")
	f.StringVar(&sf.logLevel, "log-level", "", "log level: debug, info, warn or error (logging.level; default info)")
	f.StringVar(&sf.logFormat, "log-format", "", "log format: text or json (logging.format; default text)")
	f.DurationVar(&sf.shutdownTimeout, "shutdown-timeout", 0, "how long a graceful shutdown may take (server.shutdown_timeout; default 30s)")
	logFlagValues(cmd)
}

// logFlagValues completes --log-level and --log-format.
func logFlagValues(cmd *cobra.Command) {
	enumFlag(cmd, "log-level", "debug", "info", "warn", "error")
	enumFlag(cmd, "log-format", "text", "json")
}

// keys returns the configuration keys of the flags given on the command
// line.
func (sf *serverFlags) keys(cmd *cobra.Command) map[string]any {
	out := map[string]any{}
	set := func(flag, key string, v any) {
		if cmd.Flags().Changed(flag) {
			out[key] = v
		}
	}
	set("bind", "server.bind_addr", sf.bind)
	set("log-level", "logging.level", sf.logLevel)
	set("log-format", "logging.format", sf.logFormat)
	set("shutdown-timeout", "server.shutdown_timeout", sf.shutdownTimeout.String())
	return out
}

// explainConfigError is configError naming the flag of each key a flag
// set (and otherwise the file, or the environment variable).
func explainConfigError(file string, err error, flagOf func(string) string) error {
	kes := config.KeyErrors(err)
	if len(kes) == 0 {
		return configError(file, err)
	}
	lines := make([]string, len(kes))
	for i, ke := range kes {
		where := file
		if f := flagOf(ke.Key); f != "" {
			where = f
		} else if v := config.EnvName(ke.Key); os.Getenv(v) != "" {
			where = "$" + v
		}
		lines[i] = ke.Error()
		if where != "" {
			lines[i] = where + ": " + lines[i]
		}
	}
	return usagef("%s", strings.Join(lines, "\n"))
}

// ---- the configuration as a tree of its keys ----

// node is a configuration value: a section (ordered keys), a list or a
// scalar.
type node struct {
	keys   []string
	fields map[string]*node
	list   []*node
	isList bool
	value  any
}

// MarshalJSON writes sections with their keys in the file's order.
func (n *node) MarshalJSON() ([]byte, error) {
	switch {
	case n.fields != nil:
		var b bytes.Buffer
		b.WriteByte('{')
		for i, k := range n.keys {
			if i > 0 {
				b.WriteByte(',')
			}
			kb, _ := json.Marshal(k)
			b.Write(kb)
			b.WriteByte(':')
			vb, err := n.fields[k].MarshalJSON()
			if err != nil {
				return nil, err
			}
			b.Write(vb)
		}
		b.WriteByte('}')
		return b.Bytes(), nil
	case n.isList:
		if n.list == nil {
			return []byte("[]"), nil
		}
		return json.Marshal(n.list)
	}
	return json.Marshal(n.value)
}

// configTree walks a configuration struct by its koanf tags.
func configTree(v reflect.Value) *node {
	if v.Type() == reflect.TypeFor[time.Duration]() {
		return &node{value: time.Duration(v.Int()).String()}
	}
	switch v.Kind() {
	case reflect.Struct:
		n := &node{fields: map[string]*node{}}
		for i := range v.NumField() {
			key := v.Type().Field(i).Tag.Get("koanf")
			if key == "" || key == "-" {
				continue
			}
			n.keys = append(n.keys, key)
			n.fields[key] = configTree(v.Field(i))
		}
		return n
	case reflect.Slice:
		n := &node{isList: true}
		for i := range v.Len() {
			n.list = append(n.list, configTree(v.Index(i)))
		}
		return n
	case reflect.Pointer, reflect.Interface:
		if v.IsNil() {
			return &node{value: nil}
		}
		return configTree(v.Elem())
	}
	return &node{value: v.Interface()}
}

// flatten lists the tree's scalar keys and values, in order; lists of
// scalars stay one value, lists of sections are indexed.
func flatten(n *node, prefix string) [][2]string {
	join := func(k string) string {
		if prefix == "" {
			return k
		}
		return prefix + "." + k
	}
	switch {
	case n.fields != nil:
		var out [][2]string
		for _, k := range n.keys {
			out = append(out, flatten(n.fields[k], join(k))...)
		}
		return out
	case n.isList:
		scalars := true
		for _, e := range n.list {
			scalars = scalars && e.fields == nil && !e.isList
		}
		if scalars {
			parts := make([]string, len(n.list))
			for i, e := range n.list {
				parts[i] = fmt.Sprint(e.value)
			}
			return [][2]string{{prefix, "[" + strings.Join(parts, ", ") + "]"}}
		}
		var out [][2]string
		for i, e := range n.list {
			out = append(out, flatten(e, fmt.Sprintf("%s[%d]", prefix, i))...)
		}
		return out
	}
	if s, ok := n.value.(string); ok && s == "" {
		return [][2]string{{prefix, `""`}}
	}
	return [][2]string{{prefix, fmt.Sprint(n.value)}}
}
