package replication_test

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/hashicorp/raft"

	"github.com/badbatch/badbatch/engine"
	"github.com/badbatch/badbatch/replication"
)

// A one-node group on raft's in-memory transport: the node elects itself,
// and publishes through it are committed (fsynced to its log) before they
// return. A real cluster bootstraps with every initial node in
// Config.Bootstrap and listens on Config.BindAddr.
func Example() {
	ctx := context.Background()
	dir, _ := os.MkdirTemp("", "raft-example")
	defer os.RemoveAll(dir)
	eng, _ := engine.New(engine.DefaultConfig())
	defer eng.Close(ctx)

	cfg := replication.DefaultConfig()
	cfg.NodeID, cfg.DataDir = "n1", dir
	cfg.HeartbeatTimeout, cfg.ElectionTimeout, cfg.LeaderLeaseTimeout = 50*time.Millisecond, 50*time.Millisecond, 50*time.Millisecond
	addr, transport := raft.NewInmemTransport("n1")
	cfg.Bootstrap = []replication.Server{{ID: "n1", Address: string(addr)}}
	node, err := replication.New(cfg, eng, replication.WithTransport(transport))
	if err != nil {
		panic(err)
	}
	defer node.Close()
	for !node.IsLeader() {
		time.Sleep(10 * time.Millisecond)
	}

	if _, err := node.Create(ctx, engine.DisruptorConfig{Name: "orders"}, true); err != nil {
		panic(err)
	}
	b := &engine.Batch{IdempotencyKey: "order-1", Events: []engine.Event{{Payload: []byte(`{"id":1}`)}, {Payload: []byte(`{"id":2}`)}}}
	first, err := node.Publish(ctx, "orders", b)
	fmt.Println("published from", first, err)
	first, err = node.Publish(ctx, "orders", b) // a retry
	fmt.Println("retry:", first, b.Duplicate, err)

	// Reads are the engine's.
	var rec engine.Records
	_, _ = eng.Read("orders", 0, 10, &rec)
	for _, ev := range rec.Events {
		fmt.Println(ev.Sequence, string(ev.Payload))
	}
	fmt.Println("replicated:", node.Replicated("orders"), node.Status().State)
	// Output:
	// published from 0 <nil>
	// retry: 0 true <nil>
	// 0 {"id":1}
	// 1 {"id":2}
	// replicated: true leader
}
