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
// leader creates (see replicator.createDeclared). A declared disruptor
// that its journal brought back keeps the journal's state and events; its
// declared settings must be the ones it was created with, or the start is
// refused naming the differences. One whose journal did not recover stays
// down, as the recovery logged.
func createDeclared(eng *engine.Engine, cfg config.Config, js *journals, log *slog.Logger) error {
	for i, spec := range cfg.Disruptor.Disruptors {
		if spec.Quorum() {
			continue
		}
		dc, err := spec.EngineConfig()
		if err != nil {
			return invalid(fmt.Errorf("disruptor.disruptors[%d]: %w", i, err))
		}
		if js != nil {
			if _, down := js.down[spec.Name]; down {
				log.Error("declared disruptor not started: its journal did not recover", "name", spec.Name)
				continue
			}
		}
		if have, err := eng.Info(spec.Name); err == nil {
			if diff := declaredConflict(eng, dc, have); diff != "" {
				return invalid(fmt.Errorf("disruptor.disruptors[%d] %q: the declared settings differ from the ones its journal holds: %s; "+
					"declare what the journal has, or delete the disruptor (DELETE /api/v1/disruptors/%s) to create it anew", i, spec.Name, diff, spec.Name))
			}
			continue // recovered: the journal's state and events
		}
		info, err := eng.Create(dc, true)
		if err != nil {
			return fmt.Errorf("creating disruptor.disruptors[%d] %q: %w", i, spec.Name, err)
		}
		log.Info("created declared disruptor", "name", info.Name, "buffer_size", info.BufferSize,
			"producer_type", info.ProducerType, "wait_strategy", info.WaitStrategy, "durability", info.Durability.String())
	}
	return nil
}
