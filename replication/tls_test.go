package replication

import (
	"crypto/tls"
	"testing"
	"time"

	"github.com/badbatch/badbatch/engine"
	"github.com/badbatch/badbatch/internal/testpki"
)

// testCA is a certificate authority for one test.
type testCA struct{ *testpki.CA }

func newTestCA(t *testing.T, name string) *testCA { return &testCA{testpki.New(t, name)} }

// nodeTLS returns a mutual-TLS config with a certificate for 127.0.0.1,
// usable as server and client, signed by ca.
func (ca *testCA) nodeTLS(t *testing.T, name string) *tls.Config {
	t.Helper()
	return &tls.Config{
		Certificates: []tls.Certificate{ca.Peer(t, name, "127.0.0.1").TLS},
		RootCAs:      ca.Pool,
		ClientCAs:    ca.Pool,
		ClientAuth:   tls.RequireAndVerifyClientCert,
		MinVersion:   tls.VersionTLS13,
	}
}

// Raft traffic runs over mutual TLS when configured, and a peer whose
// certificate another CA signed is refused.
func TestMutualTLS(t *testing.T) {
	ca := newTestCA(t, "cluster CA")
	c := newCluster(t, 3, false, func(cfg *Config) { cfg.TLS = ca.nodeTLS(t, cfg.NodeID) })
	c.create(engine.DisruptorConfig{Name: "secure"})
	publishN(t, c, "secure", 0, 20)
	if evs := c.waitSame("secure", 10*time.Second); len(evs) != 40 {
		t.Fatalf("%d events, want 40", len(evs))
	}

	rogue := newTestCA(t, "rogue CA").nodeTLS(t, "rogue")
	conn, err := tls.Dial("tcp", c.leader().node.Addr(), rogue)
	if err == nil {
		// TLS 1.3 clients finish before the server checks their
		// certificate; the server's refusal arrives on the first read.
		_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
		_, err = conn.Read(make([]byte, 1))
		conn.Close()
	}
	if err == nil {
		t.Fatal("a peer with a certificate from another CA was let in")
	}
}
