package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"

	"github.com/badbatch/badbatch/api"
	"github.com/badbatch/badbatch/config"
	"github.com/badbatch/badbatch/engine"
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

// apiConfig maps the configuration onto the API server's, security
// included. The caller adds the logger, registry and tracer.
func apiConfig(cfg config.Config) (api.Config, error) {
	a := api.DefaultConfig()
	a.Addr = cfg.Server.BindAddr
	if cfg.Server.ReadHeaderTimeout > 0 {
		a.ReadHeaderTimeout = cfg.Server.ReadHeaderTimeout
	}
	a.ReadTimeout = cfg.Server.ReadTimeout
	a.IdleTimeout = cfg.Server.IdleTimeout
	a.MaxBodyBytes = cfg.Limits.MaxBodyBytes
	if err := cfg.Security.Apply(&a); err != nil {
		return a, usageError{err}
	}
	return a, nil
}

// engineConfig maps the configuration onto the engine's, with log.
func engineConfig(cfg config.Config, log *slog.Logger) (engine.Config, error) {
	ecfg, err := cfg.EngineConfig()
	if err != nil {
		return ecfg, usageError{err}
	}
	ecfg.Logger = log
	return ecfg, nil
}

// createDeclared creates and starts the disruptors the configuration
// declares (disruptor.disruptors), except the quorum ones, which the Raft
// leader creates (see replicator.createDeclared).
func createDeclared(eng *engine.Engine, cfg config.Config, log *slog.Logger) error {
	for i, spec := range cfg.Disruptor.Disruptors {
		if spec.Quorum() {
			continue
		}
		dc, err := spec.EngineConfig()
		if err != nil {
			return usagef("disruptor.disruptors[%d]: %v", i, err)
		}
		info, err := eng.Create(dc, true)
		if err != nil {
			return fmt.Errorf("creating disruptor.disruptors[%d] %q: %w", i, spec.Name, err)
		}
		log.Info("created declared disruptor", "name", info.Name, "buffer_size", info.BufferSize,
			"producer_type", info.ProducerType, "wait_strategy", info.WaitStrategy)
	}
	return nil
}

// closeEngine closes an engine the server will not serve.
func closeEngine(eng *engine.Engine) {
	if err := eng.Close(context.Background()); err != nil && !errors.Is(err, engine.ErrClosed) {
		slog.Default().Warn("closing the engine", "err", err)
	}
}
