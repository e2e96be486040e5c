package client_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"

	"github.com/badbatch/badbatch/api"
	"github.com/badbatch/badbatch/client"
	"github.com/badbatch/badbatch/engine"
)

// startServer runs a real server on a free loopback port, for the
// example's sake, and returns its address and what stops it.
func startServer() (string, func()) {
	eng, _ := engine.New(engine.DefaultConfig())
	cfg := api.DefaultConfig()
	cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	srv, _ := api.New(cfg, eng)
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	go func() { _ = srv.Serve(ln) }()
	return ln.Addr().String(), func() { _ = srv.Shutdown(context.Background()) }
}

func Example() {
	addr, stop := startServer()
	defer stop()
	ctx := context.Background()

	cfg := client.DefaultConfig()
	cfg.Endpoint = "http://" + addr
	c, err := client.New(cfg)
	if err != nil {
		panic(err)
	}
	defer c.Close()

	d, err := c.CreateDisruptor(ctx, api.CreateRequest{Name: "orders", BufferSize: 1024})
	if err != nil {
		panic(err)
	}
	fmt.Println(d.Name, d.State, d.BufferSize)

	ev, _ := client.JSONEvent(map[string]any{"id": 1, "item": "book"}, map[string]string{"source": "shop"})
	res, err := c.Publish(ctx, "orders", ev, client.PublishOptions{IdempotencyKey: "order-1"})
	if err != nil {
		panic(err)
	}
	fmt.Println("published at", res.FirstSequence)

	// The same key again publishes nothing: it is safe to retry.
	res, _ = c.Publish(ctx, "orders", ev, client.PublishOptions{IdempotencyKey: "order-1"})
	fmt.Println("duplicate:", res.Duplicate)

	page, _ := c.Replay(ctx, "orders", client.FromOldest, 10)
	for _, e := range page.Events {
		fmt.Println(e.Sequence, string(e.Payload), e.Metadata["source"])
	}

	// The live tail, from sequence 0. The disruptor is stopped, so the
	// stream ends after its last event.
	if _, err := c.Stop(ctx, "orders"); err != nil {
		panic(err)
	}
	for msg, err := range c.Tail(ctx, "orders", client.TailOptions{From: 0}) {
		if err != nil {
			panic(err)
		}
		switch msg.Kind {
		case client.MessageEvent:
			fmt.Println("event", msg.Event.Sequence)
		case client.MessageEnd:
			fmt.Println("end:", msg.Reason)
		}
	}

	_, err = c.Disruptor(ctx, "nope")
	fmt.Println(errors.Is(err, client.ErrDisruptorNotFound), err)
	// Output:
	// orders running 1024
	// published at 0
	// duplicate: true
	// 0 {"id":1,"item":"book"} shop
	// event 0
	// end: stopped
	// true DISRUPTOR_NOT_FOUND: disruptor not found: "nope"
}
