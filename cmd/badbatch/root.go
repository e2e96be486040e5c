package main

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/badbatch/badbatch/client"
	"github.com/badbatch/badbatch/config"
)

// usageError marks an error in how the command was called (exit code 2):
// a bad flag, argument or configuration file.
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

// usagef returns a usageError.
func usagef(format string, args ...any) error { return usageError{fmt.Errorf(format, args...)} }

// The exit codes.
const (
	exitOK     = 0
	exitFailed = 1 // the server answered an error, or could not be reached
	exitUsage  = 2 // a bad flag, argument or configuration
)

func exitCode(err error) int {
	var ue usageError
	switch {
	case err == nil:
		return exitOK
	case errors.As(err, &ue):
		return exitUsage
	case strings.HasPrefix(err.Error(), "unknown command "), strings.HasPrefix(err.Error(), "unknown flag: "),
		strings.HasPrefix(err.Error(), "unknown shorthand flag: "):
		return exitUsage // cobra's own
	}
	return exitFailed
}

// errorLines is how main prints err: one line per problem, each clear on
// its own.
func errorLines(err error, endpoint string) []string {
	var ce *client.Error
	if errors.As(err, &ce) {
		return apiErrorLines(ce)
	}
	var oe *net.OpError
	if errors.As(err, &oe) && oe.Op == "dial" && endpoint != "" {
		reason := oe.Err.Error()
		if errors.Is(err, syscall.ECONNREFUSED) {
			reason = "connection refused (is `badbatch server` running there? see --endpoint)"
		}
		return []string{fmt.Sprintf("cannot reach the server at %s: %s", endpoint, reason)}
	}
	var lines []string
	for _, l := range strings.Split(strings.TrimSpace(err.Error()), "\n") {
		if l = strings.TrimSpace(l); l != "" {
			lines = append(lines, l)
		}
	}
	return lines
}

// apiErrorLines prints an error the server answered: its code and
// message, and the fields a validation error names, one per line.
func apiErrorLines(e *client.Error) []string {
	if e.Code == "" {
		return []string{e.Error()}
	}
	var lines []string
	if list, ok := e.Details["errors"].([]any); ok {
		for _, item := range list {
			m, ok := item.(map[string]any)
			if !ok {
				continue
			}
			lines = append(lines, fmt.Sprintf("%s: %v: invalid value %v: %v", e.Code, m["field"], m["value"], m["reason"]))
		}
	}
	if len(lines) > 0 {
		return lines
	}
	for _, l := range strings.Split(e.Message, "\n") {
		if l = strings.TrimSpace(l); l != "" {
			lines = append(lines, e.Code+": "+l)
		}
	}
	if len(lines) == 0 {
		lines = []string{e.Code}
	}
	return lines
}

// globals are the flags every command has.
type globals struct {
	endpoint   string
	output     string
	timeout    time.Duration
	configFile string
	apiKey     string
	caCert     string
	clientCert string
	clientKey  string
	insecure   bool

	// env looks up environment variables (tests replace it).
	env func(string) string
	// resolvedEndpoint is the endpoint in use, for error messages.
	resolvedEndpoint string
}

// The environment variables of the client flags.
const (
	envEndpoint = "BADBATCH_ENDPOINT"
	envAPIKey   = "BADBATCH_API_KEY"
)

// newRootCommand builds the command tree. Each subcommand lives in its own
// file and is added here.
func newRootCommand() *cobra.Command {
	root, _ := newRoot()
	return root
}

