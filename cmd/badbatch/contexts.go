package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"
	"go.yaml.in/yaml/v3"

	"github.com/badbatch/badbatch/client"
)

// Client profiles ("contexts"), as kubectl and nats users know them: a
// named endpoint with its API key and TLS files, kept in the user's
// configuration directory (os.UserConfigDir: $XDG_CONFIG_HOME or
// ~/.config on Linux, ~/Library/Application Support on macOS), in a file
// only its owner may read (0600). One of them may be current; --context or
// $BADBATCH_CONTEXT picks another for one command.

// The environment variables of the context and TLS flags.
const (
	envContext    = "BADBATCH_CONTEXT"
	envCACert     = "BADBATCH_CA_CERT"
	envClientCert = "BADBATCH_CLIENT_CERT"
	envClientKey  = "BADBATCH_CLIENT_KEY"
	envInsecure   = "BADBATCH_INSECURE_SKIP_VERIFY"
)

// clientContext is one profile. Paths are absolute.
type clientContext struct {
	Name     string `yaml:"name"`
	Endpoint string `yaml:"endpoint"`
	// The API key: stored here (read from standard input when the context
	// was added), or read at each use from a file or a variable.
	APIKey             string `yaml:"api_key,omitempty"`
	APIKeyFile         string `yaml:"api_key_file,omitempty"`
	APIKeyEnv          string `yaml:"api_key_env,omitempty"`
	CACert             string `yaml:"ca_cert,omitempty"`
	ClientCert         string `yaml:"client_cert,omitempty"`
	ClientKey          string `yaml:"client_key,omitempty"`
	InsecureSkipVerify bool   `yaml:"insecure_skip_verify,omitempty"`
}

// contextsFile is the file of profiles.
type contextsFile struct {
	Current  string          `yaml:"current,omitempty"`
	Contexts []clientContext `yaml:"contexts"`
}

// find returns the context named name, or nil.
func (f *contextsFile) find(name string) *clientContext {
	for i := range f.Contexts {
		if f.Contexts[i].Name == name {
			return &f.Contexts[i]
		}
	}
	return nil
}

// contextsPath is the file of profiles.
func contextsPath() (string, error) {
	dir, err := os.UserConfigDir()
	if err != nil {
		return "", fmt.Errorf("contexts: cannot find the user's configuration directory: %w", err)
	}
	return filepath.Join(dir, "badbatch", "contexts.yaml"), nil
}

// loadContexts reads the file of profiles; a file that does not exist is
// empty. A file others may read while it stores a key gets a warning on
// warn.
func loadContexts(warn io.Writer) (*contextsFile, string, error) {
	path, err := contextsPath()
	if err != nil {
		return nil, "", err
	}
	f := &contextsFile{}
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return f, path, nil
	}
	if err != nil {
		return nil, path, err
	}
	d := yaml.NewDecoder(bytes.NewReader(b))
	d.KnownFields(true)
	if err := d.Decode(f); err != nil && !errors.Is(err, io.EOF) {
		return nil, path, usagef("%s: %v", path, strings.TrimPrefix(err.Error(), "yaml: "))
	}
	if st, err := os.Stat(path); err == nil && st.Mode().Perm()&0o077 != 0 && warn != nil {
		for _, c := range f.Contexts {
			if c.APIKey != "" {
				fmt.Fprintf(warn, "badbatch: warning: %s holds an API key and others may read it (mode %04o): chmod 600 %s\n", path, st.Mode().Perm(), path)
				break
			}
		}
	}
	return f, path, nil
}

