package main

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"slices"
	"strconv"
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

// declinedError says that the user answered no to a confirmation (exit
// code 3): nothing was done.
type declinedError struct{ what string }

func (e declinedError) Error() string { return e.what + " (declined)" }

// The exit codes.
const (
	exitOK       = 0
	exitFailed   = 1 // the server answered an error, or could not be reached
	exitUsage    = 2 // a bad flag, argument or configuration
	exitDeclined = 3 // a confirmation was declined: nothing was done
)

func exitCode(err error) int {
	var (
		ue usageError
		de declinedError
	)
	switch {
	case err == nil:
		return exitOK
	case errors.As(err, &ue):
		return exitUsage
	case errors.As(err, &de):
		return exitDeclined
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
	noHeaders  bool
	timeout    time.Duration
	configFile string
	apiKey     string
	caCert     string
	clientCert string
	clientKey  string
	insecure   bool
	// contextFlag is --context.
	contextFlag string

	// sources say where each client setting came from (a flag, a
	// variable, a context), by client.ConfigError field, for messages.
	sources map[string]string
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
configuration, 3 a confirmation was declined (nothing was done).`,
		SilenceUsage:      true,
		SilenceErrors:     true,
		PersistentPreRunE: g.check,
		Args:              unknownSubcommand,
		RunE:              func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
	}
	root.CompletionOptions.DisableDefaultCmd = true
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError{err} })
	pf := root.PersistentFlags()
	pf.StringVar(&g.endpoint, "endpoint", "", "server URL (default $"+envEndpoint+", else the --config file's server.bind_addr, else the context's, else "+client.DefaultEndpoint+")")
	pf.StringVarP(&g.output, "output", "o", "table", "output format: table (fits 80 columns), wide (more columns, nothing cut), json or yaml")
	pf.BoolVar(&g.noHeaders, "no-headers", false, "print tables without their header line")
	_ = root.RegisterFlagCompletionFunc("output", cobra.FixedCompletions(outputFormats, cobra.ShellCompDirectiveNoFileComp))
	pf.DurationVar(&g.timeout, "timeout", 30*time.Second, "how long one call to the server may take (0: no limit)")
	pf.StringVar(&g.configFile, "config", "", "configuration file (YAML or JSON): the server's settings, and the client's endpoint")
	pf.StringVar(&g.contextFlag, "context", "", "the client context (badbatch context) to use (default $"+envContext+", else the current one)")
	_ = root.RegisterFlagCompletionFunc("context", completeContexts)
	pf.StringVar(&g.apiKey, "api-key", "", "API key, sent as a bearer token (default $"+envAPIKey+", else the context's)")
	pf.StringVar(&g.caCert, "ca-cert", "", "PEM file of the CA that signs the server's certificate, for HTTPS (default $"+envCACert+", else the context's)")
	pf.StringVar(&g.clientCert, "client-cert", "", "PEM client certificate for mutual TLS, with --client-key (default $"+envClientCert+", else the context's)")
	pf.StringVar(&g.clientKey, "client-key", "", "PEM key of --client-cert (default $"+envClientKey+", else the context's)")
	pf.BoolVar(&g.insecure, "insecure-skip-verify", false, "do not verify the server's certificate; tests only, prints a warning (default $"+envInsecure+")")
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
		{"client", newContextCommand(g)},
		{"other", newConfigCommand(g)},
		{"other", newVersionCommand(g)},
		{"other", newCompletionCommand(root)},
	} {
		c.cmd.GroupID = c.group
		root.AddCommand(c.cmd)
	}
	root.SetHelpCommandGroupID("other")
	suggestEverywhere(root)
	return root, g
}

// suggestEverywhere gives every command of the tree cobra's typo
// suggestions (which cobra sets up for the root only): an unknown
// subcommand within two edits, or a prefix, of a real one is suggested.
func suggestEverywhere(cmd *cobra.Command) {
	cmd.SuggestionsMinimumDistance = 2
	for _, c := range cmd.Commands() {
		suggestEverywhere(c)
	}
}

// check validates the global flags before any command runs.
func (g *globals) check(cmd *cobra.Command, _ []string) error {
	if !slices.Contains(outputFormats, g.output) {
		return usagef("--output %q: want table, wide, json or yaml", g.output)
	}
	if g.timeout < 0 {
		return usagef("--timeout %v: must not be negative", g.timeout)
	}
	return nil
}

// newClient makes the client the flags describe (see clientConfig).
func (g *globals) newClient(cmd *cobra.Command) (*client.Client, error) {
	cfg, err := g.clientConfig(cmd)
	if err != nil {
		return nil, err
	}
	return g.clientOf(cmd, cfg)
}

// clientConfig is the client configuration the flags describe. The
// endpoint is --endpoint, else $BADBATCH_ENDPOINT, else the --config
// file's server.bind_addr, else the context's (--context, else
// $BADBATCH_CONTEXT, else the current one), else the default. Each other
// setting is its flag, else its variable, else the context's: --api-key
// ($BADBATCH_API_KEY), --ca-cert ($BADBATCH_CA_CERT), --client-cert
// ($BADBATCH_CLIENT_CERT), --client-key ($BADBATCH_CLIENT_KEY) and
// --insecure-skip-verify ($BADBATCH_INSECURE_SKIP_VERIFY). A context's
// credentials go to its own endpoint only: another endpoint puts the
// current context aside, and is an error with an explicit one.
func (g *globals) clientConfig(cmd *cobra.Command) (client.Config, error) {
	cfg := client.DefaultConfig()
	cfg.Timeout = g.timeout
	ep, epFrom, err := g.endpointURL(cmd)
	if err != nil {
		return cfg, err
	}
	cc, ccFrom, explicit, err := g.chosenContext(cmd)
	if err != nil {
		return cfg, err
	}
	if cc != nil && epFrom != "" {
		if explicit {
			return cfg, usagef("%s and %s: give one or the other (a context's credentials go to its own endpoint only)", epFrom, ccFrom)
		}
		cc = nil // the current context is put aside
	}
	g.sources = map[string]string{}
	switch {
	case cc != nil:
		ep, epFrom = cc.Endpoint, ccFrom+": endpoint"
	case ep == "":
		ep = client.DefaultEndpoint
	}
	g.sources["Endpoint"] = cmp.Or(epFrom, "--endpoint")
	cfg.Endpoint = ep
	g.resolvedEndpoint = ep

	// Each setting: its flag, else its variable, else the context's.
	pick := func(field, flag, env, fromCtx, ctxKey string) string {
		switch {
		case cmd.Flags().Changed(flag):
			g.sources[field] = "--" + flag
			return cmd.Flags().Lookup(flag).Value.String()
		case env != "" && g.env(env) != "":
			g.sources[field] = "$" + env
			return g.env(env)
		case fromCtx != "":
			g.sources[field] = ccFrom + ": " + ctxKey
			return fromCtx
		}
		return ""
	}
	var ctx clientContext
	if cc != nil {
		ctx = *cc
		key, err := cc.apiKey(g)
		if err != nil {
			return cfg, err
		}
		ctx.APIKey = key
	}
	cfg.APIKey = pick("APIKey", "api-key", envAPIKey, ctx.APIKey, "api key")
	cfg.TLS.CAFile = pick("TLS.CAFile", "ca-cert", envCACert, ctx.CACert, "ca_cert")
	cfg.TLS.CertFile = pick("TLS.CertFile", "client-cert", envClientCert, ctx.ClientCert, "client_cert")
	cfg.TLS.KeyFile = pick("TLS.KeyFile", "client-key", envClientKey, ctx.ClientKey, "client_key")
	switch {
	case cmd.Flags().Changed("insecure-skip-verify"):
		cfg.TLS.InsecureSkipVerify, g.sources["TLS.InsecureSkipVerify"] = g.insecure, "--insecure-skip-verify"
	case g.env(envInsecure) != "":
		v, err := strconv.ParseBool(g.env(envInsecure))
		if err != nil {
			return cfg, usagef("$%s %q: want true or false", envInsecure, g.env(envInsecure))
		}
		cfg.TLS.InsecureSkipVerify, g.sources["TLS.InsecureSkipVerify"] = v, "$"+envInsecure
	case ctx.InsecureSkipVerify:
		cfg.TLS.InsecureSkipVerify, g.sources["TLS.InsecureSkipVerify"] = true, ccFrom+": insecure_skip_verify"
	}
	for _, f := range []struct{ field, file string }{{"TLS.CAFile", cfg.TLS.CAFile}, {"TLS.CertFile", cfg.TLS.CertFile}, {"TLS.KeyFile", cfg.TLS.KeyFile}} {
		if f.file == "" {
			continue
		}
		if _, err := os.Stat(f.file); err != nil {
			return cfg, usagef("%s: %v", g.sources[f.field], err)
		}
	}
	if (cfg.TLS.CertFile == "") != (cfg.TLS.KeyFile == "") {
		return cfg, usagef("--client-cert and --client-key go together: give both or neither (%s)",
			cmp.Or(g.sources["TLS.CertFile"], g.sources["TLS.KeyFile"]))
	}
	return cfg, nil
}

// clientOf makes a client of cfg, naming where a bad setting came from
// (its flag, variable or context).
func (g *globals) clientOf(cmd *cobra.Command, cfg client.Config) (*client.Client, error) {
	if cfg.TLS.InsecureSkipVerify {
		fmt.Fprintf(cmd.ErrOrStderr(), "badbatch: warning: %s: the server's certificate is not checked; anyone in between can read and change the traffic\n",
			cmp.Or(g.sources["TLS.InsecureSkipVerify"], "--insecure-skip-verify"))
	}
	c, err := client.New(cfg)
	if err != nil {
		var ce *client.ConfigError
		if errors.As(err, &ce) {
			flag := map[string]string{"Endpoint": "--endpoint", "Timeout": "--timeout", "TLS.CAFile": "--ca-cert",
				"TLS.CertFile": "--client-cert", "TLS.KeyFile": "--client-key"}[ce.Field]
			return nil, usagef("%s: %v", cmp.Or(g.sources[ce.Field], flag, ce.Field), ce.Err)
		}
		return nil, usageError{err}
	}
	return c, nil
}

// endpointURL is the endpoint the flags, the environment or --config
// give, and which of them gave it ("" for none of them).
func (g *globals) endpointURL(cmd *cobra.Command) (ep, from string, err error) {
	if g.configFile != "" {
		if _, err := os.Stat(g.configFile); err != nil {
			return "", "", usagef("--config: %v", err)
		}
	}
	if cmd.Flags().Changed("endpoint") {
		if g.endpoint == "" {
			return "", "", usagef("--endpoint: must not be empty")
		}
		return g.endpoint, "--endpoint", nil
	}
	if ep := g.env(envEndpoint); ep != "" {
		return ep, "$" + envEndpoint, nil
	}
	if g.configFile != "" {
		cfg, err := config.Load(config.Source{File: g.configFile})
		if err != nil {
			return "", "", configError(g.configFile, err)
		}
		host, port, _ := net.SplitHostPort(cfg.Server.BindAddr)
		if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
			host = "127.0.0.1"
		}
		return "http://" + net.JoinHostPort(host, port), "--config", nil
	}
	return "", "", nil
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
		Args:  unknownSubcommand,
		RunE:  func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
	}
}

// unknownSubcommand is the Args of a command that only holds subcommands:
// any argument is an unknown command, a usage error with the
// subcommands it may be a typo of (cobra's suggestions, within
// SuggestionsMinimumDistance).
func unknownSubcommand(cmd *cobra.Command, a []string) error {
	if len(a) == 0 {
		return nil
	}
	msg := fmt.Sprintf("unknown command %q for %q", a[0], cmd.CommandPath())
	if s := cmd.SuggestionsFor(a[0]); len(s) > 0 {
		quoted := make([]string, len(s))
		for i, n := range s {
			quoted[i] = strconv.Quote(n)
		}
		msg += "; did you mean " + strings.Join(quoted, " or ") + "?"
	} else {
		msg += "; see " + cmd.CommandPath() + " --help"
	}
	return usagef("%s", msg)
}

// interrupted reports whether err is the end of the command's context
// (Ctrl-C), which commands that run until interrupted treat as success.
func interrupted(ctx context.Context, err error) bool {
	return ctx.Err() != nil && (errors.Is(err, context.Canceled) || errors.Is(err, ctx.Err()))
}
