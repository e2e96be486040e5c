package engine

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/badbatch/badbatch/internal/dedup"
)

// keys is a local disruptor's idempotency table: the shared window of
// completed keys ([dedup.Window]) and the keys being published now.
//
// A key moves: absent → pending (one publisher holds it) → remembered
// (its batch published) or absent again (the publish failed, so a retry
// must publish). A publisher that finds its key pending waits for the
// holder, then looks again. The window is never over its maximum:
// pending keys count against it when a new key is let in, so the add of
// a completed one always fits.
type keys struct {
	mu      sync.Mutex
	win     *dedup.Window
	pending map[string]*pendingKey
}

// pendingKey is a key whose batch is being published.
type pendingKey struct {
	done chan struct{} // closed when the publish holding the key ends
}

func newKeys(span time.Duration, max int) *keys {
	return &keys{win: dedup.New(span, max), pending: make(map[string]*pendingKey)}
}

// reserve takes b's idempotency key at time now for a publish to the
// disruptor name. It returns the pending key when the caller is to
// publish (then complete or abort it); else, for a retry of a batch
// already published, the first sequence with b.Duplicate set; or an
// error: [ErrKeyReused], a [*DedupFullError], or ctx's.
func (k *keys) reserve(ctx context.Context, name string, b *Batch, hash uint64, now int64) (*pendingKey, int64, error) {
	for {
		k.mu.Lock()
		if e := k.win.Lookup(b.IdempotencyKey, now); e != nil {
			k.mu.Unlock()
			if e.Hash != hash || e.Count != len(b.Events) {
				return nil, 0, fmt.Errorf("%w: key %q", ErrKeyReused, b.IdempotencyKey)
			}
			b.Duplicate = true
			return nil, e.First, nil
		}
		if p := k.pending[b.IdempotencyKey]; p != nil {
			k.mu.Unlock()
			select {
			case <-p.done:
				continue
			case <-ctx.Done():
				return nil, 0, ctx.Err()
			}
		}
		if full, retryAt := k.win.Full(now, len(k.pending)); full {
			k.mu.Unlock()
			return nil, 0, &DedupFullError{Disruptor: name, Keys: k.win.Max(), RetryAfter: time.Duration(retryAt - now)}
		}
		p := &pendingKey{done: make(chan struct{})}
		k.pending[b.IdempotencyKey] = p
		k.mu.Unlock()
		return p, 0, nil
	}
}

// complete remembers key, whose batch of count events hashed hash was
// published from first on at time at.
func (k *keys) complete(key string, p *pendingKey, hash uint64, count int, first, at int64) {
	k.mu.Lock()
	delete(k.pending, key)
	k.win.Add(&dedup.Entry{Key: key, Hash: hash, Count: count, First: first, At: at})
	k.mu.Unlock()
	close(p.done)
}

// abort forgets key: its publish failed, so a retry must publish.
func (k *keys) abort(key string, p *pendingKey) {
	k.mu.Lock()
	delete(k.pending, key)
	k.mu.Unlock()
	close(p.done)
}

// len is the number of keys remembered, pending ones included.
func (k *keys) len() int {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.win.Len() + len(k.pending)
}
