package main

import (
	"bufio"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"

	"github.com/badbatch/badbatch/api"
)

// newConfigHashKeyCommand prints the hash of an API key, for the
// security.api_keys section: the server stores only hashes.
func newConfigHashKeyCommand() *cobra.Command {
	var generate bool
	cmd := &cobra.Command{
		Use:   "hash-key",
		Short: "Print the hash of an API key read from standard input (or of a new key with --generate)",
		Long: `Print the hash to put in security.api_keys[].hash for an API key.

The key is read from the first line of standard input, so that it stays
out of the shell's history:

  printf %s "$KEY" | badbatch config hash-key

With --generate, a new random key is made and printed with its hash; give
the key to the client and the hash to the server.`,
		Args: args(0, ""),
		RunE: func(cmd *cobra.Command, _ []string) error {
			out := cmd.OutOrStdout()
			if generate {
				key := api.GenerateKey()
				fmt.Fprintf(out, "key:  %s\nhash: %s\n", key, api.HashKey(key))
				return nil
			}
			key, err := readKey(cmd.InOrStdin())
			if err != nil {
				return usagef("hash-key: %v", err)
			}
			fmt.Fprintln(out, api.HashKey(key))
			return nil
		},
	}
	cmd.Flags().BoolVar(&generate, "generate", false, "make a new random key and print it with its hash")
	return cmd
}

// readKey reads a key from the first line of r.
func readKey(r io.Reader) (string, error) {
	line, err := bufio.NewReader(io.LimitReader(r, 4096)).ReadString('\n')
	if err != nil && err != io.EOF {
		return "", err
	}
	key := strings.TrimSpace(line)
	if key == "" {
		return "", fmt.Errorf("no key on standard input (or use --generate)")
	}
	return key, nil
}
