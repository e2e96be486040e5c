package engine

// ValidateDisruptor checks d against c's limits and defaults, as
// [Engine.Create] would, without creating anything. It returns every
// problem at once, joined with [ErrInvalidConfig].
func (c Config) ValidateDisruptor(d DisruptorConfig) error {
	_, err := c.resolve(d)
	return err
}

// Resolve returns d as [Engine.Create] would build it: its zero fields
// filled from [Config.Defaults] (FirstSequence excepted), its names in
// their canonical spelling ("multi", "busy_spin"), validated against c's
// limits. It is the one place defaults are applied: a replicated
// disruptor's leader resolves the configuration with it and records the
// result in its log, so that every replica builds the same ring whatever
// its own defaults. It returns every problem at once, joined with
// [ErrInvalidConfig].
func (c Config) Resolve(d DisruptorConfig) (DisruptorConfig, error) {
	r, err := c.resolve(d)
	if err != nil {
		return DisruptorConfig{}, err
	}
	return r.DisruptorConfig, nil
}
