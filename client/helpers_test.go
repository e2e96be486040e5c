package client

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/badbatch/badbatch/api"
	"github.com/badbatch/badbatch/engine"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// server is a real API server on a loopback port.
type server struct {
	url string
	eng *engine.Engine
	srv *api.Server
}

type serverOptions struct {
	// wrap, when set, wraps the server's handler (to fail, cut or check
	// requests on their way).
	wrap func(http.Handler) http.Handler
	// tls, when set, serves HTTPS with it.
	tls *tls.Config
	// engine adjusts the engine's configuration.
	engine func(*engine.Config)
}

func startServer(t testing.TB, o serverOptions) *server {
	t.Helper()
	ecfg := engine.DefaultConfig()
	if o.engine != nil {
		o.engine(&ecfg)
	}
	eng, err := engine.New(ecfg)
	if err != nil {
		t.Fatal(err)
	}
	acfg := api.DefaultConfig()
	acfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	acfg.StreamHeartbeat = 200 * time.Millisecond
	srv, err := api.New(acfg, eng)
	if err != nil {
		t.Fatal(err)
	}
	h := srv.Handler()
	if o.wrap != nil {
		h = o.wrap(h)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	hs := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second, ErrorLog: slog.NewLogLogger(slog.DiscardHandler, slog.LevelError)}
	scheme := "http://"
	if o.tls != nil {
		hs.TLSConfig = o.tls
		ln = tls.NewListener(ln, o.tls)
		scheme = "https://"
	}
	served := make(chan error, 1)
	go func() { served <- hs.Serve(ln) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil { // ends streams, closes the engine
			t.Errorf("shutdown: %v", err)
		}
		if err := hs.Shutdown(ctx); err != nil {
			t.Errorf("http shutdown: %v", err)
		}
		if err := <-served; !errors.Is(err, http.ErrServerClosed) {
			t.Errorf("serve: %v", err)
		}
	})
	return &server{url: scheme + ln.Addr().String(), eng: eng, srv: srv}
}

// newClient returns a client of s with fast retries, closed at the end of
// the test.
func newClient(t testing.TB, s *server, adjust ...func(*Config)) *Client {
	t.Helper()
	cfg := DefaultConfig()
	cfg.Endpoint = s.url
	cfg.RetryWait, cfg.RetryMaxWait = time.Millisecond, 10*time.Millisecond
	cfg.Timeout = 20 * time.Second
	for _, f := range adjust {
		f(&cfg)
	}
	c, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func ctxT(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func must[T any](t testing.TB) func(T, error) T {
	return func(v T, err error) T {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
}