// editContexts applies edit to the file of profiles and writes it back
// (0600, in a directory of 0700), holding a lock meanwhile so that two
// edits at once do not lose one.
func editContexts(edit func(*contextsFile) error) (string, error) {
	path, err := contextsPath()
	if err != nil {
		return "", err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return path, err
	}
	unlock, err := lockFile(path + ".lock")
	if err != nil {
		return path, err
	}
	defer unlock()
	f, _, err := loadContexts(nil)
	if err != nil {
		return path, err
	}
	if err := edit(f); err != nil {
		return path, err
	}
	b, err := yaml.Marshal(f)
	if err != nil {
		return path, err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".contexts-*.yaml")
	if err != nil {
		return path, err
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return path, err
	}
	if _, err := tmp.Write(b); err != nil {
		tmp.Close()
		return path, err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return path, err
	}
	if err := tmp.Close(); err != nil {
		return path, err
	}
	return path, os.Rename(tmp.Name(), path)
}

// contextName is the syntax of a context's name.
var contextName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._@-]{0,62}$`)

// chosenContext is the context this command uses, or nil: --context,
// else $BADBATCH_CONTEXT, else the current one. explicit says the first
// two (then a missing one is an error, not a stale setting).
func (g *globals) chosenContext(cmd *cobra.Command) (cc *clientContext, from string, explicit bool, err error) {
	name, from := g.contextFlag, "--context"
	if !cmd.Flags().Changed("context") {
		name, from = g.env(envContext), "$"+envContext
	} else if name == "" {
		return nil, "", false, usagef("--context: must not be empty")
	}
	explicit = name != ""
	f, path, err := loadContexts(cmd.ErrOrStderr())
	if err != nil {
		return nil, "", false, err
	}
	if !explicit {
		if f.Current == "" {
			return nil, "", false, nil
		}
		name, from = f.Current, "the current context"
		if f.find(name) == nil {
			return nil, "", false, usagef("the current context %q is not in %s (badbatch context use NAME, or context use --none)", name, path)
		}
	}
	cc = f.find(name)
	if cc == nil {
		return nil, "", false, usagef("%s %q: no such context (badbatch context list shows them)", from, name)
	}
	return cc, "context " + name, explicit, nil
}

// apiKey is the context's API key.
func (cc *clientContext) apiKey(g *globals) (string, error) {
	switch {
	case cc.APIKeyFile != "":
		b, err := os.ReadFile(cc.APIKeyFile)
		if err != nil {
			return "", usagef("context %s: api_key_file: %v", cc.Name, err)
		}
		return strings.TrimSpace(string(b)), nil
	case cc.APIKeyEnv != "":
		return g.env(cc.APIKeyEnv), nil
	}
	return cc.APIKey, nil
}

// keySource says where the context's API key comes from, never the key.
func (cc *clientContext) keySource() string {
	switch {
	case cc.APIKeyFile != "":
		return "file " + cc.APIKeyFile
	case cc.APIKeyEnv != "":
		return "$" + cc.APIKeyEnv
	case cc.APIKey != "":
		return "stored"
	}
	return ""
}

// contextView is how list and show print a context: where its key comes
// from, never the key.
type contextView struct {
	Name               string `json:"name"`
	Current            bool   `json:"current"`
	Endpoint           string `json:"endpoint"`
	APIKey             string `json:"api_key,omitempty"`
	CACert             string `json:"ca_cert,omitempty"`
	ClientCert         string `json:"client_cert,omitempty"`
	ClientKey          string `json:"client_key,omitempty"`
	InsecureSkipVerify bool   `json:"insecure_skip_verify,omitempty"`
}

func (cc *clientContext) view(current string) contextView {
	return contextView{Name: cc.Name, Current: cc.Name == current, Endpoint: cc.Endpoint, APIKey: cc.keySource(),
		CACert: cc.CACert, ClientCert: cc.ClientCert, ClientKey: cc.ClientKey, InsecureSkipVerify: cc.InsecureSkipVerify}
}

func newContextCommand(g *globals) *cobra.Command {
	cmd := group("context", "Keep named client profiles (endpoint, API key, TLS files) and pick one",
		`A context is a named endpoint with its API key and TLS files, as in
kubectl and nats. "context add" stores one, "context use" makes one
current, and every command then talks to it; --context NAME (or
$BADBATCH_CONTEXT) picks another for one command.

