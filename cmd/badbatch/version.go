package main

import (
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
when it answers (with --client, only this binary's). When the server
cannot be reached or answers an error, the client's version is printed,
the error on stderr, and the command exits 1.`,
		Args: args(0, ""),
		RunE: func(cmd *cobra.Command, _ []string) error {
			v := version.Get()
			out := struct {
				Client api.Version  `json:"client"`
				Server *api.Version `json:"server,omitempty"`
			}{Client: api.Version{Version: v.Version, Commit: v.Commit, GoVersion: v.GoVersion, APIVersion: "v1"}}
			var serverErr error
			if !clientOnly {
				c, err := g.newClient(cmd)
				if err != nil {
					return err
				}
				defer c.Close()
				sv, err := c.Version(cmd.Context())
				if err != nil {
					serverErr = err
				} else {
					out.Server = &sv
				}
			}
			if err := g.emitTable(cmd.OutOrStdout(), out, func(t *table) {
				t.columns(column{name: "COMPONENT"}, column{name: "VERSION"}, column{name: "COMMIT", wide: true}, column{name: "GO"}, column{name: "API"})
				t.add("client", out.Client.Version, out.Client.Commit, out.Client.GoVersion, out.Client.APIVersion)
				if s := out.Server; s != nil {
					t.add("server", s.Version, s.Commit, s.GoVersion, s.APIVersion)
				}
			}); err != nil {
				return err
			}
			return serverErr
		},
	}
	cmd.Flags().BoolVar(&clientOnly, "client", false, "only this binary's version; do not ask the server")
	return cmd
}
