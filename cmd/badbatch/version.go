package main

import (
	"fmt"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/badbatch/badbatch/api"
	"github.com/badbatch/badbatch/internal/version"
)

func newVersionCommand(g *globals) *cobra.Command {
	var clientOnly bool
	cmd := &cobra.Command{
		Use:   "version",
		Short: "Show this binary's version and the server's",
		Long: `Show this binary's version, and the version of the server at --endpoint
when it answers (with --client, only this binary's). A server that does
not answer is reported on stderr; the command still succeeds.`,
		Args: args(0, ""),
		RunE: func(cmd *cobra.Command, _ []string) error {
			v := version.Get()
			out := struct {
				Client api.Version  `json:"client"`
				Server *api.Version `json:"server,omitempty"`
			}{Client: api.Version{Version: v.Version, Commit: v.Commit, GoVersion: v.GoVersion, APIVersion: "v1"}}
			if !clientOnly {
				c, err := g.newClient(cmd)
				if err != nil {
					return err
				}
				defer c.Close()
				sv, err := c.Version(cmd.Context())
				if err != nil {
					fmt.Fprintf(cmd.ErrOrStderr(), "badbatch: no server version: %s\n", errorLines(err, c.Endpoint())[0])
				} else {
					out.Server = &sv
				}
			}
			return g.emit(cmd.OutOrStdout(), out, func(tw *tabwriter.Writer) {
				row(tw, "COMPONENT", "VERSION", "COMMIT", "GO", "API")
				row(tw, "client", out.Client.Version, out.Client.Commit, out.Client.GoVersion, out.Client.APIVersion)
				if s := out.Server; s != nil {
					row(tw, "server", s.Version, s.Commit, s.GoVersion, s.APIVersion)
				}
			})
		},
	}
	cmd.Flags().BoolVar(&clientOnly, "client", false, "only this binary's version; do not ask the server")
	return cmd
}