A context is a whole: its key and certificates go to its own endpoint
only. An endpoint given by --endpoint, $BADBATCH_ENDPOINT or --config puts
the current context aside; with a context picked by --context or
$BADBATCH_CONTEXT that is an error. Each of --api-key, --ca-cert,
--client-cert, --client-key and --insecure-skip-verify (and its variable)
overrides the context's setting.

The contexts are kept in the user's configuration directory (on Linux
$XDG_CONFIG_HOME/badbatch/contexts.yaml, by default
~/.config/badbatch/contexts.yaml), a file only its owner may read (0600).
No command prints a key.`)
	cmd.Aliases = []string{"contexts", "ctx"}
	cmd.AddCommand(newContextAddCommand(g), newContextUseCommand(g), newContextListCommand(g),
		newContextShowCommand(g), newContextRemoveCommand(g))
	return cmd
}

func newContextAddCommand(g *globals) *cobra.Command {
	var (
		keyFile, keyEnv string
		use, overwrite  bool
	)
	cmd := &cobra.Command{
		Use:   "add NAME --endpoint URL",
		Short: "Store a context: an endpoint with its API key and TLS files",
		Long: `Store a context named NAME: --endpoint, and optionally the API key and the
TLS files (--ca-cert, --client-cert and --client-key, as paths, made
absolute; --insecure-skip-verify). The endpoint and the files are checked
now.

