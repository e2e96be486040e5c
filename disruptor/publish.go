package disruptor

import "context"

// EventTranslator writes an event into the slot claimed for it. It is
// called on the producer's goroutine, between claim and publish, with the
// slot's sequence; it must not keep the pointer.
type EventTranslator[T any] func(event *T, sequence int64)

// PublishEvent claims the next slot, lets translate fill it, and publishes
// it, waiting while the ring is full (see [RingBuffer.Next]).
func (r *RingBuffer[T]) PublishEvent(translate EventTranslator[T]) {
	seq := r.Next()
	defer r.Publish(seq)
	translate(r.Get(seq), seq)
}

// PublishEventCtx is PublishEvent with [RingBuffer.NextCtx]'s way of
// giving up while the ring is full: it returns ctx's error, [ErrShutdown]
// or an error wrapping [ErrHalted], and then publishes nothing.
func (r *RingBuffer[T]) PublishEventCtx(ctx context.Context, translate EventTranslator[T]) error {
	seq, err := r.NextCtx(ctx)
	if err != nil {
		return err
	}
	defer r.Publish(seq)
	translate(r.Get(seq), seq)
	return nil
}

// TryPublishEvent is PublishEvent without waiting: it returns
// [ErrInsufficientCapacity] when the ring is full.
func (r *RingBuffer[T]) TryPublishEvent(translate EventTranslator[T]) error {
	seq, err := r.TryNext()
	if err != nil {
		return err
	}
	defer r.Publish(seq)
	translate(r.Get(seq), seq)
	return nil
}

// PublishEvents claims one slot per translator in a single claim, fills
// them in order, and publishes them together. An empty batch does nothing;
// a batch larger than the ring panics with [ErrInvalidClaim].
func (r *RingBuffer[T]) PublishEvents(translators ...EventTranslator[T]) {
	if len(translators) == 0 {
		return
	}
	hi := r.NextN(len(translators))
	r.translateAndPublish(hi, translators)
}

// PublishEventsCtx is PublishEvents with [RingBuffer.NextCtx]'s way of
// giving up while the ring is full; a batch larger than the ring is an
// [ErrInvalidClaim] error. It publishes all of the batch or none of it.
func (r *RingBuffer[T]) PublishEventsCtx(ctx context.Context, translators ...EventTranslator[T]) error {
	if len(translators) == 0 {
		return nil
	}
	hi, err := r.NextNCtx(ctx, len(translators))
	if err != nil {
		return err
	}
	r.translateAndPublish(hi, translators)
	return nil
}

// TryPublishEvents is PublishEvents without waiting: it returns
// [ErrInsufficientCapacity] and publishes nothing when the whole batch does
// not fit now.
func (r *RingBuffer[T]) TryPublishEvents(translators ...EventTranslator[T]) error {
	if len(translators) == 0 {
		return nil
	}
	hi, err := r.TryNextN(len(translators))
	if err != nil {
		return err
	}
	r.translateAndPublish(hi, translators)
	return nil
}

func (r *RingBuffer[T]) translateAndPublish(hi int64, translators []EventTranslator[T]) {
	lo := hi - int64(len(translators)) + 1
	defer r.PublishRange(lo, hi)
	for i, translate := range translators {
		seq := lo + int64(i)
		translate(r.Get(seq), seq)
	}
}

// PublishEvent1 publishes one event filled by translate from arg. Generic
// arguments avoid the closure a translator would need to capture them.
func PublishEvent1[T, A any](r *RingBuffer[T], translate func(event *T, seq int64, a A), a A) {
	seq := r.Next()
	defer r.Publish(seq)
	translate(r.Get(seq), seq, a)
}

// TryPublishEvent1 is PublishEvent1 without waiting; it returns
// [ErrInsufficientCapacity] when the ring is full.
func TryPublishEvent1[T, A any](r *RingBuffer[T], translate func(event *T, seq int64, a A), a A) error {
	seq, err := r.TryNext()
	if err != nil {
		return err
	}
	defer r.Publish(seq)
	translate(r.Get(seq), seq, a)
	return nil
}

// PublishEvent2 publishes one event filled by translate from a and b.
func PublishEvent2[T, A, B any](r *RingBuffer[T], translate func(event *T, seq int64, a A, b B), a A, b B) {
	seq := r.Next()
	defer r.Publish(seq)
	translate(r.Get(seq), seq, a, b)
}

// TryPublishEvent2 is PublishEvent2 without waiting.
func TryPublishEvent2[T, A, B any](r *RingBuffer[T], translate func(event *T, seq int64, a A, b B), a A, b B) error {
	seq, err := r.TryNext()
	if err != nil {
		return err
	}
	defer r.Publish(seq)
	translate(r.Get(seq), seq, a, b)
	return nil
}

// PublishEvent3 publishes one event filled by translate from a, b and c.
func PublishEvent3[T, A, B, C any](r *RingBuffer[T], translate func(event *T, seq int64, a A, b B, c C), a A, b B, c C) {
	seq := r.Next()
	defer r.Publish(seq)
	translate(r.Get(seq), seq, a, b, c)
}

// TryPublishEvent3 is PublishEvent3 without waiting.
func TryPublishEvent3[T, A, B, C any](r *RingBuffer[T], translate func(event *T, seq int64, a A, b B, c C), a A, b B, c C) error {
	seq, err := r.TryNext()
	if err != nil {
		return err
	}
	defer r.Publish(seq)
	translate(r.Get(seq), seq, a, b, c)
	return nil
}

// PublishEvents1 publishes one event per element of args in a single claim,
// each filled by translate. Batches larger than the ring panic with
// [ErrInvalidClaim]; split them.
func PublishEvents1[T, A any](r *RingBuffer[T], translate func(event *T, seq int64, a A), args []A) {
	if len(args) == 0 {
		return
	}
	hi := r.NextN(len(args))
	fillAndPublish(r, hi, translate, args)
}

// TryPublishEvents1 is PublishEvents1 without waiting: it publishes
// nothing and returns [ErrInsufficientCapacity] unless the whole batch fits
// now.
func TryPublishEvents1[T, A any](r *RingBuffer[T], translate func(event *T, seq int64, a A), args []A) error {
	if len(args) == 0 {
		return nil
	}
	hi, err := r.TryNextN(len(args))
	if err != nil {
		return err
	}
	fillAndPublish(r, hi, translate, args)
	return nil
}

func fillAndPublish[T, A any](r *RingBuffer[T], hi int64, translate func(*T, int64, A), args []A) {
	lo := hi - int64(len(args)) + 1
	defer r.PublishRange(lo, hi)
	for i := range args {
		seq := lo + int64(i)
		translate(r.Get(seq), seq, args[i])
	}
}
