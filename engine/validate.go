package engine

// ValidateDisruptor checks d against c's limits and defaults, as
// [Engine.Create] would, without creating anything. It returns every
// problem at once, joined with [ErrInvalidConfig].
func (c Config) ValidateDisruptor(d DisruptorConfig) error {
	_, err := c.resolve(d)
	return err
}
