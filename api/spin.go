package api

import (
	"fmt"
	"runtime"

	"github.com/badbatch/badbatch/disruptor"
	"github.com/badbatch/badbatch/engine"
)

// A consumer of a busy_spin or yielding disruptor never parks: idle, it
// burns a core. The server caps such consumers at its cores
// (Config.MaxSpinningConsumers, GOMAXPROCS by default) and refuses a
// create that would pass the cap with 409 SPIN_LIMIT_REACHED.

// idleCosts says what each wait strategy costs while no event arrives, as
// GET /api/v1/disruptors/{name} reports it (measured: docs/api.md).
var idleCosts = map[string]string{
	disruptor.BusySpinName:        "a whole core per consumer, always: it spins",
	disruptor.YieldingName:        "a whole core per consumer while idle (it spins, yielding to other goroutines)",
	disruptor.SleepingName:        "about 5% of a core: it sleeps 100 µs between checks",
	disruptor.BlockingName:        "none: consumers park until a publish wakes them",
	disruptor.LiteBlockingName:    "none: consumers park until a publish wakes them",
	disruptor.TimeoutBlockingName: "about 5% of a core: consumers park, waking every millisecond",
	disruptor.PhasedBackoffName:   "none once parked: after each event it spins 100 µs and yields 1 ms first",
}

// spinning reports whether consumers of the wait strategy never park.
func spinning(strategy string) bool {
	return strategy == disruptor.BusySpinName || strategy == disruptor.YieldingName
}

// consumersPerDisruptor is how many consumers the engine runs per
// disruptor: the fan-out to subscribers and the metrics consumer.
const consumersPerDisruptor = 2

// spinLimit is the most spinning consumers the server runs.
func (s *Server) spinLimit() int {
	if s.cfg.MaxSpinningConsumers > 0 {
		return s.cfg.MaxSpinningConsumers
	}
	return runtime.GOMAXPROCS(0)
}

// admitSpinning checks that a disruptor created with cfg keeps the
// spinning consumers within the cap, answering 409 SPIN_LIMIT_REACHED when
// not. It returns the function that ends the check, to call once the
// create is done: creates of spinning disruptors hold one lock from the
// check to the end of the create, so two cannot both pass the last slot.
func (c *call) admitSpinning(cfg engine.DisruptorConfig) (done func(), ok bool) {
	strategy := cfg.WaitStrategy
	if strategy == "" {
		strategy = c.s.eng.Config().Defaults.WaitStrategy
	}
	if !spinning(strategy) {
		return func() {}, true
	}
	c.s.spinMu.Lock()
	n := 0
	for _, info := range c.s.eng.List() {
		if spinning(info.WaitStrategy) {
			n += consumersPerDisruptor
		}
	}
	if limit := c.s.spinLimit(); n+consumersPerDisruptor > limit {
		c.s.spinMu.Unlock()
		c.fail(newError(CodeSpinLimitReached, fmt.Sprintf(
			"a %s disruptor's %d consumers would make %d spinning consumers, over the %d this server runs (its cores); use blocking, lite_blocking or sleeping",
			strategy, consumersPerDisruptor, n+consumersPerDisruptor, limit),
			map[string]any{"limit": limit, "spinning": n, "wait_strategy": strategy}))
		return nil, false
	}
	return c.s.spinMu.Unlock, true
}
