package replication

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/badbatch/badbatch/engine"
	"github.com/badbatch/badbatch/internal/clustertest"
)

// TestAdvertiseNameKept: a node advertising its Raft address by host name
// keeps the name, in its address and in the Raft configuration, rather
// than the IP it resolved to at start, so that peers resolve it again
// when they dial (a node whose name moves to another IP stays reachable).
func TestAdvertiseNameKept(t *testing.T) {
	bind := clustertest.FreeAddr(t)
	_, port, _ := net.SplitHostPort(bind)
	adv := net.JoinHostPort("localhost", port)
	cfg := testConfig("n1", t.TempDir())
	cfg.BindAddr, cfg.AdvertiseAddr = bind, adv
	cfg.Bootstrap = []Server{{ID: "n1", Address: adv}}
	eng := newTestEngine(t)
	defer eng.Close(context.Background())
	n, err := New(cfg, eng)
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	if n.Addr() != adv {
		t.Errorf("Addr() = %q, want %q as advertised", n.Addr(), adv)
	}
	clustertest.WaitFor(t, 10*time.Second, "n1 to lead", n.IsLeader)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	servers, err := n.Servers(ctx)
	if err != nil || len(servers) != 1 || servers[0].Address != adv {
		t.Fatalf("Servers() = %+v, %v; want n1 at %s", servers, err, adv)
	}
	if _, err := n.Create(ctx, engine.DisruptorConfig{Name: "d"}, true); err != nil {
		t.Fatalf("Create on a node advertised by name: %v", err)
	}
}

// TestAdvertiseRefused: an advertise address nobody can dial is refused
// before anything is bound.
func TestAdvertiseRefused(t *testing.T) {
	for _, adv := range []string{"0.0.0.0:7947", "[::]:7947", "host:0", ":7947", "nohost"} {
		if _, err := newStreamLayer("127.0.0.1:0", adv, nil); err == nil {
			t.Errorf("advertise %q accepted", adv)
		}
	}
	if _, err := newStreamLayer("0.0.0.0:0", "", nil); err == nil {
		t.Error("an unspecified bind without an advertise address accepted")
	}
}
