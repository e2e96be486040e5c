package main

import (
	"os"

	"github.com/badbatch/badbatch/config"
)

// The server's configuration: the config package's layers (defaults, the
// --config file, BADBATCH_* variables, the flags given), mapped onto the
// engine's and the API server's configurations.

// flagKeys are the configuration keys of the server's flags, for messages
// that name the flag a bad value came from.
var flagKeys = map[string]string{
	"server.bind_addr":        "--bind",
	"logging.level":           "--log-level",
	"logging.format":          "--log-format",
	"server.shutdown_timeout": "--shutdown-timeout",
	"server.cluster_mode":     "--cluster",
	"cluster.bind_addr":       "--cluster-bind",
	"cluster.advertise_addr":  "--cluster-advertise",
	"cluster.seed_nodes":      "--seed",
	"cluster.node_id":         "--node-id",
	"security.insecure":       "--insecure",
	"server.data_dir":         "--data-dir",
	"server.journal_repair":   "--journal-repair",
	"cluster.insecure":        "--insecure-cluster",

	"cluster.replication.enabled":             "--replication",
	"cluster.replication.raft_bind_addr":      "--raft-bind",
	"cluster.replication.raft_advertise_addr": "--raft-advertise",
	"cluster.replication.data_dir":            "--raft-data-dir",
	"cluster.replication.bootstrap":           "--raft-bootstrap",
}

// loadServerConfig loads the configuration of `badbatch server`: the
// flags given (non-zero options) over the environment, over the --config
// file, over the defaults. Invalid values are usage errors, one line each,
// naming the flag, variable or file they came from.
func loadServerConfig(o serverOptions) (config.Config, error) {
	flags := map[string]any{}
	for k, v := range o.clusterKeys {
		flags[k] = v
	}
	if o.bind != "" {
		flags["server.bind_addr"] = o.bind
	}
	if o.logLevel != "" {
		flags["logging.level"] = o.logLevel
	}
	if o.logFormat != "" {
		flags["logging.format"] = o.logFormat
	}
	if o.shutdownTimeout != 0 {
		flags["server.shutdown_timeout"] = o.shutdownTimeout.String()
	}
	if o.insecure {
		flags["security.insecure"] = true
	}
	if o.dataDir != "" {
		flags["server.data_dir"] = o.dataDir
	}
	if len(o.journalRepair) > 0 {
		flags["server.journal_repair"] = o.journalRepair
	}
	if o.configFile != "" {
		if _, err := os.Stat(o.configFile); err != nil {
			return config.Config{}, usagef("--config: %v", err)
		}
	}
	cfg, err := loadClusterConfig(config.Source{File: o.configFile, Env: o.env, Flags: flags})
	if err != nil {
		return cfg, explainConfigError(o.configFile, err, func(key string) string {
			if _, set := flags[key]; set {
				return flagKeys[key]
			}
			return ""
		})
	}
	return cfg, nil
}
