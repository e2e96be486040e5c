package server

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/badbatch/badbatch/cluster"
	"github.com/badbatch/badbatch/config"
	"github.com/badbatch/badbatch/internal/clustertest"
)

// clusterConfig returns the configuration of a clustered node id on
// loopback: the API and gossip on free ports, the cluster's loopback
// preset, joined to the seeds.
func clusterConfig(id string, seeds ...string) config.Config {
	cfg := config.Default()
	cfg.Server.BindAddr = "127.0.0.1:0"
	cfg.Server.ShutdownTimeout = 10 * time.Second
	cfg.Server.ClusterMode = true
	lc := cluster.LoopbackConfig(id)
	lc.SeedNodes = seeds
	cfg.Cluster = config.ClusterSection(lc)
	return cfg
}

// startServer starts a server with cfg, serves it, and closes it when
// the test ends.
func startServer(t *testing.T, cfg config.Config) *Server {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if cfg.Server.DataDir == config.Default().Server.DataDir {
		cfg.Server.DataDir = t.TempDir() // never ./data in the package directory
	}
	srv, err := New(ctx, cfg, Options{Logger: clustertest.Logger()})
	if err != nil {
		t.Fatalf("New(%s): %v", cfg.Cluster.NodeID, err)
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve() }()
	t.Cleanup(func() {
		_ = srv.Close()
		<-served
	})
	return srv
}

// gossipAddr is the server's gossip address, for the next node's seeds.
func (s *Server) gossipAddr() string { return s.member.node.Addr() }

// sees waits until every server sees the others alive.
func waitConverged(t *testing.T, servers ...*Server) {
	t.Helper()
	clustertest.WaitFor(t, 30*time.Second, "the nodes to see each other alive", func() bool {
		for _, a := range servers {
			for _, b := range servers {
				m, ok := a.member.node.Member(b.member.node.ID())
				if !ok || m.State != cluster.StateAlive {
					return false
				}
			}
		}
		return true
	})
}

// do sends a request and returns the status and body.
func do(t *testing.T, c *http.Client, method, url, body string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	res, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b)
}