func newRoot() (*cobra.Command, *globals) {
	g := &globals{env: os.Getenv}
	root := &cobra.Command{
		Use:   "badbatch",
		Short: "BadBatch: LMAX disruptors as a service",
		Long: `BadBatch hosts named LMAX disruptors behind a REST API.

Run a server with "badbatch server"; every other command talks to one, at
--endpoint (default ` + client.DefaultEndpoint + `, or $` + envEndpoint + `).

Exit codes: 0 success, 1 the server answered an error (its code and
message are printed) or could not be reached, 2 a bad flag, argument or
configuration.`,
		SilenceUsage:      true,
		SilenceErrors:     true,
		PersistentPreRunE: g.check,
	}
	root.CompletionOptions.DisableDefaultCmd = true
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError{err} })
	pf := root.PersistentFlags()
	pf.StringVar(&g.endpoint, "endpoint", "", "server URL (default $"+envEndpoint+", else the --config file's server.bind_addr, else "+client.DefaultEndpoint+")")
	pf.StringVarP(&g.output, "output", "o", "table", "output format: table, json or yaml")
	pf.DurationVar(&g.timeout, "timeout", 30*time.Second, "how long one call to the server may take (0: no limit)")
	pf.StringVar(&g.configFile, "config", "", "configuration file (YAML or JSON): the server's settings, and the client's endpoint")
	pf.StringVar(&g.apiKey, "api-key", "", "API key, sent as a bearer token (default $"+envAPIKey+")")
	pf.StringVar(&g.caCert, "ca-cert", "", "PEM file of the CA that signs the server's certificate (HTTPS)")
	pf.StringVar(&g.clientCert, "client-cert", "", "PEM client certificate for mutual TLS (with --client-key)")
	pf.StringVar(&g.clientKey, "client-key", "", "PEM key of --client-cert")
	pf.BoolVar(&g.insecure, "insecure-skip-verify", false, "do not verify the server's certificate (tests only: prints a warning)")
	root.AddGroup(&cobra.Group{ID: "server", Title: "Running a server:"},
		&cobra.Group{ID: "client", Title: "Driving a server:"},
		&cobra.Group{ID: "other", Title: "Other commands:"})
	for _, c := range []struct {
		group string
		cmd   *cobra.Command
	}{
		{"server", newServerCommand()},
		{"client", newDisruptorCommand(g)},
		{"client", newEventCommand(g)},
		{"client", newMonitorCommand(g)},
		{"client", newClusterCommand(g)},
		{"client", newBenchCommand(g)},
		{"other", newConfigCommand(g)},
		{"other", newVersionCommand(g)},
		{"other", newCompletionCommand(root)},
	} {
		c.cmd.GroupID = c.group
		root.AddCommand(c.cmd)
	}
	root.SetHelpCommandGroupID("other")
	return root, g
}

// check validates the global flags before any command runs.
func (g *globals) check(cmd *cobra.Command, _ []string) error {
	switch g.output {
	case "table", "json", "yaml":
	default:
		return usagef("--output %q: want table, json or yaml", g.output)
	}
	if g.timeout < 0 {
		return usagef("--timeout %v: must not be negative", g.timeout)
	}
	return nil
}

// newClient makes the client the flags describe. The endpoint is
// --endpoint, else $BADBATCH_ENDPOINT, else the --config file's
// server.bind_addr, else the default; the API key --api-key, else
// $BADBATCH_API_KEY.
func (g *globals) newClient(cmd *cobra.Command) (*client.Client, error) {
	cfg, err := g.clientConfig(cmd)
	if err != nil {
		return nil, err
	}
	return g.clientOf(cmd, cfg)
}

// clientConfig is the client configuration the flags describe.
func (g *globals) clientConfig(cmd *cobra.Command) (client.Config, error) {
	cfg := client.DefaultConfig()
	cfg.Timeout = g.timeout
	ep, err := g.endpointURL(cmd)
	if err != nil {
		return cfg, err
	}
	cfg.Endpoint = ep
	g.resolvedEndpoint = ep
	cfg.APIKey = cmp.Or(g.apiKey, g.env(envAPIKey))
	cfg.TLS = client.TLSConfig{CAFile: g.caCert, CertFile: g.clientCert, KeyFile: g.clientKey, InsecureSkipVerify: g.insecure}
	for _, f := range []struct{ flag, file string }{{"--ca-cert", g.caCert}, {"--client-cert", g.clientCert}, {"--client-key", g.clientKey}} {
		if f.file == "" {
			continue
		}
		if _, err := os.Stat(f.file); err != nil {
			return cfg, usagef("%s: %v", f.flag, err)
		}
	}
	if (g.clientCert == "") != (g.clientKey == "") {
		return cfg, usagef("--client-cert and --client-key go together: give both or neither")
	}
	return cfg, nil
}

