package main

import (
	"errors"

	"github.com/spf13/cobra"
)

// usageError marks an error in how the command was called (exit code 2).
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

func exitCode(err error) int {
	var ue usageError
	if errors.As(err, &ue) {
		return 2
	}
	return 1
}

// newRootCommand builds the command tree. Each subcommand lives in its own
// file and is added here.
func newRootCommand() *cobra.Command {
	root := &cobra.Command{
		Use:           "badbatch",
		Short:         "BadBatch: LMAX disruptors as a service",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError{err} })
	root.AddCommand(newServerCommand())
	return root
}
