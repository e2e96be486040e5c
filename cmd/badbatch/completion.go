package main

import (
	"github.com/spf13/cobra"
)

func newCompletionCommand(root *cobra.Command) *cobra.Command {
	return &cobra.Command{
		Use:   "completion bash|zsh|fish",
		Short: "Print the shell completion script for bash, zsh or fish",
		Long: `Print a completion script: commands, flags, the values of flags that
take one of a few (--output, --state, --replication, ...), and disruptor
names (asked of the server at --endpoint) complete with Tab.

  bash:  source <(badbatch completion bash)
         or write it to /etc/bash_completion.d/badbatch
         The script needs the bash-completion package (version 2):
         apt-get install bash-completion, or brew install bash-completion@2,
         sourced from ~/.bashrc.
  zsh:   badbatch completion zsh > "${fpath[1]}/_badbatch"
  fish:  badbatch completion fish > ~/.config/fish/completions/badbatch.fish`,
		ValidArgs: []string{"bash", "zsh", "fish"},
		Args: func(cmd *cobra.Command, a []string) error {
			if len(a) != 1 {
				return usagef("completion needs a shell: bash, zsh or fish")
			}
			switch a[0] {
			case "bash", "zsh", "fish":
				return nil
			}
			return usagef("completion %q: want bash, zsh or fish", a[0])
		},
		RunE: func(cmd *cobra.Command, a []string) error {
			w := cmd.OutOrStdout()
			switch a[0] {
			case "bash":
				return root.GenBashCompletionV2(w, true)
			case "zsh":
				return root.GenZshCompletion(w)
			}
			return root.GenFishCompletion(w, true)
		},
	}
}

// enumFlag completes the flag with one of values.
func enumFlag(cmd *cobra.Command, flag string, values ...string) {
	_ = cmd.RegisterFlagCompletionFunc(flag, cobra.FixedCompletions(values, cobra.ShellCompDirectiveNoFileComp))
}
