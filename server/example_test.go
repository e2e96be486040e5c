package server_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"

	"github.com/badbatch/badbatch/config"
	"github.com/badbatch/badbatch/server"
)

// ExampleNew embeds the same server the badbatch binary runs: the
// built-in configuration with one declared disruptor, served on a free
// loopback port.
func ExampleNew() {
	dataDir, err := os.MkdirTemp("", "badbatch-example-")
	if err != nil {
		panic(err)
	}
	defer os.RemoveAll(dataDir)
	cfg := config.Default()
	cfg.Server.DataDir = dataDir // the journals of journaled disruptors (the default durability)
	cfg.Disruptor.Disruptors = []config.DisruptorSpec{{Name: "orders"}}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	srv, err := server.New(context.Background(), cfg, server.Options{
		Logger:   slog.New(slog.NewTextHandler(io.Discard, nil)),
		Listener: ln,
	})
	if err != nil {
		panic(err)
	}
	go func() { _ = srv.Serve() }()

	res, err := http.Get("http://" + srv.Addr().String() + "/api/v1/disruptors/orders")
	if err != nil {
		panic(err)
	}
	res.Body.Close()
	fmt.Println("orders:", res.Status)

	fmt.Println("shutdown:", srv.Shutdown(context.Background()))
	// Output:
	// orders: 200 OK
	// shutdown: <nil>
}
