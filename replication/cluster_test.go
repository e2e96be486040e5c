package replication

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/badbatch/badbatch/engine"
)

// Events published through every node (followers hand the publish to the
// leader they name, as the API's forwarding will) appear on every node
// with identical sequences, times and contents.
func TestReplicateThroughAllNodes(t *testing.T) {
	c := newCluster(t, 3, false, nil)
	c.create(engine.DisruptorConfig{Name: "orders"})

	type ack struct {
		key, via string
		seqs     []int64
		payload  []string
	}
	var mu sync.Mutex
	var acks []ack
	var wg sync.WaitGroup
	for _, tn := range c.live() {
		for g := range 3 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range 20 {
					b := &engine.Batch{IdempotencyKey: fmt.Sprintf("%s-%d-%d", tn.id, g, i)}
					var payload []string
					for j := range 1 + i%4 {
						p := fmt.Sprintf(`{"via":%q,"g":%d,"i":%d,"j":%d}`, tn.id, g, i, j)
						payload = append(payload, p)
						b.Events = append(b.Events, engine.Event{Payload: []byte(p),
							Metadata: []engine.Metadata{{Key: "via", Value: tn.id}}})
					}
					ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
					first, err := tn.node.Publish(ctx, "orders", b)
					var le *LeaderError
					if errors.As(err, &le) && errors.Is(err, ErrNotLeader) {
						// Forward to the leader the follower named.
						if l := c.leader(); l != nil && le.LeaderID == l.id {
							if le.LeaderAddr != l.node.Addr() {
								t.Errorf("%s names leader %s at %s, want %s", tn.id, le.LeaderID, le.LeaderAddr, l.node.Addr())
							}
							first, err = l.node.Publish(ctx, "orders", b)
						}
					}
					cancel()
					seqs := seqSpan(first, len(b.Events))
					if err != nil && retryable(err) {
						// An election meanwhile (a loaded machine): retry with
						// the same key through whoever leads, as a client does.
						seqs, err = c.publish(nil, "orders", b)
					}
					if err != nil {
						t.Errorf("publish via %s: %v", tn.id, err)
						return
					}
					mu.Lock()
					acks = append(acks, ack{b.IdempotencyKey, tn.id, seqs, payload})
					mu.Unlock()
				}
			}()
		}
	}
	wg.Wait()
	if t.Failed() {
		return
	}

	all := c.waitSame("orders", 10*time.Second)
	bySeq := make(map[int64]stored, len(all))
	for _, e := range all {
		bySeq[e.Seq] = e
	}
	n := 0
	for _, a := range acks {
		for i, s := range a.seqs {
			if bySeq[s].Payload != a.payload[i] {
				t.Fatalf("sequence %d holds %q, acknowledged as %q", s, bySeq[s].Payload, a.payload[i])
			}
			n++
		}
	}
	if n != len(all) {
		t.Fatalf("%d events acknowledged, %d stored", n, len(all))
	}
	t.Logf("%d events in %d publishes, identical on %d nodes", n, len(acks), len(c.live()))

	// A retry with the same key returns the original sequences, publishes
	// nothing, and says so.
	a := acks[0]
	retry := &engine.Batch{IdempotencyKey: a.key}
	for _, p := range a.payload {
		retry.Events = append(retry.Events, engine.Event{Payload: []byte(p), Metadata: []engine.Metadata{{Key: "via", Value: a.via}}})
	}
	seqs, err := c.publish(nil, "orders", retry)
	if err != nil || !retry.Duplicate || !slices.Equal(seqs, a.seqs) {
		t.Fatalf("retry: %v %v duplicate=%v, want %v", seqs, err, retry.Duplicate, a.seqs)
	}
	// The same key with another batch is refused.
	retry.Events[0].Payload = []byte(`{"other":true}`)
	if _, err := c.publish(nil, "orders", retry); !errors.Is(err, engine.ErrKeyReused) {
		t.Fatalf("key reused: %v, want ErrKeyReused", err)
	}
	if got := c.waitSame("orders", 10*time.Second); len(got) != n {
		t.Fatalf("%d events after the retries, want %d", len(got), n)
	}
}