The API key is never given on the command line (where ps and the shell's
history would show it): --api-key-file FILE reads it from FILE at each use
(so a rotated key is picked up), --api-key-file - reads it from standard
input now and stores it in the contexts file, and --api-key-env VAR reads
the variable VAR at each use.`,
		Example: `  badbatch context add prod --endpoint https://badbatch.example:8443 --ca-cert ca.pem --api-key-file ~/.badbatch/prod.key --use
  pass show badbatch/staging | badbatch context add staging --endpoint https://staging:8443 --api-key-file -
  badbatch context add ci --endpoint http://127.0.0.1:8080 --api-key-env CI_BADBATCH_KEY`,
		Args: args(1, "a context NAME"),
		RunE: func(cmd *cobra.Command, a []string) error {
			name := a[0]
			if !contextName.MatchString(name) {
				return usagef("context name %q: want letters, digits, '.', '_', '@' or '-', at most 63, starting with a letter or digit", name)
			}
			f := cmd.Flags()
			if f.Changed("api-key") {
				return usagef("--api-key: a context does not take a key on the command line (ps and the shell's history show it): use --api-key-file FILE, --api-key-file - (standard input) or --api-key-env VAR")
			}
			if !f.Changed("endpoint") || g.endpoint == "" {
				return usagef("context add needs --endpoint URL")
			}
			if keyFile != "" && keyEnv != "" {
				return usagef("--api-key-file and --api-key-env: give one or the other")
			}
			cc := clientContext{Name: name, Endpoint: g.endpoint, APIKeyEnv: keyEnv, InsecureSkipVerify: g.insecure}
			for _, p := range []struct {
				flag, value string
				to          *string
			}{{"ca-cert", g.caCert, &cc.CACert}, {"client-cert", g.clientCert, &cc.ClientCert}, {"client-key", g.clientKey, &cc.ClientKey},
				{"api-key-file", keyFile, &cc.APIKeyFile}} {
				if p.value == "" || p.value == "-" {
					continue
				}
				abs, err := filepath.Abs(p.value)
				if err != nil {
					return usagef("--%s: %v", p.flag, err)
				}
				if _, err := os.Stat(abs); err != nil {
					return usagef("--%s: %v", p.flag, err)
				}
				*p.to = abs
			}
			if (cc.ClientCert == "") != (cc.ClientKey == "") {
				return usagef("--client-cert and --client-key go together: give both or neither")
			}
			if keyFile == "-" {
				b, err := io.ReadAll(io.LimitReader(cmd.InOrStdin(), 64<<10))
				if err != nil {
					return usagef("--api-key-file -: %v", err)
				}
				if cc.APIKey = strings.TrimSpace(string(b)); cc.APIKey == "" {
					return usagef("--api-key-file -: standard input held no key")
				}
			} else if cc.APIKeyFile != "" {
				if key, err := cc.apiKey(g); err != nil {
					return err
				} else if key == "" {
					return usagef("--api-key-file %s: the file holds no key", keyFile)
				}
			}
			if keyEnv != "" && g.env(keyEnv) == "" {
				fmt.Fprintf(cmd.ErrOrStderr(), "badbatch: warning: --api-key-env %s: the variable is not set now; it is read at each use\n", keyEnv)
			}
			// The endpoint and the TLS files as the client will take them.
			c, err := client.New(client.Config{Endpoint: cc.Endpoint, TLS: client.TLSConfig{CAFile: cc.CACert,
				CertFile: cc.ClientCert, KeyFile: cc.ClientKey, InsecureSkipVerify: cc.InsecureSkipVerify}})
			if err != nil {
				var ce *client.ConfigError
				if errors.As(err, &ce) {
					flag := map[string]string{"Endpoint": "--endpoint", "TLS.CAFile": "--ca-cert", "TLS.CertFile": "--client-cert", "TLS.KeyFile": "--client-key"}[ce.Field]
					return usagef("%s: %v", cmpOr(flag, ce.Field), ce.Err)
				}
				return usageError{err}
			}
			c.Close()
			path, err := editContexts(func(file *contextsFile) error {
				if old := file.find(name); old != nil {
					if !overwrite {
						return usagef("context %q exists: give --overwrite to replace it", name)
					}
					*old = cc
				} else {
					file.Contexts = append(file.Contexts, cc)
					slices.SortFunc(file.Contexts, func(a, b clientContext) int { return strings.Compare(a.Name, b.Name) })
				}
				if use {
					file.Current = name
				}
				return nil
			})
			if err != nil {
				return err
			}
			out := struct {
				Context contextView `json:"context"`
				File    string      `json:"file"`
			}{cc.view(map[bool]string{true: name}[use]), path}
			return g.emit(cmd.OutOrStdout(), out, func(tw *tabwriter.Writer) {
				fmt.Fprintf(tw, "context %s added to %s", name, path)
				if use {
					fmt.Fprint(tw, "; it is the current context")
				}
				fmt.Fprintln(tw)
			})
		},
	}
	cmd.Flags().StringVar(&keyFile, "api-key-file", "", "read the API key from this file at each use, or with - from standard input now (then stored)")
	cmd.Flags().StringVar(&keyEnv, "api-key-env", "", "read the API key from this environment variable at each use")
	cmd.Flags().BoolVar(&use, "use", false, "make it the current context")
	cmd.Flags().BoolVar(&overwrite, "overwrite", false, "replace a context of that name")
	return cmd
}

func newContextUseCommand(g *globals) *cobra.Command {
	var none bool
	cmd := &cobra.Command{
		Use:               "use NAME",
		Short:             "Make a context the current one (--none: no current context)",
		ValidArgsFunction: completeContexts,
		Args: func(cmd *cobra.Command, a []string) error {
			if none {
				return args(0, "")(cmd, a)
			}
			return args(1, "a context NAME (or --none)")(cmd, a)
		},
		RunE: func(cmd *cobra.Command, a []string) error {
			var name string
			if !none {
				name = a[0]
			}
			path, err := editContexts(func(f *contextsFile) error {
				if name != "" && f.find(name) == nil {
					return usagef("context %q: no such context (badbatch context list shows them)", name)
				}
				f.Current = name
				return nil
			})
			if err != nil {
				return err
			}
			out := struct {
				Current string `json:"current"`
				File    string `json:"file"`
			}{name, path}
			return g.emit(cmd.OutOrStdout(), out, func(tw *tabwriter.Writer) {
				if name == "" {
					fmt.Fprintln(tw, "no current context")
				} else {
					fmt.Fprintf(tw, "the current context is %s\n", name)
				}
			})
		},
	}
	cmd.Flags().BoolVar(&none, "none", false, "no current context: commands use --endpoint, $BADBATCH_ENDPOINT or the default")
	return cmd
}

