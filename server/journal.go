package server

import (
	"errors"
	"fmt"
	"log/slog"
	"reflect"
	"slices"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/badbatch/badbatch/config"
	"github.com/badbatch/badbatch/engine"
	"github.com/badbatch/badbatch/journal"
)

// journals is the server's data directory of journals and what its
// recovery at start found.
type journals struct {
	dir   *journal.Dir
	fsync prometheus.Histogram
	// downGauge is 1 for each stream that did not recover.
	downGauge *prometheus.GaugeVec
	// down are the streams that did not recover (a corrupt record, an
	// unreadable metadata), by name: their disruptors stay down, their
	// files untouched.
	down map[string]error
}

// openJournals opens <data_dir>/journal, or returns nil without a data
// directory. A directory another process holds is refused with
// [journal.ErrLocked], naming the lock file.
func openJournals(cfg config.Config, fsys journal.FS, log *slog.Logger) (*journals, error) {
	path := cfg.Server.JournalDir()
	if path == "" {
		return nil, nil
	}
	js := &journals{
		fsync: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "badbatch_journal_fsync_seconds",
			Help:    "Latency of the fsyncs of journaled disruptors' journals (group commits, background syncs, seals).",
			Buckets: prometheus.ExponentialBuckets(50e-6, 2, 16), // 50µs .. 1.6s
		}),
		downGauge: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "badbatch_journal_down",
			Help: "1 for a journaled disruptor whose journal did not recover at start (a corrupt record): it is not served; the log says why.",
		}, []string{"disruptor"}),
		down: map[string]error{},
	}
	dir, err := journal.OpenDir(path, journal.DirOptions{
		FS:     fsys,
		Logger: log,
		OnSync: func(_ string, took time.Duration) { js.fsync.Observe(took.Seconds()) },
	})
	if err != nil {
		if errors.Is(err, journal.ErrLocked) {
			return nil, fmt.Errorf("server.data_dir %s is in use by another server: %w", cfg.Server.DataDir, err)
		}
		return nil, fmt.Errorf("opening the journal directory (server.data_dir): %w", err)
	}
	js.dir = dir
	return js, nil
}

// collectors are the journals' metrics, for the server's registry.
func (js *journals) collectors() []prometheus.Collector {
	return []prometheus.Collector{js.fsync, js.downGauge}
}

// close closes the directory, after the engine closed its journals.
func (js *journals) close(log *slog.Logger) {
	if js == nil {
		return
	}
	if err := js.dir.Close(); err != nil {
		log.Warn("closing the journal directory", "err", err)
	}
}

// recoverAll brings back every journaled disruptor of the data directory.
// One that does not recover (a corrupt record: the error names the file
// and offset) stays down and is logged; the others start.
func (js *journals) recoverAll(eng *engine.Engine, cfg config.Config, log *slog.Logger) error {
	if js == nil {
		return nil
	}
	names, err := js.dir.Streams()
	if err != nil {
		return err
	}
	for _, name := range names {
		repair := slices.Contains(cfg.Server.JournalRepair, name)
		info, err := eng.Recover(name, engine.RecoverOptions{Repair: repair})
		if err != nil {
			js.down[name] = err
			js.downGauge.WithLabelValues(name).Set(1)
			var ce *journal.CorruptError
			if errors.As(err, &ce) {
				log.Error("disruptor not started: its journal has a corrupt record; stop the server, copy the stream's directory away, then restore it from a backup or start with --journal-repair "+name+" to cut it there (docs/durability.md)",
					"disruptor", name, "file", ce.File, "offset", ce.Offset, "reason", ce.Reason)
			} else {
				log.Error("disruptor not started: its journal did not recover", "disruptor", name, "err", err)
			}
			continue
		}
		log.Info("recovered journaled disruptor", "name", name, "state", info.State.String(),
			"oldest", info.Oldest, "latest", info.Latest, "journal_bytes", info.Journal.Bytes, "repair", repair)
	}
	for _, name := range cfg.Server.JournalRepair {
		if !slices.Contains(names, name) {
			log.Warn("server.journal_repair names a disruptor that has no journal", "disruptor", name)
		}
	}
	return nil
}

// declaredConflict says how a declared disruptor's configuration differs
// from the one its journal recovered, or "" when it does not: the journal
// wins for state and events, and a declared change of settings is refused
// rather than ignored.
func declaredConflict(eng *engine.Engine, dc engine.DisruptorConfig, info engine.Info) string {
	want, err := eng.Config().Resolve(dc)
	if err != nil {
		return err.Error()
	}
	type field struct {
		name       string
		want, have any
	}
	var diffs []string
	for _, f := range []field{
		{"durability", want.Durability.String(), info.Durability.String()},
		{"buffer_size", want.BufferSize, info.BufferSize},
		{"producer_type", want.ProducerType, info.ProducerType},
		{"wait_strategy", want.WaitStrategy, info.WaitStrategy},
		{"max_event_size", want.MaxEventSize, info.MaxEventSize},
		{"overflow_policy", want.Overflow.String(), info.Overflow.String()},
		{"publish_timeout", want.PublishTimeout, info.PublishTimeout},
		{"sync", want.Sync, info.Sync},
		{"retention", want.Retention, info.Retention},
	} {
		if !reflect.DeepEqual(f.want, f.have) {
			diffs = append(diffs, fmt.Sprintf("%s %v (its journal has %v)", f.name, f.want, f.have))
		}
	}
	return strings.Join(diffs, ", ")
}
