package server

import (
	"fmt"
	"log/slog"

	"github.com/badbatch/badbatch/api"
	"github.com/badbatch/badbatch/config"
	"github.com/badbatch/badbatch/engine"
)

// apiConfig maps the configuration onto the API server's, security
// included. The caller adds the logger, registry, tracer and the cluster
// parts.
func apiConfig(cfg config.Config) (api.Config, error) {
	a := api.DefaultConfig()
	a.Addr = cfg.Server.BindAddr
	if cfg.Server.ReadHeaderTimeout > 0 {
		a.ReadHeaderTimeout = cfg.Server.ReadHeaderTimeout
	}
	a.ReadTimeout = cfg.Server.ReadTimeout
	a.IdleTimeout = cfg.Server.IdleTimeout
	a.MaxBodyBytes = cfg.Limits.MaxBodyBytes
	a.MaxCompressionRatio = cfg.Limits.MaxCompressionRatio
	a.MaxInflightBodyBytes = cfg.Limits.MaxInflightBodyBytes
	if err := cfg.Security.Apply(&a); err != nil {
		return a, invalid(err)
	}
	return a, nil
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
			return invalid(fmt.Errorf("disruptor.disruptors[%d]: %w", i, err))
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