func newContextListCommand(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:     "list",
		Aliases: []string{"ls"},
		Short:   "List the contexts; the current one is marked *",
		Args:    args(0, ""),
		RunE: func(cmd *cobra.Command, _ []string) error {
			f, _, err := loadContexts(cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			views := []contextView{}
			for i := range f.Contexts {
				views = append(views, f.Contexts[i].view(f.Current))
			}
			return g.emitTable(cmd.OutOrStdout(), struct {
				Current  string        `json:"current"`
				Contexts []contextView `json:"contexts"`
			}{f.Current, views}, func(t *table) {
				t.columns(column{name: "CURRENT"}, column{name: "NAME"}, column{name: "ENDPOINT"}, column{name: "API KEY", cut: true},
					column{name: "CA CERT", wide: true}, column{name: "CLIENT CERT", wide: true})
				for _, v := range views {
					t.add(map[bool]string{true: "*"}[v.Current], v.Name, v.Endpoint, v.APIKey, v.CACert, v.ClientCert)
				}
			})
		},
	}
}

func newContextShowCommand(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:               "show [NAME]",
		Short:             "Show a context (by default the one in use), without its key",
		ValidArgsFunction: completeContexts,
		Args: func(cmd *cobra.Command, a []string) error {
			if len(a) > 1 {
				return usagef("%s takes at most one context NAME", cmd.CommandPath())
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, a []string) error {
			f, _, err := loadContexts(cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			var cc *clientContext
			if len(a) == 1 {
				if cc = f.find(a[0]); cc == nil {
					return usagef("context %q: no such context (badbatch context list shows them)", a[0])
				}
			} else {
				if cc, _, _, err = g.chosenContext(cmd); err != nil {
					return err
				}
				if cc == nil {
					return usagef("no context is in use (badbatch context use NAME)")
				}
			}
			v := cc.view(f.Current)
			return g.emit(cmd.OutOrStdout(), v, func(tw *tabwriter.Writer) {
				row(tw, "NAME", v.Name)
				row(tw, "CURRENT", v.Current)
				row(tw, "ENDPOINT", v.Endpoint)
				row(tw, "API KEY", cmpOr(v.APIKey, "none"))
				row(tw, "CA CERT", v.CACert)
				row(tw, "CLIENT CERT", v.ClientCert)
				row(tw, "CLIENT KEY", v.ClientKey)
				if v.InsecureSkipVerify {
					row(tw, "INSECURE", "the server's certificate is not checked")
				}
			})
		},
	}
}

func newContextRemoveCommand(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:               "remove NAME",
		Aliases:           []string{"rm", "delete"},
		Short:             "Remove a context (the current one too: then none is current)",
		ValidArgsFunction: completeContexts,
		Args:              args(1, "a context NAME"),
		RunE: func(cmd *cobra.Command, a []string) error {
			name := a[0]
			_, err := editContexts(func(f *contextsFile) error {
				if f.find(name) == nil {
					return usagef("context %q: no such context (badbatch context list shows them)", name)
				}
				f.Contexts = slices.DeleteFunc(f.Contexts, func(c clientContext) bool { return c.Name == name })
				if f.Current == name {
					f.Current = ""
				}
				return nil
			})
			if err != nil {
				return err
			}
			out := struct {
				Removed string `json:"removed"`
			}{name}
			return g.emit(cmd.OutOrStdout(), out, func(tw *tabwriter.Writer) { fmt.Fprintf(tw, "context %s removed\n", name) })
		},
	}
}

// completeContexts completes a context's name.
func completeContexts(_ *cobra.Command, a []string, _ string) ([]string, cobra.ShellCompDirective) {
	if len(a) > 0 {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	f, _, err := loadContexts(nil)
	if err != nil {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	var names []string
	for _, c := range f.Contexts {
		names = append(names, c.Name)
	}
	return names, cobra.ShellCompDirectiveNoFileComp
}