// clientOf makes a client of cfg, naming the flag of a bad setting.
func (g *globals) clientOf(cmd *cobra.Command, cfg client.Config) (*client.Client, error) {
	if cfg.TLS.InsecureSkipVerify {
		fmt.Fprintln(cmd.ErrOrStderr(), "badbatch: warning: --insecure-skip-verify: the server's certificate is not checked; anyone in between can read and change the traffic")
	}
	c, err := client.New(cfg)
	if err != nil {
		var ce *client.ConfigError
		if errors.As(err, &ce) {
			flag := map[string]string{"Endpoint": "--endpoint", "Timeout": "--timeout", "TLS.CAFile": "--ca-cert",
				"TLS.CertFile": "--client-cert", "TLS.KeyFile": "--client-key"}[ce.Field]
			return nil, usagef("%s: %v", cmp.Or(flag, ce.Field), ce.Err)
		}
		return nil, usageError{err}
	}
	return c, nil
}

// endpointURL resolves the endpoint.
func (g *globals) endpointURL(cmd *cobra.Command) (string, error) {
	if g.configFile != "" {
		if _, err := os.Stat(g.configFile); err != nil {
			return "", usagef("--config: %v", err)
		}
	}
	if cmd.Flags().Changed("endpoint") {
		if g.endpoint == "" {
			return "", usagef("--endpoint: must not be empty")
		}
		return g.endpoint, nil
	}
	if ep := g.env(envEndpoint); ep != "" {
		return ep, nil
	}
	if g.configFile != "" {
		cfg, err := config.Load(config.Source{File: g.configFile})
		if err != nil {
			return "", configError(g.configFile, err)
		}
		host, port, _ := net.SplitHostPort(cfg.Server.BindAddr)
		if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
			host = "127.0.0.1"
		}
		return "http://" + net.JoinHostPort(host, port), nil
	}
	return client.DefaultEndpoint, nil
}

// configError reports a configuration that does not load: one line per
// problem, each naming the file and the key. Invalid content is a usage
// error; a file that cannot be read too.
func configError(file string, err error) error {
	kes := config.KeyErrors(err)
	if len(kes) == 0 {
		msg := strings.TrimPrefix(err.Error(), "config: ")
		if file != "" && !strings.Contains(msg, file) {
			msg = file + ": " + msg
		}
		return usagef("%s", msg)
	}
	lines := make([]string, len(kes))
	for i, ke := range kes {
		lines[i] = ke.Error()
		if file != "" {
			lines[i] = file + ": " + lines[i]
		}
	}
	return usagef("%s", strings.Join(lines, "\n"))
}

// args makes a bad argument count a usage error, naming what is expected.
func args(n int, names string) cobra.PositionalArgs {
	return func(cmd *cobra.Command, a []string) error {
		if len(a) != n {
			if n == 0 {
				return usagef("%s takes no arguments, got %q", cmd.CommandPath(), a)
			}
			return usagef("%s needs %s (got %d argument(s)); see --help", cmd.CommandPath(), names, len(a))
		}
		return nil
	}
}

// group returns a command that only holds subcommands: run bare it shows
// its help, and an unknown subcommand is a usage error.
func group(use, short, long string) *cobra.Command {
	return &cobra.Command{
		Use:   use,
		Short: short,
		Long:  long,
		Args: func(cmd *cobra.Command, a []string) error {
			if len(a) > 0 {
				return usagef("unknown command %q for %q", a[0], cmd.CommandPath())
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
	}
}

// interrupted reports whether err is the end of the command's context
// (Ctrl-C), which commands that run until interrupted treat as success.
func interrupted(ctx context.Context, err error) bool {
	return ctx.Err() != nil && (errors.Is(err, context.Canceled) || errors.Is(err, ctx.Err()))
}
